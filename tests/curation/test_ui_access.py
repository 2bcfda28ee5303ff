"""Who may open which page of the web UI, what each role is shown, login and the dashboard.

The role matrix has a row for every page and form of config/urls.py (but the health checks,
login, logout, admin and the API, tested elsewhere): anonymous -> the login page; a user who is
not a member of the project (or of the project of the object in the URL) -> 404, so ids leak
nothing; a member below the row's least role -> 403; everyone else -> the page or its redirect.
Each case makes its own objects (a new import, cluster, version, run, comparison, deployment...),
so a refusal is a refusal of the user, and a success is a real one (no error is flashed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import constants, get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, resolve

from config import urls as config_urls
from curation.models import (
    MAX_OVERLAP,
    DatasetVersion,
    DuplicateCluster,
    ExampleStatus,
    FlagKind,
    Project,
    Role,
    Split,
    VersionItem,
)
from curation.services.flags import flag_create
from curation.services.labeling import annotation_submit, items_enqueue, next_assignment
from evaluation.models import Comparison, Deployment, EvalRun
from evaluation.services import comparison_create
from tests.api.test_permissions import MISSING_ID, Scene
from tests.conftest import Team
from tests.curation.ui_support import HTMX, edited, logged_in, reviewed, text, written
from tests.evaluation.test_pages_and_command import scored_run
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory, UserFactory, sharing_a_project

ROLE_RANK = {"annotator": 1, "reviewer": 2, "lead": 3, "staff": 3}
# Routes the matrix leaves out: tested in tests/deploy (health), TestLogin, and the API's matrix.
# The account pages (an invitation's, a password change or reset) are not a project's: their own
# tests are in tests/curation/test_ui_people.py.
UNLISTED = {
    "favicon",  # a redirect to the static icon, the same for everyone (tests/deploy/test_site_files.py)
    "health",
    "ready",
    "login",
    "admin-login",
    "logout",
    "invitation",
    "password-change",
    "password-reset",
}

pytestmark = pytest.mark.usefixtures("media_in_tmp")


@dataclass
class World:
    """A project with three examples and an open contradiction flag on the first two; `scene`
    makes the other objects a row needs (imports, clusters, versions, runs, deployments)."""

    team: Team
    scene: Scene
    home: Project
    first: int
    second: int
    third: int
    flag: int
    revision: int

    @property
    def project(self) -> int:
        return self.home.pk

    def addable(self) -> str:
        """A fresh user who shares another project with the team's lead (so may be added)."""
        user = UserFactory.create()
        sharing_a_project(self.team.lead, user)
        return user.username


def populated(team: Team, scene: Scene, project: Project, author: User) -> World:
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
    return World(team, scene, project, first.pk, second.pk, third.pk, flag.pk, first.revision)


@pytest.fixture
def scene(team: Team) -> Scene:
    other = ProjectFactory.create()
    MembershipFactory.create(project=other, role=Role.LEAD)
    return Scene(team=team, other=other)


@pytest.fixture
def world(team: Team, scene: Scene) -> World:
    return populated(team, scene, team.project, team.annotator)


@pytest.fixture
def elsewhere(team: Team, scene: Scene) -> World:
    """The same kind of world in a project none of the team belongs to."""
    return populated(team, scene, scene.other, scene.member(scene.other))


@dataclass(frozen=True)
class Action:
    """One page or form of the UI: how to call it and the least role that may.

    `url` is called before `data`, so a form's data may use what the URL's object made."""

    name: str
    min_role: str
    url: Callable[[World], str]
    method: str = "get"
    data: Callable[[World], dict[str, Any]] = field(default=lambda w: {})
    ok: int = 200
    htmx: bool = False
    outsider: int = 404  # what a signed-in user outside the project gets


# Objects made fresh for a row, in the world's project.


def newest_version(w: World) -> DatasetVersion:
    return DatasetVersion.objects.filter(project=w.home).latest("id")


def version_page(w: World) -> str:
    return f"/versions/{w.scene.frozen_version(w.home).pk}/"


def version_diff(w: World) -> str:
    older = w.scene.frozen_version(w.home)
    return f"/versions/{w.scene.frozen_version(w.home).pk}/?compare={older.pk}"


def leaderboard(w: World) -> str:
    return f"/versions/{w.scene.frozen_version(w.home).pk}/evaluation/"


def cluster_page(w: World) -> str:
    return f"/clusters/{w.scene.active_cluster(w.home).pk}/"


def keep_other(w: World) -> dict[str, Any]:
    """Keep the member not kept yet, in the project's newest cluster (the URL's)."""
    cluster = DuplicateCluster.objects.filter(project=w.home).latest("id")
    return {"keep": cluster.members.exclude(example_id=cluster.kept_id).get().example_id}


