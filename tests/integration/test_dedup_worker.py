"""Dedup jobs in a real Celery worker on Redis: the chunk group and the merge go through the broker.

The workers run `tests.integration.worker_settings` (the test settings without eager tasks), so
`curation.dedup_examples` queues its `curation.dedup_chunk` group and the last chunk queues
`curation.dedup_merge` on Redis, as in production. One worker is killed with SIGKILL in the
middle of a MinHash job: nothing may be half-applied, the reaper fails the job once its
heartbeat is stale and removes its sketches, and a new job on a fresh worker finds the planted
duplicates. The killed job's chunks left on the broker reach the fresh worker, which skips them:
their job has failed.
"""

from __future__ import annotations

import random
import re
import string
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from curation.models import (
    ClusterMember,
    DedupJob,
    DedupMethod,
    DuplicateCluster,
    EmbeddingShare,
    Example,
    ExampleStatus,
    JobStatus,
    Project,
)
from curation.services.reaping import curation_jobs_reap
from tests.factories import ProjectFactory, many_examples
from tests.integration import test_worker
from tests.integration.test_worker import StartWorker, Worker

# The fixtures of the validation-job worker tests, used here too.
start_worker = test_worker.start_worker
redis_url = test_worker.redis_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER_SETTINGS = "tests.integration.worker_settings"
JOB_TIMEOUT_S = 180.0
FIRST_CHUNK_TIMEOUT_S = 60.0
POLL_S = 0.02

# The killed job: enough chunks that the job is far from done when the first one is recorded.
KILLED_ROWS = 40_000
KILLED_CHUNK_ROWS = 500

Variant = Callable[[str], str]


def shouted(text: str) -> str:
    """Case and punctuation only: the same normalized text."""
    return text.upper().rstrip(".") + "?!"


def extended(text: str) -> str:
    """One more word at the end."""
    return text.rstrip(".") + " indeed."


def misspelt(text: str) -> str:
    """Two letters swapped in the middle."""
    middle = len(text) // 2
    return text[:middle] + text[middle + 1] + text[middle] + text[middle + 2 :]


def _distinct_texts(count: int, seed: int) -> list[str]:
    """`count` different sentences of 100-300 characters made of random made-up words."""
    rng = random.Random(seed)
    vocabulary = sorted(
        {"".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(5_000)}
    )
    texts: list[str] = []
    seen: set[str] = set()
    while len(texts) < count:
        target = rng.randint(100, 300)
        words: list[str] = []
        length = 0
        while length < target - 10:
            word = rng.choice(vocabulary)
            words.append(word)
            length += len(word) + 1
        text = " ".join(words).capitalize() + "."
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def _planted(texts: list[str], copies: Mapping[int, tuple[int, Variant]]) -> list[str]:
    """The texts with the one at each copy position replaced by a variant of another (its original)."""
    rows = list(texts)
    for position, (original, variant) in copies.items():
        assert original not in copies, "an original stays itself"
        rows[position] = variant(texts[original])
    assert len(set(rows)) == len(rows)
    return rows


def _expected_groups(copies: Mapping[int, tuple[int, Variant]]) -> set[frozenset[int]]:
    """Row positions per planted group: an original and its copies."""
    groups: dict[int, set[int]] = {}
    for position, (original, _) in copies.items():
        groups.setdefault(original, {original}).add(position)
    return {frozenset(group) for group in groups.values()}


def _create_examples(project: Project, texts: list[str]) -> list[int]:
    """One submitted example per text, in order (so the earlier one is older); their ids."""
    output = project.labels[0]
    ids = many_examples(project, ((text, output) for text in texts), ExampleStatus.SUBMITTED)
    assert len(ids) == len(texts)
    return ids


def _start(start: StartWorker, finch_home: Path, broker_url: str, chunk_rows: int) -> Worker:
    """A worker on the broker that queues a task's tasks through it, with chunks of `chunk_rows`."""
    return start(
        finch_home=finch_home,
        broker_url=broker_url,
        extra_env={"DJANGO_SETTINGS_MODULE": WORKER_SETTINGS, "FINCH_DEDUP_CHUNK_ROWS": str(chunk_rows)},
    )


