"""Evaluation runs and comparisons: one place for each, shared by the API, the web UI, the
Celery task and `manage.py evaluate`."""

from __future__ import annotations

import logging
import os
import random
import socket
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from config.observability import bind_job
from curation.errors import Conflict, InvalidInput
from curation.freeze.formats import Item, Rendering, canonical, chat_messages
from curation.models import DatasetVersion, JobStatus, Split, TaskType, VersionItem
from curation.services import version_exports
from curation.services.audit import audit
from curation.services.dispatch import QUEUED, Resendable, job_send_on_commit, lost_messages_resend
from curation.services.heartbeat import Reapable, beating, heartbeat_forget, jobs_reap
from curation.services.jobs import job_cancel_request, job_claim, job_fail_if_running, job_update
from evaluation import eligibility, extract, metrics, stats
from evaluation.engines import Choice, Engine
from evaluation.models import Comparison, DriftReportJob, EvalPrediction, EvalRun, SuggestionRun, Verdict
from training import artifacts
from training.models import TrainingRun
from training.prompts import Messages
from training.registry import resolve_for_launch, sha256_for_load

log = logging.getLogger(__name__)

CANCEL_CHECK_EVERY_S = 1.0  # how often a running eval run looks for a cancel within a batch

MAX_FEW_SHOT = 32
PREDICTION_BATCH = 1000


# -- launch --------------------------------------------------------------------------------------


@transaction.atomic
def eval_run_create(
    *,
    version: DatasetVersion,
    user: User | None,
    base_model: str = "",
    training_run: TrainingRun | None = None,
    few_shot: int = 0,
    name: str = "",
    queue: bool = True,
) -> EvalRun:
    """Record an eval run (the baseline without `training_run`, else the tuned model) and queue
    it for a GPU worker (or run nothing yet, with `queue=False`, for a caller that runs it)."""
    if not version.is_frozen:
        raise InvalidInput(
            f"Version {version.number} (id {version.pk}) is {version.status}: only a frozen version is evaluated.",
            field="version",
        )
    if not int(version.counts.get("eval", 0)):
        raise InvalidInput(
            f"Version {version.number} has no eval split (eval_fraction 0): there is nothing held out to evaluate on.",
            field="version",
        )
    if not 0 <= few_shot <= MAX_FEW_SHOT:
        raise InvalidInput(f"few_shot must be between 0 and {MAX_FEW_SHOT}.", field="few_shot")
    base_model, registered = resolve_for_launch(base_model or "")
    if training_run is not None:
        base_model = _checked_training_run(training_run, version, base_model)
        registered = training_run.registered_model
    if not base_model:
        raise InvalidInput(
            "base_model: give a registered model's name, the path of a model folder or a model id.",
            field="base_model",
        )
    run = EvalRun.objects.create(
        version=version,
        training_run=training_run,
        base_model=base_model,
        registered_model=registered,
        few_shot=few_shot,
        name=name.strip(),
        primary_metric=metrics.PRIMARY[version.project.task_type],
        created_by=user,
    )
    summary = f"Launched {run.kind} eval run {run.pk} on {version.name}" + (
        f" with {few_shot} shots" if few_shot else ""
    )
    audit(project=version.project_id, actor=user, action="eval_run.launch", target=run, summary=summary)
    if queue:
        from evaluation.tasks import evaluate  # the task module imports this one

        job_send_on_commit(run, lambda: evaluate.delay(run.pk))
    return run


def _checked_training_run(run: TrainingRun, version: DatasetVersion, base_model: str) -> str:
    if run.version.project_id != version.project_id:
        raise InvalidInput(
            f"Training run {run.pk} belongs to another project: evaluate it on a version of its own "
            f"project (it was trained on version id {run.version_id}).",
            field="training_run",
        )
    if run.version_id != version.pk:
        raise InvalidInput(
            f"Training run {run.pk} was trained on version {run.version.number} (id {run.version_id}), "
            f"not {version.number} (id {version.pk}): "
            "evaluate it on its own version's eval split (another version's eval items may be in its training data).",
            field="training_run",
        )
    if run.status != JobStatus.SUCCEEDED or not run.adapter_sha256:
        raise InvalidInput(
            f"Training run {run.pk} is {run.status} and has no adapter to evaluate.", field="training_run"
        )
    if base_model and base_model != run.base_model:
        raise InvalidInput(
            f"base_model: training run {run.pk} adapts {run.base_model}, not {base_model}.",
            field="base_model",
        )
    return run.base_model


