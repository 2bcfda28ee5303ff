"""A training run's adapter merged into its base model, on request: one folder of safetensors,
config and tokenizer that any serving stack loads as a plain model (vLLM without LoRA support).

A lead asks once the run has succeeded (the API or the run page); a worker on the `gpu` queue,
where the base model is, folds the adapter in (peft's `merge_and_unload`, training.modeling),
uploads the folder to `training/run-{id}/merged/`, and then writes its record
`training/run-{id}/merged.json`: the status, who asked and when, the adapter it merged (its
sha256), the dtype, and each file with its size and sha256. The record is written after the
files, so a reader never sees half a model. It lives beside the files rather than on the run's
row: a merge is an optional artifact of a finished run, asked for later, not part of training.

While the merge runs, its heartbeat (curation.services.heartbeat, kind `training.merge`) shows
the worker alive; a running merge whose worker has gone silent reads as failed and may be asked
for again. A second delivery of the task (a redelivered message, a second request while one is
queued) finds the merge done or held and does nothing.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from config.observability import bind_job
from curation.errors import Conflict, NotFound
from curation.models import JobStatus
from curation.services.audit import audit
from curation.services.dispatch import send_on_commit
from curation.services.heartbeat import beating, heartbeat_forget, heartbeat_of, heartbeat_timeout
from training import artifacts
from training.models import TrainingRun
from training.selectors import run_label

log = logging.getLogger(__name__)

KIND = "training.merge"


class MergeFailed(Exception):
    """The merge could not be made; the message says why."""


def merged_prefix(run_id: int) -> str:
    return f"{artifacts.run_prefix(run_id)}/merged"


def record_name(run_id: int) -> str:
    return f"{artifacts.run_prefix(run_id)}/merged.json"


def merged_record(run: TrainingRun) -> dict[str, Any] | None:
    """The run's merge record (None if never asked for); a running merge whose worker has gone
    silent reads as failed."""
    record = artifacts.json_read(record_name(run.pk))
    if record is not None and record["status"] == JobStatus.RUNNING and not _alive(run):
        seconds = int(heartbeat_timeout().total_seconds())
        error = f"No heartbeat from its worker ({record.get('host') or 'unknown host'}) for over {seconds} s."
        return {**record, "status": JobStatus.FAILED, "error": error}
    return record


def _alive(run: TrainingRun) -> bool:
    beat = heartbeat_of(run, KIND)
    return beat is not None and timezone.now() - beat.beat_at < heartbeat_timeout()


@transaction.atomic
def merge_request(*, run: TrainingRun, user: User | None) -> tuple[dict[str, Any], bool]:
    """Queue the merge of a succeeded run's adapter into its base model. Returns the record and
    whether a merge was queued (a merged model already there is returned as it is). Conflict when
    the run did not succeed or a merge of it is running."""
    run = TrainingRun.objects.select_for_update().select_related("version").get(pk=run.pk)
    if run.status != JobStatus.SUCCEEDED or not run.adapter_sha256:
        raise Conflict(
            f"{run_label(run).capitalize()} is {run.status}: only the adapter of a run that succeeded can be merged."
        )
    record = merged_record(run)
    if record is not None and record["status"] == JobStatus.SUCCEEDED:
        return record, False
    if record is not None and record["status"] == JobStatus.RUNNING:
        raise Conflict(
            f"The merge of {run_label(run)} is running on {record['host']} since {record['started_at']}."
        )
    record = {
        "status": JobStatus.QUEUED.value,
        "requested_at": timezone.now().isoformat(),
        "requested_by": user.username if user is not None else None,
        "base_model": run.base_model,
        "adapter_sha256": run.adapter_sha256,
        **_unfinished(),
    }
    summary = f"Asked for training run {run.pk}'s adapter merged into {run.base_model}"
    audit(
        project=run.version.project_id, actor=user, action="training_run.merge", target=run, summary=summary
    )
    artifacts.json_write(record_name(run.pk), record)
    from training.tasks import merge  # the task module imports this one

    def refused(error: str) -> None:  # a queued record with no message would wait forever
        failed = {**record, "status": JobStatus.FAILED.value, "error": error}
        artifacts.json_write(record_name(run.pk), {**failed, "finished_at": timezone.now().isoformat()})

    send_on_commit(lambda: merge.delay(run.pk), refused=refused, what=f"the merge of training run {run.pk}")
    return record, True


def _unfinished() -> dict[str, Any]:
    return {
        "started_at": None,
        "finished_at": None,
        "host": "",
        "error": "",
        "dtype": None,
        "path": "",
        "files": [],
    }


def merged_file(run: TrainingRun, name: str) -> str:
    """The storage name of one file of the run's merged model. Conflict when there is none yet,
    NotFound for a name that is not one of its files."""
    record = merged_record(run)
    if record is None or record["status"] != JobStatus.SUCCEEDED:
        state = "never asked for" if record is None else record["status"]
        raise Conflict(f"{run_label(run).capitalize()} has no merged model ({state}).")
    if name not in {file["name"] for file in record["files"]}:
        raise NotFound(f"The merged model of {run_label(run)} has no file {name!r}.")
    return f"{record['path']}/{name}"


# -- execution -----------------------------------------------------------------------------------


def merge_execute(run_id: int) -> None:
    """The task's body: merge, upload, then record the files (or the failure, with its message)."""
    run = TrainingRun.objects.select_related("version").get(pk=run_id)
    record = artifacts.json_read(record_name(run.pk))
    if record is None or record["status"] == JobStatus.SUCCEEDED:
        return  # never asked for (a stray message), or done by an earlier delivery
    if record["status"] == JobStatus.RUNNING and _alive(run):
        log.warning(
            "the merge of training run %s is held by %s; this delivery is dropped", run.pk, record["host"]
        )
        return
    with bind_job("TrainingRunMerge", run.pk, run.version.project_id):
        _merge(run, record)