def _send_dedup(broker_url: str, job_id: int) -> None:
    """Send `curation.dedup_examples` through the broker as a web process would, without eager mode."""
    sender = Celery("finch-test-sender", broker=broker_url, set_as_current=False, fixups=[])
    sender.conf.update(task_serializer="json", task_always_eager=False, task_ignore_result=True)
    try:
        sender.send_task("curation.dedup_examples", args=[job_id])
    finally:
        sender.close()


def _queue_job(project: Project, broker_url: str, method: str, threshold: float) -> DedupJob:
    job = DedupJob.objects.create(project=project, method=method, threshold=threshold)
    _send_dedup(broker_url, job.pk)
    return job


def _wait_until_finished(job: DedupJob, worker: Worker, timeout_s: float = JOB_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        job.refresh_from_db()
        if job.is_finished:
            assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{job.traceback}\n{worker.output()}"
            return
        if worker.process.poll() is not None:
            pytest.fail(f"The worker exited while job {job.pk} was {job.status}.\n{worker.output()}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"Job {job.pk} still {job.status} after {timeout_s:.0f} s "
                f"({len(job.chunks_done)} of {len(job.chunk_bounds)} chunks done).\n{worker.output()}"
            )
        time.sleep(0.1)


def _groups_found(project: Project, position: Mapping[int, int]) -> set[frozenset[int]]:
    """The project's active clusters as sets of row positions."""
    members: dict[int, set[int]] = {}
    rows = ClusterMember.objects.filter(cluster__project=project).values_list("cluster_id", "example_id")
    for cluster_id, example_id in rows:
        members.setdefault(cluster_id, set()).add(position[example_id])
    return {frozenset(group) for group in members.values()}


def _assert_planted_found(project: Project, ids: list[int], groups: set[frozenset[int]]) -> None:
    """Exactly the planted groups are clusters, each kept its oldest member, the others marked."""
    position = {pk: row for row, pk in enumerate(ids)}
    assert _groups_found(project, position) == groups
    assert DuplicateCluster.objects.filter(project=project).count() == len(groups), "one cluster per group"
    for cluster in DuplicateCluster.objects.filter(project=project):
        members = {position[pk] for pk in cluster.members.values_list("example_id", flat=True)}
        assert position[cluster.kept_id] == min(members)
    marks = dict(
        Example.objects.filter(project=project, duplicate_of__isnull=False).values_list(
            "id", "duplicate_of_id"
        )
    )
    expected = {ids[row]: ids[min(group)] for group in groups for row in group if row != min(group)}
    assert marks == expected


def _tasks_received(worker: Worker, name: str) -> int:
    return len(re.findall(rf"Task {re.escape(name)}\[[0-9a-f-]+\] received", worker.output()))


def _sketch_folder(finch_home: Path, job: DedupJob) -> Path:
    return finch_home / "media" / "dedup-sketches" / f"job-{job.pk}"


def test_worker_killed_mid_minhash_job_leaves_nothing_applied_and_a_new_job_finds_the_duplicates(
    start_worker: StartWorker, redis_url: str, tmp_path: Path, settings: Any
):
    # Given a large project with planted near-duplicates, some in other chunks than their original
    copies: dict[int, tuple[int, Variant]] = {
        14_005: (5, shouted),
        39_990: (5, extended),
        1_200: (7_000, misspelt),
        12_346: (12_345, extended),
        25_001: (30_000, shouted),
    }
    texts = _planted(_distinct_texts(KILLED_ROWS, seed=1), copies)
    groups = _expected_groups(copies)
    project: Project = ProjectFactory.create()
    ids = _create_examples(project, texts)
    finch_home = tmp_path / "finch-home"

    # When a worker runs a MinHash job in chunks and is killed once the first chunk is recorded
    worker = _start(start_worker, finch_home, redis_url, KILLED_CHUNK_ROWS)
    killed_job = _queue_job(project, redis_url, DedupMethod.MINHASH, 0.8)
    deadline = time.monotonic() + FIRST_CHUNK_TIMEOUT_S
    while not DedupJob.objects.get(pk=killed_job.pk).chunks_done:
        if worker.process.poll() is not None:
            pytest.fail(f"The worker exited before a chunk was done.\n{worker.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"No chunk done after {FIRST_CHUNK_TIMEOUT_S:.0f} s.\n{worker.output()}")
        time.sleep(POLL_S)
    worker.process.kill()
    worker.process.wait(timeout=10)

    # Then the job is not finished, and nothing of it is applied
    killed_job.refresh_from_db()
    if killed_job.is_finished:
        pytest.fail(
            f"Job {killed_job.pk} was already {killed_job.status} when the worker was killed: "
            f"make the project larger.\n{worker.output()}"
        )
    assert killed_job.status == JobStatus.RUNNING
    assert len(killed_job.chunk_bounds) == -(-len(ids) // KILLED_CHUNK_ROWS)
    assert 1 <= len(killed_job.chunks_done) < len(killed_job.chunk_bounds), worker.output()
    assert (killed_job.clusters, killed_job.duplicates_marked) == (0, 0)
    assert not DuplicateCluster.objects.filter(project=project).exists()
    assert not ClusterMember.objects.filter(cluster__project=project).exists()
    assert not Example.objects.filter(project=project, duplicate_of__isnull=False).exists()
    assert _tasks_received(worker, "curation.dedup_chunk") >= 1, "the chunks should come from the broker"
    assert _sketch_folder(finch_home, killed_job).exists()

    # When the reaper runs once the job's heartbeat is older than the timeout
    settings.FINCH_JOB_HEARTBEAT_TIMEOUT_S = 1
    settings.MEDIA_ROOT = str(finch_home / "media")  # the worker's storage, for the clean-up
    time.sleep(1.5)
    assert curation_jobs_reap() == 1

    # Then the killed job failed, saying why, and its sketches are gone
    killed_job.refresh_from_db()
    assert killed_job.status == JobStatus.FAILED
    assert killed_job.error.startswith("No heartbeat from its worker"), killed_job.error
    assert not _sketch_folder(finch_home, killed_job).exists()

    # When a fresh worker runs a new job for the same project (after what the broker still holds)
    fresh = _start(start_worker, finch_home, redis_url, KILLED_CHUNK_ROWS)
    job = _queue_job(project, redis_url, DedupMethod.MINHASH, 0.8)
    _wait_until_finished(job, fresh)

    # Then it checked every example and found exactly the planted groups
    assert job.examples_checked == len(ids)
    assert sorted(job.chunks_done) == list(range(len(job.chunk_bounds)))
    assert job.progress == 1.0
    _assert_planted_found(project, ids, groups)
    assert set(DuplicateCluster.objects.filter(project=project).values_list("job_id", flat=True)) == {job.pk}
    assert (job.clusters, job.duplicates_marked) == (len(groups), len(copies))
    assert DedupJob.objects.get(pk=killed_job.pk).status == JobStatus.FAILED
    assert not _sketch_folder(finch_home, job).exists()


def test_worker_runs_small_minhash_job_in_chunks_from_redis(
    start_worker: StartWorker, redis_url: str, tmp_path: Path
):
    # Given 30 examples with planted near-duplicates, in chunks of 7
    copies: dict[int, tuple[int, Variant]] = {
        12: (0, shouted),
        29: (0, extended),
        20: (3, misspelt),
        9: (8, extended),
    }
    texts = _planted(_distinct_texts(30, seed=2), copies)
    project: Project = ProjectFactory.create()
    ids = _create_examples(project, texts)
    finch_home = tmp_path / "finch-home"
    worker = _start(start_worker, finch_home, redis_url, 7)

    # When a MinHash job runs
    job = _queue_job(project, redis_url, DedupMethod.MINHASH, 0.8)
    _wait_until_finished(job, worker)

    # Then its five chunks and its merge went through the broker, and it found the planted groups
    assert len(job.chunk_bounds) == 5
    assert sorted(job.chunks_done) == [0, 1, 2, 3, 4]
    assert _tasks_received(worker, "curation.dedup_chunk") == 5, worker.output()
    assert _tasks_received(worker, "curation.dedup_merge") == 1, worker.output()
    assert (job.examples_checked, job.clusters, job.duplicates_marked) == (30, 3, 4)
    assert job.progress == 1.0
    _assert_planted_found(project, ids, _expected_groups(copies))
    assert not _sketch_folder(finch_home, job).exists()


def test_worker_runs_embedding_job_in_chunks_from_redis(
    start_worker: StartWorker, redis_url: str, tmp_path: Path
):
    # Given a question, two wordings of it that differ in case and punctuation, and other questions
    texts = [
        "Where is my new card? It still has not arrived.",
        "How do I change the PIN of my card?",
        "where is my new card it still has not arrived",
        "What is the exchange rate for euros today?",
        "WHERE IS MY NEW CARD?! It still has not arrived!!",
        "My card was stolen, please block it.",
    ]
    project: Project = ProjectFactory.create()
    ids = _create_examples(project, texts)
    worker = _start(start_worker, tmp_path / "finch-home", redis_url, 2)

    # When an embedding job runs in chunks of 2
    job = _queue_job(project, redis_url, DedupMethod.EMBEDDING, 0.9)
    _wait_until_finished(job, worker)

    # Then the wordings are one cluster, kept the oldest, and nothing else is marked
    assert len(job.chunk_bounds) == 3
    assert sorted(job.chunks_done) == [0, 1, 2]
    assert _tasks_received(worker, "curation.dedup_chunk") == 3, worker.output()
    assert _tasks_received(worker, "curation.dedup_merge") == 1, worker.output()
    assert (job.examples_checked, job.clusters, job.duplicates_marked) == (6, 1, 2)
    _assert_planted_found(project, ids, {frozenset({0, 2, 4})})
    for member in ClusterMember.objects.filter(cluster__project=project).exclude(example_id=ids[0]):
        assert 0.9 <= member.similarity <= 1.0 + 1e-5


def test_two_workers_share_a_static_candidates_merge_through_redis(
    start_worker: StartWorker, redis_url: str, tmp_path: Path
):
    # Given a question with four wordings among other questions, and two workers whose merge
    # shares the texts it embeds with free workers, a text a share
    from django.conf import settings

    texts = [
        "Where is my new card? It still has not arrived.",
        "How do I change the PIN of my card?",
        "where is my new card it still has not arrived",
        "What is the exchange rate for euros today?",
        "WHERE IS MY NEW CARD?! It still has not arrived!!",
        "My card was stolen, please block it.",
        "Where is my new card? It still has really not arrived.",
        "Can I pay with my phone in shops?",
        "Where is my new card? It still has not arived.",
    ]
    project: Project = ProjectFactory.create()
    ids = _create_examples(project, texts)
    env = {
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
        "FINCH_EMBEDDING_STATIC": "true",
        "FINCH_EMBEDDING_INT8": "false",
        "FINCH_EMBEDDING_SHARE_TEXTS": "1",
        "FINCH_MODELS_DIR": str(settings.FINCH_MODELS_DIR),  # the static copy this checkout made
    }
    workers = [
        start_worker(finch_home=tmp_path / "finch-home", broker_url=redis_url, extra_env=env) for _ in "ab"
    ]

    # When an embedding job runs
    job = _queue_job(project, redis_url, DedupMethod.EMBEDDING, 0.9)
    _wait_until_finished(job, workers[0])

    # Then the wordings are one cluster; the job's one task ran the merge (no chunk tasks with
    # static candidates), which queued helpers through the broker, which the workers ran, and no
    # share is left
    _assert_planted_found(project, ids, {frozenset({0, 2, 4, 6, 8})})
    logs = "".join(worker.output() for worker in workers)
    received = {
        name: sum(_tasks_received(worker, f"curation.{name}") for worker in workers)
        for name in ("dedup_examples", "dedup_chunk", "dedup_merge")
    }
    assert received == {"dedup_examples": 1, "dedup_chunk": 0, "dedup_merge": 0}
    assert re.search(r"Task curation\.embed_shares\[[0-9a-f-]+\] received", logs), logs
    assert re.search(r"dedup job \d+: \d+ shares embedded, \d+ of them here", logs), logs
    assert not EmbeddingShare.objects.filter(job=job).exists()
