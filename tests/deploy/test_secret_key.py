"""Production refuses to start with a weak secret key: empty, blank, short, too uniform, or a
placeholder printed in the deploy files; the message says how to make a good one."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured

from config.settings.env import MAKE_A_KEY, strong_secret_key

REPO = Path(__file__).resolve().parents[2]


def example_secret_key() -> str:
    secret = yaml.safe_load((REPO / "deploy" / "k8s" / "secret.example.yaml").read_text())
    return str(secret["stringData"]["DJANGO_SECRET_KEY"])


def start_production(tmp_path: Path, key: str) -> subprocess.CompletedProcess[str]:
    """`manage.py check` under production settings: it loads them as every process does."""
    env = {key_: value for key_, value in os.environ.items() if not key_.startswith(("DJANGO_", "DATABASE"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.production", DJANGO_SECRET_KEY=key)
    env.update(FINCH_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    command = [sys.executable, "manage.py", "check"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param(" ", id="blank"),
        pytest.param("x" * 60, id="uniform"),
        pytest.param(secrets.token_urlsafe(30), id="short"),
        pytest.param("change-me-to-50-random-characters", id="k8s placeholder"),
        pytest.param("django-insecure-" + secrets.token_urlsafe(50), id="django placeholder"),
    ],
)
def test_a_weak_key_is_refused_with_how_to_make_one(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", key)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY") as refused:
        strong_secret_key("DJANGO_SECRET_KEY")
    assert MAKE_A_KEY in str(refused.value)


def test_a_random_key_of_50_characters_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    key = secrets.token_urlsafe(50)
    monkeypatch.setenv("DJANGO_SECRET_KEY", key)
    assert strong_secret_key("DJANGO_SECRET_KEY") == key


def test_production_does_not_start_with_a_blank_or_the_example_key_and_starts_with_a_real_one(
    tmp_path: Path,
) -> None:
    for weak in (" ", example_secret_key()):
        refused = start_production(tmp_path, weak)
        assert refused.returncode != 0
        assert "DJANGO_SECRET_KEY" in refused.stderr and "secrets.token_urlsafe(50)" in refused.stderr
    started = start_production(tmp_path, secrets.token_urlsafe(50))
    assert started.returncode == 0, started.stderr
