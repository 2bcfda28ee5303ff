"""Dataset versions: the list, the freeze page (what goes in and why not), and a version's page
with its data card, leakage, downloads and the diff to another version."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from curation import selectors
from curation.errors import ApplicationError
from curation.forms import VersionForm
from curation.models import DatasetVersion, Role
from curation.services.datacard import agreement_sentence, suggestions_sentence
from curation.services.export_jobs import stored_version_export
from curation.services.version_exports import EXPORT_FORMATS, HF_FORMAT
from curation.services.versions import (
    EXCLUSION_REASONS,
    freeze_preview,
    next_version_number,
    version_create,
    version_diff,
)
from curation.views.common import abilities, django_errors, int_param, project_for, signed_in

DIFF_SHOWN = 200


@login_required
@django_errors
def version_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id)
    context = {**abilities(request, project), "versions": selectors.version_list(project=project)}
    return render(request, "curation/versions.html", context)


@login_required
@django_errors
def version_new(request: HttpRequest, project_id: int) -> HttpResponse:
    """What a freeze would take and leave out (everyone); the freeze itself (leads)."""
    project = project_for(request, project_id)
    form = VersionForm()
    if request.method == "POST":
        project = project_for(request, project_id, min_role=Role.LEAD)
        form = VersionForm(request.POST)
        if form.is_valid():
            try:
                version = version_create(project=project, user=signed_in(request), **form.cleaned_data)
                messages.success(request, f"Version {version.number} is {version.status}.")
                return redirect("version", version_id=version.pk)
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    preview = freeze_preview(project)
    reasons = [
        {"key": key, "label": label, "count": preview.excluded[key], "samples": preview.samples[key]}
        for key, label in EXCLUSION_REASONS.items()
    ]
    form.fields["name"].widget.attrs["placeholder"] = f"v{next_version_number(project)}"
    context = {**abilities(request, project), "form": form, "preview": preview, "reasons": reasons}
    return render(request, "curation/version_new.html", context)


@login_required
@django_errors
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = selectors.version_get(user=request.user, version_id=version_id)
    others = selectors.version_list(project=version.project).exclude(pk=version.pk).filter(status="frozen")
    context: dict[str, Any] = {
        **abilities(request, version.project),
        "version": version,
        "others": others,
        # The same rows as an earlier version (frozen again with nothing changed): said on the page.
        "same_as": others.filter(sha256=version.sha256, pk__lt=version.pk).order_by("pk").first()
        if version.sha256
        else None,
        "downloads": _download_rows(version),
        "hf_direct": _hf_direct(version),
        "charts": _charts(version),
        "labels": _label_rows(version),
        "agreement": agreement_sentence(version.stats.get("agreement")),
        "suggestions": suggestions_sentence(version.stats.get("suggestions")),
        "suggestion_rows": _suggestion_rows(version),
    }
    compare = int_param(request.GET.get("compare"), "compare")
    if compare and version.is_frozen:
        other = selectors.version_get(user=request.user, version_id=compare)
        diff = version_diff(other, version)
        context["diff"] = {
            "other": other,
            **{key: value[:DIFF_SHOWN] for key, value in diff.__dict__.items()},
        }
        context["diff_counts"] = {key: len(value) for key, value in diff.__dict__.items()}
    return render(request, "curation/version.html", context)


def _suggestion_rows(version: DatasetVersion) -> list[dict[str, Any]]:
    """The card's suggestion figures per split (train, eval, all), where any output had one."""
    figure = version.stats.get("suggestions")
    if not figure or not figure["all"]["with_suggestion"]:
        return []
    return [{"split": side, **figure[side]} for side in ("train", "eval", "all")]


def _download_rows(version: DatasetVersion) -> list[dict[str, Any]]:
    """Per format, per split: a link when the file is stored (every `jsonl`, and any format an
    export job has written) or small enough to render within a request, else an export job."""
    limit = settings.FINCH_EXPORT_SYNC_MAX_ROWS
    counts = version.counts or {}
    sizes = {"train": counts.get("train", 0), "eval": counts.get("eval", 0)}
    sizes["all"] = sizes["train"] + sizes["eval"]
    rows = []
    for name in (name for name in EXPORT_FORMATS if name != HF_FORMAT):
        cells = [
            {
                "split": split,
                "direct": name == "jsonl"
                or sizes[split] <= limit
                or stored_version_export(version, split, name) is not None,
            }
            for split in ("train", "eval", "all")
        ]
        rows.append({"format": name, "cells": cells})
    return rows


def _hf_direct(version: DatasetVersion) -> bool:
    """Whether the zipped DatasetDict is a link: small enough, or written by an export job."""
    counts = version.counts or {}
    small = counts.get("train", 0) + counts.get("eval", 0) <= settings.FINCH_EXPORT_SYNC_MAX_ROWS
    return small or stored_version_export(version, "all", HF_FORMAT) is not None


def _charts(version: DatasetVersion) -> list[dict[str, Any]]:
    """Length histograms as bars: per measure, per bin that holds anything, the share of train
    and of eval (0..100)."""
    charts = []
    for measure, sides in (version.stats.get("lengths") or {}).items():
        totals = {side: max(sum(figure["counts"]), 1) for side, figure in sides.items()}
        edges = sides["train"]["edges"]
        top = max(figure.get("max", 0) for figure in sides.values())
        used = [
            index for index in range(len(edges)) if any(figure["counts"][index] for figure in sides.values())
        ]
        bins = []
        for index in range(used[0], used[-1] + 1) if used else []:
            upper = edges[index + 1] - 1 if index + 1 < len(edges) else top
            shares = {
                side: round(100 * figure["counts"][index] / totals[side], 1) for side, figure in sides.items()
            }
            bins.append({"label": bin_label(edges[index], upper), **shares})
        charts.append({"title": measure.replace("_", " "), "bins": bins, "sides": sides})
    return charts


def bin_label(low: int, high: int) -> str:
    """A histogram bin's range, "40-69"; a bin of one value reads as that value, "11"."""
    return str(low) if high <= low else f"{low}-{high}"


def _label_rows(version: DatasetVersion) -> list[dict[str, Any]]:
    labels = version.stats.get("labels") or {}
    train, evaluation = labels.get("train", {}), labels.get("eval", {})
    most = max([*train.values(), *evaluation.values(), 1])
    return [
        {
            "label": label,
            "train": train.get(label, 0),
            "eval": evaluation.get(label, 0),
            "train_width": round(100 * train.get(label, 0) / most),
            "eval_width": round(100 * evaluation.get(label, 0) / most),
        }
        for label in sorted(
            set(train) | set(evaluation), key=lambda name: -(train.get(name, 0) + evaluation.get(name, 0))
        )
    ]
