"""One data-parallel training process, started by torchrun (training/launcher.py):
`python -m training.distributed <run id> <work folder> [<resume folder>]`.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous; each process trains on GPU
LOCAL_RANK (nccl), or on the CPU (gloo) where the worker allows CPU data parallelism. Every rank
loads the model and the examples the task tokenized, and runs the same loop on its share of each
batch. Rank 0 alone writes: metrics, step and best adapter to the database and storage as the run
goes (training/reporting.py), then the outcome for the task. Cancel is the task's: it ends the
processes, so no rank looks for a cancel request.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

DATA_FILE = "data.pkl"  # the examples, from the task
OUTCOME_FILE = "outcome.json"  # the loop's outcome, from rank 0
FINAL_FOLDER = "final"


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from training.launcher import die_with_parent
    from training.parallel import Parallel

    die_with_parent()  # torchrun gone (killed): this rank goes too
    run_id, work = int(argv[0]), Path(argv[1])
    resume = Path(argv[2]) if len(argv) > 2 else None
    local = int(os.environ["LOCAL_RANK"])
    on = torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
    if on.type == "cuda":
        torch.cuda.set_device(on)
    torch.distributed.init_process_group("nccl" if on.type == "cuda" else "gloo")
    try:
        parallel = Parallel(
            rank=torch.distributed.get_rank(), world=torch.distributed.get_world_size(), device=on
        )
        train(run_id, work, resume, parallel)
    finally:
        torch.distributed.destroy_process_group()
    return 0


def train(run_id: int, work: Path, resume: Path | None, parallel: Any) -> None:
    from training import modeling
    from training.loop import LoraLoop, Plan
    from training.models import TrainingRun

    run = TrainingRun.objects.get(pk=run_id)
    with (work / DATA_FILE).open("rb") as handle:
        data = pickle.load(handle)  # written by this run's own task, in its private work folder
    model = modeling.model_for_training(run.base_model, parallel.device, run.lora, run.hyperparameters)
    loop = LoraLoop(
        model,
        data["train"],
        data["eval"],
        Plan.of(run.hyperparameters),
        _reporter(run, parallel.is_main),
        pad_id=data["pad_id"],
        device=parallel.device,
        autocast_dtype=modeling.compute_dtype(parallel.device),
        parallel=parallel,
    )
    outcome = loop.run(work, resume_from=resume)
    if parallel.is_main:
        if not data["eval"]:  # nothing to choose the best by: the last adapter is the result
            model.save_pretrained(str(work / FINAL_FOLDER))
        (work / OUTCOME_FILE).write_text(json.dumps(asdict(outcome)), encoding="utf-8")


def _reporter(run: Any, is_main: bool) -> Any:
    from training.reporting import DatabaseReporter

    class RankZeroReporter(DatabaseReporter):
        def cancel_requested(self) -> bool:
            return False  # the supervising task ends every process on a cancel

    return RankZeroReporter(run) if is_main else Silent()


class Silent:
    """The reporter of ranks other than 0: they write nothing."""

    def started(self, total_steps: int, resumed_from: int | None) -> None: ...
    def point(self, point: Any) -> None: ...
    def step_done(self, step: int) -> None: ...
    def cancel_requested(self) -> bool:
        return False

    def checkpoint_saved(self, folder: Path, step: int) -> None: ...
    def best_saved(self, folder: Path, step: int, eval_loss: float) -> None: ...


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
