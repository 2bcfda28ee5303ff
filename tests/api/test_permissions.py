"""Who may call what: one row per endpoint and method, one column per actor.

The rules (API.md, "Conventions" and "Roles"): anonymous -> 401; authenticated but not a member
of the project -> 404 (ids of other projects leak nothing); a member below the required role ->
403; otherwise the success code. Staff may do everything.

Every case builds its own fresh, valid request (a new submitted example to review, a new open
flag to resolve, a new active duplicate cluster to keep or dissolve, an existing user to add...),
so a refusal is a refusal of the actor, never of the input, and a success is a real success.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, resolve
from rest_framework.test import APIClient

from api import urls as api_urls
from curation.models import (
    ClusterStatus,
    ContradictionJob,
    DatasetVersion,
    DedupJob,
    DuplicateCluster,
    Example,
    ExampleStatus,
    ExportJob,
    Flag,
    FlagKind,
    ImportJob,
    Invitation,
    ItemStatus,
    LabelingItem,
    Project,
    Role,
    Suggestion,
    ValidationJob,
)
from curation.services.flags import flag_create
from curation.services.invitations import invitation_create
from curation.services.labeling import items_enqueue
from curation.services.versions import version_create
from curation.tasks import dedup_examples, export_data
from evaluation.drift_jobs import drift_report_job_create
from evaluation.models import (
    Comparison,
    Deployment,
    DriftReport,
    DriftReportJob,
    EvalPrediction,
    EvalRun,
    SuggestionRun,
)
from evaluation.monitoring import deployment_create, drift_report
from evaluation.services import comparison_create
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory, UserFactory, sharing_a_project
from tests.training.support import base_model_row
from training.models import BaseModel, TrainingRun

API = "/api"
PASSWORD = "pw-for-tests"
MISSING_ID = 2_000_000_000  # no row has this id
ACTORS = ("anonymous", "outsider", "annotator", "reviewer", "lead", "staff")
# Not in the matrix: tested separately, reachable by anyone.
UNLISTED = {"api-schema", "api-docs", "api-redoc"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
ERROR_CODES = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}

ClientFor = Callable[[User | None], APIClient]
_serial = itertools.count(1)

pytestmark = pytest.mark.usefixtures("media_in_tmp")


class TeamLike(Protocol):
    """The `team` fixture of tests/conftest.py."""

    project: Project
    annotator: User

    def user(self, name: str) -> User: ...


@dataclass
class Scene:
    """The team's project plus another project none of the team belongs to."""

    team: TeamLike
    other: Project

    def user(self, actor: str) -> User | None:
        return None if actor == "anonymous" else self.team.user(actor)

    def example(self, project: Project) -> Example:
        example = ExampleFactory(project=project, status=ExampleStatus.SUBMITTED)
        assert isinstance(example, Example)
        return example

    def open_flag(self, project: Project) -> Flag:
        example_ids = [self.example(project).pk]
        return flag_create(project=project, user=None, kind=FlagKind.QUALITY, example_ids=example_ids)

    def validation_job(self, project: Project) -> ValidationJob:
        return ValidationJob.objects.create(project=project)

    def contradiction_job(self, project: Project) -> ContradictionJob:
        return ContradictionJob.objects.create(project=project)

    def import_job(self, project: Project) -> ImportJob:
        errors = [{"line": 2, "error": "Not valid JSON."}]
        return ImportJob.objects.create(
            project=project, filename="rows.jsonl", total=1, failed=1, errors=errors
        )

    def export_job(self, project: Project) -> ExportJob:
        """A finished export of the project's examples, with its file in storage."""
        job = ExportJob.objects.create(project=project)
        export_data(job.pk)
        return job

    def active_cluster(self, project: Project) -> DuplicateCluster:
        """Two new exact duplicates, clustered by a real dedup job run in the project."""
        text = f"Matrix duplicate {next(_serial)}: where is my card?"
        pair = {ExampleFactory.create(project=project, input=variant).pk for variant in (text, text.upper())}
        job = DedupJob.objects.create(project=project, method="exact")
        dedup_examples(job.pk)
        cluster = DuplicateCluster.objects.get(job=job, status=ClusterStatus.ACTIVE)
        assert set(cluster.members.values_list("example_id", flat=True)) == pair
        return cluster

    def frozen_version(self, project: Project) -> DatasetVersion:
        """A version frozen from three new approved examples of the project."""
        for _ in range(3):
            ExampleFactory.create(
                project=project, status=ExampleStatus.APPROVED, input=f"Freeze me {next(_serial)}"
            )
        lead = project.memberships.filter(role=Role.LEAD).first()
        assert lead is not None
        return version_create(project=project, user=lead.user, eval_fraction=0.34)

    def training_run(self, project: Project, *, with_adapter: bool = False) -> TrainingRun:
        """A queued run on a new frozen version (with a stored adapter: as if it had finished)."""
        version = self.frozen_version(project)
        run = TrainingRun.objects.create(
            version=version, base_model="/models/base", version_sha256=version.sha256
        )
        if with_adapter:
            run.adapter_path = f"training/run-{run.pk}/adapter"
            default_storage.save(f"{run.adapter_path}/adapter_model.safetensors", ContentFile(b"weights"))
            run.adapter_sha256 = "0" * 64
            run.status = "succeeded"
            run.save()
        return run

    def eval_run(self, project: Project, version: DatasetVersion | None = None) -> EvalRun:
        """A finished baseline run with one scored prediction."""
        version = version or self.frozen_version(project)
        run = EvalRun.objects.create(
            version=version,
            base_model="/models/base",
            status="succeeded",
            metrics={"accuracy": 1.0, "invalid_label": 0.0},
            n=1,
        )
        EvalPrediction.objects.create(
            run=run,
            example_id=1,
            input="q",
            reference="card_arrival",
            raw="card_arrival",
            scores={"accuracy": 1.0, "invalid_label": 0.0},
        )
        return run

    def comparison(self, project: Project) -> Comparison:
        baseline = self.eval_run(project)
        candidate = self.eval_run(project, baseline.version)
        return comparison_create(baseline=baseline, candidate=candidate, user=None)

    def deployment(self, project: Project) -> Deployment:
        run = self.training_run(project, with_adapter=True)
        return deployment_create(training_run=run, user=None, name=f"prod {next(_serial)}")

    def drift_report(self, project: Project) -> DriftReport:
        return drift_report(deployment=self.deployment(project))  # no samples: not enough data

    def drift_job(self, project: Project) -> DriftReportJob:
        return drift_report_job_create(deployment=self.deployment(project), user=None)  # stays queued

    def member(self, project: Project) -> User:
        user = MembershipFactory(project=project, role=Role.ANNOTATOR).user
        assert isinstance(user, User)
        return user

    def invitation(self, project: Project) -> Invitation:
        """A pending invitation of the project, made by its lead."""
        lead = project.memberships.filter(role=Role.LEAD).first()
        return invitation_create(project=project, user=lead.user if lead else None, role=Role.ANNOTATOR)[0]

    def labeling_item(self, project: Project) -> LabelingItem:
        """A new input in the project's labeling queue, nobody's yet."""
        text = f"Queued for labeling {next(_serial)}: where is my card?"
        return items_enqueue(project=project, user=None, inputs=[{"input": text}]).created[0]

    def suggestion_run(self, project: Project) -> SuggestionRun:
        """A queued suggestion run on a new queued input, with the suggestion it will have (so its
        list has a row; a queued run's would be dropped if it failed)."""
        item = self.labeling_item(project)
        run = SuggestionRun.objects.create(
            project=project, base_model="/models/base", target_ids=[item.pk], n_targets=1
        )
        Suggestion.objects.create(run=run, project=project, item=item, output="card_arrival", confidence=0.5)
        return run

    def base_model(self) -> BaseModel:
        """A registered base model (no project's: every signed-in user reads the registry)."""
        serial = next(_serial)
        return base_model_row(f"model-{serial}", f"/models/registered-{serial}")

    def user_outside(self) -> User:
        user = UserFactory()
        assert isinstance(user, User)
        return user


