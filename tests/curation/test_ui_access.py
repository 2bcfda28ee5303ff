"""Who may open which page of the web UI, what each role is shown, login and the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import User

from curation.models import ExampleStatus, FlagKind, Role
from curation.services.flags import flag_create
from tests.conftest import Team
from tests.curation.ui_support import HTMX, edited, logged_in, reviewed, text, written
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory

ROLE_RANK = {"annotator": 1, "reviewer": 2, "lead": 3, "staff": 3}


@dataclass
class World:
    """The team's project with three examples and an open contradiction flag on the first two."""

    team: Team
    first: int
    second: int
    third: int
    flag: int
    revision: int

    @property
    def project(self) -> int:
        return self.team.project.pk


@pytest.fixture
def world(team: Team) -> World:
    project, author = team.project, team.annotator
    first = written(project, author, "Where is my new card?")
    second = written(project, author, "Where is my new card now?", "card_linking")
    third = written(project, author, "What is the exchange rate today?", "exchange_rate")
    flag = flag_create(
        project=project,
        user=author,
        kind=FlagKind.CONTRADICTION,
        example_ids=[first.pk, second.pk],
        note="Same question, two labels.",
    )
    return World(team, first.pk, second.pk, third.pk, flag.pk, first.revision)


@dataclass(frozen=True)
class Action:
    """One page or form of the UI: how to call it and the least role that may."""

    name: str
    min_role: str
    url: Callable[[World], str]
    method: str = "get"
    data: Callable[[World], dict[str, Any]] = field(default=lambda w: {})
    ok: int = 200
    htmx: bool = False


ACTIONS = [
    Action("dashboard", "annotator", lambda w: f"/projects/{w.project}/"),
    Action("settings", "lead", lambda w: f"/projects/{w.project}/settings/"),
    Action("write", "annotator", lambda w: f"/projects/{w.project}/write/"),
    Action("my-work", "annotator", lambda w: f"/projects/{w.project}/my-work/"),
    Action("browse", "annotator", lambda w: f"/projects/{w.project}/examples/"),
    Action("browse-rows", "annotator", lambda w: f"/projects/{w.project}/examples/?q=card", htmx=True),
    Action("review", "reviewer", lambda w: f"/projects/{w.project}/review/"),
    Action("review-next", "reviewer", lambda w: f"/projects/{w.project}/review/?after={w.first}", htmx=True),
    Action("flags", "annotator", lambda w: f"/projects/{w.project}/flags/"),
    Action("import", "annotator", lambda w: f"/projects/{w.project}/import/"),
    Action("example", "annotator", lambda w: f"/examples/{w.first}/"),
    Action("example-similar", "annotator", lambda w: f"/examples/{w.first}/similar/", htmx=True),
    Action("flag-search", "annotator", lambda w: f"/examples/{w.first}/flag/"),
    Action("flag-compare", "annotator", lambda w: f"/examples/{w.first}/flag/compare/?other={w.second}"),
    Action("flag", "annotator", lambda w: f"/flags/{w.flag}/"),
    Action(
        "save-settings",
        "lead",
        lambda w: f"/projects/{w.project}/settings/",
        "post",
        lambda w: {
            "name": "Renamed",
            "target_behavior": "Route messages.",
            "labels": "card_arrival\ncard_linking\nexchange_rate",
            "output_schema": "",
        },
        302,
    ),
    Action(
        "set-member",
        "lead",
        lambda w: f"/projects/{w.project}/members/",
        "post",
        lambda w: {"username": w.team.outsider.username, "role": Role.ANNOTATOR},
        302,
    ),
    Action(
        "write-example",
        "annotator",
        lambda w: f"/projects/{w.project}/write/",
        "post",
        lambda w: {"input": "A new question", "output": "card_linking", "submit": "1"},
        302,
    ),
    Action(
        "edit-example",
        "annotator",
        lambda w: f"/examples/{w.third}/",
        "post",
        lambda w: {"input": "What is the rate?", "output": "exchange_rate", "revision": "1", "save": "1"},
        302,
    ),
    Action(
        "review-decide",
        "reviewer",
        lambda w: f"/examples/{w.first}/review/",
        "post",
        lambda w: {"decision": "approve", "revision": str(w.revision), "comment": ""},
        200,
        htmx=True,
    ),
    Action(
        "raise-flag",
        "annotator",
        lambda w: f"/examples/{w.first}/flag/compare/",
        "post",
        lambda w: {"other": str(w.third), "note": "These disagree."},
        302,
    ),
    Action(
        "resolve-flag",
        "reviewer",
        lambda w: f"/flags/{w.flag}/",
        "post",
        lambda w: {"resolution": "dismiss", "note": ""},
        302,
    ),
]


def call(action: Action, world: World, user: User | None) -> Any:
    client = logged_in(user)
    extra = HTMX if action.htmx else {}
    url = action.url(world)
    if action.method == "post":
        return client.post(url, action.data(world), **extra)
    return client.get(url, **extra)


