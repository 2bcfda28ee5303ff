"""Suggestion runs: a model proposes outputs for inputs people have yet to label. One place for
launching, running, cancelling and reaping them, shared by the API, the web UI, the Celery task
and monitoring.

A run asks its model exactly as evaluation does (evaluation.services.conversation: the system
prompt of the version, few-shot pairs from its train split, the input), through the same
batched code (evaluation.generate, evaluation.suggest). Suggestions are stored a chunk at a time
while the run goes, and kept only when it succeeds: a cancelled, failed or reaped run leaves
none (pages and the queue read suggestions of succeeded runs only).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import tempfile
import traceback
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.observability import bind_job
from curation.errors import InvalidInput
from curation.freeze.formats import Item, Rendering
from curation.models import (
    Example,
    ExampleStatus,
    ItemStatus,
    JobStatus,
    LabelingItem,
    LabelingOrder,
    Project,
    Split,
    Suggestion,
    TaskType,
)
from curation.models.examples import decode_input
from curation.services import version_exports
from curation.services.audit import audit
from curation.services.dispatch import job_send_on_commit
from curation.services.heartbeat import Reapable, beating, heartbeat_forget, jobs_reap
from curation.services.jobs import job_cancel_request, job_claim, job_fail_if_running, job_update
from curation.services.labeling_order import latest_frozen_version, priorities_from_suggestions
from evaluation import eligibility
from evaluation.engines import Choice, Engine, EngineUnavailable
from evaluation.models import Comparison, Deployment, SuggestionRun, SuggestionTarget, Verdict
from evaluation.services import (
    MAX_FEW_SHOT,
    adapter_folder,
    conversation,
    engine_card,
    few_shot_items,
    loaded_sha256,
    prompt_card,
)
from training.hyperparameters import HYPERPARAMETER_DEFAULTS
from training.models import TrainingRun
from training.preflight import PreflightError
from training.registry import resolve_for_launch
from training.selectors import run_label

log = logging.getLogger(__name__)

REFERENCE_OUTPUTS = 1000  # train outputs that size a generated answer's room
CHUNK = 256  # inputs asked and stored at a time; a cancel is seen between chunks


# -- launch --------------------------------------------------------------------------------------


@transaction.atomic
def suggestion_run_create(
    *,
    project: Project,
    user: User | None,
    base_model: str = "",
    training_run: TrainingRun | None = None,
    deployment: Deployment | None = None,
    few_shot: int = 0,
    target: str = SuggestionTarget.QUEUE,
    ids: list[int] | None = None,
    limit: int | None = None,
    seed: int = 0,
    queue: bool = True,
) -> SuggestionRun:
    """Record a suggestion run and queue it for a GPU worker (CPU where there is none).

    The model: `base_model` alone (prompting, `few_shot` pairs from the latest frozen version),
    or a `training_run` whose comparison said ship (or the run behind `deployment`, which
    serves it: shipped too). The inputs: queued items (`target="queue"`) or draft examples without output
    (`"drafts"`), the `ids` given or the next `limit` the queue would hand out."""
    if deployment is not None:
        training_run = deployment.training_run
    base_model, registered = resolve_for_launch(base_model or "")
    if training_run is not None:
        base_model = _checked_adapter(project, training_run)
        registered = training_run.registered_model
    if not base_model or len(base_model) > 500:
        raise InvalidInput(
            "base_model: give a registered model's name, the path of a model folder or a model id.",
            field="base_model",
        )
    if not 0 <= few_shot <= MAX_FEW_SHOT:
        raise InvalidInput(f"few_shot must be between 0 and {MAX_FEW_SHOT}.", field="few_shot")
    version = training_run.version if training_run is not None else latest_frozen_version(project)
    if few_shot and version is None:
        raise InvalidInput(
            "few_shot: the project has no frozen version to draw examples from; freeze one or use 0.",
            field="few_shot",
        )
    target_ids = _targets(project, target, ids, limit)
    run = SuggestionRun.objects.create(
        project=project,
        base_model=base_model,
        registered_model=registered,
        training_run=training_run,
        adapter_sha256=training_run.adapter_sha256 if training_run is not None else "",
        deployment=deployment,
        version=version,
        few_shot=few_shot if training_run is None else 0,
        target=target,
        target_ids=target_ids,
        n_targets=len(target_ids),
        seed=seed,
        created_by=user,
    )
    summary = f"Started suggestion run {run.pk} ({run.model_label}) on {len(target_ids)} inputs"
    audit(project=project, actor=user, action="suggestion_run.launch", target=run, summary=summary)
    if queue:
        from evaluation.tasks import suggest  # the task module imports this one

        job_send_on_commit(run, lambda: suggest.delay(run.pk))
    return run


def shipped_runs(project: Project) -> QuerySet[TrainingRun]:
    """Training runs of the project whose adapter a comparison said to ship."""
    shipped = Comparison.objects.filter(
        verdict=Verdict.SHIP, candidate__training_run__isnull=False
    ).values_list("candidate__training_run", flat=True)
    return TrainingRun.objects.filter(version__project=project, pk__in=shipped, status=JobStatus.SUCCEEDED)


def _checked_adapter(project: Project, run: TrainingRun) -> str:
    if run.version.project_id != project.pk:
        raise InvalidInput(f"Training run {run.pk} belongs to another project.", field="training_run")
    if run.status != JobStatus.SUCCEEDED or not run.adapter_sha256:
        raise InvalidInput(
            f"{run_label(run).capitalize()} is {run.status} and has no adapter to suggest with.",
            field="training_run",
        )
    if not shipped_runs(project).filter(pk=run.pk).exists():
        raise InvalidInput(
            f"{run_label(run).capitalize()} has no comparison that said ship: suggest with a shipped adapter "
            "(compare it against the baseline first) or with the base model.",
            field="training_run",
        )
    return run.base_model


def _targets(project: Project, target: str, ids: list[int] | None, limit: int | None) -> list[int]:
    most = settings.FINCH_SUGGESTION_MAX_INPUTS
    if limit is not None and not 1 <= limit <= most:
        raise InvalidInput(f"limit: between 1 and {most} inputs per run.", field="limit")
    if ids is not None and len(ids) > most:
        raise InvalidInput(f"ids: at most {most} inputs per run.", field="ids")
    chosen: QuerySet[LabelingItem] | QuerySet[Example]
    if target == SuggestionTarget.QUEUE:
        from curation.services.labeling import open_items

        waiting = LabelingItem.objects.filter(project=project, status=ItemStatus.QUEUED)
        chosen = waiting.filter(pk__in=ids) if ids is not None else open_items(project)
    elif target == SuggestionTarget.DRAFTS:
        drafts = Example.objects.filter(project=project, status=ExampleStatus.DRAFT, output="")
        chosen = drafts.filter(pk__in=ids) if ids is not None else drafts.order_by("id")
    else:
        raise InvalidInput(f"target: one of {', '.join(SuggestionTarget.values)}.", field="target")
    found = list(chosen.values_list("pk", flat=True)[: limit or most])
    if ids is not None and len(found) != len(set(ids)):
        missing = sorted(set(ids) - set(found))[:10]
        what = "queued inputs" if target == SuggestionTarget.QUEUE else "draft examples without output"
        raise InvalidInput(f"ids: not {what} of this project: {missing}.", field="ids")
    if not found:
        raise InvalidInput(
            "target: the queue has no waiting inputs, so there is nothing to suggest for."
            if target == SuggestionTarget.QUEUE
            else "target: the project has no draft without an output, so there is nothing to suggest for.",
            field="target",
        )
    return sorted(found) if ids is not None else found


def suggestion_run_cancel(*, run: SuggestionRun, user: User | None) -> SuggestionRun:
    """A queued run is cancelled at once; a running one stops after its current chunk."""
    with transaction.atomic():
        run, before = job_cancel_request(SuggestionRun, run.pk, f"Suggestion run {run.pk}")
        summary = f"Cancelled suggestion run {run.pk} (it was {before})"
        audit(project=run.project_id, actor=user, action="suggestion_run.cancel", target=run, summary=summary)
    return run


# -- execution -----------------------------------------------------------------------------------


class _Cancelled(Exception):
    pass


def suggestion_run_execute(run_id: int) -> None:
    """The task's body: suggest for every target, then keep the suggestions; a redelivered run
    starts over (what an earlier attempt stored is dropped first)."""
    run = SuggestionRun.objects.select_related("project", "training_run", "version", "registered_model").get(
        pk=run_id
    )
    with bind_job("SuggestionRun", run.pk, run.project_id):
        _execute(run)


def _execute(run: SuggestionRun) -> None:
    if not job_claim(run, n_done=0, host=f"{socket.gethostname()}:{os.getpid()}"):
        return
    Suggestion.objects.filter(run=run).delete()  # what an earlier attempt stored
    try:
        with beating(run), tempfile.TemporaryDirectory(prefix=f"finch-suggest-{run.pk}-") as work:
            _suggest(run, Path(work))
    except _Cancelled:
        _end_without_suggestions(run, JobStatus.CANCELLED, "")
    except Exception as exc:
        log.exception("suggestion run %s failed", run.pk)  # the raw error, for operators
        _end_without_suggestions(run, JobStatus.FAILED, _failure_message(exc, run), traceback.format_exc())
    else:
        with transaction.atomic():
            job_update(run, status=JobStatus.SUCCEEDED, progress=1.0, finished_at=timezone.now())
            if (
                run.target == SuggestionTarget.QUEUE
                and run.project.labeling_order == LabelingOrder.UNCERTAINTY
            ):
                priorities_from_suggestions(run.project, run)
    heartbeat_forget(run)


def _end_without_suggestions(run: SuggestionRun, status: str, error: str, trace: str = "") -> None:
    with transaction.atomic():
        Suggestion.objects.filter(run=run).delete()
        job_update(run, status=status, error=error, traceback=trace, finished_at=timezone.now())


def _failure_message(exc: BaseException, run: SuggestionRun) -> str:
    from curation.errors import ApplicationError

    if isinstance(
        exc, ApplicationError | eligibility.EvaluationFailed | PreflightError | EngineUnavailable | ValueError
    ):
        return str(exc)
    return (
        f"The suggestion run stopped on an unexpected error ({type(exc).__name__}); the worker's log "
        f"has the details of suggestion run {run.pk}."
    )


def _suggest(run: SuggestionRun, work: Path) -> None:
    import torch

    from evaluation import engines
    from training import modeling

    torch.manual_seed(run.seed)
    random.seed(run.seed)
    adapter = adapter_folder(run.training_run, work) if run.training_run is not None else None
    job_update(run, environment=modeling.environment(), base_model_sha256=loaded_sha256(run))
    choice = _engine_choice(run, adapter)
    engine = engines.load(run.base_model, adapter, engine=choice.engine)
    try:
        _propose_all(run, engine, choice)
    finally:
        engine.close()


def _engine_choice(run: SuggestionRun, adapter: Path | None) -> Choice:
    """The setting's engine, except for classification: every label is scored on transformers."""
    from evaluation import engines

    if run.project.task_type == TaskType.CLASSIFICATION:
        return Choice(engines.TRANSFORMERS, "classification: label scores run on transformers")
    return engines.choose(settings.FINCH_GENERATION_ENGINE, adapter)


