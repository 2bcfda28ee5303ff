"""Reads, always scoped through the user: a non-member sees nothing (404), a low role gets 403."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery

from curation import filters as query
from curation.errors import NotFound
from curation.filters import MAX_ID
from curation.models import (
    AssignmentState,
    ClusterMember,
    ClusterStatus,
    ContradictionJob,
    DatasetVersion,
    DedupJob,
    DuplicateCluster,
    Example,
    ExampleRevision,
    ExampleStatus,
    ExportJob,
    Flag,
    FlagExample,
    FlagKind,
    FlagStatus,
    ImportJob,
    Invitation,
    LabelingAssignment,
    Membership,
    Project,
    RaisedBy,
    Role,
    ValidationJob,
)
from curation.roles import require_role
from curation.search import text_match

AnyUser = User | AnonymousUser


def project_list(*, user: AnyUser) -> QuerySet[Project]:
    """The user's projects, each annotated with `my_role` (None for staff outside it)."""
    my_role = Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk or 0).values("role")[:1]
    return Project.objects.for_user(user).annotate(my_role=Subquery(my_role)).order_by("-id")


def project_get(*, user: AnyUser, project_id: Any, min_role: str = Role.ANNOTATOR) -> Project:
    """The project if the user has at least `min_role` in it; NotFound / PermissionDenied else."""
    project = project_list(user=user).filter(pk=as_id(project_id)).first()
    if project is None:
        raise NotFound("No such project.")
    require_role(user, project, min_role)
    return project