# -- execution -----------------------------------------------------------------------------------


def eval_run_cancel(*, run: EvalRun, user: User | None) -> EvalRun:
    """A queued run is cancelled at once; a running one stops within about a second of
    generation (between two generated tokens).
    Nothing it answered is kept (predictions are stored only when every item is scored)."""
    with transaction.atomic():
        run, before = job_cancel_request(EvalRun, run.pk, f"Eval run {run.pk}")
        summary = f"Cancelled eval run {run.pk} (it was {before})"
        project_id = DatasetVersion.objects.values_list("project_id", flat=True).get(pk=run.version_id)
        audit(project=project_id, actor=user, action="eval_run.cancel", target=run, summary=summary)
    return run


class _Cancelled(Exception):
    """The run was cancelled; raised between two generated tokens or batches."""


def eval_run_here(**launch: Any) -> EvalRun:
    """Record an eval run (`eval_run_create`'s arguments) and run it in this process, not on a
    worker (the evaluate command, the demo, benchmarks); the run as it ended: its status says
    whether it succeeded."""
    run = eval_run_create(queue=False, **launch)
    eval_execute(run.pk)
    run.refresh_from_db()
    return run


def eval_execute(run_id: int) -> None:
    """The task's body: answer every eval item, score, store; a redelivered run starts over."""
    run = EvalRun.objects.select_related("version__project", "training_run", "registered_model").get(
        pk=run_id
    )
    with bind_job("EvalRun", run.pk, run.version.project_id):
        _execute(run)


def _execute(run: EvalRun) -> None:
    if not job_claim(run, host=f"{socket.gethostname()}:{os.getpid()}"):
        return
    try:
        with beating(run), tempfile.TemporaryDirectory(prefix=f"finch-eval-{run.pk}-") as work:
            _evaluate(run, Path(work))
    except _Cancelled:
        log.info("eval run %s cancelled", run.pk)
        job_update(run, status=JobStatus.CANCELLED, finished_at=timezone.now())
    except Exception as exc:
        log.exception("eval run %s failed", run.pk)  # the raw error, for operators
        job_update(
            run,
            status=JobStatus.FAILED,
            error=eligibility.failure_message(exc, run),
            traceback=traceback.format_exc(),
            finished_at=timezone.now(),
        )
    else:
        job_update(run, status=JobStatus.SUCCEEDED, progress=1.0, finished_at=timezone.now())
    heartbeat_forget(run)


def loaded_sha256(run: EvalRun | SuggestionRun) -> str:
    """The base model's weights' sha256, checked before they load (an eval or suggestion run): a
    registered model must match its registration, and an adapter's base the weights it was trained
    on."""
    training_run = run.training_run
    return sha256_for_load(
        base_model=run.base_model,
        registered=run.registered_model,
        expected=training_run.base_model_sha256 if training_run is not None else "",
        expected_by=f"Training run {training_run.pk}" if training_run is not None else "",
    )


def eval_run_fail_stale(run: EvalRun, error: str) -> bool:
    """Fail a run whose worker died (the reaper's call) and drop any predictions it stored."""
    with transaction.atomic():
        failed = job_fail_if_running(run, error + " Nothing of it was kept; run it again.")
        if failed:
            EvalPrediction.objects.filter(run=run).delete()
    return failed


def eval_runs_reap() -> int:
    """Fail the running eval runs whose worker went silent; how many."""
    return jobs_reap([Reapable(EvalRun, JobStatus.RUNNING, eval_run_fail_stale)])


def evaluation_jobs_resend() -> int:
    """Send again the tasks of eval runs, suggestion runs and drift report jobs that waited too
    long for a worker (their message lost)."""
    return lost_messages_resend(
        [
            Resendable(EvalRun, QUEUED, "evaluation.evaluate"),
            Resendable(SuggestionRun, QUEUED, "evaluation.suggest"),
            Resendable(DriftReportJob, QUEUED, "evaluation.compute_drift_report"),
        ]
    )