def _propose_all(run: SuggestionRun, engine: Engine, choice: Choice) -> None:
    from evaluation import suggest

    project, tokenizer = run.project, engine.tokenizer
    rendering = _rendering(run)
    shots = few_shot_items(run.version, run.few_shot) if run.version is not None else []
    limit = _max_seq_length(run)
    new_tokens = _new_tokens(run, tokenizer)
    card = _card(run, tokenizer, rendering, shots, new_tokens)
    job_update(run, prompt_card=card | engine_card(choice) | {"max_seq_length": limit, "seed": run.seed})
    done = skipped = 0
    for chunk in _chunks(run):
        if SuggestionRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
            raise _Cancelled
        items = [_as_item(project, target) for target in chunk]
        fits = eligibility.by_length(tokenizer, items, rendering, limit)
        proposed = suggest.propose(
            engine,
            [conversation(item, rendering, shots) for item in fits.items],
            task_type=project.task_type,
            labels=list(project.labels),
            schema=project.output_schema,
            new_tokens=new_tokens,
            batch_tokens=settings.FINCH_EVAL_BATCH_TOKENS,
        )
        Suggestion.objects.bulk_create(
            [_row(run, item, found) for item, found in zip(fits.items, proposed, strict=True)]
        )
        done += len(chunk)
        skipped += len(fits.skipped)
        job_update(run, n_done=done, n_skipped=skipped, progress=0.99 * done / max(run.n_targets, 1))


