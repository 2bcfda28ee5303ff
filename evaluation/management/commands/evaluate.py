import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.errors import ApplicationError
from curation.models import DatasetVersion, JobStatus
from evaluation import engines
from evaluation.models import EvalRun, Verdict
from evaluation.services import comparison_create, eval_run_here
from training.models import TrainingRun


class Command(BaseCommand):
    help = (
        "Evaluate on a frozen version's eval split, here and now, with the services the API uses. "
        "With --training-run: the baseline (its base model, prompting alone) and the tuned adapter, "
        "then their comparison; with --base-model alone: the baseline. A finished run with the same "
        "settings is reused (greedy decoding gives the same answers) unless --fresh. Exit status 3 "
        "with --fail-unless-ship when the verdict is not to ship (for CI pipelines)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dataset-version", type=int, required=True, help="the frozen dataset version's id"
        )
        parser.add_argument(
            "--training-run", type=int, help="evaluate this run's adapter against the baseline"
        )
        parser.add_argument("--base-model", default="", help="the base model (default: the training run's)")
        parser.add_argument("--few-shot", type=int, default=0, help="train examples shown to the baseline")
        parser.add_argument("--fresh", action="store_true", help="run again even if a finished run exists")
        parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
        parser.add_argument("--fail-unless-ship", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        version = DatasetVersion.objects.filter(pk=options["dataset_version"]).first()
        if version is None:
            raise CommandError(f"No dataset version {options['dataset_version']}.")
        training_run = None
        if options["training_run"] is not None:
            training_run = TrainingRun.objects.filter(pk=options["training_run"]).first()
            if training_run is None:
                raise CommandError(f"No training run {options['training_run']}.")
        base_model = options["base_model"] or (training_run.base_model if training_run else "")
        try:
            baseline = self._run(version, base_model, None, options["few_shot"], options["fresh"])
            outcome: dict[str, Any] = {"baseline": {"id": baseline.pk, "metrics": baseline.metrics}}
            if training_run is not None:
                tuned = self._run(version, base_model, training_run, 0, options["fresh"])
                comparison = comparison_create(baseline=baseline, candidate=tuned, user=None)
                outcome["tuned"] = {"id": tuned.pk, "metrics": tuned.metrics}
                outcome["comparison"] = {
                    "id": comparison.pk,
                    "metric": comparison.metric,
                    "delta": comparison.delta,
                    "ci_low": comparison.ci_low,
                    "ci_high": comparison.ci_high,
                    "verdict": comparison.verdict,
                    "reason": comparison.reason,
                }
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self._print(outcome, as_json=options["json"])
        verdict = outcome.get("comparison", {}).get("verdict")
        if options["fail_unless_ship"] and verdict != Verdict.SHIP:
            raise CommandError("The verdict is not to ship.", returncode=3)

    def _run(
        self,
        version: DatasetVersion,
        base_model: str,
        training_run: TrainingRun | None,
        few_shot: int,
        fresh: bool,
    ) -> EvalRun:
        if not fresh:
            done = (
                EvalRun.objects.filter(
                    version=version,
                    base_model=base_model,
                    training_run=training_run,
                    few_shot=few_shot,
                    status=JobStatus.SUCCEEDED,
                )
                .order_by("-id")
                .first()
            )
            if done is not None:
                return done
        try:  # the run is made and run here: refuse before recording one this host cannot run
            engines.choose(settings.FINCH_GENERATION_ENGINE)
        except engines.EngineUnavailable as exc:
            raise CommandError(str(exc)) from exc
        run = eval_run_here(
            version=version, user=None, base_model=base_model, training_run=training_run, few_shot=few_shot
        )
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Eval run {run.pk} failed: {run.error}")
        return run

    def _print(self, outcome: dict[str, Any], *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(outcome, indent=2))
            return
        for kind in ("baseline", "tuned"):
            if kind in outcome:
                figures = ", ".join(
                    f"{name} {value:.4f}" for name, value in sorted(outcome[kind]["metrics"].items())
                )
                self.stdout.write(f"{kind} (eval run {outcome[kind]['id']}): {figures}")
        if "comparison" in outcome:
            comparison = outcome["comparison"]
            self.stdout.write(f"verdict: {comparison['verdict']} ({comparison['reason']})")
