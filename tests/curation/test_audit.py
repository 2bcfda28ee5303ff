"""The audit log: each change made through Finch leaves one event naming who, what and the values
before and after; a refused change leaves none; leads read it over the API and in the UI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from curation.errors import Conflict
from curation.models import AuditEvent, DuplicateCluster, FlagKind, JobStatus
from curation.services.dedup import cluster_dissolve, cluster_keep
from curation.services.examples import example_update
from curation.services.flags import flag_create, flag_resolve
from curation.services.projects import membership_remove, membership_set, project_update
from curation.services.validation_jobs import validation_job_create
from tests.api.test_permissions import Scene
from tests.conftest import Team
from tests.curation.ui_support import edited, logged_in, reviewed, text, written
from tests.factories import ExampleFactory, ProjectFactory, UserFactory, sharing_a_project
from training.services import run_cancel

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[..., APIClient]


def events(team: Team) -> list[tuple[str, str, str]]:
    """(actor, action, target type) of the project's events, oldest first."""
    rows = AuditEvent.objects.filter(project=team.project).order_by("id")
    return list(rows.values_list("actor_name", "action", "target_type"))


def last(team: Team) -> AuditEvent:
    return AuditEvent.objects.filter(project=team.project).latest("id")


def test_writing_editing_and_reviewing_an_example_are_three_events_with_their_changes(team: Team) -> None:
    example = written(team.project, team.annotator, "Where is my card?")
    edited(example, team.annotator, output="card_linking")
    reviewed(example, team.reviewer, "approve")

    assert events(team) == [
        (team.annotator.username, "example.create", "example"),
        (team.annotator.username, "example.update", "example"),
        (team.reviewer.username, "review.approve", "example"),
    ]
    edit, review = AuditEvent.objects.filter(project=team.project).order_by("id")[1:]
    assert edit.changes == {"output": ["card_arrival", "card_linking"]}
    assert edit.target_id == example.pk and edit.actor == team.annotator
    assert review.changes == {"status": ["submitted", "approved"]}


def test_a_refused_edit_leaves_no_event(team: Team) -> None:
    example = written(team.project, team.annotator, "Where is my card?")
    before = AuditEvent.objects.count()
    with pytest.raises(Conflict):
        example_update(
            example=example, user=team.annotator, revision=example.revision + 5, changes={"output": "x"}
        )
    assert AuditEvent.objects.count() == before


def test_flags_clusters_settings_members_and_jobs_are_recorded(team: Team) -> None:
    first = written(team.project, team.annotator, "Where is my card?")
    second = written(team.project, team.annotator, "Where is my card now?", "card_linking")
    flag = flag_create(
        project=team.project,
        user=team.annotator,
        kind=FlagKind.CONTRADICTION,
        example_ids=[first.pk, second.pk],
    )
    flag_resolve(flag=flag, user=team.reviewer, resolution="dismiss")
    project_update(project=team.project, user=team.lead, changes={"target_behavior": "Route messages well."})
    newcomer = UserFactory.create()
    sharing_a_project(team.lead, newcomer)
    membership_set(project=team.project, user=team.lead, username=newcomer.username, role="annotator")
    membership_set(project=team.project, user=team.lead, username=newcomer.username, role="reviewer")
    membership_remove(project=team.project, user=team.lead, username=newcomer.username)
    validation_job_create(project=team.project, user=team.lead)

    assert events(team)[2:] == [
        (team.annotator.username, "flag.raise", "flag"),
        (team.reviewer.username, "flag.resolve", "flag"),
        (team.lead.username, "project.update", "project"),
        (team.lead.username, "member.set", "user"),
        (team.lead.username, "member.set", "user"),
        (team.lead.username, "member.remove", "user"),
        (team.lead.username, "validation_job.start", "validationjob"),
    ]
    settings_event = AuditEvent.objects.get(project=team.project, action="project.update")
    assert settings_event.changes["target_behavior"][1] == "Route messages well."
    roles = AuditEvent.objects.filter(project=team.project, action__startswith="member.").order_by("id")
    assert [event.changes["role"] for event in roles] == [
        [None, "annotator"],
        ["annotator", "reviewer"],
        ["reviewer", None],
    ]