def _evaluate(run: EvalRun, work: Path) -> None:
    from evaluation import engines
    from training import modeling

    adapter = adapter_folder(run.training_run, work) if run.training_run is not None else None
    job_update(run, environment=modeling.environment(), base_model_sha256=loaded_sha256(run))
    choice = engines.choose(settings.FINCH_GENERATION_ENGINE, adapter)
    engine = engines.load(run.base_model, adapter, engine=choice.engine)
    try:
        _answer_and_score(run, engine, choice)
    finally:
        engine.close()


def _answer_and_score(run: EvalRun, engine: Engine, choice: Choice) -> None:
    from evaluation import engines, generate

    version, project, tokenizer = run.version, run.version.project, engine.tokenizer
    rendering = version_exports.rendering(version)
    shots = few_shot_items(version, run.few_shot)
    limit = eligibility.max_seq_length(run)
    found = eligibility.eligible(
        tokenizer, list(version_exports.items(version, Split.EVAL)), rendering, limit
    )
    items = found.items
    job_update(run, n_skipped=len(found.skipped), skipped=found.skipped)
    references = [item.output for item in items]
    new_tokens = generate.max_new_tokens(tokenizer, references)
    card = prompt_card(
        task_type=project.task_type,
        tokenizer=tokenizer,
        rendering=rendering,
        few_shot=run.few_shot,
        shots=shots,
        new_tokens=new_tokens,
        adapter_sha256=run.training_run.adapter_sha256 if run.training_run else None,
    )
    job_update(run, prompt_card=card | engine_card(choice) | {"max_seq_length": limit})

    reported, looked = -1, 0.0

    def progress(done: int) -> None:
        """After each batch (a new `done`) and each generated token (the same `done`): where a
        cancel is seen, at most once a second within a batch."""
        nonlocal reported, looked
        if done == reported and time.monotonic() - looked < CANCEL_CHECK_EVERY_S:
            return
        looked = time.monotonic()
        if EvalRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
            raise _Cancelled
        if done != reported:
            reported = done
            job_update(run, progress=0.95 * done / max(len(items), 1))

    conversations = [conversation(item, rendering, shots) for item in items]
    raws = engines.answers(
        engine, conversations, new_tokens, progress, batch_tokens=settings.FINCH_EVAL_BATCH_TOKENS
    )
    answers = [extract.extract(project.task_type, raw, project.labels) for raw in raws]
    scored = metrics.score(
        project.task_type, answers, references, labels=project.labels, schema=project.output_schema
    )
    _store_predictions(run, items, answers, scored)
    job_update(run, metrics=scored.aggregate, n=len(items))


def engine_card(choice: Choice) -> dict[str, str]:
    """The prompt card's record of the engine that generated (eval and suggestion runs)."""
    return {"engine": choice.engine, "engine_reason": choice.reason}


def few_shot_items(version: DatasetVersion, k: int) -> list[Item]:
    """k train items drawn with the version's seed: only the train split, never an eval item,
    and the same draw for every run with the same k. For classification the draw goes round the
    labels (each label's items shuffled, the labels in a shuffled order), so that the shots show
    as many labels as k allows: drawn uniformly, 8 shots over 5 labels could show 4 of one label
    and none of two, and the baseline answer mostly that label (a baseline so handicapped by
    chance makes any tuned model look better than it is)."""
    if not k:
        return []
    # Draw among the ids (a million ints is cheap), then read only the k items drawn.
    train = VersionItem.objects.filter(version=version, split=Split.TRAIN).order_by("example_id")
    rng = random.Random(f"{version.seed}:few-shot:{k}")
    if version_exports.recorded(version).task_type == TaskType.CLASSIFICATION:
        drawn = _round_the_labels(list(train.values_list("example_id", "output")), k, rng)
    else:
        train_ids = list(train.values_list("example_id", flat=True))
        drawn = rng.sample(train_ids, min(k, len(train_ids)))
    by_id = {item.example_id: item for item in version_exports.items(version, Split.TRAIN, drawn)}
    return [by_id[example_id] for example_id in drawn]


