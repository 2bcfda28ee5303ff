"""Behaviour of the projects API: token auth, creating and changing projects, members, validation jobs."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from curation.models import ExampleStatus, FlagKind, FlagStatus, Membership, Project, Role, TaskType
from tests.api.support import error_fields
from tests.conftest import Team
from tests.factories import LABELS, ExampleFactory, MembershipFactory, ProjectFactory, UserFactory

if TYPE_CHECKING:
    pass

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User | None], APIClient]


EXTRACTION_SCHEMA = {
    "type": "object",
    "properties": {"people": {"type": "integer"}, "time": {"type": "string"}},
    "required": ["people"],
    "additionalProperties": False,
}


def project_url(project_id: int) -> str:
    return f"/api/projects/{project_id}/"


def members_url(project_id: int) -> str:
    return f"/api/projects/{project_id}/members/"


def user_with_password(password: str) -> User:
    user = UserFactory.create()
    user.set_password(password)
    user.save()
    return user


def role_in(project: Project, user: User) -> str | None:
    membership = Membership.objects.filter(project=project, user=user).first()
    return membership.role if membership else None


class TestTokenAuth:
    def test_token_endpoint_returns_a_token_that_authenticates(self) -> None:
        # Given a user with a known password
        user = user_with_password("correct horse")
        client = APIClient()

        # When they trade username and password for a token
        response = client.post(
            "/api/auth/token/", {"username": user.username, "password": "correct horse"}, format="json"
        )

        # Then the body is {"token"} and that token signs requests in
        assert response.status_code == 200, response.content
        assert set(response.json()) == {"token"}
        token = response.json()["token"]
        assert client.get("/api/projects/").status_code == 401
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert client.get("/api/projects/").status_code == 200

    def test_wrong_password_is_400_with_an_errors_list(self) -> None:
        # Given a user with a known password
        user = user_with_password("correct horse")

        # When someone asks for their token with the wrong password
        response = APIClient().post(
            "/api/auth/token/", {"username": user.username, "password": "not-it"}, format="json"
        )

        # Then it is refused with the standard error body and no token
        assert response.status_code == 400
        assert error_fields(response)
        assert "token" not in response.json()

    def test_drf_create_token_prints_a_working_token(self) -> None:
        # Given a user for a script
        user = UserFactory.create()
        out = io.StringIO()

        # When the management command makes a token for them
        call_command("drf_create_token", user.username, stdout=out)

        # Then the printed token authenticates as that user
        found = re.search(r"\b[0-9a-f]{40}\b", out.getvalue())
        assert found, out.getvalue()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {found.group(0)}")
        project = Project.objects.create(name="P", task_type=TaskType.GENERATION, target_behavior="t")
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        response = client.get("/api/projects/")
        assert response.status_code == 200
        assert [item["id"] for item in response.json()["results"]] == [project.pk]


class TestProjectCreate:
    @pytest.mark.parametrize(
        ("task_type", "settings_"),
        [
            (TaskType.CLASSIFICATION, {"labels": ["positive", "negative"]}),
            (TaskType.EXTRACTION, {"output_schema": EXTRACTION_SCHEMA}),
            (TaskType.GENERATION, {}),
            (TaskType.CHAT, {"system_prompt": "You are a helpful banking assistant."}),
        ],
    )
    def test_each_task_type_is_created_with_the_creator_as_lead(
        self, client_for: ClientFor, task_type: str, settings_: dict[str, Any]
    ) -> None:
        # Given a signed-in user who is a member of nothing
        user = UserFactory.create()
        client = client_for(user)
        body = {"name": f"A {task_type} project", "task_type": task_type, "target_behavior": "Do it well."}

        # When they create a project of that task type
        response = client.post("/api/projects/", {**body, **settings_}, format="json")

        # Then it is created as sent, and they are its lead
        assert response.status_code == 201, response.content
        data = response.json()
        assert data["task_type"] == task_type
        assert data["name"] == body["name"]
        assert data["my_role"] == "lead"
        assert data["created_by"] == user.username
        for key, value in settings_.items():
            assert data[key] == value
        project = Project.objects.get(pk=data["id"])
        assert role_in(project, user) == Role.LEAD
        listed = client.get("/api/projects/").json()["results"]
        assert [(item["id"], item["my_role"]) for item in listed] == [(project.pk, "lead")]

    def test_classification_without_enough_labels_is_refused(self, client_for: ClientFor) -> None:
        # Given a signed-in user
        client = client_for(UserFactory.create())

        # When they create a classification project with one label
        response = client.post(
            "/api/projects/",
            {"name": "x", "task_type": "classification", "target_behavior": "t", "labels": ["only"]},
            format="json",
        )

        # Then it is refused naming labels, and nothing was created
        assert response.status_code == 400
        assert error_fields(response) == ["labels"]
        assert not Project.objects.exists()


class TestProjectDetail:
    def test_detail_counts_examples_by_status_and_open_flags(self, team: Team, client_for: ClientFor) -> None:
        # Given examples in three statuses, one open flag and one dismissed flag
        project = team.project
        for status, n in [
            (ExampleStatus.DRAFT, 1),
            (ExampleStatus.SUBMITTED, 2),
            (ExampleStatus.APPROVED, 3),
        ]:
            ExampleFactory.create_batch(n, project=project, status=status)
        first, second = project.examples.order_by("id")[:2]
        client = client_for(team.reviewer)
        open_flag = client.post(
            f"/api/projects/{project.pk}/flags/",
            {"kind": "contradiction", "examples": [first.pk, second.pk]},
            format="json",
        )
        closed = client.post(
            f"/api/projects/{project.pk}/flags/", {"kind": "quality", "examples": [first.pk]}, format="json"
        )
        assert open_flag.status_code == closed.status_code == 201
        client.post(f"/api/flags/{closed.json()['id']}/resolve/", {"resolution": "dismiss"}, format="json")

        # When a member reads the project
        response = client_for(team.annotator).get(project_url(project.pk))

        # Then it shows every status count (zeros included) and only the open flag
        assert response.status_code == 200
        data = response.json()
        assert data["counts"] == {
            "draft": 1,
            "submitted": 2,
            "approved": 3,
            "rejected": 0,
            "needs_changes": 0,
        }
        assert data["open_flags"] == 1
        assert data["my_role"] == "annotator"


class TestProjectUpdate:
    def test_lead_changes_settings(self, team: Team, client_for: ClientFor) -> None:
        # Given a classification project
        client = client_for(team.lead)
        changes = {
            "name": "Renamed",
            "system_prompt": "Answer with the label.",
            "labels": [*LABELS, "refund_not_showing_up"],
        }

        # When the lead patches its settings
        response = client.patch(project_url(team.project.pk), changes, format="json")

        # Then the response and a later read show the new settings, other fields untouched
        assert response.status_code == 200, response.content
        reread = client.get(project_url(team.project.pk)).json()
        for data in (response.json(), reread):
            for key, value in changes.items():
                assert data[key] == value
            assert data["task_type"] == "classification"
            assert data["target_behavior"] == team.project.target_behavior
            assert "counts" in data

    def test_task_type_cannot_change(self, team: Team, client_for: ClientFor) -> None:
        # Given a classification project
        client = client_for(team.lead)

        # When the lead tries to make it a generation project
        response = client.patch(project_url(team.project.pk), {"task_type": "generation"}, format="json")

        # Then it is refused naming task_type, and the project keeps its task type
        assert response.status_code == 400
        assert error_fields(response) == ["task_type"]
        team.project.refresh_from_db()
        assert team.project.task_type == TaskType.CLASSIFICATION

    def test_invalid_settings_change_is_refused_and_not_saved(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given a classification project with four labels
        client = client_for(team.lead)

        # When the lead tries to leave it with a single label
        response = client.patch(project_url(team.project.pk), {"labels": ["only"]}, format="json")

        # Then it is refused and the labels are unchanged
        assert response.status_code == 400
        assert error_fields(response) == ["labels"]
        team.project.refresh_from_db()
        assert team.project.labels == LABELS


class TestMembers:
    def test_add_then_change_role(self, team: Team, client_for: ClientFor) -> None:
        # Given a user who is not in the project, but shares another one with the lead
        client = client_for(team.lead)
        newcomer = team.outsider
        elsewhere = ProjectFactory.create()
        MembershipFactory.create(project=elsewhere, user=team.lead, role=Role.LEAD)
        MembershipFactory.create(project=elsewhere, user=newcomer, role=Role.ANNOTATOR)

        # When the lead adds them as annotator, then sends them again as reviewer
        added = client.post(
            members_url(team.project.pk), {"username": newcomer.username, "role": "annotator"}, format="json"
        )
        changed = client.post(
            members_url(team.project.pk), {"username": newcomer.username, "role": "reviewer"}, format="json"
        )

        # Then the first is 201 (created), the second 200 (changed), and they hold the new role
        assert added.status_code == 201, added.content
        assert added.json()["role"] == "annotator"
        assert added.json()["username"] == newcomer.username
        assert changed.status_code == 200, changed.content
        assert changed.json()["role"] == "reviewer"
        assert role_in(team.project, newcomer) == Role.REVIEWER
        assert Membership.objects.filter(project=team.project, user=newcomer).count() == 1
        listed = client.get(members_url(team.project.pk)).json()["results"]
        assert {item["username"]: item["role"] for item in listed}[newcomer.username] == "reviewer"

    def test_unknown_username_is_400(self, team: Team, client_for: ClientFor) -> None:
        # Given a project
        before = Membership.objects.count()

        # When the lead adds a user that does not exist
        response = client_for(team.lead).post(
            members_url(team.project.pk), {"username": "nobody-here", "role": "annotator"}, format="json"
        )

        # Then it is refused naming username, and nobody was added
        assert response.status_code == 400
        assert error_fields(response) == ["username"]
        assert Membership.objects.count() == before

    def test_an_unknown_name_and_a_stranger_get_the_same_answer(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given a user who shares no project with the lead, and a name nobody has
        before = Membership.objects.count()

        # When the lead adds each
        answers = [
            client_for(team.lead).post(
                members_url(team.project.pk), {"username": name, "role": "annotator"}, format="json"
            )
            for name in (team.outsider.username, "nobody-here")
        ]

        # Then both are the same 400 (but for the name), so names cannot be probed
        assert [answer.status_code for answer in answers] == [400, 400]
        bodies = [
            answer.content.decode().replace(name, "NAME")
            for answer, name in zip(answers, (team.outsider.username, "nobody-here"), strict=True)
        ]
        assert bodies[0] == bodies[1]
        assert "share a project" in answers[0].json()["detail"]
        assert Membership.objects.count() == before

    def test_staff_may_add_anyone(self, team: Team, client_for: ClientFor) -> None:
        response = client_for(team.staff).post(
            members_url(team.project.pk),
            {"username": team.outsider.username, "role": "annotator"},
            format="json",
        )
        assert response.status_code == 201, response.content
        assert role_in(team.project, team.outsider) == Role.ANNOTATOR

    def test_last_lead_cannot_be_removed(self, team: Team, client_for: ClientFor) -> None:
        # Given a project with a single lead
        client = client_for(team.lead)

        # When that lead removes themselves
        response = client.delete(f"{members_url(team.project.pk)}{team.lead.username}/")

        # Then it is refused and they are still lead
        assert response.status_code == 400
        assert error_fields(response)
        assert role_in(team.project, team.lead) == Role.LEAD

    def test_last_lead_cannot_be_demoted(self, team: Team, client_for: ClientFor) -> None:
        # Given a project with a single lead
        client = client_for(team.lead)

        # When that lead is set to reviewer
        response = client.post(
            members_url(team.project.pk), {"username": team.lead.username, "role": "reviewer"}, format="json"
        )

        # Then it is refused and they are still lead
        assert response.status_code == 400
        assert error_fields(response)
        assert role_in(team.project, team.lead) == Role.LEAD

    def test_a_lead_can_step_down_once_there_is_another(self, team: Team, client_for: ClientFor) -> None:
        # Given a second lead
        client = client_for(team.lead)
        promoted = client.post(
            members_url(team.project.pk), {"username": team.reviewer.username, "role": "lead"}, format="json"
        )
        assert promoted.status_code == 200

        # When the first lead demotes themselves, and the other lead removes the annotator
        demoted = client.post(
            members_url(team.project.pk), {"username": team.lead.username, "role": "annotator"}, format="json"
        )
        removed = client_for(team.reviewer).delete(
            f"{members_url(team.project.pk)}{team.annotator.username}/"
        )

        # Then both succeed
        assert demoted.status_code == 200, demoted.content
        assert role_in(team.project, team.lead) == Role.ANNOTATOR
        assert removed.status_code == 204
        assert role_in(team.project, team.annotator) is None


class TestValidationJobs:
    def test_removed_label_gets_format_flags_from_the_job(
        self, team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: Any
    ) -> None:
        # Given two examples labelled exchange_rate and one labelled card_arrival
        project = team.project
        stale = [ExampleFactory.create(project=project, output="exchange_rate") for _ in range(2)]
        fine = ExampleFactory.create(project=project, output="card_arrival")
        client = client_for(team.lead)

        # When the lead removes exchange_rate and runs a validation job
        removed = client.patch(
            project_url(project.pk),
            {"labels": [label for label in LABELS if label != "exchange_rate"]},
            format="json",
        )
        assert removed.status_code == 200
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = client.post(f"/api/projects/{project.pk}/validation-jobs/")

        # Then it answers 202 with the job, and the job flags exactly the examples using the label
        assert response.status_code == 202, response.content
        assert len(callbacks) == 1
        job = response.json()
        assert job["project"] == project.pk
        assert job["status"] in {"queued", "running", "succeeded"}
        flags = client.get(f"/api/projects/{project.pk}/flags/", {"kind": "format"}).json()["results"]
        assert sorted(flag["examples"][0] for flag in flags) == sorted(example.pk for example in stale)
        assert fine.pk not in {flag["examples"][0] for flag in flags}
        for flag in flags:
            assert flag["raised_by"] == "job"
            assert flag["status"] == "open"
            assert len(flag["examples"]) == 1
            assert "exchange_rate" in flag["note"]
        detail = client.get(f"/api/validation-jobs/{job['id']}/")
        assert detail.status_code == 200
        assert detail.json()["status"] == "succeeded"
        assert detail.json()["progress"] == 1.0
        assert (detail.json()["checked"], detail.json()["invalid"], detail.json()["flags_raised"]) == (
            3,
            2,
            2,
        )

    def test_running_again_raises_no_duplicate_flags(
        self, team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: Any
    ) -> None:
        # Given an example whose label was removed and a first validation run
        project = team.project
        ExampleFactory.create(project=project, output="exchange_rate")
        client = client_for(team.lead)
        client.patch(project_url(project.pk), {"labels": ["card_arrival", "card_linking"]}, format="json")
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/api/projects/{project.pk}/validation-jobs/")

        # When the job runs a second time
        with django_capture_on_commit_callbacks(execute=True):
            second = client.post(f"/api/projects/{project.pk}/validation-jobs/")

        # Then it still finds the invalid example but raises no second flag
        detail = client.get(f"/api/validation-jobs/{second.json()['id']}/").json()
        assert detail["status"] == "succeeded"
        assert (detail["checked"], detail["invalid"], detail["flags_raised"]) == (1, 1, 0)
        assert project.flags.filter(kind=FlagKind.FORMAT, status=FlagStatus.OPEN).count() == 1


class TestGuidelinesAPI:
    GUIDE = "# Guide\n\nGood: `card_arrival` for a late card.\nBad: `card_linking` for it.\n"

    def test_create_with_guidelines_and_read_them_in_the_detail(
        self, team: Team, client_for: ClientFor
    ) -> None:
        body = {
            "name": "Guided",
            "task_type": "generation",
            "target_behavior": "Be kind.",
            "guidelines": self.GUIDE,
        }
        created = client_for(team.outsider).post("/api/projects/", body, format="json")
        assert created.status_code == 201
        detail = client_for(team.outsider).get(project_url(created.json()["id"])).json()
        assert detail["guidelines"] == self.GUIDE and detail["guidelines_revision"] == 1

    def test_patch_makes_a_new_revision(self, team: Team, client_for: ClientFor) -> None:
        client = client_for(team.lead)
        for number, text in enumerate((self.GUIDE, self.GUIDE + "More.\n"), start=1):
            response = client.patch(project_url(team.project.pk), {"guidelines": text}, format="json")
            assert response.status_code == 200
            assert response.json()["guidelines"] == text and response.json()["guidelines_revision"] == number
        assert team.project.guidelines_revisions.count() == 2

    def test_an_annotator_may_not_change_them(self, team: Team, client_for: ClientFor) -> None:
        response = client_for(team.annotator).patch(
            project_url(team.project.pk), {"guidelines": "mine"}, format="json"
        )
        assert response.status_code == 403
        team.project.refresh_from_db()
        assert team.project.guidelines == ""

    @pytest.mark.parametrize("value", [None, "x" * 100_001, "bad\x00nul"])
    def test_bad_guidelines_are_named(self, team: Team, client_for: ClientFor, value: Any) -> None:
        response = client_for(team.lead).patch(
            project_url(team.project.pk), {"guidelines": value}, format="json"
        )
        assert response.status_code == 400
        assert error_fields(response) == ["guidelines"]
        team.project.refresh_from_db()
        assert team.project.guidelines_revision == 0

    def test_a_version_reports_its_guidelines(self, team: Team, client_for: ClientFor) -> None:
        client = client_for(team.lead)
        client.patch(project_url(team.project.pk), {"guidelines": self.GUIDE}, format="json")
        for number in range(3):
            ExampleFactory.create(project=team.project, status=ExampleStatus.APPROVED, input=f"API {number}")
        response = client.post(
            f"/api/projects/{team.project.pk}/versions/", {"eval_fraction": 0.34}, format="json"
        )
        version = client.get(f"/api/versions/{response.json()['id']}/").json()
        assert version["guidelines"] == self.GUIDE and version["guidelines_revision"] == 1


class TestProjectCreators:
    BODY = {"name": "Mine", "task_type": "generation", "target_behavior": "Be kind."}

    def test_any_signed_in_user_by_default(self, team: Team, client_for: ClientFor) -> None:
        assert client_for(team.outsider).post("/api/projects/", self.BODY, format="json").status_code == 201

    def test_staff_only_refuses_others_naming_the_rule(
        self, team: Team, client_for: ClientFor, settings: Any
    ) -> None:
        settings.FINCH_PROJECT_CREATORS = "staff"
        response = client_for(team.lead).post("/api/projects/", self.BODY, format="json")
        assert response.status_code == 403
        assert "FINCH_PROJECT_CREATORS=staff" in response.json()["detail"]
        assert not Project.objects.filter(name="Mine").exists()
        assert client_for(team.staff).post("/api/projects/", self.BODY, format="json").status_code == 201