def project_status_counts(project: Project) -> dict[str, int]:
    rows = project.examples.values("status").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(ExampleStatus.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def members_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("id")


def example_get(*, user: AnyUser, example_id: Any, min_role: str = Role.ANNOTATOR) -> Example:
    example = (
        Example.objects.select_related("project", "created_by", "updated_by")
        .filter(pk=as_id(example_id), project__in=Project.objects.for_user(user))
        .first()
    )
    if example is None:
        raise NotFound("No such example.")
    require_role(user, example.project, min_role)
    return example


# The filters example_list reads: the browse page's, the API list's and an export job's.
EXAMPLE_FILTERS = ("status", "flagged", "duplicate", "q", "source", "created_by")


def example_list(*, project: Project, filters: dict[str, str]) -> QuerySet[Example]:
    """Examples filtered by status, flagged, duplicate, source, created_by and text `q`."""
    examples = project.examples.select_related("project", "created_by")
    status = filters.get("status")
    if status:
        examples = examples.filter(status=query.choice(status, ExampleStatus.values, "status"))
    flagged = query.boolean(filters.get("flagged"), "flagged")
    if flagged is not None:
        open_flag = FlagExample.objects.filter(example=OuterRef("pk"), flag__status=FlagStatus.OPEN)
        examples = examples.filter(Exists(open_flag) if flagged else ~Exists(open_flag))
    duplicate = query.boolean(filters.get("duplicate"), "duplicate")
    if duplicate is not None:
        examples = examples.filter(duplicate_of__isnull=not duplicate)
    if filters.get("source"):
        examples = examples.filter(source=query.text(filters["source"], "source"))
    if filters.get("created_by"):
        examples = examples.filter(created_by__username=query.text(filters["created_by"], "created_by"))
    if filters.get("q"):
        text = query.text(filters["q"], "q")
        examples = examples.filter(text_match(text))
    return examples


def example_history(*, example: Example) -> list[ExampleRevision]:
    """Every revision, newest first: the current one, then those it superseded."""
    older = example.revisions.select_related("changed_by").order_by("-revision")
    return [example.as_revision(), *older]


def example_open_groups(*, example: Example) -> dict[str, list[Any]]:
    """The open flags and active duplicate clusters the example is in (the review card names them)."""
    flags = Flag.objects.filter(memberships__example=example, status=FlagStatus.OPEN).order_by("id")
    clusters = DuplicateCluster.objects.filter(members__example=example, status=ClusterStatus.ACTIVE)
    return {"flags": list(flags[:10]), "clusters": list(clusters.order_by("id")[:10])}


# A flag's members, with what a disagreement flag shows of each answer (its labeling item's
# submitted assignments and their annotators): a fixed number of queries for a page of flags.
FLAG_MEMBERS = (
    "memberships",
    Prefetch("memberships__example", queryset=Example.objects.only("id", "output", "labeling_item_id")),
    "memberships__example__labeling_item",
    Prefetch(
        "memberships__example__labeling_item__assignments",
        queryset=LabelingAssignment.objects.filter(state=AssignmentState.SUBMITTED)
        .select_related("annotator")
        .order_by("submitted_at", "id"),
    ),
)


def flag_list(*, project: Project, filters: dict[str, str]) -> QuerySet[Flag]:
    flags = project.flags.select_related("created_by", "resolved_by").prefetch_related(*FLAG_MEMBERS)
    if kind := query.choice(filters.get("kind"), FlagKind.values, "kind"):
        flags = flags.filter(kind=kind)
    if status := query.choice(filters.get("status"), FlagStatus.values, "status"):
        flags = flags.filter(status=status)
    if raised_by := query.choice(filters.get("raised_by"), RaisedBy.values, "raised_by"):
        flags = flags.filter(raised_by=raised_by)
    if job := query.text(filters.get("job"), "job"):  # "dedup-job:12": the flags one job raised
        flags = flags.filter(job=job)
    return flags


def flag_get(*, user: AnyUser, flag_id: Any, min_role: str = Role.ANNOTATOR) -> Flag:
    flag = (
        Flag.objects.select_related("project", "created_by", "resolved_by")
        .prefetch_related(*FLAG_MEMBERS)
        .filter(pk=as_id(flag_id), project__in=Project.objects.for_user(user))
        .first()
    )
    if flag is None:
        raise NotFound("No such flag.")
    require_role(user, flag.project, min_role)
    return flag


def invitation_list(*, project: Project) -> QuerySet[Invitation]:
    return project.invitations.select_related("created_by", "accepted_by")


def invitation_get(*, user: AnyUser, invitation_id: Any) -> Invitation:
    """An invitation of a project the user leads (NotFound for other projects' ones)."""
    invitation = (
        Invitation.objects.select_related("project")
        .filter(pk=as_id(invitation_id), project__in=Project.objects.for_user(user))
        .first()
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    require_role(user, invitation.project, Role.LEAD)
    return invitation


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    return project.import_jobs.select_related("created_by")


def import_job_get(*, user: AnyUser, job_id: Any) -> ImportJob:
    return _job_get(ImportJob, user=user, job_id=job_id, name="import")


def validation_job_get(*, user: AnyUser, job_id: Any) -> ValidationJob:
    return _job_get(ValidationJob, user=user, job_id=job_id, name="validation job")


def dedup_job_get(*, user: AnyUser, job_id: Any) -> DedupJob:
    return _job_get(DedupJob, user=user, job_id=job_id, name="dedup job")


# Clusters' members with their examples and jobs, joined: a prefetch of the members' examples
# asked SQLite for "id = ? OR id = ? ..." and failed past 1,000 of them ("Expression tree is
# too large"), a page of clusters answered 503 as if the database were busy.
_MEMBERS = Prefetch("members", queryset=ClusterMember.objects.select_related("example", "job"))


def cluster_list(*, job: DedupJob) -> QuerySet[DuplicateCluster]:
    """The clusters the job made or added members to (its `clusters` count counts both)."""
    touched = Q(job=job) | Q(Exists(ClusterMember.objects.filter(cluster=OuterRef("pk"), job=job)))
    return (
        DuplicateCluster.objects.filter(touched).select_related("job", "project").prefetch_related(_MEMBERS)
    )


def project_clusters(*, project: Project, status: str) -> QuerySet[DuplicateCluster]:
    """Clusters with their members and the members' examples, newest first."""
    return (
        DuplicateCluster.objects.filter(project=project, status=status)
        .select_related("kept", "job")
        .prefetch_related(_MEMBERS)
        .order_by("-id")
    )


def cluster_get(*, user: AnyUser, cluster_id: Any, min_role: str = Role.ANNOTATOR) -> DuplicateCluster:
    cluster = (
        DuplicateCluster.objects.select_related("project", "job")
        .prefetch_related(_MEMBERS)
        .filter(pk=as_id(cluster_id), project__in=Project.objects.for_user(user))
        .first()
    )
    if cluster is None:
        raise NotFound("No such cluster.")
    require_role(user, cluster.project, min_role)
    return cluster


def contradiction_job_get(*, user: AnyUser, job_id: Any) -> ContradictionJob:
    return _job_get(ContradictionJob, user=user, job_id=job_id, name="contradiction job")


# A frozen version is made by a job too (its status is the freeze's), and read the same way.
JobT = TypeVar("JobT", ImportJob, ValidationJob, DedupJob, ContradictionJob, DatasetVersion, ExportJob)


def job_list(model: type[JobT], *, project: Project) -> QuerySet[JobT]:
    """A project's jobs of one kind (dedup, contradiction, validation), newest first."""
    return model._default_manager.filter(project=project).select_related("created_by").order_by("-id")


def _job_get(model: type[JobT], *, user: AnyUser, job_id: Any, name: str) -> JobT:
    """A project's job (or version), for any member of the project; NotFound for everyone else."""
    job = (
        model.objects.select_related("project", "created_by")
        .filter(pk=as_id(job_id), project__in=Project.objects.for_user(user))
        .first()
    )
    if job is None:
        raise NotFound(f"No such {name}.")
    require_role(user, job.project, Role.ANNOTATOR)
    return job


def export_job_get(*, user: AnyUser, job_id: Any) -> ExportJob:
    return _job_get(ExportJob, user=user, job_id=job_id, name="export")


def version_get(*, user: AnyUser, version_id: Any) -> DatasetVersion:
    return _job_get(DatasetVersion, user=user, job_id=version_id, name="dataset version")


def version_list(*, project: Project) -> QuerySet[DatasetVersion]:
    return project.versions.select_related("created_by").order_by("-number")


def as_id(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return -1
    return number if 0 < number <= MAX_ID else -1
