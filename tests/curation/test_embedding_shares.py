"""The model's work in an embedding merge shared with free workers (curation/services/
embedding_shares.py): shares taken once each, by the merge or by helper tasks; a share whose
taker died is taken back; every text embedded once and every embedding returned.

Celery runs eagerly in tests: a helper queued by the merge runs at once, inline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from pytest_django import Settings

from curation import tasks
from curation.dedup.embeddings import native_bfloat16
from curation.models import DedupJob, DuplicateCluster, EmbeddingShare, JobStatus
from curation.services import dedup_chunks, embedding_cache, embedding_shares
from curation.tasks import dedup_examples
from tests.conftest import Team
from tests.curation.test_dedup_chunks import QUESTION, UNRELATED, VARIANTS
from tests.factories import ExampleFactory

TEXTS = [QUESTION, *VARIANTS, *UNRELATED, "Can I pay with my phone in shops?"]


@pytest.fixture(autouse=True)
def small_shares(settings: Settings) -> None:
    """Shares of two texts (shared from four); the model itself embeds (no int8 copy)."""
    settings.FINCH_EMBEDDING_INT8 = False
    settings.FINCH_EMBEDDING_SHARE_TEXTS = 2


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The texts of every call to the model."""
    calls: list[list[str]] = []
    real_encode = embedding_cache.encode

    def counting_encode(texts: list[str], path: str, **options: Any) -> Any:
        calls.append(list(texts))
        return real_encode(texts, path, **options)

    monkeypatch.setattr(embedding_cache, "encode", counting_encode)
    return calls


@pytest.fixture
def helpers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Helper tasks are recorded (by job id), not run: the merge alone takes the shares."""
    queued: list[int] = []

    def record(job_id: int) -> None:
        queued.append(job_id)

    monkeypatch.setattr(tasks.embed_shares, "delay", record)
    return queued


def new_job(team: Team) -> DedupJob:
    return DedupJob.objects.create(
        project=team.project, created_by=team.lead, method="embedding", threshold=0.9
    )


def missing_of(texts: list[str]) -> dict[str, str]:
    return {embedding_cache.text_key(text): text for text in texts}


def model_vectors(texts: list[str]) -> dict[str, np.ndarray]:
    vectors = embedding_cache.encode(texts, embedding_cache.model_path())
    return {embedding_cache.text_key(text): vector for text, vector in zip(texts, vectors, strict=True)}


def assert_same_vectors(found: dict[str, Any], expected: dict[str, np.ndarray]) -> None:
    """Each text's own vector. In fp32 a text's vector is the same in any batch; in bfloat16
    (where the CPU has it natively) it moves with its batch mates' padding by up to ~6e-4."""
    assert found.keys() == expected.keys()
    tolerance = 2e-3 if native_bfloat16() else 1e-5
    for key, vector in expected.items():
        np.testing.assert_allclose(found[key], vector, atol=tolerance)


@pytest.mark.django_db
def test_with_no_free_worker_the_merge_embeds_every_share_itself(
    team: Team, embedded: list[list[str]], helpers: list[int]
) -> None:
    # Given a merge with 9 texts to embed, in shares of 2, and no worker free to help
    job = new_job(team)
    expected = model_vectors(TEXTS)
    embedded.clear()

    # When the merge embeds them
    found = embedding_shares.sharing(job)(missing_of(TEXTS), fast=False)

    # Then it embedded each text once, share by share, and returns every embedding
    assert_same_vectors(found, expected)
    assert sorted(text for call in embedded for text in call) == sorted(TEXTS)
    assert max(len(call) for call in embedded) == 2
    # And it queued helpers for the other 4 shares, deleted its shares, and a helper run later
    # finds nothing to do
    assert helpers == [job.pk] * 4
    assert not EmbeddingShare.objects.exists()
    embedding_shares.help_embed(job.pk)
    assert len(embedded) == 5


@pytest.mark.django_db
def test_the_merge_is_told_how_far_the_shares_have_got(team: Team, helpers: list[int]) -> None:
    # Given a merge with 9 texts to embed in shares of 2 (5 shares), no worker free to help
    job = new_job(team)
    told: list[float] = []

    # When the merge embeds them, told as each share is done
    embedding_shares.sharing(job, told.append)(missing_of(TEXTS), fast=False)

    # Then it was told after each of the five
    assert told == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_the_merges_bar_follows_the_furthest_embedding_call() -> None:
    # Given the merge's bar, between the chunks' share (0.8) and the groups found (0.9)
    bar: list[float] = []
    done = dedup_chunks._embedding_progress(lambda fraction, **counts: bar.append(fraction))

    # When a first embedding call gets half way and ends, and a second, smaller one starts
    for share in (0.5, 1.0, 0.25):
        done(share)

    # Then the bar moved with the first and did not go back for the second
    assert bar == pytest.approx([0.85, 0.9, 0.9])


@pytest.mark.django_db
def test_a_free_worker_takes_the_shares_and_the_merge_reads_its_embeddings_from_the_cache(
    team: Team, embedded: list[list[str]]
) -> None:
    # Given a merge whose helper runs at once (eager Celery: the first one takes every share)
    job = new_job(team)
    expected = model_vectors(TEXTS)
    embedded.clear()

    # When the merge embeds 9 texts
    found = embedding_shares.sharing(job)(missing_of(TEXTS), fast=False)

    # Then each was embedded once, by the helper, and stored; the merge read them back
    assert_same_vectors(found, expected)
    assert sorted(text for call in embedded for text in call) == sorted(TEXTS)
    assert embedding_cache.uncached(TEXTS) == {}
    assert not EmbeddingShare.objects.exists()