def _round_the_labels(rows: list[tuple[int, str]], k: int, rng: random.Random) -> list[int]:
    """Up to k ids, one of each label in turn (labels in a seeded order, items shuffled)."""
    by_label: dict[str, list[int]] = {}
    for example_id, label in rows:
        by_label.setdefault(label, []).append(example_id)
    labels = sorted(by_label)
    rng.shuffle(labels)
    for ids in by_label.values():
        rng.shuffle(ids)
    drawn: list[int] = []
    while len(drawn) < k and any(by_label.values()):
        drawn.extend(by_label[label].pop() for label in labels if by_label[label])
    return drawn[:k]


def conversation(item: Item, rendering: Rendering, shots: list[Item]) -> Messages:
    """The eval item as the model is asked it: system prompt, the few-shot pairs as earlier
    turns, then the item's input (its output is the reference, not shown)."""
    asked = chat_messages(item, rendering)[:-1]
    system = [message for message in asked if message["role"] == "system"]
    earlier = [turn for shot in shots for turn in chat_messages(shot, Rendering("", ""))[-2:]]
    return [*system, *earlier, *[message for message in asked if message["role"] != "system"]]


def adapter_folder(training_run: TrainingRun, work: Path) -> Path:
    """The run's stored adapter, downloaded into `work` and checked against its sha256."""
    folder = work / "adapter"
    artifacts.folder_download(training_run.adapter_path, folder)
    if artifacts.file_sha256(folder / artifacts.ADAPTER_WEIGHTS) != training_run.adapter_sha256:
        raise InvalidInput(f"The stored adapter of training run {training_run.pk} does not match its sha256.")
    return folder


def prompt_card(
    *,
    task_type: str,
    tokenizer: Any,
    rendering: Rendering,
    few_shot: int,
    shots: list[Item],
    new_tokens: int,
    adapter_sha256: str | None,
) -> dict[str, Any]:
    """How every item is put to the model and read back (eval and suggestion runs record it)."""
    from training.prompts import STOP, uses_chat_template

    templated = uses_chat_template(tokenizer)
    return {
        "prompt_format": "chat_template" if templated else "plain",
        "system_prompt": rendering.system_prompt,
        "few_shot": few_shot,
        "few_shot_example_ids": [shot.example_id for shot in shots],
        "decoding": {"strategy": "greedy", "max_new_tokens": new_tokens, "stop": None if templated else STOP},
        "extraction": extract.RULES[task_type],
        "primary_metric": metrics.PRIMARY[task_type],
        "adapter_sha256": adapter_sha256,
    }


def _store_predictions(
    run: EvalRun, items: list[Item], answers: list[extract.Answer], scored: metrics.Scores
) -> None:
    with transaction.atomic():
        EvalPrediction.objects.filter(run=run).delete()  # a redelivered run starts over
        EvalPrediction.objects.bulk_create(
            [
                EvalPrediction(
                    run=run,
                    example_id=item.example_id,
                    input=item.input if isinstance(item.input, str) else canonical(item.input),
                    reference=item.output,
                    raw=answer.raw,
                    extracted=answer.value,
                    scores={name: values[index] for name, values in scored.per_example.items()},
                )
                for index, (item, answer) in enumerate(zip(items, answers, strict=True))
            ],
            batch_size=PREDICTION_BATCH,
        )


# -- comparison ----------------------------------------------------------------------------------


