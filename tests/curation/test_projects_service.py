"""Projects and members."""

import pytest

from curation.errors import InvalidInput
from curation.models import Membership, Role
from curation.services.projects import membership_remove, membership_set, project_create, project_update
from tests.conftest import Team
from tests.factories import UserFactory, sharing_a_project


@pytest.mark.django_db
def test_creator_becomes_the_lead() -> None:
    user = UserFactory.create()
    project = project_create(
        user=user, name=" Intents ", task_type="classification", target_behavior="Route", labels=["a", "b"]
    )
    assert project.name == "Intents"
    assert Membership.objects.get(project=project, user=user).role == Role.LEAD


@pytest.mark.django_db
def test_invalid_settings_create_nothing() -> None:
    user = UserFactory.create()
    with pytest.raises(InvalidInput):
        project_create(user=user, name="x", task_type="classification", target_behavior="t", labels=["a"])
    assert not Membership.objects.exists()


@pytest.mark.django_db
def test_task_type_cannot_change(team: Team) -> None:
    with pytest.raises(InvalidInput, match="task_type cannot change"):
        project_update(project=team.project, user=team.lead, changes={"task_type": "generation"})


@pytest.mark.django_db
def test_membership_set_adds_then_changes_role(team: Team) -> None:
    newcomer = UserFactory.create()
    sharing_a_project(team.lead, newcomer)
    _, created = membership_set(
        project=team.project, user=team.lead, username=newcomer.username, role="annotator"
    )
    membership, created_again = membership_set(
        project=team.project, user=team.lead, username=newcomer.username, role="reviewer"
    )
    assert (created, created_again, membership.role) == (True, False, "reviewer")


@pytest.mark.django_db
def test_the_last_lead_stays(team: Team) -> None:
    with pytest.raises(InvalidInput, match="at least one lead"):
        membership_set(project=team.project, user=team.lead, username=team.lead.username, role="annotator")
    with pytest.raises(InvalidInput, match="at least one lead"):
        membership_remove(project=team.project, user=team.lead, username=team.lead.username)
    membership_set(project=team.project, user=team.lead, username=team.reviewer.username, role="lead")
    membership_remove(project=team.project, user=team.lead, username=team.lead.username)
    assert not Membership.objects.filter(project=team.project, user=team.lead).exists()


@pytest.mark.django_db
def test_a_lead_adds_only_people_who_share_a_project_and_staff_add_anyone(team: Team) -> None:
    stranger = UserFactory.create()
    answers = []
    for name in (stranger.username, "nobody-here"):
        with pytest.raises(InvalidInput) as refused:
            membership_set(project=team.project, user=team.lead, username=name, role="annotator")
        answers.append((str(refused.value).replace(name, "NAME"), refused.value.field))
    assert (
        answers[0]
        == answers[1]
        == (
            "'NAME' cannot be added here: add people who already share a project with you, or invite them.",
            "username",
        )
    )
    _, created = membership_set(
        project=team.project, user=team.staff, username=stranger.username, role="annotator"
    )
    assert created
