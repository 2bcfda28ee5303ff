"""MinHash and embedding dedup jobs in chunks: a Celery group of chunk tasks, then one merge.

Celery runs eagerly in tests, so `dedup_examples(job.pk)` runs the chunks and the merge inline.
To drive a job step by step, `celery.group` is replaced by a recorder (the chunks are queued but
not run) and `dedup_merge.delay` by another (the merge is queued but not run).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from pytest_django import Settings

from curation import tasks
from curation.dedup import int8
from curation.models import (
    DedupJob,
    DuplicateCluster,
    Example,
    ExampleStatus,
    JobStatus,
    Project,
)
from curation.services import dedup_chunks, embedding_cache
from curation.services.dedup_chunks import CHUNKS_SHARE
from curation.tasks import dedup_chunk, dedup_examples, dedup_merge
from tests.conftest import Team
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory

SUBMITTED, APPROVED, REJECTED = ExampleStatus.SUBMITTED, ExampleStatus.APPROVED, ExampleStatus.REJECTED

# Near-duplicates sit in different chunks of 2 (the rejected row is skipped when chunking):
# chunks [0, 1], [2, 3], [4, 6], [7, 8], [9].
MINHASH_ROWS: list[tuple[str, str]] = [
    ("I ordered a new card two weeks ago and it still has not arrived, what should I do?", SUBMITTED),
    ("Why was I charged a fee for a transfer abroad last Monday afternoon?", SUBMITTED),
    ("How can I change the PIN of my debit card at a cash machine near me?", SUBMITTED),
    ("I ordered a new card 2 weeks ago and it still has not arrived, what should I do?", APPROVED),
    ("Please explain the exchange rate you applied to my payment in euros yesterday.", SUBMITTED),
    ("please explain the exchange rate you applied to my payment in euros yesterday", REJECTED),
    ("Why was I charged a fee for a transfer abroad last Monday evening?", SUBMITTED),
    ("HOW CAN I CHANGE THE PIN OF MY DEBIT CARD AT A CASH MACHINE NEAR ME", SUBMITTED),
    ("My top-up by bank transfer is still pending after three days, is that normal?", SUBMITTED),
    ("I ordered a new card two weeks ago and it still hasn't arrived. What should I do?", SUBMITTED),
]
REJECTED_ROW = 5
# (kept row, member rows); the approved row 3 is kept over the older row 0.
MINHASH_CLUSTERS = {(3, frozenset({0, 3, 9})), (1, frozenset({1, 6})), (2, frozenset({2, 7}))}
MINHASH_MARKS = {0: 3, 9: 3, 6: 1, 7: 2}
MINHASH_CHUNKS = 5
CHECKED = len(MINHASH_ROWS) - 1


@dataclass
class Outcome:
    """A project's clusters and marks in terms of row positions, comparable across projects."""

    clusters: set[tuple[int, frozenset[tuple[int, float]]]]
    marks: dict[int, int]

    def member_sets(self) -> set[tuple[int, frozenset[int]]]:
        return {(kept, frozenset(row for row, _ in members)) for kept, members in self.clusters}


@dataclass
class Queue:
    """What a job queued instead of running it: chunk signatures and merges."""

    chunks: list[tuple[int, int]] = field(default_factory=list)
    merges: list[int] = field(default_factory=list)


@pytest.fixture(autouse=True)
def media(settings: Settings, tmp_path: Path) -> Path:
    """Sketch files go to a fresh folder per test."""
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[Queue]:
    """Chunks and merges are recorded, not run: the test runs them, in any order, any number of times."""
    recorded = Queue()

    class RecordingGroup:
        def __init__(self, signatures: Iterable[Any]) -> None:
            self.signatures = list(signatures)

        def apply_async(self) -> None:
            recorded.chunks.extend(tuple(signature.args) for signature in self.signatures)

    monkeypatch.setattr("celery.group", RecordingGroup)
    monkeypatch.setattr(tasks.dedup_merge, "delay", recorded.merges.append)
    yield recorded


def add_rows(project: Project, rows: list[tuple[str, str]]) -> list[Example]:
    return [ExampleFactory.create(project=project, input=text, status=status) for text, status in rows]


