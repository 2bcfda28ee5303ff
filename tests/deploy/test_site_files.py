"""Files a browser or a test run expects at fixed places: /favicon.ico answers with an icon, and
the test tools' working folders never show up as untracked files."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import Team

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_favicon_ico_answers_an_icon(client: Client) -> None:
    # When a browser asks for /favicon.ico (as it does for the API's JSON pages)
    response = client.get("/favicon.ico", follow=True)

    # Then it gets an icon (through a redirect to the static file), not a 404
    assert response.status_code == 200
    assert response.redirect_chain and response.redirect_chain[0][0].startswith("/static/")
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file's header


@pytest.mark.django_db
def test_pages_name_their_icon(client: Client, team: Team) -> None:
    # When a signed-in user opens a page
    client.force_login(team.annotator)
    html = client.get("/").content.decode()

    # Then its head names the icon, and the icon is served
    assert 'rel="icon" href="/static/finch/favicon.ico"' in html
    assert client.get("/static/finch/favicon.ico").status_code == 200


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("folder", [".schemathesis", ".hypothesis"])
def test_test_tools_working_folders_are_ignored_by_git(folder: str) -> None:
    # Given the folder a fuzzing run may leave in the repository's root
    # Then git ignores it: `make test` leaves no untracked files
    result = subprocess.run(["git", "check-ignore", "--quiet", f"{folder}/cache/file"], cwd=REPO, check=False)
    assert result.returncode == 0, f"{folder}/ is not in .gitignore"


def test_the_license_is_an_spdx_string() -> None:
    # A TOML table made setuptools warn (three times) on every `make setup`
    with (REPO / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    assert project["license"] == "Apache-2.0"