@transaction.atomic
def comparison_create(
    *,
    baseline: EvalRun,
    candidate: EvalRun,
    user: User | None,
    metric: str | None = None,
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = 0,
    min_gain: float | None = None,
) -> Comparison:
    """Compare two finished runs on the same eval items and record the verdict."""
    _check_comparable(baseline, candidate)
    task_type = baseline.version.project.task_type
    metric = metric or metrics.PRIMARY[task_type]
    available = sorted(baseline.metrics)
    decidable = [name for name in available if name not in metrics.LOWER_IS_BETTER]
    if metric in metrics.LOWER_IS_BETTER:
        raise InvalidInput(
            f"metric: {metric!r} counts failures (lower is better) and is checked as a guardrail in "
            f"every comparison; decide on one of {', '.join(decidable)}.",
            field="metric",
        )
    if metric not in available:
        raise InvalidInput(
            f"metric: {metric!r} is not measured for {task_type}; use one of {', '.join(decidable)}.",
            field="metric",
        )
    if resamples < 1000:
        raise InvalidInput("resamples: at least 1000 resamples.", field="resamples")
    base_rows, cand_rows = _paired_predictions(baseline, candidate)
    n = len(base_rows)
    interval = stats.paired_bootstrap(
        _statistic(metric, base_rows), _statistic(metric, cand_rows), n, resamples=resamples, seed=seed
    )
    gain = baseline.version.project.min_gain if min_gain is None else min_gain
    guardrails = [
        _guardrail(name, worse_when, base_rows, cand_rows)
        for name, worse_when in metrics.GUARDRAILS[task_type].items()
        if name in baseline.metrics and name in candidate.metrics
    ]
    decided = stats.verdict(metric, interval, gain, guardrails)
    mcnemar = None
    if metric in metrics.BINARY:
        only_base, only_cand, p_value = stats.mcnemar_exact(
            _column(base_rows, metric), _column(cand_rows, metric)
        )
        mcnemar = {"only_baseline": only_base, "only_candidate": only_cand, "p_value": p_value}
    comparison = Comparison.objects.create(
        baseline=baseline,
        candidate=candidate,
        metric=metric,
        baseline_score=_paired_score(metric, base_rows, baseline),
        candidate_score=_paired_score(metric, cand_rows, candidate),
        delta=interval.delta,
        ci_low=interval.low,
        ci_high=interval.high,
        resamples=resamples,
        seed=seed,
        min_gain=gain,
        mcnemar=mcnemar,
        guardrails=[vars(g) | {"significantly_worse": g.significantly_worse} for g in guardrails],
        verdict=Verdict.SHIP if decided.ship else Verdict.NO_SHIP,
        reason=decided.reason,
        n=n,
        created_by=user,
    )
    summary = f"Compared eval runs {baseline.pk} and {candidate.pk} on {metric}: {comparison.verdict.replace('_', ' ')}"
    audit(
        project=baseline.version.project_id,
        actor=user,
        action="comparison.create",
        target=comparison,
        summary=summary,
    )
    return comparison


def _check_comparable(baseline: EvalRun, candidate: EvalRun) -> None:
    if baseline.pk == candidate.pk:
        raise InvalidInput("baseline and candidate are the same eval run.", field="candidate")
    for role, run in (("baseline", baseline), ("candidate", candidate)):
        if run.status != JobStatus.SUCCEEDED:
            raise Conflict(f"{role}: eval run {run.pk} is {run.status}; compare finished runs only.")
    if baseline.version.project_id != candidate.version.project_id:
        raise InvalidInput(
            f"candidate: eval run {candidate.pk} belongs to another project than the baseline's "
            f"(eval run {baseline.pk}).",
            field="candidate",
        )
    if baseline.version_id != candidate.version_id:
        raise InvalidInput(
            f"The runs evaluated different versions ({baseline.version.name} and {candidate.version.name}): "
            "a paired comparison needs the same eval items.",
            field="candidate",
        )


def _paired_predictions(
    baseline: EvalRun, candidate: EvalRun
) -> tuple[list[EvalPrediction], list[EvalPrediction]]:
    """Both runs' predictions on the items both answered, by example. Items one run skipped for
    their length (`EvalRun.skipped`, a larger max_seq_length on the other) are left out of the pair;
    any other difference means they did not answer the same items."""
    base = {p.example_id: p for p in baseline.predictions.all()}
    cand = {p.example_id: p for p in candidate.predictions.all()}
    skipped = {entry["example_id"] for run in (baseline, candidate) for entry in run.skipped}
    both = set(base) & set(cand)
    if (set(base) ^ set(cand)) - skipped or not both:
        raise InvalidInput("The runs did not answer the same eval items.", field="candidate")
    order = sorted(both)
    return [base[i] for i in order], [cand[i] for i in order]