def create_job(project: Project, user: User, method: str, **params: Any) -> DedupJob:
    return DedupJob.objects.create(project=project, created_by=user, method=method, **params)


def run(project: Project, user: User, method: str, **params: Any) -> DedupJob:
    job = create_job(project, user, method, **params)
    dedup_examples(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def outcome(project: Project, rows: list[Example]) -> Outcome:
    position = {example.pk: index for index, example in enumerate(rows)}
    clusters = {
        (
            position[cluster.kept_id],
            frozenset(
                (position[member.example_id], round(member.similarity, 6)) for member in cluster.members.all()
            ),
        )
        for cluster in DuplicateCluster.objects.filter(project=project).prefetch_related("members")
    }
    marked = Example.objects.filter(project=project, duplicate_of__isnull=False)
    marks = {position[pk]: position[kept] for pk, kept in marked.values_list("pk", "duplicate_of_id")}
    return Outcome(clusters, marks)


def sketch_files(job: DedupJob) -> list[str]:
    folder = f"dedup-sketches/job-{job.pk}"
    return sorted(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else []


def bounds_of(rows: list[Example], size: int) -> list[list[int]]:
    ids = [example.pk for example in rows if example.status != REJECTED]
    return [[ids[start], ids[min(start + size, len(ids)) - 1]] for start in range(0, len(ids), size)]


# The embedding tests run first: in a process that has run numba's parallel MinHash code, its
# OpenMP threads spin and slow every later encode call down about 20x on a small machine.
# Variants of one question (case, punctuation, a filler word, a typo) among unrelated questions.
QUESTION = "Where is my new card? It still has not arrived."
VARIANTS = [
    "where is my new card it still has not arrived",
    "WHERE IS MY NEW CARD?! It still has not arrived!!",
    "Where is my new card? It still has really not arrived.",
    "Where is my new card? It still has not arived.",
]
UNRELATED = [
    "How do I change the PIN of my card?",
    "What is the exchange rate for euros today?",
    "My card was stolen, please block it.",
]


@pytest.mark.django_db
class TestEmbeddingChunks:
    @pytest.fixture(autouse=True)
    def int8_candidates(self, settings: Settings) -> None:
        """The int8 path (the default, made explicit)."""
        settings.FINCH_EMBEDDING_INT8 = True

    @pytest.fixture
    def encoded(self, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
        """The texts of every call to the int8 copy of the model (which embeds every text; not
        the calls to its fp32 export, which embeds for the model itself on some CPUs)."""
        calls: list[list[str]] = []
        real_encode = int8.encode

        def counting_encode(texts: list[str], path: str, folder: Any, exact: bool = False) -> Any:
            if not exact:
                calls.append(list(texts))
            return real_encode(texts, path, folder, exact=exact)

        monkeypatch.setattr(int8, "encode", counting_encode)
        return calls

    @pytest.fixture
    def verified(self, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
        """The texts of every call to the model itself (which embeds only candidates near the
        threshold)."""
        calls: list[list[str]] = []
        real_encode = embedding_cache.encode

        def counting_encode(texts: list[str], path: str, **options: Any) -> Any:
            calls.append(list(texts))
            return real_encode(texts, path, **options)

        monkeypatch.setattr(embedding_cache, "encode", counting_encode)
        return calls

    def question_rows(self, project: Project) -> list[Example]:
        texts = [QUESTION, UNRELATED[0], *VARIANTS[:2], UNRELATED[1], *VARIANTS[2:], UNRELATED[2]]
        return [ExampleFactory.create(project=project, input=text) for text in texts]

    def test_wording_variants_form_one_cluster_and_unrelated_texts_stay_apart(
        self, team: Team, settings: Settings, encoded: list[list[str]], verified: list[list[str]]
    ) -> None:
        # Given a question, its variants and unrelated questions, in chunks of 3
        rows = self.question_rows(team.project)
        settings.FINCH_DEDUP_CHUNK_ROWS = 3

        # When an embedding job runs
        job = run(team.project, team.lead, "embedding", threshold=0.9)

        # Then the question and its variants are one cluster, kept the oldest; nothing else is marked
        variants = {example.pk for example in rows if example.input in (QUESTION, *VARIANTS)}
        cluster = DuplicateCluster.objects.get()
        assert set(cluster.members.values_list("example_id", flat=True)) == variants
        assert cluster.kept_id == rows[0].pk
        for member in cluster.members.exclude(example_id=rows[0].pk):
            assert 0.9 <= member.similarity <= 1.0 + 1e-5
        marks = dict(Example.objects.filter(duplicate_of__isnull=False).values_list("pk", "duplicate_of_id"))
        assert marks == dict.fromkeys(variants - {rows[0].pk}, rows[0].pk)
        assert (job.examples_checked, job.clusters, job.duplicates_marked) == (8, 1, 4)
        assert len(job.chunk_bounds) == 3
        assert sorted(job.chunks_done) == [0, 1, 2]
        assert job.progress == 1.0

        # And each text was embedded once by the int8 model, by the chunk that holds it, and by
        # the model itself, in the merge, only texts of candidate pairs near the threshold (which
        # of the variants those are depends on the CPU's int8 arithmetic)
        assert len(encoded) == 3
        assert sorted(text for call in encoded for text in call) == sorted(example.input for example in rows)
        assert len(verified) <= 1 and set(*verified) <= {QUESTION, *VARIANTS}
        assert sketch_files(job) == []

    def test_without_the_int8_copy_the_model_embeds_each_text_once_and_decides(
        self, team: Team, settings: Settings, encoded: list[list[str]], verified: list[list[str]]
    ) -> None:
        # Given the int8 copy switched off
        rows = self.question_rows(team.project)
        settings.FINCH_EMBEDDING_INT8 = False

        # When an embedding job runs
        run(team.project, team.lead, "embedding", threshold=0.9)

        # Then the same cluster is found, the int8 model is never used, and the model embeds
        # every text once (the merge reuses the cache, candidates are not embedded again)
        variants = {example.pk for example in rows if example.input in (QUESTION, *VARIANTS)}
        cluster = DuplicateCluster.objects.get()
        assert set(cluster.members.values_list("example_id", flat=True)) == variants
        assert encoded == []
        assert sorted(text for call in verified for text in call) == sorted(example.input for example in rows)

    def test_static_candidates_find_the_cluster_with_the_model_deciding_in_the_merge(
        self,
        team: Team,
        settings: Settings,
        encoded: list[list[str]],
        verified: list[list[str]],
        queue: Queue,
    ) -> None:
        # Given static candidates on (the model alone deciding them), chunks of 3 rows configured
        rows = self.question_rows(team.project)
        settings.FINCH_EMBEDDING_STATIC, settings.FINCH_EMBEDDING_INT8 = True, False
        settings.FINCH_DEDUP_CHUNK_ROWS = 3

        # When an embedding job runs (its first task only: nothing queued is run)
        job = run(team.project, team.lead, "embedding", threshold=0.9)

        # Then the same one cluster is found, each member at 0.9 or more to the kept one
        variants = {example.pk for example in rows if example.input in (QUESTION, *VARIANTS)}
        cluster = DuplicateCluster.objects.get()
        assert set(cluster.members.values_list("example_id", flat=True)) == variants
        assert all(member.similarity >= 0.9 for member in cluster.members.all())
        assert (job.examples_checked, job.clusters, job.duplicates_marked) == (8, 1, 4)
        # And no chunk or merge was queued: the job's first task ran the merge over every row,
        # which embedded the candidates' texts, each once (a call per step of the descent),
        # never with the int8 copy
        assert (queue.chunks, queue.merges) == ([], [])
        assert (job.chunk_bounds, job.chunks_done) == ([[rows[0].pk, rows[-1].pk]], [0])
        assert encoded == [] and 1 <= len(verified) <= 2
        embedded = [text for call in verified for text in call]
        assert len(embedded) == len(set(embedded))

    def test_the_text_most_of_its_group_is_like_is_kept_so_a_chain_stays_one_cluster(
        self, team: Team, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given three texts the model puts in a chain: the middle one at 0.93 to each end, the two
        # ends at 0.86 to each other (below the threshold)
        rows = [
            ExampleFactory.create(project=team.project, input=text) for text in ("first", "middle", "last")
        ]
        cosines = {(0, 1): 0.93, (1, 2): 0.93, (0, 2): 0.86}

        def model_pairs(texts: list[str], threshold: float, **_: Any) -> tuple[np.ndarray, Any]:
            assert texts == ["first", "middle", "last"] and threshold == 0.9
            return np.array([[0, 1], [1, 2]]), lambda a, b: cosines[min(a, b), max(a, b)]

        monkeypatch.setattr(dedup_chunks, "similar_text_pairs", model_pairs)

        # When an embedding job runs
        run(team.project, team.lead, "embedding", threshold=0.9)

        # Then the middle text, in both pairs, is kept and both ends join it (kept the oldest,
        # the last text would be like no kept one and stay apart from the middle one)
        cluster = DuplicateCluster.objects.get()
        assert cluster.kept_id == rows[1].pk
        assert set(cluster.members.values_list("example_id", flat=True)) == {row.pk for row in rows}

    @pytest.mark.parametrize(
        ("fields", "expected", "flagged"),
        [
            pytest.param("input", [{0, 1}, {2, 3}], 1, id="input: one question, its labels flagged"),
            pytest.param("input_output", [{0, 1}, {2, 3}], 0, id="input_output: two answers"),
        ],
    )
    def test_input_output_compares_the_output_too(
        self, team: Team, settings: Settings, fields: str, expected: list[set[int]], flagged: int
    ) -> None:
        # Given one question in two wordings, each answered two ways
        other_wording = "where is my new card, it still has not arrived"
        rows = [
            ExampleFactory.create(project=team.project, input=text, output=label)
            for text, label in [
                (QUESTION, "card_arrival"),
                (other_wording, "card_arrival"),
                (other_wording, "lost_or_stolen_card"),
                (QUESTION, "lost_or_stolen_card"),
            ]
        ]
        settings.FINCH_DEDUP_CHUNK_ROWS = 2

        # When an embedding job compares these fields
        job = run(team.project, team.lead, "embedding", threshold=0.9, fields=fields)

        # Then the clusters are the expected ones
        position = {example.pk: index for index, example in enumerate(rows)}
        found = sorted(
            (
                {position[pk] for pk in cluster.members.values_list("example_id", flat=True)}
                for cluster in DuplicateCluster.objects.all()
            ),
            key=min,
        )
        assert found == expected
        assert (job.clusters, job.flags_raised) == (len(expected), flagged)

    def test_a_rerun_embeds_only_the_new_texts(
        self, team: Team, settings: Settings, encoded: list[list[str]], verified: list[list[str]]
    ) -> None:
        # Given a job that embedded every example
        rows = self.question_rows(team.project)
        settings.FINCH_DEDUP_CHUNK_ROWS = 3
        run(team.project, team.lead, "embedding", threshold=0.9)
        assert sorted(text for call in encoded for text in call) == sorted(example.input for example in rows)
        encoded.clear()
        verified.clear()

        # When a new variant and a new unrelated question are added, and the job runs again
        newcomer = ExampleFactory.create(
            project=team.project, input="Where's my new card? Still not arrived."
        )
        stranger = ExampleFactory.create(
            project=team.project, input="Can I open a savings account for my child?"
        )
        job = run(team.project, team.lead, "embedding", threshold=0.9)

        # Then only the two new texts were embedded, and the variant joined the cluster
        assert sorted(text for call in encoded for text in call) == sorted([newcomer.input, stranger.input])
        assert verified == [[newcomer.input]]
        assert (job.examples_checked, job.clusters, job.duplicates_marked) == (10, 1, 1)
        newcomer.refresh_from_db()
        stranger.refresh_from_db()
        assert newcomer.duplicate_of_id == rows[0].pk
        assert stranger.duplicate_of_id is None
        assert DuplicateCluster.objects.count() == 1


@pytest.mark.django_db
class TestMinHashChunks:
    def test_many_chunks_find_the_same_clusters_and_marks_as_one_chunk(
        self, team: Team, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given the same examples in two projects, near-duplicates in different chunks of 2
        one_chunk_rows = add_rows(team.project, MINHASH_ROWS)
        other = ProjectFactory.create()
        MembershipFactory.create(project=other, user=team.lead, role="lead")  # whose jobs run
        chunked_rows = add_rows(other, MINHASH_ROWS)
        files_at_merge: list[list[str]] = []
        real_delete = dedup_chunks.sketches_discard

        def spying_delete(job: DedupJob) -> None:
            files_at_merge.append(sketch_files(job))
            real_delete(job)

        monkeypatch.setattr(dedup_chunks, "sketches_discard", spying_delete)

        # When one project's job runs as one chunk and the other's in chunks of 2
        whole = run(team.project, team.lead, "minhash", threshold=0.7)
        settings.FINCH_DEDUP_CHUNK_ROWS = 2
        chunked = run(other, team.lead, "minhash", threshold=0.7)

        # Then both find the expected clusters, with the same members, kept rows and similarities
        assert len(whole.chunk_bounds) == 1
        expected = outcome(team.project, one_chunk_rows)
        assert expected.member_sets() == MINHASH_CLUSTERS
        assert expected.marks == MINHASH_MARKS
        assert outcome(other, chunked_rows) == expected
        assert (chunked.clusters, chunked.duplicates_marked) == (whole.clusters, whole.duplicates_marked)
        assert (chunked.clusters, chunked.duplicates_marked) == (3, 4)

        # And the chunked job ran every chunk once, over every example that is not rejected
        assert chunked.chunk_bounds == bounds_of(chunked_rows, 2)
        assert len(chunked.chunk_bounds) == MINHASH_CHUNKS
        assert sorted(chunked.chunks_done) == list(range(MINHASH_CHUNKS))
        assert chunked.examples_checked == whole.examples_checked == CHECKED
        assert chunked.progress == whole.progress == 1.0
        assert chunked.finished_at is not None

        # And the merge found one sketch file per chunk, and deleted them all
        assert files_at_merge == [["chunk-00000.npz"], [f"chunk-{i:05d}.npz" for i in range(MINHASH_CHUNKS)]]
        assert sketch_files(whole) == sketch_files(chunked) == []
        for index in range(MINHASH_CHUNKS):
            assert not default_storage.exists(f"dedup-sketches/job-{chunked.pk}/chunk-{index:05d}.npz")

    def test_a_chunk_size_that_splits_a_cluster_three_ways_still_joins_it(
        self, team: Team, settings: Settings
    ) -> None:
        # Given the examples in chunks of 1: every member of every cluster in a chunk of its own
        rows = add_rows(team.project, MINHASH_ROWS)
        settings.FINCH_DEDUP_CHUNK_ROWS = 1

        # When the job runs
        job = run(team.project, team.lead, "minhash", threshold=0.7)

        # Then the clusters are the same as in one chunk
        assert len(job.chunk_bounds) == CHECKED
        assert outcome(team.project, rows).member_sets() == MINHASH_CLUSTERS
        assert job.examples_checked == CHECKED

    @pytest.mark.parametrize(("method", "static"), [("minhash", False), ("embedding", True)])
    def test_a_project_without_examples_succeeds_without_chunks(
        self, team: Team, queue: Queue, settings: Settings, method: str, static: bool
    ) -> None:
        # Given a project with only a rejected example (static candidates on for embeddings: a
        # job whose merge runs at once)
        add_rows(team.project, [("Lost card", REJECTED)])
        settings.FINCH_EMBEDDING_STATIC = static

        # When a job runs
        job = run(team.project, team.lead, method, threshold=0.9)

        # Then no chunk was queued, no merge either, and the job succeeded with nothing checked
        assert (queue.chunks, queue.merges) == ([], [])
        assert (job.chunk_bounds, job.chunks_done, job.examples_checked, job.clusters) == ([], [], 0, 0)


@pytest.mark.django_db
class TestRedelivery:
    def start(self, team: Team, settings: Settings, queue: Queue) -> tuple[DedupJob, list[Example]]:
        rows = add_rows(team.project, MINHASH_ROWS)
        settings.FINCH_DEDUP_CHUNK_ROWS = 2
        job = create_job(team.project, team.lead, "minhash", threshold=0.7)
        dedup_examples(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING
        assert queue.chunks == [(job.pk, index) for index in range(MINHASH_CHUNKS)]
        return job, rows

    def test_a_redelivered_chunk_is_counted_once_and_the_merge_applies_once(
        self, team: Team, settings: Settings, queue: Queue
    ) -> None:
        # Given a job whose chunks were queued but not run
        job, rows = self.start(team, settings, queue)

        # When chunks 0 and 1 run, then chunk 0 is delivered again
        dedup_chunk(job.pk, 0)
        dedup_chunk(job.pk, 1)
        dedup_chunk(job.pk, 0)

        # Then chunk 0 counts once, and no merge is queued yet
        job.refresh_from_db()
        assert job.chunks_done == [0, 1]
        assert job.examples_checked == 4
        assert job.progress == pytest.approx(CHUNKS_SHARE * 2 / MINHASH_CHUNKS)
        assert job.status == JobStatus.RUNNING
        assert queue.merges == []
        assert sketch_files(job) == ["chunk-00000.npz", "chunk-00001.npz"]

        # When the other chunks run, in another order, chunk 3 twice before the last one
        for index in (4, 3, 3, 2):
            dedup_chunk(job.pk, index)

        # Then every chunk counts once, and the last one queued the merge, once
        job.refresh_from_db()
        assert sorted(job.chunks_done) == list(range(MINHASH_CHUNKS))
        assert len(job.chunks_done) == MINHASH_CHUNKS
        assert job.examples_checked == CHECKED
        assert job.progress == pytest.approx(CHUNKS_SHARE)
        assert queue.merges == [job.pk]
        assert not DuplicateCluster.objects.exists()  # nothing is applied before the merge

        # When the merge runs
        dedup_merge(job.pk)

        # Then it applied the clusters once, and left no sketch file
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
        assert (job.examples_checked, job.clusters, job.duplicates_marked) == (CHECKED, 3, 4)
        assert outcome(team.project, rows).member_sets() == MINHASH_CLUSTERS
        assert outcome(team.project, rows).marks == MINHASH_MARKS
        assert sketch_files(job) == []

        # And a chunk delivered again after the job succeeded does nothing: no file, no merge
        dedup_chunk(job.pk, 1)
        job.refresh_from_db()
        assert (job.status, job.examples_checked, len(job.chunks_done)) == (
            JobStatus.SUCCEEDED,
            CHECKED,
            MINHASH_CHUNKS,
        )
        assert queue.merges == [job.pk]
        assert sketch_files(job) == []

    def test_a_last_chunk_delivered_twice_queues_the_merge_once(
        self, team: Team, settings: Settings, queue: Queue
    ) -> None:
        # Given a job whose chunks all ran, the last of them twice
        job, rows = self.start(team, settings, queue)
        for index in range(MINHASH_CHUNKS):
            dedup_chunk(job.pk, index)
        dedup_chunk(job.pk, MINHASH_CHUNKS - 1)
        job.refresh_from_db()
        assert job.chunks_done == list(range(MINHASH_CHUNKS))
        assert job.examples_checked == CHECKED

        # Then only the call that completed the set queued the merge (two would race)
        assert queue.merges == [job.pk]

        # And a merge delivered twice all the same runs once: the second finds the job finished
        dedup_merge(job.pk)
        job.refresh_from_db()
        first = (job.status, job.clusters, job.duplicates_marked, job.finished_at)
        applied = outcome(team.project, rows)
        dedup_merge(job.pk)

        # Then the clusters were applied once and the job's record is the first merge's
        job.refresh_from_db()
        assert first[:3] == (JobStatus.SUCCEEDED, 3, 4)
        assert (job.status, job.clusters, job.duplicates_marked, job.finished_at) == first
        assert outcome(team.project, rows) == applied
        assert applied.member_sets() == MINHASH_CLUSTERS
        assert DuplicateCluster.objects.count() == 3


@pytest.mark.django_db
class TestChangedRows:
    @pytest.mark.parametrize("change", ["unreject", "reject"])
    def test_a_chunk_redelivered_after_its_rows_changed_is_merged_as_rewritten(
        self, team: Team, settings: Settings, queue: Queue, change: str
    ) -> None:
        # Given chunks of 2 queued, and chunk 2 (rows 4 to 6) run once
        rows = add_rows(team.project, MINHASH_ROWS)
        settings.FINCH_DEDUP_CHUNK_ROWS = 2
        job = create_job(team.project, team.lead, "minhash", threshold=0.7)
        dedup_examples(job.pk)
        job.refresh_from_db()
        dedup_chunk(job.pk, 2)

        # When its rows change (one more or one fewer) and it is delivered again, then the rest run
        if change == "unreject":
            Example.objects.filter(pk=rows[REJECTED_ROW].pk).update(status=SUBMITTED)
        else:
            Example.objects.filter(pk=rows[4].pk).update(status="rejected")
        dedup_chunk(job.pk, 2)
        for index in (0, 1, 3, 4):
            dedup_chunk(job.pk, index)
        dedup_merge(job.pk)

        # Then the merge used what the files hold and counted what it compared
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
        expected = CHECKED + (1 if change == "unreject" else -1)
        assert job.examples_checked == expected
        assert outcome(team.project, rows).member_sets() >= {(1, frozenset({1, 6})), (2, frozenset({2, 7}))}


@pytest.mark.django_db
class TestFailedChunk:
    def test_a_failing_chunk_fails_the_job_and_later_steps_do_nothing(
        self, team: Team, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given examples in chunks of 2, and sketching that fails in the second chunk
        rows = add_rows(team.project, MINHASH_ROWS)
        settings.FINCH_DEDUP_CHUNK_ROWS = 2
        calls = 0
        real_sketch = dedup_chunks.sketch

        def failing_sketch(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("sketch worker ran out of memory")
            return real_sketch(*args, **kwargs)

        monkeypatch.setattr(dedup_chunks, "sketch", failing_sketch)

        # When the job runs
        job = create_job(team.project, team.lead, "minhash", threshold=0.7)
        dedup_examples(job.pk)

        # Then it failed with the error recorded; the chunks after the failure did no work
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert job.error == "sketch worker ran out of memory"
        assert "RuntimeError" in job.traceback
        assert job.finished_at is not None
        assert calls == 2
        assert job.chunks_done == [0]
        assert (job.clusters, job.duplicates_marked) == (0, 0)
        assert not DuplicateCluster.objects.exists()
        assert not Example.objects.filter(duplicate_of__isnull=False).exists()
        assert sketch_files(job) == []  # the first chunk's file went with the failure

        # When, without the failure, a chunk is delivered again, another runs late, and a merge runs
        monkeypatch.undo()
        failed_at = job.finished_at
        dedup_chunk(job.pk, 1)
        dedup_chunk(job.pk, 4)
        dedup_merge(job.pk)

        # Then the job stays failed as it was, and nothing was applied
        job.refresh_from_db()
        assert (job.status, job.error, job.finished_at) == (
            JobStatus.FAILED,
            "sketch worker ran out of memory",
            failed_at,
        )
        assert job.chunks_done == [0]
        assert not DuplicateCluster.objects.exists()
        assert not Example.objects.filter(duplicate_of__isnull=False).exists()

        # And a new job does the whole work
        again = run(team.project, team.lead, "minhash", threshold=0.7)
        assert (again.examples_checked, again.clusters, again.duplicates_marked) == (CHECKED, 3, 4)
        assert outcome(team.project, rows).member_sets() == MINHASH_CLUSTERS
        assert sketch_files(again) == []


@pytest.mark.django_db
class TestFinishedMerge:
    def test_a_merge_for_a_job_that_already_succeeded_does_nothing(
        self, team: Team, settings: Settings
    ) -> None:
        # Given a job that succeeded in chunks
        rows = add_rows(team.project, MINHASH_ROWS)
        settings.FINCH_DEDUP_CHUNK_ROWS = 2
        job = run(team.project, team.lead, "minhash", threshold=0.7)
        before = outcome(team.project, rows)
        record = (job.status, job.examples_checked, job.clusters, job.duplicates_marked, job.finished_at)

        # When its merge is delivered again (and, on changed data, would find a new duplicate)
        ExampleFactory.create(project=team.project, input=MINHASH_ROWS[4][0].upper())
        dedup_merge(job.pk)

        # Then nothing changed: no cluster, no mark, not the job's record
        job.refresh_from_db()
        assert (job.status, job.examples_checked, job.clusters, job.duplicates_marked, job.finished_at) == (
            record
        )
        assert record[:4] == (JobStatus.SUCCEEDED, CHECKED, 3, 4)
        assert outcome(team.project, rows) == before
        assert DuplicateCluster.objects.count() == 3
        assert Example.objects.filter(duplicate_of__isnull=False).count() == 4
