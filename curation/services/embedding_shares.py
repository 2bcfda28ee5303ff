"""The model's work in an embedding dedup job's merge, shared with every idle worker.

On the int8 path the chunks embed every text on every worker before the merge. With static
candidates only the merge knows which texts the model must embed (the descent's next step, then
the one after), so it embeds them while it runs: at a million texts, 750,000 texts by the int8
copy and 120,000 by the model, most of the job's time. When a step has two shares' worth of
texts to embed or more (FINCH_EMBEDDING_SHARE_TEXTS a share), the merge splits them into shares
(EmbeddingShare rows) and queues helper tasks on the `quality` queue; any worker free to run
one takes shares until none is left, as the merge does itself, and stores their embeddings in
the cache; the merge then reads those back. A share is taken by one process
(a conditional update, the same on PostgreSQL and SQLite). With one worker the merge embeds
every share itself and the helpers, run after it, find nothing to do. A share taken by a worker
that died or stalls is taken back by the merge after STALE_SECONDS, or after ten times the
merge's own time for a share where that is longer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from curation.dedup.embeddings import Vectors
from curation.models import DedupJob, EmbeddingShare
from curation.phases import phase, timing
from curation.services import embedding_cache as cache
from curation.services.job_phases import phases_flush

log = logging.getLogger(__name__)

HELPERS = 16  # helper tasks queued at most per step: each takes shares until none is left
STALE_SECONDS = 60.0
POLL_SECONDS = 0.05


Done = Callable[[float], None]  # told the share of a call's shares done, as they get done


def sharing(job: DedupJob, done: Done | None = None) -> cache.Embedder:
    """How a merge of `job` embeds the texts missing from the cache: as embed_stored does, with
    two shares' worth or more shared with the workers that are free (`done` told how far each
    such call has got)."""

    def embedder(missing: dict[str, str], *, fast: bool = False) -> dict[str, Vectors]:
        if len(missing) < 2 * settings.FINCH_EMBEDDING_SHARE_TEXTS:
            return cache.embed_stored(missing, fast=fast)
        return shared_embeddings(job, missing, fast=fast, done=done)

    return embedder


def shared_embeddings(
    job: DedupJob, missing: dict[str, str], *, fast: bool, done: Done | None = None
) -> dict[str, Vectors]:
    """Embed the texts (by text_key) into the cache in shares, here and on any free worker, and
    return their embeddings: those made here as they are, the others' read from the cache."""
    pending = _share_out(job, list(missing.values()), fast)
    _queue_helpers(job, min(HELPERS, len(pending) - 1))
    found = _take_part(job, pending, done or (lambda share: None))
    with phase("read"):
        found |= cache.known_vectors(sorted(missing.keys() - found.keys()), fast=fast)
    lost = {key: text for key, text in missing.items() if key not in found}  # not stored after all
    return found | cache.embed_stored(lost, fast=fast)


def _share_out(job: DedupJob, texts: list[str], fast: bool) -> set[int]:
    size = settings.FINCH_EMBEDDING_SHARE_TEXTS
    shares = EmbeddingShare.objects.bulk_create(
        EmbeddingShare(job=job, fast=fast, texts=texts[start : start + size])
        for start in range(0, len(texts), size)
    )
    return {share.pk for share in shares}


def _queue_helpers(job: DedupJob, count: int) -> None:
    from curation.tasks import embed_shares

    for _ in range(count):
        embed_shares.delay(job.pk)


def _take_part(job: DedupJob, pending: set[int], done: Done) -> dict[str, Vectors]:
    """Embed shares until every one is done, waiting for those others took; the embeddings made
    here, by text_key. The shares are deleted once done."""
    ids, held = set(pending), dict[str, Vectors]()
    seconds_per_share: list[float] = []
    while pending:
        share = _take(EmbeddingShare.objects.filter(pk__in=pending), stale_after=_patience(seconds_per_share))
        if share is not None:
            started = time.perf_counter()
            held.update(_embed(share))
            seconds_per_share.append(time.perf_counter() - started)
            pending.discard(share.pk)
        else:
            pending -= set(
                EmbeddingShare.objects.filter(pk__in=pending, done=True).values_list("pk", flat=True)
            )
            if pending:
                time.sleep(POLL_SECONDS)
        done(1 - len(pending) / len(ids))
    EmbeddingShare.objects.filter(pk__in=ids).delete()
    log.info("dedup job %s: %d shares embedded, %d of them here", job.pk, len(ids), len(seconds_per_share))
    return held


def _patience(seconds_per_share: list[float]) -> float:
    own = 10 * sum(seconds_per_share) / len(seconds_per_share) if seconds_per_share else 0.0
    return max(STALE_SECONDS, own)


def help_embed(job_id: int) -> None:
    """A helper's part: take shares of the job's embedding work until none is left (nothing
    when the job has finished or none is left already)."""
    job = DedupJob.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return
    with timing():  # the helper's embed time is added to the job's phases, as a chunk's is
        while (share := _take(job.embedding_shares.all())) is not None:
            _embed(share)
        phases_flush(job)


def _take(shares: QuerySet[EmbeddingShare], *, stale_after: float | None = None) -> EmbeddingShare | None:
    """Claim one of the shares not taken yet (or taken more than `stale_after` seconds ago), or
    None when there is none: only one process's conditional update succeeds."""
    now = timezone.now()
    free = Q(claimed_at__isnull=True)
    if stale_after is not None:
        free |= Q(claimed_at__lt=now - timedelta(seconds=stale_after))
    for pk in shares.filter(free, done=False).values_list("pk", flat=True)[:8]:
        if EmbeddingShare.objects.filter(free, pk=pk, done=False).update(claimed_at=now):
            return EmbeddingShare.objects.get(pk=pk)
    return None


def _embed(share: EmbeddingShare) -> dict[str, Vectors]:
    """Embed a share's texts into the cache and mark it done; on failure, free it for another."""
    try:
        vectors = cache.embed_stored({cache.text_key(text): text for text in share.texts}, fast=share.fast)
    except Exception:
        EmbeddingShare.objects.filter(pk=share.pk).update(claimed_at=None)
        raise
    EmbeddingShare.objects.filter(pk=share.pk).update(done=True)
    return vectors
