"""Two imports of the same file at the same time create each row exactly once.

Each import runs in its own thread with its own database connection, as two workers would. The
database's unique constraints decide which import creates a row; the other counts it as already
there. On PostgreSQL the two really overlap; on SQLite writes serialize, and it must hold there too.
"""

from __future__ import annotations

import io
import json
import threading

import pytest
from django.db import connection
from django.db.models import Count

from curation.models import Example, ImportJob, JobStatus, Project, TaskType
from curation.services.imports import import_job_create, import_run
from curation.services.jobs import job_run
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media_in_tmp"),
]

DISTINCT_ROWS = 45_000  # more than two staging batches, so merges of the two jobs interleave
DUPLICATES_EVERY = 7  # every seventh row repeats an earlier one, by content or by external_id
START_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 300.0


def records() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for number in range(DISTINCT_ROWS):
        if number % 3 == 0:
            rows.append(
                {
                    "external_id": f"ext-{number}",
                    "input": f"Question {number}?",
                    "output": f"Answer {number}.",
                }
            )
        else:
            rows.append({"external_id": "", "input": f"Question {number}?", "output": f"Answer {number}."})
        if number % DUPLICATES_EVERY == 0:
            # The same external_id with other content (a row error), or the very same content (skipped).
            repeat = dict(rows[-1])
            if repeat["external_id"]:
                repeat["input"] = f"Other wording of question {number}?"
            rows.append(repeat)
    return rows


def as_file(file_format: str, rows: list[dict[str, str]]) -> bytes:
    if file_format == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows).encode()
    lines = ["external_id,input,output"] + [f"{r['external_id']},{r['input']},{r['output']}" for r in rows]
    return ("\n".join(lines) + "\n").encode()


def run_at_once(job_ids: list[int]) -> list[BaseException]:
    """Run the import jobs in parallel threads, released together; the errors they raised."""
    barrier = threading.Barrier(len(job_ids), timeout=START_TIMEOUT_S)
    failures: list[BaseException] = []

    def work(job_id: int) -> None:
        try:
            barrier.wait()
            job_run(ImportJob, job_id, import_run)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=work, args=(job_id,), name=f"import-{job_id}") for job_id in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RUN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "an import did not finish"
    return failures


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_given_two_imports_of_one_file_at_once_then_each_row_is_created_exactly_once(
    file_format: str,
) -> None:
    project: Project = ProjectFactory.create(task_type=TaskType.GENERATION, labels=[])
    user = MembershipFactory.create(project=project, role="lead").user  # a job runs for a member
    rows = records()
    content = as_file(file_format, rows)
    jobs = [
        import_job_create(
            project=project,
            user=user,
            upload=io.BytesIO(content),
            filename=f"rows.{file_format}",
            queue=False,
        )
        for _ in range(2)
    ]

    failures = run_at_once([job.pk for job in jobs])

    assert failures == []
    finished = list(ImportJob.objects.filter(pk__in=[job.pk for job in jobs]).order_by("pk"))
    assert [(job.status, job.error) for job in finished] == [(JobStatus.SUCCEEDED, "")] * 2
    clashes = len(range(0, DISTINCT_ROWS, 21))  # ext-id repeats with other content
    assert [(job.total, job.failed) for job in finished] == [(len(rows), clashes)] * 2
    assert all(e["error"].startswith("external_id ext-") for job in finished for e in job.errors)
    assert sum(job.created for job in finished) == DISTINCT_ROWS
    assert [job.created + job.skipped_existing + job.failed for job in finished] == [len(rows)] * 2
    examples = Example.objects.filter(project=project)
    assert examples.count() == DISTINCT_ROWS
    assert not examples.values("content_hash").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert (
        not examples.exclude(external_id=None)
        .values("external_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )
    assert set(examples.values_list("input", flat=True)) == {f"Question {n}?" for n in range(DISTINCT_ROWS)}
    assert examples.exclude(external_id=None).count() == len(range(0, DISTINCT_ROWS, 3))