def _card(
    run: SuggestionRun, tokenizer: Any, rendering: Rendering, shots: list[Item], new_tokens: int
) -> dict[str, Any]:
    card = prompt_card(
        task_type=run.project.task_type,
        tokenizer=tokenizer,
        rendering=rendering,
        few_shot=run.few_shot,
        shots=shots,
        new_tokens=new_tokens,
        adapter_sha256=run.adapter_sha256 or None,
    )
    if run.project.task_type == TaskType.CLASSIFICATION:
        card["extraction"] = "none: the suggestion is the most probable label of the set"
        card["decoding"] = {
            "strategy": "label_scores",
            "rule": "each label's log-likelihood as the answer (its tokens and the end token), "
            "normalized over the label set; the most probable label is suggested",
        }
    return card


def _rendering(run: SuggestionRun) -> Rendering:
    if run.version is not None:
        return version_exports.rendering(run.version)
    return Rendering(system_prompt=run.project.system_prompt, target_behavior=run.project.target_behavior)


def _max_seq_length(run: SuggestionRun) -> int:
    """Training's length rule, as evaluation applies it: the adapter's setting, else the default."""
    chosen = run.training_run.hyperparameters if run.training_run is not None else {}
    return int(chosen.get("max_seq_length") or HYPERPARAMETER_DEFAULTS["max_seq_length"])