def _merge(run: TrainingRun, record: dict[str, Any]) -> None:
    from training.services import holder

    name = record_name(run.pk)
    record = {**record, **_unfinished(), "status": JobStatus.RUNNING.value, "host": holder()}
    record["started_at"] = timezone.now().isoformat()
    artifacts.json_write(name, record)
    try:
        with beating(run, KIND), tempfile.TemporaryDirectory(prefix=f"finch-merge-{run.pk}-") as work:
            files, dtype = _merged_upload(run, Path(work))
        outcome = {
            "status": JobStatus.SUCCEEDED.value,
            "dtype": dtype,
            "path": merged_prefix(run.pk),
            "files": files,
        }
    except Exception as exc:
        log.exception("the merge of training run %s failed", run.pk)
        outcome = {"status": JobStatus.FAILED.value, "error": str(exc) or type(exc).__name__}
    artifacts.json_write(name, {**record, **outcome, "finished_at": timezone.now().isoformat()})
    heartbeat_forget(run, KIND)  # after the record: a reader never sees a running merge without one


def _merged_upload(run: TrainingRun, work: Path) -> tuple[list[dict[str, Any]], str]:
    """Merge in `work`, upload the folder (replacing an earlier attempt's), and describe its files."""
    from training import modeling

    adapter = work / "adapter"
    artifacts.folder_download(run.adapter_path, adapter)
    if artifacts.file_sha256(adapter / artifacts.ADAPTER_WEIGHTS) != run.adapter_sha256:
        raise MergeFailed(f"The stored adapter of {run_label(run)} does not match its sha256.")
    out = work / "merged"
    dtype = modeling.merged_save(run.base_model, adapter, out)
    files = [
        {"name": path.name, "size": path.stat().st_size, "sha256": artifacts.file_sha256(path)}
        for path in sorted(out.iterdir())
        if path.is_file()
    ]
    prefix = merged_prefix(run.pk)
    artifacts.folder_delete(prefix)
    artifacts.folder_upload(out, prefix)
    return files, dtype