@pytest.mark.django_db
def test_a_few_texts_are_embedded_by_the_merge_without_shares(
    team: Team, embedded: list[list[str]], helpers: list[int]
) -> None:
    found = embedding_shares.sharing(new_job(team))(missing_of(TEXTS[:3]), fast=False)

    assert found.keys() == missing_of(TEXTS[:3]).keys()
    assert embedded == [sorted(TEXTS[:3], key=embedding_cache.text_key)]
    assert helpers == []


@pytest.mark.django_db
def test_a_share_taken_by_a_worker_that_died_is_taken_back_after_the_wait(
    team: Team, monkeypatch: pytest.MonkeyPatch, embedded: list[list[str]]
) -> None:
    # Given a helper that takes one share and dies before embedding it
    job = new_job(team)
    monkeypatch.setattr(embedding_shares, "STALE_SECONDS", 0.3)
    taken: list[EmbeddingShare] = []

    def dying_helper(job_id: int) -> None:
        if not taken:
            share = embedding_shares._take(EmbeddingShare.objects.filter(job_id=job_id))
            assert share is not None
            taken.append(share)

    monkeypatch.setattr(tasks.embed_shares, "delay", dying_helper)
    expected = model_vectors(TEXTS)
    embedded.clear()

    # When the merge embeds 9 texts
    found = embedding_shares.sharing(job)(missing_of(TEXTS), fast=False)

    # Then the merge took the dead helper's share back and embedded it too: every text once
    assert_same_vectors(found, expected)
    assert sorted(text for call in embedded for text in call) == sorted(TEXTS)
    assert set(taken[0].texts) <= {text for call in embedded for text in call}


@pytest.mark.django_db
def test_a_share_is_taken_once_and_a_recent_claim_is_not_taken_back(team: Team) -> None:
    # Given three shares, one claimed a moment ago and one claimed long ago
    job = new_job(team)
    shares = EmbeddingShare.objects.bulk_create(
        EmbeddingShare(job=job, fast=False, texts=[text]) for text in TEXTS[:3]
    )
    now = timezone.now()
    EmbeddingShare.objects.filter(pk=shares[1].pk).update(claimed_at=now)
    EmbeddingShare.objects.filter(pk=shares[2].pk).update(claimed_at=now - timedelta(minutes=5))
    queryset = EmbeddingShare.objects.filter(job=job)

    # When processes take shares: one that does not take stale claims, then the merge's way
    first = embedding_shares._take(queryset)
    second = embedding_shares._take(queryset)
    back = embedding_shares._take(queryset, stale_after=60)
    last = embedding_shares._take(queryset, stale_after=60)

    # Then the free share goes once, the stale claim goes back once, the recent one never
    assert first is not None and first.pk == shares[0].pk
    assert second is None
    assert back is not None and back.pk == shares[2].pk
    assert last is None


@pytest.mark.django_db
def test_a_helper_that_fails_frees_its_share_for_another(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a share and a worker whose model fails
    job = new_job(team)
    share = EmbeddingShare.objects.create(job=job, fast=False, texts=TEXTS[:2])

    def broken(missing: dict[str, str], *, fast: bool = False) -> dict[str, Any]:
        raise RuntimeError("model file unreadable")

    monkeypatch.setattr(embedding_cache, "embed_stored", broken)

    # When a helper runs, it fails
    with pytest.raises(RuntimeError):
        embedding_shares.help_embed(job.pk)

    # Then the share is free again and not done
    share.refresh_from_db()
    assert share.claimed_at is None and not share.done


@pytest.mark.django_db
def test_a_helper_for_a_finished_job_takes_nothing(team: Team, embedded: list[list[str]]) -> None:
    job = new_job(team)
    EmbeddingShare.objects.create(job=job, fast=False, texts=TEXTS[:2])
    DedupJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)

    embedding_shares.help_embed(job.pk)

    assert embedded == []
    assert EmbeddingShare.objects.get().claimed_at is None


@pytest.mark.django_db
def test_a_static_candidates_job_with_shares_finds_the_cluster_and_leaves_no_shares(
    team: Team, settings: Settings, monkeypatch: pytest.MonkeyPatch, embedded: list[list[str]]
) -> None:
    # Given static candidates on and a question with its variants among unrelated questions
    settings.FINCH_EMBEDDING_STATIC = True
    rows = [ExampleFactory.create(project=team.project, input=text) for text in TEXTS]
    queued: list[int] = []
    real_delay = tasks.embed_shares.delay

    def queue(job_id: int) -> None:
        queued.append(job_id)
        real_delay(job_id)

    monkeypatch.setattr(tasks.embed_shares, "delay", queue)

    # When an embedding job runs (its merge shares the texts to embed with a helper)
    job = DedupJob.objects.create(
        project=team.project, created_by=team.lead, method="embedding", threshold=0.9
    )
    dedup_examples(job.pk)
    job.refresh_from_db()

    # Then the question and its variants are one cluster, each text was embedded once, the
    # helper's embedding time is on the job's record, and no share is left
    assert job.status == JobStatus.SUCCEEDED, job.error
    variants = {example.pk for example in rows if example.input in (QUESTION, *VARIANTS)}
    cluster = DuplicateCluster.objects.get()
    assert set(cluster.members.values_list("example_id", flat=True)) == variants
    texts = [text for call in embedded for text in call]
    assert len(texts) == len(set(texts)) >= 4
    assert queued and set(queued) == {job.pk}
    assert job.phases.get("embed", 0) > 0
    assert not EmbeddingShare.objects.exists()
