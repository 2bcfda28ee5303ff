"""Schemathesis against the live OpenAPI schema (served at /api/schema/, called in-process through
the WSGI application): for every operation, a bounded number of generated requests, valid and
not, each of which must get an answer that is not a 500 and that the schema documents (status
code, content type, body).

The requests come from a lead of a project with data (examples, a frozen version, a flag, a
duplicate cluster, jobs, a trained run, eval runs, a comparison, a deployment and its drift
report). Most generated ids are swapped for ids of those objects, so that requests reach past the
404 into the real work; the rest stay as generated. The data is made once for the module; each
operation's requests share one transaction, rolled back after it. Celery runs eagerly in tests,
so the jobs the requests start (imports, dedup, freezes, training and eval runs) run too.

Query strings get hostile values too (tests/api/test_hostile_input.py covers them exhaustively):
about half of each GET operation's requests carry, in one of its documented query parameters,
NUL, a word, `nan`, `1e999` or an overflowing number, or a cursor whose position is not a number.

Reproducible: the seed is fixed and Hypothesis keeps no example database.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from curation.models import Role
from curation.services.versions import version_create
from tests.api.routes import api_get_operations
from tests.api.test_permissions import Scene
from tests.conftest import Team
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.training.support import LABELS, labelled_examples

CASES_PER_OPERATION = 25  # the fuzzing phase's; the examples and coverage phases add a few each
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# No request cache either: schemathesis would keep it in `.schemathesis/` in the working folder.
config = schemathesis.Config.from_dict(
    {
        "seed": 20_251_129,
        "generation": {"database": "none"},
        "cache": {"enabled": False, "directory": "test-output/schemathesis"},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler(), config=config)

# Ids of the module's objects: by path parameter (for `job_id` and `run_id`, by the path's first
# segment too), and by the body fields that name objects.
PATH_IDS: dict[str | tuple[str, str], Any] = {}
BODY_IDS: dict[str, Any] = {}


def real_or_generated(generated: dict[str, Any], real: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly the real ids (past the 404), sometimes the generated ones."""
    if real == generated:
        return st.just(generated)
    return st.sampled_from([real, real, real, generated])


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    if not path_parameters:
        return st.just(path_parameters)
    first = context.operation.path.split("/")[2]
    real = dict(path_parameters)
    for name in path_parameters:
        real[name] = PATH_IDS.get((first, name), PATH_IDS.get(name, path_parameters[name]))
    return real_or_generated(path_parameters, real)


QUERY = api_get_operations()
HOSTILE = ["\x00", "a\x00b", "abc", "nan", "1e999", "9" * 40]
BAD_CURSORS = [base64.b64encode(text.encode()).decode() for text in ("p=abc", "p=nan", "p=1e999", "p=\x00")]


@schema.hook
def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
    """As generated, or with one documented parameter set to a hostile value."""
    names = QUERY.get(context.operation.path, {}) if context.operation.method.upper() == "GET" else {}
    hostile = [
        {**(query or {}), name: value}
        for name in names
        for value in (BAD_CURSORS if name == "cursor" else HOSTILE)
    ]
    return st.one_of(st.just(query), st.sampled_from(hostile)) if hostile else st.just(query)


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    if not isinstance(body, dict):
        return st.just(body)
    return real_or_generated(body, {name: BODY_IDS.get(name, value) for name, value in body.items()})


@pytest.fixture(scope="module")
def headers(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The lead's token, once the module's data is made (rolled back at the end)."""
    # Django closes the connection after each request (in an atomic block: it breaks it); the
    # test client does the same as this.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    media = tmp_path_factory.mktemp("fuzz-media")
    try:
        with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(media)), transaction.atomic():
            lead = make_data()
            token, _ = Token.objects.get_or_create(user=lead)
            yield {"Authorization": f"Token {token.key}"}
            transaction.set_rollback(True)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def make_data() -> User:
    """A project with one of everything the API names by id; answers its lead."""
    project = ProjectFactory.create(labels=LABELS, system_prompt="Answer with the intent label only.")
    team = Team(
        project=project,
        **{role: MembershipFactory.create(project=project, role=role).user for role in Role.values},
        outsider=UserFactory.create(),
        staff=UserFactory.create(is_staff=True),
    )
    scene = Scene(team=team, other=ProjectFactory.create())
    labelled_examples(project, 30)
    version = version_create(project=project, user=team.lead, eval_fraction=0.2)
    cluster = scene.active_cluster(project)
    baseline, candidate = scene.eval_run(project, version), scene.eval_run(project, version)
    trained = scene.training_run(project, with_adapter=True)
    deployment = scene.deployment(project)
    PATH_IDS.clear()
    PATH_IDS.update(
        {
            "project_id": project.pk,
            "username": scene.member(project).username,
            "example_id": scene.example(project).pk,
            "flag_id": scene.open_flag(project).pk,
            "cluster_id": cluster.pk,
            ("dedup-jobs", "job_id"): cluster.job_id,
            ("contradiction-jobs", "job_id"): scene.contradiction_job(project).pk,
            ("imports", "job_id"): scene.import_job(project).pk,
            ("exports", "job_id"): scene.export_job(project).pk,
            ("validation-jobs", "job_id"): scene.validation_job(project).pk,
            "version_id": version.pk,
            "other_id": scene.frozen_version(project).pk,
            ("training-runs", "run_id"): trained.pk,
            ("eval-runs", "run_id"): baseline.pk,
            "comparison_id": scene.comparison(project).pk,
            "deployment_id": deployment.pk,
            "report_id": scene.drift_report(project).pk,
        }
    )
    BODY_IDS.clear()
    BODY_IDS.update(
        {
            "version": trained.version_id,  # so that an eval run of `trained` is on its version
            "training_run": trained.pk,
            "baseline": baseline.pk,
            "candidate": candidate.pk,
            "example": cluster.members.exclude(example_id=cluster.kept_id).get().example_id,
            "examples": [scene.example(project).pk, scene.example(project).pk],
            "username": team.outsider.username,  # someone to add to the project
            "revision": 1,  # the example's, until a request changes it
        }
    )
    return team.lead


@schema.parametrize()
@hypothesis.settings(
    max_examples=CASES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    # The `db` fixture: one transaction for all of an operation's requests, on purpose.
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_operation(case: schemathesis.Case, headers: dict[str, str], db: None) -> None:
    case.call_and_validate(headers=headers, checks=CHECKS)