def _paired_score(metric: str, rows: list[EvalPrediction], run: EvalRun) -> float:
    """The run's score on the paired items: its own figure when it answered just those."""
    if len(rows) == run.n:
        return float(run.metrics[metric])
    return _statistic(metric, rows)(np.arange(len(rows)))


def _column(rows: list[EvalPrediction], metric: str) -> list[float]:
    return [float(row.scores[metric]) for row in rows]


def _statistic(metric: str, rows: list[EvalPrediction]) -> stats.Statistic:
    if metric in metrics.SET_LEVEL:
        predicted = [row.extracted for row in rows]
        references = [row.reference for row in rows]
        return lambda sample: metrics.macro_f1(
            [predicted[i] for i in sample], [references[i] for i in sample]
        )
    return stats.mean_statistic(_column(rows, metric))


def _guardrail(
    name: str, worse_when: str, base: list[EvalPrediction], cand: list[EvalPrediction]
) -> stats.Guardrail:
    before, after = _column(base, name), _column(cand, name)
    _, _, p_value = stats.mcnemar_exact(before, after)
    return stats.Guardrail(
        metric=name,
        worse_when=worse_when,
        baseline=sum(before) / max(len(before), 1),
        candidate=sum(after) / max(len(after), 1),
        p_value=p_value,
    )


def flipped(
    comparison: Comparison, limit: int = 100
) -> dict[str, list[tuple[EvalPrediction, EvalPrediction]]]:
    """Items the candidate got wrong that the baseline got right ("regressions"), and the
    reverse ("fixes"), on the comparison's metric (below 0.5 counts as wrong)."""
    base_rows, cand_rows = _paired_predictions(comparison.baseline, comparison.candidate)
    metric = comparison.metric if comparison.metric not in metrics.SET_LEVEL else "accuracy"
    found: dict[str, list[tuple[EvalPrediction, EvalPrediction]]] = {"regressions": [], "fixes": []}
    for base, cand in zip(base_rows, cand_rows, strict=True):
        right_before, right_after = base.scores[metric] >= 0.5, cand.scores[metric] >= 0.5
        if right_before != right_after:
            bucket = found["fixes" if right_after else "regressions"]
            if len(bucket) < limit:
                bucket.append((base, cand))
    return found


# -- back to the data ----------------------------------------------------------------------------


@transaction.atomic
def send_back_for_review(*, comparison: Comparison, user: User, example_ids: list[int]) -> int:
    """Put approved examples of the comparison's eval items back in the review queue
    (submitted), so the next version leaves them out until a reviewer approves them again."""
    from curation.models import Example, ExampleStatus
    from curation.services.examples import example_set_status

    project = comparison.baseline.version.project
    allowed = set(
        comparison.baseline.predictions.filter(example_id__in=example_ids).values_list(
            "example_id", flat=True
        )
    )
    sent = 0
    for example in Example.objects.filter(project=project, pk__in=allowed, status=ExampleStatus.APPROVED):
        example_set_status(
            example=example,
            user=user,
            status=ExampleStatus.SUBMITTED,
            change=f"sent back by comparison {comparison.pk}",
        )
        sent += 1
    if sent:
        summary = f"Sent {sent} approved examples back for review from comparison {comparison.pk}"
        audit(project=project, actor=user, action="comparison.send_back", target=comparison, summary=summary)
    return sent


def flag_from_comparison(*, comparison: Comparison, user: User, example_id: int, note: str = "") -> Any:
    """Raise a quality flag on one eval item's example, quoting both systems' answers."""
    from curation.services.flags import flag_create

    base = comparison.baseline.predictions.filter(example_id=example_id).first()
    cand = comparison.candidate.predictions.filter(example_id=example_id).first()
    if base is None or cand is None:
        raise InvalidInput(f"Example {example_id} is not an item of this comparison.", field="example")
    detail = (
        f"Comparison {comparison.pk}: expected {base.reference!r}; baseline answered {base.raw[:200]!r}, "
        f"tuned answered {cand.raw[:200]!r}."
    )
    return flag_create(
        project=comparison.baseline.version.project,
        user=user,
        kind="quality",
        example_ids=[example_id],
        note=f"{note.strip()}\n{detail}".strip(),
    )