@pytest.mark.django_db
class TestRoleMatrix:
    @pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
    def test_anonymous_is_sent_to_login(self, world: World, action: Action) -> None:
        # Given nobody signed in; when they open the page or post the form
        response = call(action, world, None)
        # Then they are sent to the login page, which brings them back afterwards
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")

    @pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
    def test_a_non_member_gets_404(self, world: World, action: Action) -> None:
        response = call(action, world, world.team.outsider)
        assert response.status_code == 404

    @pytest.mark.parametrize("role", ["annotator", "reviewer", "lead", "staff"])
    @pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
    def test_each_role_is_allowed_or_refused(self, world: World, action: Action, role: str) -> None:
        # Given a member with this role (staff count as leads everywhere)
        user = world.team.user(role)
        # When they open the page or post the form
        response = call(action, world, user)
        # Then a role below the action's minimum gets 403, the others get the page (or the redirect)
        expected = action.ok if ROLE_RANK[role] >= ROLE_RANK[action.min_role] else 403
        assert response.status_code == expected, text(response)[:2000]

    def test_members_form_takes_posts_only(self, world: World) -> None:
        response = logged_in(world.team.lead).get(f"/projects/{world.project}/members/")
        assert response.status_code == 405

    def test_home_lists_only_the_users_projects(self, world: World) -> None:
        other = ProjectFactory.create(name="Another team project")
        assert logged_in(None).get("/")["Location"].startswith("/login/")
        page = text(logged_in(world.team.annotator).get("/"))
        assert world.team.project.name in page and other.name not in page
        assert "not a member of any project" in text(logged_in(world.team.outsider).get("/"))
        staff_page = text(logged_in(world.team.staff).get("/"))
        assert world.team.project.name in staff_page and other.name in staff_page

    def test_a_refused_decision_records_nothing(self, world: World) -> None:
        # Given an annotator who crafts a review decision
        client = logged_in(world.team.annotator)
        response = client.post(
            f"/examples/{world.first}/review/", {"decision": "approve", "revision": str(world.revision)}
        )
        # Then it is refused and the example stays submitted
        assert response.status_code == 403
        assert world.team.project.examples.get(pk=world.first).status == ExampleStatus.SUBMITTED

    def test_a_refused_resolution_leaves_the_flag_open(self, world: World) -> None:
        response = logged_in(world.team.annotator).post(f"/flags/{world.flag}/", {"resolution": "keep_first"})
        assert response.status_code == 403
        flag = world.team.project.flags.get(pk=world.flag)
        assert flag.status == "open"
        assert world.team.project.examples.get(pk=world.second).status == ExampleStatus.SUBMITTED


@pytest.mark.django_db
class TestLogin:
    def test_login_then_logout(self, team: Team) -> None:
        # Given the login page
        client = logged_in(None)
        assert client.get("/login/").status_code == 200
        # When a user logs in with their password
        response = client.post("/login/", {"username": team.annotator.username, "password": "pw-for-tests"})
        # Then they land on their projects
        assert response.status_code == 302 and response["Location"] == "/"
        assert team.project.name in text(client.get("/"))
        # And logging out sends them back to the login page and signs them out
        response = client.post("/logout/")
        assert response.status_code == 302 and response["Location"] == "/login/"
        assert client.get("/").status_code == 302

    def test_wrong_password_shows_an_error(self, team: Team) -> None:
        response = logged_in(None).post("/login/", {"username": team.annotator.username, "password": "nope"})
        assert response.status_code == 200
        assert "didn't match" in text(response)

    def test_login_returns_to_the_page_asked_for(self, team: Team) -> None:
        client = logged_in(None)
        wanted = f"/projects/{team.project.pk}/write/"
        response = client.post(
            "/login/", {"username": team.annotator.username, "password": "pw-for-tests", "next": wanted}
        )
        assert response["Location"] == wanted


def project_pages(world: World) -> list[str]:
    """Every GET page an annotator may open in the project (the import page is checked apart)."""
    return [
        f"/projects/{world.project}/",
        f"/projects/{world.project}/write/",
        f"/projects/{world.project}/my-work/",
        f"/projects/{world.project}/examples/",
        f"/projects/{world.project}/flags/",
        f"/examples/{world.first}/",
        f"/examples/{world.first}/flag/",
        f"/examples/{world.first}/flag/compare/?other={world.second}",
        f"/flags/{world.flag}/",
    ]


