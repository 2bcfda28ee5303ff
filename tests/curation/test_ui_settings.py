"""Project settings and members, for leads."""

from __future__ import annotations

from typing import Any

import pytest

from curation.models import AuditEvent, Membership, Role, TaskType
from tests.conftest import Team
from tests.curation.ui_support import followed_text, logged_in, text
from tests.factories import MembershipFactory, ProjectFactory, sharing_a_project


def settings_url(team: Team) -> str:
    return f"/projects/{team.project.pk}/settings/"


def members_url(team: Team) -> str:
    return f"/projects/{team.project.pk}/members/"


def settings_form(**changes: Any) -> dict[str, Any]:
    form = {
        "name": "Banking intents",
        "target_behavior": "Route each banking message to one intent.",
        "system_prompt": "",
        "labels": "card_arrival\ncard_linking\nexchange_rate\nlost_or_stolen_card",
        "output_schema": "",
    }
    form.update(changes)
    return form


def role_of(team: Team, username: str) -> str | None:
    membership = Membership.objects.filter(project=team.project, user__username=username).first()
    return membership.role if membership else None


@pytest.mark.django_db
class TestSettings:
    def test_the_form_shows_the_current_settings(self, team: Team) -> None:
        page = text(logged_in(team.lead).get(settings_url(team)))
        assert "card_arrival\ncard_linking\nexchange_rate\nlost_or_stolen_card</textarea>" in page
        assert team.project.target_behavior in page
        assert "Task type: Classification" in page
        people = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/people/"))
        for membership in Membership.objects.filter(project=team.project):
            assert f'data-testid="member-{membership.user.username}"' in people
            assert f'<option value="{membership.role}" selected>' in people

    def test_a_lead_changes_labels_and_target_behavior(self, team: Team) -> None:
        # Given the lead on the settings page
        client = logged_in(team.lead)
        # When they change the labels and the target behavior
        response = client.post(
            settings_url(team),
            settings_form(
                target_behavior="Route card messages only.", labels=" card_arrival \n\ncard_linking\nrefund\n"
            ),
        )
        # Then the project has them, and the page says so
        assert response["Location"] == settings_url(team)
        team.project.refresh_from_db()
        assert team.project.labels == ["card_arrival", "card_linking", "refund"]
        assert team.project.target_behavior == "Route card messages only."
        assert team.project.name == "Banking intents"
        assert "Settings saved." in followed_text(client, response)
        # And the write form offers the new labels
        write = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/write/"))
        assert '<option value="refund">refund</option>' in write
        assert '<option value="exchange_rate">' not in write

    def test_a_lead_turns_separation_of_duties_off_and_on(self, team: Team) -> None:
        # Given the settings page, where separation of duties is on by default
        client = logged_in(team.lead)
        page = text(client.get(settings_url(team)))
        assert "Separation of duties" in page
        assert 'id="id_reviewers_may_not_review_own" checked>' in page
        # When the lead unticks it (a browser sends no value), then ticks it again
        client.post(settings_url(team), settings_form())
        team.project.refresh_from_db()
        off = team.project.reviewers_may_not_review_own
        client.post(settings_url(team), settings_form(reviewers_may_not_review_own="on"))
        team.project.refresh_from_db()
        # Then the project follows, and the audit log has both changes
        assert (off, team.project.reviewers_may_not_review_own) == (False, True)
        changes = AuditEvent.objects.filter(action="project.update").values_list("changes", flat=True)
        assert [change["reviewers_may_not_review_own"] for change in changes] == [
            [False, True],
            [True, False],
        ]

    def test_too_few_labels_are_refused_inline(self, team: Team) -> None:
        response = logged_in(team.lead).post(settings_url(team), settings_form(labels="only_one"))
        assert response.status_code == 200
        assert '<p class="error">A classification project needs at least two labels.</p>' in text(response)
        team.project.refresh_from_db()
        assert len(team.project.labels) == 4

    def test_a_refused_change_leaves_the_page_showing_the_stored_project(self, team: Team) -> None:
        # Given a lead who renames the project and, in the same form, leaves one label
        stored = team.project.name
        response = logged_in(team.lead).post(settings_url(team), settings_form(name="Renamed", labels="one"))
        # Then nothing is saved, and the navigation and title still name the stored project
        page = text(response)
        assert "A classification project needs at least two labels." in page
        assert f'<a class="name" href="/projects/{team.project.pk}/">{stored}</a>' in page
        assert f"<title>Settings · {stored}</title>" in page
        team.project.refresh_from_db()
        assert team.project.name == stored

    def test_an_empty_target_behavior_is_refused(self, team: Team) -> None:
        response = logged_in(team.lead).post(settings_url(team), settings_form(target_behavior=""))
        assert response.status_code == 200 and "This field is required." in text(response)
        team.project.refresh_from_db()
        assert team.project.target_behavior == "Route banking messages to an intent."

    def test_an_extraction_project_takes_a_schema(self, team: Team) -> None:
        project = ProjectFactory.create(task_type=TaskType.EXTRACTION, labels=[])
        MembershipFactory.create(project=project, user=team.lead, role=Role.LEAD)
        client = logged_in(team.lead)
        url = f"/projects/{project.pk}/settings/"
        schema = '{"type": "object", "required": ["amount"]}'
        assert client.post(url, settings_form(labels="", output_schema=schema)).status_code == 302
        project.refresh_from_db()
        assert project.output_schema == {"type": "object", "required": ["amount"]}
        response = client.post(url, settings_form(labels="", output_schema='{"type": 12}'))
        assert response.status_code == 200 and "output_schema is not a valid JSON Schema" in text(response)


