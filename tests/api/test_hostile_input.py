"""Hostile input the other suites do not already send: bytes that are not UTF-8, SQL and path
tricks in filters and names, enormous query strings, NUL, words and overflowing numbers in every
filter and cursor of every list (API and web pages, found from the routes: see routes.py), upload
names longer than a file system takes. Each is a 4xx naming the problem (or, for a filter,
simply matches nothing), never a 500, and changes nothing."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from django.test import Client
from rest_framework.test import APIClient

from curation.models import Example, ImportJob, Project
from tests.api.routes import Objects, api_get_operations, api_lists, api_routes, page_routes
from tests.api.test_permissions import Scene
from tests.conftest import Team
from tests.factories import ExampleFactory, ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[..., APIClient]
SQL_LIKE = ["' OR '1'='1", "1; DROP TABLE curation_example; --", '" UNION SELECT password FROM auth_user --']


def test_a_json_body_that_is_not_utf8_is_a_400_naming_it(team: Team, client_for: ClientFor) -> None:
    body = b'{"input": "caf\xe9 \xff\xfe", "output": "card_arrival"}'
    response = client_for(team.lead).generic(
        "POST",
        f"/api/projects/{team.project.pk}/examples/",
        body,  # type: ignore[arg-type]  # bytes, on purpose
        content_type="application/json",
    )
    assert response.status_code == 400
    assert (
        "Malformed request body" in response.json()["detail"] and "utf-8" in response.json()["detail"].lower()
    )
    assert not Example.objects.filter(project=team.project).exists()


@pytest.mark.parametrize("value", SQL_LIKE)
@pytest.mark.parametrize("param", ["q", "source", "created_by"])
def test_sql_looking_text_filters_match_nothing_and_leak_nothing(
    team: Team, client_for: ClientFor, param: str, value: str
) -> None:
    ExampleFactory.create(project=team.project, input="Where is my card?")
    response = client_for(team.lead).get(f"/api/projects/{team.project.pk}/examples/", {param: value})
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert Example.objects.filter(project=team.project).count() == 1


@pytest.mark.parametrize("value", SQL_LIKE)
@pytest.mark.parametrize(
    ("path", "param"),
    [("examples/", "status"), ("flags/", "kind"), ("flags/", "status"), ("audit/", "target_id")],
)
def test_sql_looking_values_of_closed_filters_are_400_naming_the_filter(
    team: Team, client_for: ClientFor, path: str, param: str, value: str
) -> None:
    response = client_for(team.lead).get(f"/api/projects/{team.project.pk}/{path}", {param: value})
    assert response.status_code == 400, response.content
    assert param in response.json()["detail"]


def test_an_enormous_query_string_is_refused_or_matches_nothing(team: Team, client_for: ClientFor) -> None:
    response = client_for(team.lead).get(f"/api/projects/{team.project.pk}/examples/", {"q": "x" * 200_000})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["results"] == []


@pytest.mark.parametrize("name", ["../../../etc/passwd", "..\\..\\boot.ini", "/etc/shadow", "rows\x00.jsonl"])
def test_an_upload_name_cannot_reach_outside_storage(team: Team, client_for: ClientFor, name: str) -> None:
    upload = SimpleUploadedFile(name, b'{"input": "Hi there", "output": "card_arrival"}\n')
    response = client_for(team.lead).post(
        f"/api/projects/{team.project.pk}/imports/", {"file": upload}, format="multipart"
    )
    assert response.status_code in (202, 400), response.content
    if response.status_code == 202:
        job = ImportJob.objects.get(pk=response.json()["id"])
        assert not {"/", "\\", "\x00"} & set(job.filename)
        stored = Path(job.file.path).resolve()
        assert stored.is_relative_to(Path(settings.MEDIA_ROOT).resolve()) and stored.is_file()


def test_a_project_name_with_markup_is_stored_as_text(team: Team, client_for: ClientFor) -> None:
    name = "<img src=x onerror=alert(1)>"
    response = client_for(team.lead).patch(f"/api/projects/{team.project.pk}/", {"name": name}, format="json")
    assert response.status_code == 200 and response.json()["name"] == name
    assert Project.objects.get(pk=team.project.pk).name == name


# -- every filter and cursor of every list, API and web pages (found from the routes) ------------

API_OPERATIONS = api_get_operations()
API_LISTS = api_lists()
# What a filter or position may be sent instead of what it takes. NUL can never be stored, so it
# never matches: PostgreSQL refuses it in any text it compares (a 500 before).
HOSTILE = ["\x00", "a\x00b", "abc", "nan", "1e999", "²", "9" * 40, "-1"]
# Cursors whose position is not a number, whose offset or direction is not one, or that are not
# base64 at all.
BAD_CURSORS = [
    *(
        base64.b64encode(text.encode()).decode()
        for text in ("p=abc", "p=nan", "p=1e999", "p=" + "9" * 40, "p=\x00", "p=-1", "p=", "o=1e999&p=5")
    ),
    "r=1&p=abc",
    "é",
    "cD1hYmM",  # base64 of p=abc without its padding
]


def _refused_naming(response: Any, name: str) -> bool:
    if response.status_code != 400:
        return False
    fields = [error["field"] for error in response.json()["errors"]]
    return name in fields or any(name in error["message"] for error in response.json()["errors"])


@pytest.fixture
def scene(team: Team) -> Scene:
    return Scene(team=team, other=ProjectFactory.create())


def test_the_api_has_lists_to_cover() -> None:
    # The enumeration found them (a schema that stopped documenting cursors would empty it).
    assert {"/api/projects/{project_id}/examples/", "/api/projects/{project_id}/audit/"} <= set(API_LISTS)
    assert len(API_LISTS) >= 15


def test_every_paged_api_route_is_a_documented_list(scene: Scene, client_for: ClientFor) -> None:
    """Completeness: each route of api/urls.py that answers a page is a list the tests below
    cover (documented with its cursor), and each documented list answers a page."""
    objects, lead = Objects(scene), client_for(scene.team.user("lead"))
    for template in api_routes():
        if template.endswith(("export/", "adapter/", ".csv", "schema/", "docs/", "token/")):
            continue  # files and the auth endpoint, not JSON
        response = lead.get(objects.path(template))
        json = response.status_code == 200 and response["Content-Type"] == "application/json"
        body = response.json() if json else None
        paged = isinstance(body, dict) and {"results", "next"} <= set(body)
        assert paged == (template in API_LISTS), (template, response.status_code)


@pytest.mark.parametrize("path", API_LISTS)
def test_every_bad_cursor_of_every_list_is_a_400_naming_it(
    scene: Scene, client_for: ClientFor, path: str
) -> None:
    url, lead = Objects(scene).path(path), client_for(scene.team.user("lead"))
    for cursor in BAD_CURSORS:
        response = lead.get(url, {"cursor": cursor})
        assert _refused_naming(response, "cursor"), (cursor, response.status_code, response.content[:300])


@pytest.mark.parametrize(
    ("path", "name", "kind"),
    [(path, name, kind) for path, query in API_OPERATIONS.items() for name, kind in query.items()],
)
def test_every_api_query_parameter_takes_hostile_values_without_a_500(
    scene: Scene, client_for: ClientFor, path: str, name: str, kind: str
) -> None:
    """Each is answered (a value that can be a filter's) or a 400 naming the parameter; NUL, and
    what is not a number for a number, always the 400."""
    url, lead = Objects(scene).path(path), client_for(scene.team.user("lead"))
    for value in HOSTILE if name != "cursor" else []:
        response = lead.get(url, {name: value})
        assert response.status_code in (200, 400), (value, response.status_code, response.content[:300])
        if response.status_code == 400:
            assert _refused_naming(response, name), (value, response.content[:300])
        if "\x00" in value or kind in ("integer", "number", "boolean"):
            assert _refused_naming(response, name), (value, response.status_code)


@pytest.mark.parametrize("path", page_routes())
def test_every_query_parameter_of_every_page_takes_hostile_values_without_a_500(
    scene: Scene, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parameters a page reads are found by reading them: a probe request records every
    name the view asks the query string for; then each gets the hostile values."""
    client = Client()
    client.force_login(scene.team.user("lead"))
    url = Objects(scene).path(path)
    probe = _names_read(client, url, monkeypatch)
    if probe is None:
        return  # a form's target that only takes POST (405 to a GET): no page to show
    status, read = probe
    for name in sorted(read):
        for value in HOSTILE:
            response = client.get(url, {name: value})
            assert response.status_code in {200, 400, status}, (name, value, response.status_code)
            if response.status_code == 400:
                assert name in response.content.decode(), (name, value, response.content[:300])


def _names_read(client: Client, url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, set[str]] | None:
    """The page's status and the query names it read; None for a POST-only route. A page that
    needs a parameter (flag/compare/?other=) may be a 404 without it."""
    read: set[str] = set()
    get, getitem = QueryDict.get, QueryDict.__getitem__

    def recording_get(self: QueryDict, key: str, default: Any = None) -> Any:
        read.add(key)
        return get(self, key, default)

    def recording_getitem(self: QueryDict, key: str) -> Any:
        read.add(key)
        return getitem(self, key)

    with monkeypatch.context() as patched:
        patched.setattr(QueryDict, "get", recording_get)
        patched.setattr(QueryDict, "__getitem__", recording_getitem)
        response = client.get(url)
    if response.status_code == 405:
        return None
    assert response.status_code == 200 or (response.status_code == 404 and read), (url, response.status_code)
    return response.status_code, read


def test_the_list_pages_are_found_reading_their_filters(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The recording above sees the filters of the pages that have them (else it tests nothing).
    client, objects = Client(), Objects(scene)
    client.force_login(scene.team.user("lead"))
    expected = {
        "/projects/{project_id}/examples/": {"status", "flagged", "duplicate", "q", "source", "before"},
        "/projects/{project_id}/flags/": {"status", "kind"},
        "/projects/{project_id}/audit/": {"actor", "action", "target_type", "target_id", "before"},
        "/projects/{project_id}/review/": {"after", "before"},
    }
    for path, names in expected.items():
        assert path in page_routes()
        assert names <= (_names_read(client, objects.path(path), monkeypatch) or (0, set()))[1], path


@pytest.mark.parametrize("name", ["actor", "action", "target_type"])
def test_nul_in_an_audit_filter_is_a_400_naming_it_in_the_api_and_on_the_page(
    scene: Scene, client_for: ClientFor, name: str
) -> None:
    project = scene.team.project
    api = client_for(scene.team.user("lead")).get(f"/api/projects/{project.pk}/audit/", {name: "\x00"})
    assert _refused_naming(api, name), api.content[:300]
    page = Client()
    page.force_login(scene.team.user("lead"))
    response = page.get(f"/projects/{project.pk}/audit/", {name: "\x00"})
    assert response.status_code == 400 and name in response.content.decode()


@pytest.mark.parametrize(
    ("letter", "length"),
    # 215 four-byte characters still fit the 1 KB a multipart part's headers may take in Django
    [("a", 215), ("a", 255), ("a", 400), ("é", 215), ("é", 400), ("😀", 215)],
)
def test_a_long_upload_name_is_shortened_when_stored_keeping_its_extension(
    team: Team, client_for: ClientFor, length: int, letter: str
) -> None:
    name = letter * length + ".jsonl"
    rows = b'{"input": "Hi there", "output": "card_arrival"}\n'
    api = client_for(team.lead).post(
        f"/api/projects/{team.project.pk}/imports/",
        {"file": SimpleUploadedFile(name, rows)},
        format="multipart",
    )
    page = Client()
    page.force_login(team.lead)
    ui = page.post(
        f"/projects/{team.project.pk}/import/",
        {"file": SimpleUploadedFile(name, rows), "format": "auto", "status": "draft"},
    )
    assert api.status_code == 202, api.content[:300]
    assert ui.status_code == 302, ui.content[:300]
    for job in ImportJob.objects.filter(project=team.project):
        stored = Path(job.file.path)
        assert stored.is_file() and stored.suffix == ".jsonl" and len(stored.name.encode()) <= 200
        # Django keeps 255 characters of an upload's name, with its extension
        assert job.filename.startswith(letter * 200) and job.filename.endswith(".jsonl")