@pytest.mark.django_db
class TestHiding:
    def test_an_annotator_sees_no_review_or_settings_link(self, world: World) -> None:
        client = logged_in(world.team.annotator)
        for url in [*project_pages(world), f"/projects/{world.project}/import/"]:
            page = text(client.get(url))
            assert f'href="/projects/{world.project}/write/"' in page, url
            assert f'href="/projects/{world.project}/review/"' not in page, url
            assert f'href="/projects/{world.project}/settings/"' not in page, url
            assert "/review/" not in page.replace(f"/projects/{world.project}/review/", ""), url

    def test_a_reviewer_sees_review_but_not_settings(self, world: World) -> None:
        client = logged_in(world.team.reviewer)
        for url in project_pages(world):
            page = text(client.get(url))
            assert f'href="/projects/{world.project}/review/"' in page, url
            assert f'href="/projects/{world.project}/settings/"' not in page, url

    def test_a_lead_sees_review_and_settings(self, world: World) -> None:
        client = logged_in(world.team.lead)
        for url in project_pages(world):
            page = text(client.get(url))
            assert f'href="/projects/{world.project}/review/"' in page, url
            assert f'href="/projects/{world.project}/settings/"' in page, url

    def test_the_import_page_shows_the_same_navigation_as_the_other_pages(self, world: World) -> None:
        # The project navigation is the same on every project page: a lead finds Review and
        # Settings on the import page too.
        page = text(logged_in(world.team.lead).get(f"/projects/{world.project}/import/"))
        assert f'href="/projects/{world.project}/review/"' in page
        assert f'href="/projects/{world.project}/settings/"' in page

    def test_the_flag_page_offers_no_resolution_to_an_annotator(self, world: World) -> None:
        page = text(logged_in(world.team.annotator).get(f"/flags/{world.flag}/"))
        assert 'name="resolution"' not in page
        assert "Same question, two labels." in page

    def test_the_flag_page_offers_every_resolution_to_a_reviewer(self, world: World) -> None:
        page = text(logged_in(world.team.reviewer).get(f"/flags/{world.flag}/"))
        for value in ("keep_first", "keep_second", "keep_both", "edited", "dismiss"):
            assert f'name="resolution" value="{value}"' in page

    def test_the_dashboard_shows_the_review_queue_to_reviewers_only(self, world: World) -> None:
        annotator = text(logged_in(world.team.annotator).get(f"/projects/{world.project}/"))
        reviewer = text(logged_in(world.team.reviewer).get(f"/projects/{world.project}/"))
        assert "to review" not in annotator
        assert '<span class="n">3</span><span class="label">to review</span>' in reviewer


def stat(value: int, label: str) -> str:
    return f'<span class="n">{value}</span><span class="label">{label}</span>'


@pytest.mark.django_db
class TestDashboard:
    def test_counts_flags_duplicates_and_queues(self, team: Team) -> None:
        # Given examples in every status, a duplicate, an open and a closed flag
        project, me = team.project, team.annotator
        draft = written(project, me, "Draft one", "", status=ExampleStatus.DRAFT)
        written(project, me, "Draft two", "", status=ExampleStatus.DRAFT)
        sent_back = written(project, me, "Sent back", "card_linking")
        reviewed(sent_back, team.reviewer, "request_changes", "Wrong label.")
        approved = written(project, team.reviewer, "Approved", "exchange_rate", status="approved")
        ExampleFactory.create(project=project, input="Approved!", duplicate_of=approved, status="rejected")
        submitted = written(project, team.reviewer, "Waiting", "card_arrival")
        flag_create(
            project=project, user=me, kind=FlagKind.CONTRADICTION, example_ids=[draft.pk, submitted.pk]
        )
        closed = flag_create(project=project, user=me, kind=FlagKind.QUALITY, example_ids=[approved.pk])
        closed.status = "dismissed"
        closed.save()
        # When the annotator opens the dashboard
        page = text(logged_in(me).get(f"/projects/{project.pk}/"))
        # Then it counts each status, the open flags, the duplicates and the annotator's own queues
        for value, label in [
            (2, "draft"),
            (1, "submitted"),
            (1, "approved"),
            (1, "rejected"),
            (1, "needs_changes"),
            (1, "open flags"),
            (1, "duplicates marked"),
            (2, "my drafts"),
            (1, "sent back to me"),
        ]:
            assert stat(value, label) in page, label
        assert "you are annotator" in page
        assert team.reviewer.username in page  # the members
        # And the reviewer's queue size counts what waits for review
        reviewer_page = text(logged_in(team.reviewer).get(f"/projects/{project.pk}/"))
        assert stat(1, "to review") in reviewer_page
        assert stat(0, "my drafts") in reviewer_page

    def test_an_empty_project(self, team: Team) -> None:
        page = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/"))
        assert stat(0, "draft") in page and stat(0, "open flags") in page

    def test_a_second_project_keeps_its_own_counts(self, team: Team) -> None:
        other = ProjectFactory.create()
        MembershipFactory.create(project=other, user=team.annotator)
        ExampleFactory.create_batch(3, project=other)
        written(team.project, team.annotator, "Mine", "card_linking")
        page = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/"))
        assert stat(1, "submitted") in page

    def test_dashboard_after_an_edit_keeps_counting_one_example(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Edit me", "card_linking")
        edited(example, team.annotator, output="card_arrival")
        page = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/"))
        assert stat(1, "submitted") in page