def an_upload(w: World) -> dict[str, Any]:
    row = b'{"input": "My card never came, where is it?", "output": "card_arrival"}\n'
    return {"file": SimpleUploadedFile("rows.jsonl", row), "format": "auto", "status": "draft"}


def freeze(w: World) -> dict[str, Any]:
    for number in range(3):
        ExampleFactory.create(project=w.home, status=ExampleStatus.APPROVED, input=f"Freeze row {number}")
    return {"eval_fraction": "0.34", "seed": "0"}


def launch_training(w: World) -> dict[str, Any]:
    return {"version": w.scene.frozen_version(w.home).pk, "base_model": "/models/base"}


def compare_two_runs(w: World) -> dict[str, Any]:
    """Two finished runs on the leaderboard's version."""
    baseline, candidate = (w.scene.eval_run(w.home, newest_version(w)) for _ in range(2))
    return {"action": "compare", "baseline": baseline.pk, "candidate": candidate.pk}


def item_comparison(w: World) -> Comparison:
    """Two scored runs on a new version's eval item (a real, approved example), the tuned one wrong."""
    version = w.scene.frozen_version(w.home)
    items = VersionItem.objects.filter(version=version, split=Split.EVAL)
    wrong = dict.fromkeys(items.values_list("example_id", flat=True), "wrong")
    return comparison_create(
        baseline=scored_run(version, {}), candidate=scored_run(version, wrong), user=None
    )


def comparison_feedback(w: World) -> str:
    return f"/comparisons/{item_comparison(w).pk}/feedback/"


def compared_item(action: str) -> Callable[[World], dict[str, Any]]:
    def data(w: World) -> dict[str, Any]:
        comparison = Comparison.objects.filter(baseline__version__project=w.home).latest("id")
        return {"example": comparison.candidate.predictions.earliest("id").example_id, "action": action}

    return data


def deploy(w: World) -> dict[str, Any]:
    return {"training_run": w.scene.training_run(w.home, with_adapter=True).pk, "name": "staging"}


def a_queued_input(w: World) -> dict[str, Any]:
    """A fresh input in the labeling queue, answered without a claim (a free slot takes it)."""
    (item,) = items_enqueue(project=w.home, user=None, inputs=[{"input": f"Label me {uuid4()}"}]).created
    return {"item": item.pk, "output": "card_arrival"}


def a_held_input(w: World) -> dict[str, Any]:
    """A fresh queued input with a slot for each of the team's users, each of whom claims it."""
    w.home.labeling_overlap = MAX_OVERLAP
    (item,) = items_enqueue(project=w.home, user=None, inputs=[{"input": f"Skip me {uuid4()}"}]).created
    for role in ("annotator", "reviewer", "lead", "staff"):
        next_assignment(project=w.home, user=w.team.user(role))
    return {"item": item.pk}


def an_answered_input(w: World) -> dict[str, Any]:
    """A fresh queued input each of the team's users answered, still short of its overlap: each
    may change their answer."""
    w.home.labeling_overlap = MAX_OVERLAP
    (item,) = items_enqueue(project=w.home, user=None, inputs=[{"input": f"Change me {uuid4()}"}]).created
    for role in ("annotator", "reviewer", "lead", "staff"):
        annotation_submit(item=item, user=w.team.user(role), output="card_arrival")
    return {"item": item.pk, "output": "card_linking"}


def an_input_to_set_aside(w: World) -> dict[str, Any]:
    (item,) = items_enqueue(project=w.home, user=None, inputs=[{"input": f"Set me aside {uuid4()}"}]).created
    return {"action": "set_aside", "items": item.pk}


def launch_suggestions(w: World) -> dict[str, Any]:
    """The base model on a fresh input of the labeling queue."""
    items_enqueue(project=w.home, user=None, inputs=[{"input": f"Suggest for me {uuid4()}"}])
    return {"model": "base", "base_model": "/models/base", "few_shot": "0", "target": "queue", "limit": "1"}