def test_flags_a_job_raises_are_not_one_event_each(
    team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    # Given examples whose label the project no longer has, checked by a validation job
    ExampleFactory.create(project=team.project, output="not_a_label")
    ExampleFactory.create(project=team.project, output="another_unknown_label")
    with django_capture_on_commit_callbacks(execute=True):
        job = validation_job_create(project=team.project, user=team.lead)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.flags_raised == 2
    # Then the log says who started the job, not one line per flag it raised
    assert [action for _, action, _ in events(team)] == ["validation_job.start"]


def test_cluster_decisions_and_a_run_cancel_are_recorded(team: Team) -> None:
    scene = Scene(team=team, other=ProjectFactory.create())
    cluster = scene.active_cluster(team.project)
    other = cluster.members.exclude(example_id=cluster.kept_id).get().example_id
    cluster_keep(cluster=cluster, user=team.reviewer, example_id=other)
    cluster_dissolve(cluster=DuplicateCluster.objects.get(pk=cluster.pk), user=team.lead)
    run = scene.training_run(team.project)
    run_cancel(run=run, user=team.lead)

    keep = AuditEvent.objects.get(project=team.project, action="cluster.keep")
    assert keep.changes["kept"][1] == other and keep.actor == team.reviewer
    assert AuditEvent.objects.filter(project=team.project, action="cluster.dissolve").count() == 1
    assert AuditEvent.objects.filter(project=team.project, action="version.freeze").count() == 1
    cancel = last(team)
    assert (cancel.action, cancel.target_id, cancel.actor) == ("training_run.cancel", run.pk, team.lead)
    assert "it was queued" in cancel.summary


def test_a_dedup_job_started_over_the_api_records_its_starter_and_request(
    team: Team, client_for: ClientFor
) -> None:
    ExampleFactory.create(project=team.project, input="Where is my card?")
    response = client_for(team.lead).post(
        f"/api/projects/{team.project.pk}/dedup-jobs/",
        {"method": "exact"},
        format="json",
        HTTP_X_REQUEST_ID="req-42",
    )
    assert response.status_code == 202, response.json()
    event = AuditEvent.objects.get(project=team.project, action="dedup_job.start")
    assert (event.actor_name, event.target_id, event.request_id) == (
        team.lead.username,
        response.json()["id"],
        "req-42",
    )


class TestReading:
    def test_a_lead_reads_the_log_newest_first_and_filters_it(
        self, team: Team, client_for: ClientFor
    ) -> None:
        example = written(team.project, team.annotator, "Where is my card?")
        edited(example, team.annotator, output="card_linking")
        reviewed(example, team.reviewer, "approve")
        client = client_for(team.lead)
        path = f"/api/projects/{team.project.pk}/audit/"

        body = client.get(path).json()
        assert [row["action"] for row in body["results"]] == [
            "review.approve",
            "example.update",
            "example.create",
        ]
        assert body["results"][1]["changes"] == {"output": ["card_arrival", "card_linking"]}
        assert body["results"][1]["actor"] == team.annotator.username

        def actions(**params: Any) -> list[str]:
            return [row["action"] for row in client.get(path, params).json()["results"]]

        assert actions(actor=team.reviewer.username) == ["review.approve"]
        assert actions(action="example.") == ["example.update", "example.create"]
        assert actions(target_type="example", target_id=example.pk) == actions()
        assert actions(target_id=example.pk + 1000) == []
        paged = client.get(path, {"page_size": 2}).json()
        assert len(paged["results"]) == 2 and paged["next"]

    def test_a_bad_filter_is_a_400_naming_it(self, team: Team, client_for: ClientFor) -> None:
        response = client_for(team.lead).get(
            f"/api/projects/{team.project.pk}/audit/", {"target_id": "12; DROP"}
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "target_id"

    def test_only_leads_read_it(self, team: Team, client_for: ClientFor) -> None:
        path = f"/api/projects/{team.project.pk}/audit/"
        assert client_for(team.reviewer).get(path).status_code == 403
        assert client_for(team.outsider).get(path).status_code == 404
        assert logged_in(team.annotator).get(f"/projects/{team.project.pk}/audit/").status_code == 403

    def test_the_page_shows_who_did_what_escaped_with_a_link_to_the_object(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Where is my card?")
        edited(example, team.annotator, input="<script>alert(1)</script> where is my card?")
        page = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/audit/"))
        assert f'href="/examples/{example.pk}/"' in page
        assert f"Edited example {example.pk}: input" in page and team.annotator.username in page
        assert 'Where is my card?</span> → <span class="after">&lt;script&gt;alert(1)' in page
        assert "<script>alert(1)" not in page
        filtered = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/audit/?action=example.create"))
        assert "Wrote example" in filtered and "Edited example" not in filtered