@pytest.mark.django_db
class TestMembers:
    def test_a_lead_adds_a_member(self, team: Team) -> None:
        sharing_a_project(team.lead, team.outsider)
        client = logged_in(team.lead)
        response = client.post(members_url(team), {"username": team.outsider.username, "role": Role.REVIEWER})
        assert response["Location"] == f"/projects/{team.project.pk}/people/"
        assert role_of(team, team.outsider.username) == Role.REVIEWER
        assert f"{team.outsider.username} is now reviewer." in followed_text(client, response)
        # And the new member can open the project
        assert logged_in(team.outsider).get(f"/projects/{team.project.pk}/review/").status_code == 200

    def test_a_lead_changes_a_role(self, team: Team) -> None:
        client = logged_in(team.lead)
        response = client.post(members_url(team), {"username": team.annotator.username, "role": Role.LEAD})
        assert response.status_code == 302
        assert role_of(team, team.annotator.username) == Role.LEAD
        assert logged_in(team.annotator).get(settings_url(team)).status_code == 200

    def test_a_lead_removes_a_member(self, team: Team) -> None:
        client = logged_in(team.lead)
        response = client.post(
            members_url(team), {"username": team.annotator.username, "role": Role.ANNOTATOR, "remove": "1"}
        )
        assert f"{team.annotator.username} was removed." in followed_text(client, response)
        assert role_of(team, team.annotator.username) is None
        assert logged_in(team.annotator).get(f"/projects/{team.project.pk}/").status_code == 404

    def test_the_last_lead_cannot_be_removed(self, team: Team) -> None:
        # Given a project with one lead
        client = logged_in(team.lead)
        # When the lead removes themselves
        response = client.post(
            members_url(team), {"username": team.lead.username, "role": Role.LEAD, "remove": "1"}
        )
        # Then they are told why not, and stay lead
        assert "A project must keep at least one lead." in followed_text(client, response)
        assert role_of(team, team.lead.username) == Role.LEAD

    def test_the_last_lead_cannot_step_down(self, team: Team) -> None:
        client = logged_in(team.lead)
        response = client.post(members_url(team), {"username": team.lead.username, "role": Role.REVIEWER})
        assert "A project must keep at least one lead." in followed_text(client, response)
        assert role_of(team, team.lead.username) == Role.LEAD

    def test_a_lead_may_leave_once_there_is_another(self, team: Team) -> None:
        client = logged_in(team.lead)
        client.post(members_url(team), {"username": team.reviewer.username, "role": Role.LEAD})
        client.post(members_url(team), {"username": team.lead.username, "role": Role.LEAD, "remove": "1"})
        assert role_of(team, team.lead.username) is None
        assert role_of(team, team.reviewer.username) == Role.LEAD

    def test_an_unknown_user_and_a_stranger_get_the_same_answer(self, team: Team) -> None:
        client = logged_in(team.lead)
        pages = [
            followed_text(client, client.post(members_url(team), {"username": name, "role": Role.ANNOTATOR}))
            for name in ("nobody-here", team.outsider.username)
        ]
        message = "&#x27;{}&#x27; cannot be added here: add people who already share a project with you"
        assert message.format("nobody-here") in pages[0]
        assert message.format(team.outsider.username) in pages[1]
        assert role_of(team, team.outsider.username) is None

    def test_a_missing_role_is_reported(self, team: Team) -> None:
        client = logged_in(team.lead)
        response = client.post(members_url(team), {"username": team.outsider.username})
        assert "Give a username and a role." in followed_text(client, response)
        assert role_of(team, team.outsider.username) is None

    def test_a_reviewer_cannot_change_members(self, team: Team) -> None:
        response = logged_in(team.reviewer).post(
            members_url(team), {"username": team.reviewer.username, "role": Role.LEAD}
        )
        assert response.status_code == 403
        assert role_of(team, team.reviewer.username) == Role.REVIEWER


@pytest.mark.django_db
def test_lead_sets_the_minimum_gain_to_ship(team: Team) -> None:
    client = logged_in(team.lead)
    url = f"/projects/{team.project.pk}/settings/"
    assert client.post(url, settings_form(min_gain="0.02")).status_code == 302
    team.project.refresh_from_db()
    assert team.project.min_gain == 0.02
    assert client.post(url, settings_form(min_gain="2")).status_code == 200  # out of range: the form says so
    team.project.refresh_from_db()
    assert team.project.min_gain == 0.02