ACTIONS = [
    Action("home", "annotator", lambda w: "/", outsider=200),  # lists the user's own projects
    Action("dashboard", "annotator", lambda w: f"/projects/{w.project}/"),
    Action("settings", "lead", lambda w: f"/projects/{w.project}/settings/"),
    Action("audit-log", "lead", lambda w: f"/projects/{w.project}/audit/?action=example."),
    Action("write", "annotator", lambda w: f"/projects/{w.project}/write/"),
    Action("my-work", "annotator", lambda w: f"/projects/{w.project}/my-work/"),
    Action("browse", "annotator", lambda w: f"/projects/{w.project}/examples/"),
    Action("browse-rows", "annotator", lambda w: f"/projects/{w.project}/examples/?q=card", htmx=True),
    Action("review", "reviewer", lambda w: f"/projects/{w.project}/review/"),
    Action("review-next", "reviewer", lambda w: f"/projects/{w.project}/review/?after={w.first}", htmx=True),
    Action("label", "annotator", lambda w: f"/projects/{w.project}/label/"),
    Action("label-next", "annotator", lambda w: f"/projects/{w.project}/label/", htmx=True),
    Action(
        "label-submit",
        "annotator",
        lambda w: f"/projects/{w.project}/label/submit/",
        "post",
        a_queued_input,
        302,
    ),
    Action(
        "label-skip", "annotator", lambda w: f"/projects/{w.project}/label/skip/", "post", a_held_input, 302
    ),
    Action(
        "label-change",
        "annotator",
        lambda w: f"/projects/{w.project}/label/change/",
        "post",
        an_answered_input,
    ),
    Action("label-queue", "lead", lambda w: f"/projects/{w.project}/label/queue/"),
    Action(
        "label-queue-move",
        "lead",
        lambda w: f"/projects/{w.project}/label/queue/move/",
        "post",
        an_input_to_set_aside,
        302,
    ),
    Action(
        "queue-inputs",
        "lead",
        lambda w: f"/projects/{w.project}/label/queue/",
        "post",
        lambda w: {"inputs": "Where is my new card?\nCan I pay in euros?"},
        302,
    ),
    Action("flags", "annotator", lambda w: f"/projects/{w.project}/flags/"),
    Action("import", "annotator", lambda w: f"/projects/{w.project}/import/"),
    Action("example", "annotator", lambda w: f"/examples/{w.first}/"),
    Action("example-similar", "annotator", lambda w: f"/examples/{w.first}/similar/", htmx=True),
    Action("flag-search", "annotator", lambda w: f"/examples/{w.first}/flag/"),
    Action("flag-compare", "annotator", lambda w: f"/examples/{w.first}/flag/compare/?other={w.second}"),
    Action("flag", "annotator", lambda w: f"/flags/{w.flag}/"),
    Action("duplicates", "annotator", lambda w: f"/projects/{w.project}/duplicates/"),
    Action("import-detail", "annotator", lambda w: f"/imports/{w.scene.import_job(w.home).pk}/"),
    Action("export-detail", "annotator", lambda w: f"/exports/{w.scene.export_job(w.home).pk}/"),
    Action("versions", "annotator", lambda w: f"/projects/{w.project}/versions/"),
    Action("version-new", "annotator", lambda w: f"/projects/{w.project}/versions/new/"),
    Action("version", "annotator", version_page),
    Action("version-diff", "annotator", version_diff),
    Action("training-runs", "annotator", lambda w: f"/projects/{w.project}/training/"),
    Action("training-run", "annotator", lambda w: f"/training/{w.scene.training_run(w.home).pk}/"),
    Action("base-models", "annotator", lambda w: "/base-models/", outsider=200),  # the registry is everyone's
    Action("leaderboard", "annotator", leaderboard),
    Action("comparison", "annotator", lambda w: f"/comparisons/{item_comparison(w).pk}/"),
    Action("deployments", "annotator", lambda w: f"/projects/{w.project}/deployments/"),
    Action("deployment", "annotator", lambda w: f"/deployments/{w.scene.deployment(w.home).pk}/"),
    Action("suggestion-runs", "lead", lambda w: f"/projects/{w.project}/suggestions/"),
    Action(
        "launch-suggestions",
        "lead",
        lambda w: f"/projects/{w.project}/suggestions/",
        "post",
        launch_suggestions,
        302,
    ),
    Action("suggestion-run", "reviewer", lambda w: f"/suggestion-runs/{w.scene.suggestion_run(w.home).pk}/"),
    Action(
        "cancel-suggestion-run",
        "lead",
        lambda w: f"/suggestion-runs/{w.scene.suggestion_run(w.home).pk}/cancel/",
        "post",
        ok=302,
    ),
    Action("project-new", "annotator", lambda w: "/projects/new/", outsider=200),  # any signed-in user
    Action(
        "create-project",
        "annotator",
        lambda w: "/projects/new/",
        "post",
        lambda w: {"name": "Fresh", "task_type": "generation", "target_behavior": "Be kind.", "labels": ""},
        302,
        outsider=302,
    ),
    Action("guidelines", "annotator", lambda w: f"/projects/{w.project}/guidelines/"),
    Action(
        "guidelines-read", "annotator", lambda w: f"/projects/{w.project}/guidelines/read/", "post", ok=204
    ),
    Action("start-validation", "lead", lambda w: f"/projects/{w.project}/validation-jobs/", "post", ok=302),
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
        lambda w: {"username": w.addable(), "role": Role.ANNOTATOR},
        302,
    ),
    Action("people", "lead", lambda w: f"/projects/{w.project}/people/"),
    Action("team", "reviewer", lambda w: f"/projects/{w.project}/team/"),
    Action("people-search", "lead", lambda w: f"/projects/{w.project}/people/search/?username=a", htmx=True),
    Action(
        "invite",
        "lead",
        lambda w: f"/projects/{w.project}/invitations/",
        "post",
        lambda w: {"role": "reviewer"},
        302,
    ),
    Action(
        "revoke-invitation",
        "lead",
        lambda w: f"/invitations/{w.scene.invitation(w.home).pk}/revoke/",
        "post",
        ok=302,
    ),
    Action(
        "reset-link",
        "lead",
        lambda w: f"/projects/{w.project}/reset-links/",
        "post",
        lambda w: {"username": w.scene.member(w.home).username},
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
        "review-undo",
        "reviewer",
        lambda w: f"/examples/{w.first}/review/undo/",
        "post",
        lambda w: {"revision": str(w.revision)},
        200,
        htmx=True,
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
    Action(
        "find-contradictions",
        "lead",
        lambda w: f"/projects/{w.project}/contradictions/",
        "post",
        lambda w: {"method": "exact", "threshold": "0.9"},
        302,
    ),
    Action(
        "start-dedup",
        "lead",
        lambda w: f"/projects/{w.project}/duplicates/",
        "post",
        lambda w: {"method": "exact", "compare": "input"},
        302,
    ),
    Action("keep-duplicate", "reviewer", cluster_page, "post", keep_other, 302),
    Action("dissolve-cluster", "reviewer", cluster_page, "post", lambda w: {"dissolve": "1"}, 302),
    Action("import-file", "annotator", lambda w: f"/projects/{w.project}/import/", "post", an_upload, 302),
    Action(
        "export-examples",
        "annotator",
        lambda w: f"/projects/{w.project}/exports/",
        "post",
        lambda w: {"format": "csv", "status": "submitted", "q": "card"},
        302,
    ),
    Action(
        "export-version",
        "annotator",
        lambda w: f"/versions/{w.scene.frozen_version(w.home).pk}/exports/",
        "post",
        lambda w: {"split": "train", "format": "alpaca"},
        302,
    ),
    Action("freeze", "lead", lambda w: f"/projects/{w.project}/versions/new/", "post", freeze, 302),
    Action(
        "launch-training", "lead", lambda w: f"/projects/{w.project}/training/", "post", launch_training, 302
    ),
    Action(
        "cancel-training",
        "lead",
        lambda w: f"/training/{w.scene.training_run(w.home).pk}/cancel/",
        "post",
        ok=302,
    ),
    Action(
        "merge-training",
        "lead",
        lambda w: f"/training/{w.scene.training_run(w.home, with_adapter=True).pk}/merge/",
        "post",
        ok=302,
    ),
    Action(
        "launch-evaluation",
        "lead",
        leaderboard,
        "post",
        lambda w: {"training_run": "", "base_model": "/models/base", "few_shot": "0"},
        302,
    ),
    Action("compare-runs", "lead", leaderboard, "post", compare_two_runs, 302),
    Action("send-back-for-review", "reviewer", comparison_feedback, "post", compared_item("review"), 302),
    Action("flag-from-comparison", "reviewer", comparison_feedback, "post", compared_item("flag"), 302),
    Action("deploy", "lead", lambda w: f"/projects/{w.project}/deployments/", "post", deploy, 302),
    Action(
        "report-now",  # a lead's: it queues a drift report job (POST /api/deployments/{id}/drift/)
        "lead",
        lambda w: f"/deployments/{w.scene.deployment(w.home).pk}/report/",
        "post",
        ok=302,
    ),
    Action(
        "report-to-annotation",
        "reviewer",
        lambda w: f"/drift-reports/{w.scene.drift_report(w.home).pk}/to-annotation/",
        "post",
        ok=302,
    ),
]