@pytest.fixture
def scene(team: TeamLike) -> Scene:
    other = ProjectFactory()
    assert isinstance(other, Project)
    MembershipFactory(project=other, role=Role.LEAD)
    return Scene(team=team, other=other)


# Targets fill a path's placeholders: `id` is the project or object the request is about, made
# fresh in the given project; `username` a member to remove.
Target = Callable[[Scene, Project], dict[str, Any]]
# Bodies build a valid request body for the actor (None: no body).
Body = Callable[[Scene, Project, User | None], Any]


def project(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": project.pk}


def a_member(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": project.pk, "username": scene.member(project).username}


def an_example(scene: Scene, project: Project) -> dict[str, Any]:
    """A submitted example, so that it can be reviewed."""
    return {"id": scene.example(project).pk}


def open_flag(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.open_flag(project).pk}


def a_job(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.validation_job(project).pk}


def an_import(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.import_job(project).pk}


def an_invitation(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.invitation(project).pk}


def an_invitee(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"role": Role.REVIEWER}


def an_export(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.export_job(project).pk}


def a_contradiction_job(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.contradiction_job(project).pk}


def a_dedup_job(scene: Scene, project: Project) -> dict[str, Any]:
    """A finished dedup job that found one cluster."""
    return {"id": scene.active_cluster(project).job_id}


def a_cluster(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.active_cluster(project).pk}


def a_base_model(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.base_model().pk}


def a_version(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.frozen_version(project).pk}


def a_run(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.training_run(project).pk}


def a_trained_run(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.training_run(project, with_adapter=True).pk}


def a_merged_file(scene: Scene, project: Project) -> dict[str, Any]:
    """A file of a trained run's merged model (its record written as a worker leaves it)."""
    run = scene.training_run(project, with_adapter=True)
    path = f"training/run-{run.pk}/merged"
    default_storage.save(f"{path}/config.json", ContentFile(b"{}"))
    record = {
        "status": "succeeded",
        "path": path,
        "files": [{"name": "config.json", "size": 2, "sha256": "0" * 64}],
    }
    default_storage.save(f"training/run-{run.pk}/merged.json", ContentFile(json.dumps(record).encode()))
    return {"id": run.pk, "name": "config.json"}


def an_eval_run(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.eval_run(project).pk}


def a_queued_eval_run(scene: Scene, project: Project) -> dict[str, Any]:
    version = scene.frozen_version(project)
    return {"id": EvalRun.objects.create(version=version, base_model="/models/base").pk}


def a_comparison(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.comparison(project).pk}


def a_deployment(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.deployment(project).pk}


def a_drift_report(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.drift_report(project).pk}


def a_drift_job(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.drift_job(project).pk}


def a_labeling_item(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.labeling_item(project).pk}


def a_queue(scene: Scene, project: Project) -> dict[str, Any]:
    """The project, with a new item in its labeling queue to hand out."""
    scene.labeling_item(project)
    return {"id": project.pk}


def a_suggestion_run(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.suggestion_run(project).pk}


def two_versions(scene: Scene, project: Project) -> dict[str, Any]:
    return {"id": scene.frozen_version(project).pk, "other": scene.frozen_version(project).pk}


def no_body(scene: Scene, project: Project, user: User | None) -> None:
    return None


def login(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    account = user or scene.team.annotator
    # UserFactory hashes the password after its save and skips the save that would keep it.
    account.set_password(PASSWORD)
    account.save(update_fields=["password"])
    return {"username": account.username, "password": PASSWORD}


def new_project(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"name": f"Matrix {next(_serial)}", "task_type": "generation", "target_behavior": "Be kind."}


def rename(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"name": f"Renamed {next(_serial)}"}


def new_member(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    """Someone outside the project who shares another one with the actor (a lead may add them)."""
    newcomer = scene.user_outside()
    sharing_a_project(newcomer, *([user] if user is not None else []))
    return {"username": newcomer.username, "role": Role.ANNOTATOR}


def new_example(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"input": f"My card {next(_serial)} never came, where is it?", "output": "card_arrival"}


def an_upload(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    """A file to import as draft (multipart, see send)."""
    row = {"input": f"My card {next(_serial)} never came, where is it?", "output": "card_arrival"}
    return {"file": SimpleUploadedFile("rows.jsonl", json.dumps(row).encode() + b"\n")}


def edit(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"revision": 1, "output": "card_linking"}  # a fresh example is at revision 1


def new_flag(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"kind": FlagKind.QUALITY, "examples": [scene.example(project).pk], "note": "Looks off."}


def approve(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"decision": "approve", "comment": "Fine."}


def export_filters(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"format": "jsonl", "status": "submitted"}


def version_export(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"split": "train", "format": "alpaca"}


def exact_dedup(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"method": "exact"}


def contradictions(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"method": "exact"}


def freeze(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    for _ in range(3):
        ExampleFactory.create(
            project=project, status=ExampleStatus.APPROVED, input=f"Freeze me {next(_serial)}"
        )
    return {"eval_fraction": 0.34, "note": "matrix"}


def new_run(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    """A run on a new frozen version of the team's project (never trained here: no commit)."""
    version = scene.frozen_version(scene.team.project)
    return {"version": version.pk, "base_model": "/models/base"}


def new_eval_run(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    """A baseline run on a new frozen version of the team's project (never run here: no commit)."""
    return {"version": scene.frozen_version(scene.team.project).pk, "base_model": "/models/base"}


def new_comparison(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    baseline = scene.eval_run(scene.team.project)
    return {"baseline": baseline.pk, "candidate": scene.eval_run(scene.team.project, baseline.version).pk}


def new_deployment(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    run = scene.training_run(scene.team.project, with_adapter=True)
    return {"training_run": run.pk, "name": "prod"}


def live_samples(scene: Scene, project: Project, user: User | None) -> list[dict[str, Any]]:
    return [{"input": "Where is my card?", "output": "card_arrival"}] * 3


def new_suggestion_run(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    """The base model on a new queued input of the project (never run here: no commit)."""
    return {"base_model": "/models/base", "ids": [scene.labeling_item(project).pk]}


def keep_other(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    """Keep the member that is not kept yet, in the project's newest cluster (the target's)."""
    cluster = DuplicateCluster.objects.filter(project=project).latest("id")
    return {"example": cluster.members.exclude(example_id=cluster.kept_id).get().example_id}


def new_inputs(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"inputs": [{"input": f"Label me {next(_serial)}", "metadata": {"from": "matrix"}}]}


def a_queued_item(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"items": [scene.labeling_item(project).pk]}


def an_item_set_aside(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    item = scene.labeling_item(project)
    LabelingItem.objects.filter(pk=item.pk).update(status=ItemStatus.SET_ASIDE)
    return {"items": [item.pk]}


def a_label(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"output": "card_arrival"}


def dismiss(scene: Scene, project: Project, user: User | None) -> dict[str, Any]:
    return {"resolution": "dismiss", "note": "Not a problem."}


@dataclass(frozen=True)
class Row:
    endpoint: str  # "METHOD /path/below/api/"
    target: Target | None
    body: Body
    expected: tuple[int, int, int, int, int, int]  # in the order of ACTORS

    @property
    def method(self) -> str:
        return self.endpoint.split()[0]

    @property
    def path(self) -> str:
        return API + self.endpoint.split()[1]

    def url(self, scene: Scene, project: Project, **override: Any) -> str:
        if self.target is None:
            return self.path
        return self.path.format(**{**self.target(scene, project), **override})

    def status_for(self, actor: str) -> int:
        return self.expected[ACTORS.index(actor)]


# fmt: off
MATRIX = [
    #   endpoint (below /api)                        target      body          anon outs ann  rev  lead staff
    Row("POST   /auth/token/",                       None,       login,       (200, 200, 200, 200, 200, 200)),
    Row("GET    /projects/",                         None,       no_body,     (401, 200, 200, 200, 200, 200)),
    Row("POST   /projects/",                         None,       new_project, (401, 201, 201, 201, 201, 201)),
    Row("GET    /projects/{id}/",                    project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("PATCH  /projects/{id}/",                    project,    rename,      (401, 404, 403, 403, 200, 200)),
    Row("GET    /projects/{id}/members/",            project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /projects/{id}/audit/",              project,    no_body,     (401, 404, 403, 403, 200, 200)),
    Row("GET    /projects/{id}/agreement/",          project,    no_body,     (401, 404, 403, 200, 200, 200)),
    Row("POST   /projects/{id}/members/",            project,    new_member,  (401, 404, 403, 403, 201, 201)),
    Row("DELETE /projects/{id}/members/{username}/", a_member,   no_body,     (401, 404, 403, 403, 204, 204)),
    Row("GET    /projects/{id}/invitations/",        project,    no_body,     (401, 404, 403, 403, 200, 200)),
    Row("POST   /projects/{id}/invitations/",        project,    an_invitee,  (401, 404, 403, 403, 201, 201)),
    Row("POST   /invitations/{id}/revoke/",          an_invitation, no_body,  (401, 404, 403, 403, 200, 200)),
    Row("GET    /projects/{id}/examples/",           project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /projects/{id}/examples/",           project,    new_example, (401, 404, 201, 201, 201, 201)),
    Row("GET    /projects/{id}/examples/export/",    project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /projects/{id}/exports/",            project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /projects/{id}/exports/",            project,    export_filters, (401, 404, 202, 202, 202, 202)),
    Row("GET    /exports/{id}/",                     an_export,  no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /exports/{id}/download/",            an_export,  no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /projects/{id}/imports/",            project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /projects/{id}/imports/",            project,    an_upload,   (401, 404, 202, 202, 202, 202)),
    Row("GET    /imports/{id}/",                     an_import,  no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /imports/{id}/errors.csv",           an_import,  no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /projects/{id}/flags/",              project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /projects/{id}/flags/",              project,    new_flag,    (401, 404, 201, 201, 201, 201)),
    Row("GET    /projects/{id}/validation-jobs/",    project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /projects/{id}/validation-jobs/",    project,    no_body,     (401, 404, 403, 403, 202, 202)),
    Row("GET    /validation-jobs/{id}/",             a_job,      no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /projects/{id}/dedup-jobs/",         project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /projects/{id}/dedup-jobs/",         project,    exact_dedup, (401, 404, 403, 403, 202, 202)),
    Row("GET    /dedup-jobs/{id}/",                  a_dedup_job, no_body,    (401, 404, 200, 200, 200, 200)),
    Row("GET    /projects/{id}/contradiction-jobs/", project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /projects/{id}/contradiction-jobs/", project,    contradictions, (401, 404, 403, 403, 202, 202)),
    Row("GET    /contradiction-jobs/{id}/",          a_contradiction_job, no_body, (401, 404, 200, 200, 200, 200)),
    Row("GET    /dedup-jobs/{id}/clusters/",         a_dedup_job, no_body,    (401, 404, 200, 200, 200, 200)),
    Row("POST   /clusters/{id}/keep/",               a_cluster,  keep_other,  (401, 404, 403, 200, 200, 200)),
    Row("POST   /clusters/{id}/dissolve/",           a_cluster,  no_body,     (401, 404, 403, 200, 200, 200)),
    Row("GET    /examples/{id}/",                    an_example, no_body,     (401, 404, 200, 200, 200, 200)),
    Row("PATCH  /examples/{id}/",                    an_example, edit,        (401, 404, 200, 200, 200, 200)),
    Row("GET    /examples/{id}/history/",            an_example, no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /examples/{id}/reviews/",            an_example, no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /examples/{id}/reviews/",            an_example, approve,     (401, 404, 403, 201, 201, 201)),
    Row("GET    /flags/{id}/",                       open_flag,  no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /projects/{id}/versions/",           project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /projects/{id}/versions/",           project,    freeze,      (401, 404, 403, 403, 201, 201)),
    Row("GET    /projects/{id}/versions/preview/",   project,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /versions/{id}/",                    a_version,  no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /versions/{id}/export/",             a_version,  no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /versions/{id}/exports/",            a_version,  version_export, (401, 404, 202, 202, 202, 202)),
    Row("GET    /versions/{id}/card/",               a_version,  no_body,     (401, 404, 200, 200, 200, 200)),
    Row("GET    /versions/{id}/diff/{other}/",       two_versions, no_body,   (401, 404, 200, 200, 200, 200)),
    Row("POST   /flags/{id}/resolve/",               open_flag,  dismiss,     (401, 404, 403, 200, 200, 200)),
    Row("GET    /projects/{id}/labeling/items/",     project,    no_body,     (401, 404, 403, 200, 200, 200)),
    Row("POST   /projects/{id}/labeling/items/",     project,    new_inputs,  (401, 404, 403, 403, 201, 201)),
    Row("POST   /projects/{id}/labeling/next/",      a_queue,    no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /projects/{id}/labeling/set-aside/", project,    a_queued_item, (401, 404, 403, 403, 200, 200)),
    Row("POST   /projects/{id}/labeling/requeue/",   project,    an_item_set_aside, (401, 404, 403, 403, 200, 200)),
    Row("GET    /labeling/items/{id}/",              a_labeling_item, no_body, (401, 404, 200, 200, 200, 200)),
    Row("POST   /labeling/items/{id}/annotations/",  a_labeling_item, a_label, (401, 404, 201, 201, 201, 201)),
    # Nobody answered the item: every member reaches the service, which has no answer to change.
    Row("PATCH  /labeling/items/{id}/annotations/",  a_labeling_item, a_label, (401, 404, 409, 409, 409, 409)),
    Row("POST   /labeling/items/{id}/skip/",         a_labeling_item, no_body, (401, 404, 204, 204, 204, 204)),
    Row("GET    /base-models/",                      None,       no_body,     (401, 200, 200, 200, 200, 200)),
    Row("GET    /base-models/{id}/",                 a_base_model, no_body,   (401, 200, 200, 200, 200, 200)),
    Row("GET    /training-runs/",                    None,       no_body,     (401, 200, 200, 200, 200, 200)),
    Row("POST   /training-runs/",                    None,       new_run,     (401, 404, 403, 403, 202, 202)),
    Row("GET    /training-runs/{id}/",               a_run,      no_body,     (401, 404, 200, 200, 200, 200)),
    Row("POST   /training-runs/{id}/cancel/",        a_run,      no_body,     (401, 404, 403, 403, 200, 200)),
    Row("GET    /training-runs/{id}/adapter/",       a_trained_run, no_body,  (401, 404, 200, 200, 200, 200)),
    Row("POST   /training-runs/{id}/merge/",         a_trained_run, no_body,  (401, 404, 403, 403, 202, 202)),
    Row("GET    /training-runs/{id}/merged/{name}/", a_merged_file, no_body,  (401, 404, 200, 200, 200, 200)),
    Row("GET    /eval-runs/",                        None,       no_body,     (401, 200, 200, 200, 200, 200)),
    Row("POST   /eval-runs/",                        None,       new_eval_run, (401, 404, 403, 403, 202, 202)),
    Row("GET    /eval-runs/{id}/",                   an_eval_run, no_body,    (401, 404, 200, 200, 200, 200)),
    Row("GET    /eval-runs/{id}/predictions/",       an_eval_run, no_body,    (401, 404, 200, 200, 200, 200)),
    Row("POST   /eval-runs/{id}/cancel/",            a_queued_eval_run, no_body, (401, 404, 403, 403, 200, 200)),
    Row("GET    /projects/{id}/suggestion-runs/",    project,    no_body,     (401, 404, 403, 200, 200, 200)),
    Row("POST   /projects/{id}/suggestion-runs/",    project,    new_suggestion_run, (401, 404, 403, 403, 201, 201)),
    Row("GET    /suggestion-runs/{id}/",             a_suggestion_run, no_body, (401, 404, 403, 200, 200, 200)),
    Row("POST   /suggestion-runs/{id}/cancel/",      a_suggestion_run, no_body, (401, 404, 403, 403, 200, 200)),
    Row("GET    /suggestion-runs/{id}/suggestions/", a_suggestion_run, no_body, (401, 404, 403, 200, 200, 200)),
    Row("GET    /comparisons/",                      None,       no_body,     (401, 200, 200, 200, 200, 200)),
    Row("POST   /comparisons/",                      None,       new_comparison, (401, 404, 403, 403, 201, 201)),
    Row("GET    /comparisons/{id}/",                 a_comparison, no_body,   (401, 404, 200, 200, 200, 200)),
    Row("GET    /deployments/",                      None,       no_body,     (401, 200, 200, 200, 200, 200)),
    Row("POST   /deployments/",                      None,       new_deployment, (401, 404, 403, 403, 201, 201)),
    Row("GET    /deployments/{id}/",                 a_deployment, no_body,   (401, 404, 200, 200, 200, 200)),
    Row("POST   /deployments/{id}/samples/",         a_deployment, live_samples, (401, 404, 403, 403, 202, 202)),
    Row("GET    /deployments/{id}/drift/",           a_deployment, no_body,   (401, 404, 200, 200, 200, 200)),
    Row("POST   /deployments/{id}/drift/",           a_deployment, no_body,   (401, 404, 403, 403, 202, 202)),
    Row("GET    /drift-jobs/{id}/",                  a_drift_job, no_body,    (401, 404, 200, 200, 200, 200)),
    Row("GET    /deployments/{id}/reports/",         a_deployment, no_body,   (401, 404, 200, 200, 200, 200)),
    Row("POST   /drift-reports/{id}/to-annotation/", a_drift_report, no_body, (401, 404, 403, 200, 200, 200)),
]
# fmt: on

# Rows of a project's objects (the registry's base models are everyone's: not scoped).
SCOPED = [row for row in MATRIX if row.target is not None and row.status_for("outsider") == 404]


def send(client: APIClient, method: str, url: str, body: Any) -> Any:
    if isinstance(body, dict) and any(isinstance(value, SimpleUploadedFile) for value in body.values()):
        return getattr(client, method.lower())(url, body, format="multipart")
    data = "" if body is None else json.dumps(body)
    return client.generic(method, url, data=data, content_type="application/json")


@pytest.mark.parametrize(
    ("row", "actor"),
    [pytest.param(row, actor, id=f"{row.method} {row.path} [{actor}]") for row in MATRIX for actor in ACTORS],
)
def test_permission_matrix(scene: Scene, client_for: ClientFor, row: Row, actor: str) -> None:
    user = scene.user(actor)
    project = scene.team.project
    url = row.url(scene, project)
    body = row.body(scene, project, user)

    response = send(client_for(user), row.method, url, body)

    expected = row.status_for(actor)
    assert response.status_code == expected, (
        f"{row.method} {url} as {actor}: expected {expected}, got {response.status_code}: "
        f"{response.content[:500]!r}"
    )
    if expected in ERROR_CODES:
        assert [error["code"] for error in response.json()["errors"]] == [ERROR_CODES[expected]]


@pytest.mark.parametrize("row", [pytest.param(row, id=f"{row.method} {row.path}") for row in SCOPED])
@pytest.mark.parametrize("actor", ["outsider", "lead"])
def test_not_found_does_not_reveal_whether_the_object_exists(
    scene: Scene, client_for: ClientFor, row: Row, actor: str
) -> None:
    """A real id in a project the actor is not in answers exactly like an id that does not exist."""
    user = scene.user(actor)
    # The outsider is in no project; the lead is in the team's project but not in the other one.
    elsewhere = scene.team.project if actor == "outsider" else scene.other
    client = client_for(user)

    existing = send(client, row.method, row.url(scene, elsewhere), row.body(scene, elsewhere, user))
    missing_url = row.url(scene, elsewhere, id=MISSING_ID)
    missing = send(client, row.method, missing_url, row.body(scene, elsewhere, user))

    assert (existing.status_code, missing.status_code) == (404, 404)
    assert existing.content == missing.content


def test_outsider_lists_no_projects(scene: Scene, client_for: ClientFor) -> None:
    response = client_for(scene.user("outsider")).get(f"{API}/projects/")

    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize("actor", ["annotator", "reviewer", "lead", "staff"])
def test_members_and_staff_list_the_project(scene: Scene, client_for: ClientFor, actor: str) -> None:
    response = client_for(scene.user(actor)).get(f"{API}/projects/")

    assert response.status_code == 200
    ids = [listed["id"] for listed in response.json()["results"]]
    assert scene.team.project.pk in ids
    assert (scene.other.pk in ids) == (actor == "staff")


@pytest.mark.parametrize("path", [f"{API}/schema/", f"{API}/docs/"])
@pytest.mark.parametrize("actor", ["anonymous", "outsider", "annotator", "staff"])
def test_schema_and_docs_are_reachable(scene: Scene, client_for: ClientFor, path: str, actor: str) -> None:
    response = client_for(scene.user(actor)).get(path)

    assert response.status_code == 200


def test_schema_is_served_as_openapi(client_for: ClientFor) -> None:
    response = client_for(None).get(f"{API}/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert "openapi" in response.json()


def test_matrix_covers_every_endpoint_and_method() -> None:
    """A new URL or method in api/urls.py must get a row here."""
    routes: set[tuple[str, str]] = set()
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name in UNLISTED:
            continue
        view_class = pattern.callback.view_class  # type: ignore[attr-defined]
        routes |= {
            (method.upper(), str(pattern.name)) for method in HTTP_METHODS if hasattr(view_class, method)
        }

    covered = [
        (
            row.method,
            str(resolve(row.path.format(id=1, username="someone", other=1, name="config.json")).url_name),
        )
        for row in MATRIX
    ]
    assert routes - set(covered) == set(), "endpoints without a row in MATRIX"
    assert set(covered) - routes == set(), "rows in MATRIX for endpoints that do not exist"
    assert len(covered) == len(set(covered)), "an endpoint has two rows"