def _new_tokens(run: SuggestionRun, tokenizer: Any) -> int:
    """Room for an answer: as evaluation sizes it from reference answers, here the first
    REFERENCE_OUTPUTS train outputs of the version, else settings.FINCH_SUGGESTION_MAX_NEW_TOKENS."""
    from evaluation import generate

    if run.project.task_type == TaskType.CLASSIFICATION:
        return 0  # labels are scored, not generated
    train = version_exports.items(run.version, Split.TRAIN) if run.version is not None else iter(())
    references = [item.output for item in islice(train, REFERENCE_OUTPUTS)]
    if not references:
        return int(settings.FINCH_SUGGESTION_MAX_NEW_TOKENS)
    return generate.max_new_tokens(tokenizer, references)


def _chunks(run: SuggestionRun) -> Iterator[list[LabelingItem | Example]]:
    model: type[LabelingItem] | type[Example] = (
        LabelingItem if run.target == SuggestionTarget.QUEUE else Example
    )
    for start in range(0, len(run.target_ids), CHUNK):
        ids = run.target_ids[start : start + CHUNK]
        found = {row.pk: row for row in model.objects.filter(pk__in=ids)}
        # An item labeled or deleted since launch is passed over, in the order of launch.
        yield [found[pk] for pk in ids if pk in found]


def _as_item(project: Project, target: LabelingItem | Example) -> Item:
    return Item(
        example_id=target.pk,
        split="",
        input=decode_input(project.task_type, target.input),
        output="",
        metadata="{}",
    )


def _row(run: SuggestionRun, item: Item, found: Any) -> Suggestion:
    on_queue = run.target == SuggestionTarget.QUEUE
    return Suggestion(
        run=run,
        project_id=run.project_id,
        item_id=item.example_id if on_queue else None,
        example_id=None if on_queue else item.example_id,
        output=found.output,
        raw=found.raw,
        valid=found.valid,
        confidence=found.confidence,
        alternatives=found.alternatives,
    )


# -- reaping -------------------------------------------------------------------------------------


def suggestion_run_fail_stale(run: SuggestionRun, error: str) -> bool:
    """Fail a run whose worker died (the reaper's call) and drop the suggestions it stored."""
    with transaction.atomic():
        failed = job_fail_if_running(run, error + " Nothing of it was kept; run it again.")
        if failed:
            Suggestion.objects.filter(run=run).delete()
    return failed


def suggestion_runs_reap() -> int:
    """Fail the running suggestion runs whose worker went silent; how many."""
    return jobs_reap([Reapable(SuggestionRun, JobStatus.RUNNING, suggestion_run_fail_stale)])