def call(action: Action, world: World, user: User | None) -> Any:
    client = logged_in(user)
    extra = HTMX if action.htmx else {}
    url = action.url(world)  # before the data: the data may use the URL's object
    if action.method == "post":
        return client.post(url, action.data(world), **extra)
    return client.get(url, **extra)


def flashed_errors(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request) if m.level == constants.ERROR]


def routes(world: World) -> dict[str, list[tuple[Action, str]]]:
    """The matrix's rows by the name of the route their URL resolves to."""
    found: dict[str, list[tuple[Action, str]]] = {}
    for action in ACTIONS:
        url = action.url(world)
        found.setdefault(str(resolve(urlsplit(url).path).url_name), []).append((action, url))
    return found


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
        assert response.status_code == action.outsider

    @pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
    def test_a_lead_of_another_project_gets_404(self, elsewhere: World, action: Action) -> None:
        # Given the team's lead, and the page's project or object in a project they are not in
        response = call(action, elsewhere, elsewhere.team.lead)
        # Then it does not exist for them, whatever their role in their own project
        assert response.status_code == action.outsider, text(response)[:2000]

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
        if expected == 302:
            assert flashed_errors(response) == []

    def test_every_page_and_form_has_a_row(self, world: World) -> None:
        """A new route in config/urls.py must get a row in ACTIONS."""
        names = {str(pattern.name) for pattern in config_urls.urlpatterns if isinstance(pattern, URLPattern)}
        assert names - UNLISTED - set(routes(world)) == set(), "routes without a row in ACTIONS"
        assert names >= UNLISTED  # every left-out route still exists

    def test_forms_without_a_page_answer_get_with_405(self, world: World) -> None:
        """A route whose rows are all posts takes posts only, so no page hides behind it untested."""
        post_only = {
            name: rows[0][1]
            for name, rows in routes(world).items()
            if all(action.method == "post" for action, _ in rows)
        }
        assert set(post_only) == {
            "project-member",
            "invitation-new",
            "invitation-revoke",
            "reset-link-new",
            "export-start",
            "version-export-start",
            "find-contradictions",
            "cluster-decide",
            "review-decide",
            "review-undo",
            "training-run-cancel",
            "training-run-merge",
            "comparison-feedback",
            "deployment-report",
            "report-to-annotation",
            "guidelines-read",
            "validation-job-start",
            "label-submit",
            "label-skip",
            "label-change",
            "label-queue-move",
            "suggestion_run_cancel",
        }
        answers = {name: logged_in(world.team.lead).get(url).status_code for name, url in post_only.items()}
        assert answers == dict.fromkeys(post_only, 405)

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
class TestObjectsNamedInAForm:
    """A form may name objects of other projects (runs to compare or deploy): the user needs the
    role in their project too, and ids of projects the user is not in leak nothing."""

    def compare(self, world: World, runs: list[EvalRun]) -> Any:
        data = {"action": "compare", "baseline": runs[0].pk, "candidate": runs[1].pk}
        return logged_in(world.team.lead).post(leaderboard(world), data)

    def test_comparing_runs_needs_the_lead_role_in_their_project(self, world: World) -> None:
        # Given the team's lead, who is only an annotator in another project with two finished runs
        other = world.scene.other
        MembershipFactory.create(project=other, user=world.team.lead, role=Role.ANNOTATOR)
        there = world.scene.frozen_version(other)
        runs = [world.scene.eval_run(other, there) for _ in range(2)]
        # When they post those runs to the compare form of their own project's leaderboard
        response = self.compare(world, runs)
        # Then nothing is compared: an annotator there may not evaluate
        assert response.status_code == 200
        assert flashed_errors(response) == ["This needs the lead role in the project; you are annotator."]
        assert not Comparison.objects.exists()

    def test_runs_of_a_project_the_user_is_not_in_are_not_found(self, world: World) -> None:
        there = world.scene.frozen_version(world.scene.other)
        runs = [world.scene.eval_run(world.scene.other, there) for _ in range(2)]
        missing = [EvalRun(pk=MISSING_ID), EvalRun(pk=MISSING_ID + 1)]
        errors = [flashed_errors(self.compare(world, pair)) for pair in (runs, missing)]
        assert errors == [["No such eval run."]] * 2
        assert not Comparison.objects.exists()

    def test_deploying_needs_the_lead_role_in_the_runs_project(self, world: World) -> None:
        other = world.scene.other
        MembershipFactory.create(project=other, user=world.team.lead, role=Role.REVIEWER)
        run = world.scene.training_run(other, with_adapter=True)
        response = logged_in(world.team.lead).post(
            f"/projects/{world.project}/deployments/", {"training_run": run.pk, "name": "sideways"}
        )
        assert response.status_code == 200
        assert flashed_errors(response) == ["This needs the lead role in the project; you are reviewer."]
        assert not Deployment.objects.exists()


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
        approved = written(project, team.lead, "Approved", "exchange_rate", status="approved")
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
            (1, "needs changes"),
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
