"""Deployments: live samples in, drift reports out, and out-of-distribution inputs back to the
annotators. Shared by the API, the web UI and the beat task."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from curation.errors import Conflict, InvalidInput
from curation.models import JobStatus, Project, Role, Split, VersionItem
from curation.roles import require_role
from curation.services import output_schema
from curation.services.audit import audit
from curation.services.content import storable_json
from curation.services.embedding_cache import (
    MAX_REFERENCE_ROWS,
    cached_vectors,
    fast_available,
    model_label,
    reference_inputs,
)
from curation.services.labeling import QueuedInputs, items_enqueue, queued_ids_of
from evaluation import drift
from evaluation.extract import json_object_of, label_of
from evaluation.metrics import schema_validator
from evaluation.models import Deployment, DriftReport, LiveSample, SuggestionRun, SuggestionTarget
from evaluation.suggestions import shipped_runs, suggestion_run_create
from training.models import TrainingRun
from training.selectors import run_label

MAX_SAMPLES_PER_REQUEST = 10_000
MAX_FIELD_CHARS = 100_000
SAMPLE_BATCH = 5_000
OOD_KEPT = 500
# Inputs embedded per report: a seeded uniform sample beyond this (the OOD rate's margin of
# error is then under 1 point at 95%); output checks always read every sample.
MAX_EMBEDDED_SAMPLES = 10_000
CLOCK_SKEW = timedelta(minutes=5)
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


# -- deployments and samples ---------------------------------------------------------------------


def deployment_create(
    *,
    training_run: TrainingRun,
    user: User | None,
    name: str,
    thresholds: dict[str, Any] | None = None,
    window_hours: float = 24.0,
    min_samples: int = 50,
) -> Deployment:
    if training_run.status != JobStatus.SUCCEEDED or not training_run.adapter_sha256:
        raise InvalidInput(
            f"{run_label(training_run).capitalize()} is {training_run.status} and has no adapter to deploy.",
            field="training_run",
        )
    if not name.strip():
        raise InvalidInput("name: give the deployment a name.", field="name")
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(
                training_run=training_run,
                name=name.strip(),
                thresholds=checked_thresholds(thresholds),
                window_hours=window_hours,
                min_samples=min_samples,
                created_by=user,
            )
            summary = f"Deployed training run {training_run.pk} as {deployment.name}"
            project_id = training_run.version.project_id
            audit(
                project=project_id, actor=user, action="deployment.create", target=deployment, summary=summary
            )
            return deployment
    except IntegrityError as exc:
        raise Conflict(
            f"{run_label(training_run).capitalize()} already has a deployment named {name.strip()!r}."
        ) from exc


def checked_thresholds(given: Any) -> dict[str, float]:
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise InvalidInput("thresholds: expected an object.", field="thresholds")
    unknown = sorted(set(given) - set(drift.DEFAULT_THRESHOLDS))
    if unknown:
        raise InvalidInput(
            f"thresholds: unknown {', '.join(unknown)}; known: {', '.join(drift.DEFAULT_THRESHOLDS)}.",
            field="thresholds",
        )
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise InvalidInput(f"thresholds.{key}: expected a number from 0 to 1.", field="thresholds")
    return {key: float(value) for key, value in given.items()}


def samples_add(*, deployment: Deployment, rows: Any) -> int:
    """Store a batch of live samples: all of them, or (with a 400 naming the row) none."""
    if not isinstance(rows, list) or not rows:
        raise InvalidInput('Send a non-empty JSON list of samples: [{"input", "output", "at"?}, ...].')
    if len(rows) > MAX_SAMPLES_PER_REQUEST:
        raise InvalidInput(f"At most {MAX_SAMPLES_PER_REQUEST:,} samples a request; got {len(rows):,}.")
    now = timezone.now()
    samples = [_sample(deployment, index, row, now) for index, row in enumerate(rows)]
    LiveSample.objects.bulk_create(samples, batch_size=SAMPLE_BATCH)
    return len(samples)


def _sample(deployment: Deployment, index: int, row: Any, now: datetime) -> LiveSample:
    where = f"[{index}]"
    if not isinstance(row, dict):
        raise InvalidInput(f"{where}: expected an object with input and output.", field=where)
    unknown = sorted(set(row) - {"input", "output", "at"})
    if unknown:
        raise InvalidInput(f"{where}: unknown field(s) {', '.join(unknown)}.", field=where)
    value = row.get("input")
    if isinstance(value, list):  # a chat input: stored as the versions store it (canonical JSON)
        value = storable_json(value, f"{where}.input")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            f"{where}.input: expected non-empty text (or a list of chat messages).", field=where
        )
    output = row.get("output", "")
    if not isinstance(output, str):
        raise InvalidInput(f"{where}.output: expected text.", field=where)
    if len(value) > MAX_FIELD_CHARS or len(output) > MAX_FIELD_CHARS:
        raise InvalidInput(
            f"{where}: input and output are limited to {MAX_FIELD_CHARS:,} characters.", field=where
        )
    at = _timestamp(row.get("at"), where, now)
    return LiveSample(deployment=deployment, input=_storable(value), output=_storable(output), at=at)


def _storable(text: str) -> str:
    """The text with what no database stores (NUL, unpaired surrogates: JSON's "\\ud800")
    replaced by U+FFFD: a live sample is kept, not refused, for one bad character."""
    return UNSTORABLE.sub("\ufffd", text)


def _timestamp(value: Any, where: str, now: datetime) -> datetime:
    if value is None:
        return now
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError as exc:  # shaped like ISO 8601, naming no real moment (2026-02-30, hour 25)
        raise InvalidInput(
            f"{where}.at: {value!r} is not a real date and time ({exc}); expected ISO 8601, "
            "such as 2026-11-28T12:00:00Z.",
            field=where,
        ) from exc
    if parsed is None:
        raise InvalidInput(
            f"{where}.at: expected an ISO 8601 date and time, such as 2026-11-28T12:00:00Z.", field=where
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    if parsed > now + CLOCK_SKEW:
        raise InvalidInput(f"{where}.at: {value} is in the future.", field=where)
    return parsed


# -- drift ---------------------------------------------------------------------------------------


def drift_report(
    *,
    deployment: Deployment,
    hours: float | None = None,
    now: datetime | None = None,
    progress: Callable[[float], None] | None = None,
) -> DriftReport:
    """Compute, store and return the drift report of the window that ends now (seconds to
    minutes of embedding: a worker's job, never a web request's; see evaluation.drift_jobs)."""
    end = now or timezone.now()
    start = end - timedelta(hours=hours or deployment.window_hours)
    rows = list(deployment.samples.filter(at__gte=start, at__lt=end).values_list("id", "input", "output"))
    if progress is not None:
        progress(0.1)
    report = DriftReport(
        deployment=deployment, window_start=start, window_end=end, n=len(rows), enough_data=False
    )
    if len(rows) < deployment.min_samples:
        report.reasons = [
            f"Not enough data: {len(rows)} samples in the window, fewer than {deployment.min_samples}."
        ]
        report.save()
        return report
    report.enough_data = True
    _input_figures(report, deployment, rows)
    if progress is not None:
        progress(0.9)
    _output_figures(report, deployment, [output for _, _, output in rows])
    report.reasons = _reasons(report, {**drift.DEFAULT_THRESHOLDS, **deployment.thresholds})
    report.alert = bool(report.reasons)
    report.save()
    return report


def _split_inputs(deployment: Deployment, split: str) -> list[str]:
    return reference_inputs(deployment.training_run.version_id, split)


def _input_figures(report: DriftReport, deployment: Deployment, rows: list[tuple[int, str, str]]) -> None:
    fast = fast_available()
    train = cached_vectors(_split_inputs(deployment, Split.TRAIN), fast=fast)
    if deployment.ood_similarity is None:
        evaluation = cached_vectors(_split_inputs(deployment, Split.EVAL), fast=fast)
        deployment.ood_similarity = drift.calibrated_threshold(evaluation, train)
        deployment.calibration = {
            "percentile": drift.CALIBRATION_PERCENTILE,
            "eval_items": len(evaluation),
            "train_items": len(train),
            "model": model_label() + (" (int8)" if fast else ""),
        }
        deployment.save(update_fields=["ood_similarity", "calibration"])
    if len(rows) > MAX_EMBEDDED_SAMPLES:
        picked = np.random.default_rng(0).choice(len(rows), MAX_EMBEDDED_SAMPLES, replace=False)
        rows = [rows[i] for i in sorted(picked)]
    live = cached_vectors([text for _, text, _ in rows], fast=fast)
    similarity = drift.nearest_similarity(live, train)
    outside = similarity < deployment.ood_similarity
    report.ood_rate = float(outside.mean())
    order = np.argsort(similarity)
    report.ood_sample_ids = [rows[i][0] for i in order[:OOD_KEPT] if outside[i]]
    shift = drift.domain_classifier_auc(live, train)
    report.input_drift, report.input_drift_baseline = shift.auc, shift.baseline


def _output_figures(report: DriftReport, deployment: Deployment, outputs: list[str]) -> None:
    """The answers' checks, on the samples that came with one (`output` is optional: a sample
    of inputs alone says nothing about the answers, and must not read as answers naming no label)."""
    outputs = [output for output in outputs if output.strip()]
    if not outputs:
        return
    project = deployment.training_run.version.project
    if project.task_type == "classification":
        report.invalid_label_rate = float(np.mean([label_of(o, project.labels) is None for o in outputs]))
    elif project.task_type == "extraction":
        parsed = [json_object_of(o) for o in outputs]
        report.json_invalid_rate = float(np.mean([p is None for p in parsed]))
        validator = schema_validator(project.output_schema)
        report.schema_violation_rate = float(
            np.mean([p is None or not output_schema.conforms(validator, json.loads(p)) for p in parsed])
        )
    else:
        trained = VersionItem.objects.filter(version_id=deployment.training_run.version_id, split=Split.TRAIN)
        train_lengths = [len(text) for text in trained.values_list("output", flat=True)[:MAX_REFERENCE_ROWS]]
        report.length_shift_p = drift.length_shift_p([len(o) for o in outputs], train_lengths)


def input_figure_alerts(report: DriftReport, field: str, limits: dict[str, float]) -> bool:
    """Whether this report's `ood_rate` or `input_drift` is over its limit, so raises an alert
    (the drift AUC must also beat chance, its permutation baseline)."""
    value = getattr(report, field)
    if value is None or value <= limits[field]:
        return False
    return field != "input_drift" or value > (report.input_drift_baseline or 0.0)


def _reasons(report: DriftReport, limits: dict[str, float]) -> list[str]:
    reasons = []
    if input_figure_alerts(report, "ood_rate", limits):
        reasons.append(
            f"{report.ood_rate:.0%} of inputs are out of distribution (threshold {limits['ood_rate']:.0%})."
        )
    if input_figure_alerts(report, "input_drift", limits):
        reasons.append(
            f"Live inputs are told apart from training inputs with AUC {report.input_drift:.2f} "
            f"(threshold {limits['input_drift']:.2f}, chance up to {report.input_drift_baseline:.2f})."
        )
    for field, name in (
        ("invalid_label_rate", "answers name no label"),
        ("schema_violation_rate", "answers break the schema"),
    ):
        value = getattr(report, field)
        if value is not None and value > limits[field]:
            reasons.append(f"{value:.0%} of {name} (threshold {limits[field]:.0%}).")
    if report.length_shift_p is not None and report.length_shift_p < limits["length_shift_p"]:
        reasons.append(f"Output lengths shifted (KS p = {report.length_shift_p:.1e}).")
    return reasons


def reports_due(now: datetime | None = None) -> int:
    """A report for every deployment with samples in its window (the beat task, hourly)."""
    made = 0
    now = now or timezone.now()
    for deployment in Deployment.objects.select_related("training_run__version__project"):
        start = now - timedelta(hours=deployment.window_hours)
        if deployment.samples.filter(at__gte=start, at__lt=now).exists():
            drift_report(deployment=deployment, now=now)
            made += 1
    return made


# -- back to the annotators ----------------------------------------------------------------------


@dataclass(frozen=True)
class SentToAnnotation(QueuedInputs):
    # The deployed adapter's suggestion run on the report's queued inputs, when asked for: a new
    # one, or (every input covered already) the latest earlier one.
    suggestion_run: SuggestionRun | None = None
    suggestion_run_earlier: bool = False


@transaction.atomic
def ood_to_annotation(*, report: DriftReport, user: User, with_suggestions: bool = False) -> SentToAnnotation:
    """Send the report's out-of-distribution inputs to the project's labeling queue, tagged with
    their deployment (source `deployment:<name>`, metadata naming the deployment, report and
    sample); an input already in the queue is counted, not queued twice.

    `with_suggestions` (a lead's call): the deployed adapter itself suggests outputs for those of
    the report's inputs that wait in the queue, so annotators correct what the live model did.
    InvalidInput when the deployment's training run has no adapter; nothing is queued then."""
    deployment = report.deployment
    project = deployment.training_run.version.project
    if with_suggestions:
        _check_can_suggest(deployment, project, user)
    samples = LiveSample.objects.filter(pk__in=report.ood_sample_ids, deployment=deployment).order_by("id")
    inputs = [
        {
            "input": json.loads(sample.input) if project.task_type == "chat" else sample.input,
            "metadata": {"deployment": deployment.pk, "drift_report": report.pk, "live_sample": sample.pk},
        }
        for sample in samples
    ]
    queued = items_enqueue(project=project, user=user, inputs=inputs, source=f"deployment:{deployment.name}")
    run, earlier = None, False
    if with_suggestions:
        ids = queued_ids_of(project, [row["input"] for row in inputs])
        covered, run = _suggested_already(deployment.training_run, ids)
        earlier = run is not None
        if fresh := [item_id for item_id in ids if item_id not in covered]:
            run = suggestion_run_create(
                project=project, deployment=deployment, target=SuggestionTarget.QUEUE, ids=fresh, user=user
            )
            earlier = False
    return SentToAnnotation(
        created=queued.created,
        already_queued=queued.already_queued,
        suggestion_run=run,
        suggestion_run_earlier=earlier,
    )


def _suggested_already(adapter: TrainingRun, ids: list[int]) -> tuple[set[int], SuggestionRun | None]:
    """Which of the queued items `ids` a suggestion run of this adapter covers already (queued,
    running or done: sending the same report again starts no second run on them), and the latest
    such run."""
    covered: set[int] = set()
    latest = None
    runs = SuggestionRun.objects.filter(
        training_run=adapter,
        target=SuggestionTarget.QUEUE,
        status__in=(JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED),
    ).order_by("id")
    for run in runs:
        if overlap := set(run.target_ids) & set(ids):
            covered |= overlap
            latest = run
    return covered, latest


def _check_can_suggest(deployment: Deployment, project: Project, user: User) -> None:
    require_role(user, project, Role.LEAD)  # a suggestion run is a lead's to start
    run = deployment.training_run
    if run.status != JobStatus.SUCCEEDED or not run.adapter_sha256:
        raise InvalidInput(
            f"with_suggestions: deployment {deployment.name!r} serves {run_label(run)}, which has "
            "no adapter to suggest with; send the inputs without suggestions.",
            field="with_suggestions",
        )
    if not shipped_runs(project).filter(pk=run.pk).exists():  # annotators see only cleared models
        raise InvalidInput(
            f"with_suggestions: deployment {deployment.name!r} serves {run_label(run)}, which no "
            "comparison against the baseline said to ship; compare it first, or send the inputs without "
            "suggestions.",
            field="with_suggestions",
        )
