"""Production's web tier keeps its PostgreSQL connections between requests (checked before
reuse), which is what lets the labeling queue's prepared statements pay off; both can be
turned off from the environment."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRINT_DATABASE = (
    "import django, json; django.setup(); from django.conf import settings; d = settings.DATABASES['default'];"
    " print(json.dumps([d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'], d.get('OPTIONS', {}).get('prepare_threshold')]))"
)


def production_database(tmp_path: Path, **environment: str) -> list[object]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE", "FINCH_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production", DJANGO_SECRET_KEY=secrets.token_urlsafe(50)
    )
    env.update(FINCH_HOME=str(tmp_path), PYTHONPATH=str(REPO), DATABASE_URL="postgres://finch@db:5432/finch")
    env.update(environment)
    done = subprocess.run(
        [sys.executable, "-c", PRINT_DATABASE], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        pytest.param({}, [60, True, 5], id="defaults"),
        pytest.param({"DATABASE_CONN_MAX_AGE": "0"}, [0, True, 5], id="a connection a request"),
        pytest.param(
            {"FINCH_DB_PREPARED_STATEMENTS": "false"}, [60, True, None], id="no prepared statements"
        ),
    ],
)
def test_production_keeps_connections_and_allows_prepared_statements(
    tmp_path: Path, environment: dict[str, str], expected: list[object]
) -> None:
    assert production_database(tmp_path, **environment) == expected
