"""Duplicates: start dedup jobs (leads), review the clusters they found (reviewers)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from curation import queues, selectors
from curation.cluster_reasons import with_reasons
from curation.errors import ApplicationError
from curation.forms import DedupJobForm
from curation.models import ClusterStatus, DedupJob, DuplicateCluster, Project, Role
from curation.services.dedup import cluster_dissolve, cluster_keep, cluster_seen, dedup_job_create
from curation.views.common import abilities, django_errors, int_param, project_for, signed_in

CLUSTERS_SHOWN = 50


@login_required
@django_errors
def duplicates(request: HttpRequest, project_id: int) -> HttpResponse:
    """The project's active clusters, its dedup jobs, and (for leads) a form to start one."""
    project = project_for(request, project_id)
    form = DedupJobForm(initial=_last_choices(project))
    if request.method == "POST":
        project = project_for(request, project_id, min_role=Role.LEAD)
        form = DedupJobForm(request.POST)
        if form.is_valid():
            try:
                job = dedup_job_create(project=project, user=signed_in(request), **form.job_parameters())
                messages.success(request, f"Dedup job {job.pk} started.")
                return redirect("duplicates", project_id=project.pk)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
    context = {
        **abilities(request, project),
        "form": form,
        "jobs": selectors.job_list(DedupJob, project=project)[:10],
        **_cluster_page(request, project),
    }
    return render(request, "curation/duplicates.html", context)


def _cluster_page(request: HttpRequest, project: Project) -> dict[str, Any]:
    """The active clusters, newest first, CLUSTERS_SHOWN a page (the keyset paging of Browse),
    and how many there are. `?cluster=N` (the review card's link) opens the page that starts at
    cluster N, so its `#cluster-N` anchor is on the page however old it is."""
    active = selectors.project_clusters(project=project, status=ClusterStatus.ACTIVE)
    wanted = int_param(request.GET.get("cluster"), "cluster")
    before = wanted + 1 if wanted is not None else int_param(request.GET.get("before"), "before")
    page = queues.keyset_page(active, before=before, size=CLUSTERS_SHOWN)
    return {
        "page": page,
        "before": before,
        "clusters": [_with_seen(cluster) for cluster in with_reasons(page.rows, project)],
        "cluster_count": active.count(),
        "wanted": wanted,
        "wanted_gone": wanted is not None and not any(cluster.pk == wanted for cluster in page.rows),
    }


def _with_seen(cluster: DuplicateCluster) -> DuplicateCluster:
    cluster.seen = cluster_seen(cluster)  # type: ignore[attr-defined]  # its forms post it back
    return cluster


def _last_choices(project: Project) -> dict[str, Any]:
    """The form starts from the project's last job's method and fields, so Start keeps them. Not
    its threshold or shingles: a job records those resolved (exact's 1.0, "char"), and carried
    over they would silently replace the defaults of the next job, of whatever method."""
    last = selectors.job_list(DedupJob, project=project).first()
    if last is None:
        return {}
    return {"method": last.method, "compare": last.fields}


@login_required
@require_POST
@django_errors
def cluster_decide(request: HttpRequest, cluster_id: int) -> HttpResponse:
    """Keep another member, or dissolve the cluster (reviewers)."""
    cluster = selectors.cluster_get(user=request.user, cluster_id=cluster_id, min_role=Role.REVIEWER)
    back = _page_of(request, cluster)  # a bad `before` is refused before anything changes
    try:
        seen = request.POST.get("seen")  # what the page showed (cluster_seen)
        if "dissolve" in request.POST:
            cluster_dissolve(cluster=cluster, user=signed_in(request), seen=seen)
            messages.success(
                request, f"Cluster {cluster.pk} dissolved: its examples are no longer duplicates."
            )
        else:
            keep = int_param(request.POST.get("keep"), "keep") or 0
            cluster_keep(cluster=cluster, user=signed_in(request), example_id=keep, seen=seen)
            messages.success(request, f"Cluster {cluster.pk} now keeps example {keep}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(back)


def _page_of(request: HttpRequest, cluster: DuplicateCluster) -> str:
    """The page of clusters the decision was made on (its forms post its `before`), at the
    cluster: a reviewer working through older pages is not sent back to the newest."""
    url = reverse("duplicates", args=[cluster.project_id])
    before = int_param(request.POST.get("before"), "before")
    query = f"?before={before}" if before is not None else ""
    return f"{url}{query}#cluster-{cluster.pk}"
