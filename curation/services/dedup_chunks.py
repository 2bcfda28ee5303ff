"""MinHash and embedding dedup jobs in chunks: the per-example work (normalize, shingle, hash;
or embed) runs as a Celery group of chunk tasks over id ranges, on as many workers and hosts as
there are; the last chunk to finish queues the merge, which finds the groups and applies them in
one transaction. An embedding job with static candidates has no per-example work (its merge
embeds only the candidates' texts, sharing big steps with free workers): it runs its merge at
once, with no chunks.

What a chunk leaves for the merge: MinHash sketches in the default storage (shared by all hosts
in production: S3 or a shared volume), embeddings in the embedding cache. A redelivered chunk
(its worker died) simply redoes its range; nothing is applied before the merge.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Avg, QuerySet
from django.db.models.functions import Length
from numpy.lib.npyio import NpzFile

from curation.dedup import short_texts
from curation.dedup.minhash import (
    Shingling,
    Sketches,
    Verified,
    WordChannel,
    bands_for,
    bucket_pairs,
    grouped,
    sketch,
    verified_groups,
)
from curation.models import DedupFields, DedupJob, DedupMethod, Example, Shingle
from curation.phases import phase
from curation.services import embedding_candidates, embedding_shares, lsh_index
from curation.services.dedup import (
    DEFAULT_THRESHOLDS,
    apply_groups,
    example_texts,
    job_examples,
    word_folding,
)
from curation.services.embedding_cache import (
    Embedder,
    embed_missing,
    fast_available,
    model_cosines,
    similar_text_pairs,
)
from curation.services.job_phases import phases_flush
from curation.services.jobs import HANDED_OFF, HandedOff, ProgressFn
from curation.services.lookups import matching

SKETCH_BATCH = 20_000
LENGTH_SAMPLE = 10_000
CHUNKS_SHARE = 0.8  # of the progress bar: the chunks; the merge does the rest
MERGED = 0.9  # the groups found: what is left is writing them


def chunks_dispatch(job: DedupJob, progress: ProgressFn) -> HandedOff | None:
    """Plan the chunks (id ranges), settle the shingling for every chunk alike, queue them. An
    embedding job whose merge takes static candidates runs its merge here: its chunks would have
    nothing to do (the merge embeds only the candidates' texts), and each queued task costs a
    hop and a read of its rows."""
    from celery import group

    from curation.tasks import dedup_chunk

    with phase("read"):
        ids = list(job_examples(job).values_list("id", flat=True))
        shingling = _shingling_for(job)
    merge_alone = job.method == DedupMethod.EMBEDDING and embedding_candidates.enabled(_threshold(job))
    size = max(len(ids), 1) if merge_alone else settings.FINCH_DEDUP_CHUNK_ROWS  # one range, if any
    bounds = [[ids[start], ids[min(start + size, len(ids)) - 1]] for start in range(0, len(ids), size)]
    job.shingle, job.ngram = (Shingle.WORD if shingling.words else Shingle.CHAR), shingling.ngram
    job.chunk_bounds, job.chunks_done = bounds, list(range(len(bounds))) if merge_alone else []
    job.examples_checked = len(ids) if merge_alone else 0
    job.save(update_fields=["shingle", "ngram", "chunk_bounds", "chunks_done", "examples_checked"])
    if not bounds:
        apply_groups(job, [], lambda a, b: 0.0, 0)
        return None
    if merge_alone:
        merge_run(job, progress)
        return None
    group(dedup_chunk.s(job.pk, index) for index in range(len(bounds))).apply_async()
    return HANDED_OFF


def _shingling_for(job: DedupJob) -> Shingling:
    if job.shingle != Shingle.AUTO:
        return Shingling.choose(job.shingle, job.ngram)
    length = Length("input") + (Length("output") if job.fields == DedupFields.INPUT_OUTPUT else 0)
    # The mean stands in for the median (a portable aggregate), of the first examples only (the
    # whole table's took a second at 100,000): only which side of the line counts.
    mean = job_examples(job)[:LENGTH_SAMPLE].aggregate(mean=Avg(length))["mean"]
    return Shingling.choose(Shingle.AUTO, job.ngram, int(mean or 0))


def chunk_run(job: DedupJob, index: int) -> None:
    """Do one chunk's per-example work, then count it done; the last chunk queues the merge."""
    first, last = job.chunk_bounds[index]
    examples = job_examples(job).filter(id__gte=first, id__lte=last)
    with phase("read"):
        ids, texts = example_texts(job, examples)
    if job.method == DedupMethod.MINHASH:
        with phase("sketch"):  # the sketches and their file, which the merge reads
            sketches = _sketches(job, texts)
            words = _word_keys(job, texts)
            _save_sketches(job, index, np.asarray(ids, dtype=np.int64), sketches, words)
        if lsh_index.enabled():
            with phase("candidates"):
                lsh_index.index_add(job, np.asarray(ids, dtype=np.int64), sketches.keys)
    elif not embedding_candidates.enabled(_threshold(job)):  # with them the merge runs alone
        embed_missing(texts, fast=fast_available())  # what the merge needs is then in the cache
    phases_flush(job)  # this chunk's share is on the record before the merge can finish the job
    if _count_done(job, index, len(ids)):
        from curation.tasks import dedup_merge

        dedup_merge.delay(job.pk)


def _covered(job: DedupJob) -> QuerySet[Example]:
    """The examples the planned chunks cover (not those added since the job started)."""
    return job_examples(job).filter(id__lte=job.chunk_bounds[-1][1])


def _sketches(job: DedupJob, texts: list[str]) -> Sketches:
    shingling = Shingling.choose(job.shingle, job.ngram)
    parts = [
        sketch(
            texts[start : start + SKETCH_BATCH], shingling, threshold=_threshold(job), num_perm=job.num_perm
        )
        for start in range(0, len(texts), SKETCH_BATCH)
    ]
    return (
        Sketches.join(parts)
        if parts
        else sketch([], shingling, threshold=_threshold(job), num_perm=job.num_perm)
    )


class WordKeys(NamedTuple):
    """What a chunk keeps for the word rule of short texts: (row, key) pairs and in how many of
    its texts each folded word occurs."""

    rows: npt.NDArray[np.int64]
    keys: npt.NDArray[np.int64]
    frequencies: Counter[str]

    @classmethod
    def none(cls) -> WordKeys:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), Counter())


def _word_keys(job: DedupJob, texts: list[str]) -> WordKeys:
    if not words_apply(job):
        return WordKeys.none()
    folding = word_folding(job.project)
    words = folding.short(texts)
    return WordKeys(*short_texts.key_rows(words), short_texts.document_frequencies(words))


def words_apply(job: DedupJob) -> bool:
    """Short texts are compared word by word too in MinHash jobs on inputs (a pair of fields
    has no one sentence to read)."""
    return job.method == DedupMethod.MINHASH and job.fields == DedupFields.INPUT


def _count_done(job: DedupJob, index: int, checked: int) -> bool:
    """Record the chunk as done, once even when redelivered; True for the call that completed
    the set, which alone queues the merge (two merges would race to apply the same groups)."""
    with transaction.atomic():
        locked = DedupJob.objects.select_for_update().get(pk=job.pk)
        if index in locked.chunks_done:
            return False
        locked.chunks_done = [*locked.chunks_done, index]
        locked.examples_checked += checked
        locked.progress = CHUNKS_SHARE * len(locked.chunks_done) / len(locked.chunk_bounds)
        locked.save(update_fields=["chunks_done", "examples_checked", "progress"])
        return len(locked.chunks_done) == len(locked.chunk_bounds)


def merge_run(job: DedupJob, progress: ProgressFn) -> None:
    """Find the groups from every chunk's work, apply them, and clean up."""
    progress(CHUNKS_SHARE)
    embedder = embedding_shares.sharing(job, _embedding_progress(progress))
    if job.method == DedupMethod.MINHASH:
        ids, found = _minhash_groups(job, embedder)
    else:
        with phase("read"):
            ids, texts = example_texts(job, _covered(job))
        found = grouped(*similar_text_pairs(texts, _threshold(job), embedder=embedder))
    progress(MERGED)
    row_of = {pk: row for row, pk in enumerate(ids)}
    with phase("write"):
        apply_groups(
            job,
            [[ids[row] for row in group] for group in found.groups],
            lambda a, b: found.similarity(row_of[a], row_of[b]),
            len(ids),
            {ids[row]: count for row, count in found.links.items()},
        )
        sketches_discard(job)


def _embedding_progress(progress: ProgressFn) -> embedding_shares.Done:
    """The merge's bar while texts are embedded in shares: between the chunks' share and
    MERGED, as far as the furthest embedding call has got (the first holds most texts: the
    int8 copy's or the static candidates' in an embedding job, the model's for a MinHash job's
    word rule)."""
    furthest = 0.0

    def done(share: float) -> None:
        nonlocal furthest
        furthest = max(furthest, share)
        progress(CHUNKS_SHARE + (MERGED - CHUNKS_SHARE) * furthest)

    return done


def _minhash_groups(job: DedupJob, embedder: Embedder) -> tuple[list[int], Verified]:
    with phase("read"):
        ids, sketches, word_keys = _load_all_sketches(job)
    shingling = Shingling.choose(job.shingle, job.ngram)

    def texts_of(rows: list[int]) -> list[str]:  # while verifying: only the candidates' texts
        return _read(
            job, [ids[row] for row in rows], lambda examples: zip(*example_texts(job, examples), strict=True)
        )

    words = None
    if words_apply(job):
        with phase("candidates"):
            words = _word_channel(job, ids, word_keys, embedder)
    candidates = None
    if lsh_index.enabled():  # the buckets the chunks built in Redis
        with phase("candidates"):
            row_of = {pk: row for row, pk in enumerate(ids)}
            buckets = lsh_index.shared_buckets(job, sketches.keys.shape[1])
            rows = ([row_of[pk] for pk in bucket if pk in row_of] for bucket in buckets)
            candidates = bucket_pairs(sorted(bucket) for bucket in rows)
    return ids, verified_groups(sketches, texts_of, shingling, _threshold(job), candidates, words)


def _word_channel(job: DedupJob, ids: list[int], word_keys: WordKeys, embedder: Embedder) -> WordChannel:
    """The word rule's candidate pairs and weights from every chunk's keys, and the model for a
    word dropped or changed (the inputs as written; their embeddings shared out as an
    embedding job's are)."""
    rule = short_texts.WordRule(
        word_folding(job.project), short_texts.Weights(word_keys.frequencies, len(ids))
    )
    pairs = short_texts.candidate_pairs(word_keys.rows, word_keys.keys)
    inputs = short_texts.Meaning(
        lambda rows: _read(
            job, [ids[row] for row in rows], lambda examples: examples.values_list("id", "input")
        ),
        lambda texts: model_cosines(texts, embedder=embedder),
    )
    return WordChannel(rule, pairs, inputs)


def _read(
    job: DedupJob, wanted: list[int], pairs: Callable[[QuerySet[Example]], Iterable[tuple[int, str]]]
) -> list[str]:
    """A text of each wanted example, in order: `pairs` gives (id, text) for a slice of them. An
    example deleted since its chunk ran reads as empty; applying leaves it out."""
    found: dict[int, str] = {}
    with phase("read"):
        for examples in matching(_covered(job), "id", wanted, sql_type="bigint"):
            found.update(pairs(examples))
    return [found.get(pk, "") for pk in wanted]


def _threshold(job: DedupJob) -> float:
    return job.threshold if job.threshold is not None else DEFAULT_THRESHOLDS[DedupMethod(job.method)]


def _sketch_folder(job: DedupJob) -> str:
    return f"dedup-sketches/job-{job.pk}"


def _sketch_name(job: DedupJob, index: int) -> str:
    return f"{_sketch_folder(job)}/chunk-{index:05d}.npz"


def _save_sketches(job: DedupJob, index: int, ids: np.ndarray, sketches: Sketches, words: WordKeys) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=ids,
        keys=sketches.keys,
        bins=sketches.bins,
        word_rows=words.rows,
        word_keys=words.keys,
        vocabulary=np.array(list(words.frequencies), dtype=str),
        vocabulary_counts=np.array(list(words.frequencies.values()), dtype=np.int64),
    )
    name = _sketch_name(job, index)
    default_storage.delete(name)  # a redelivered chunk replaces its own file
    default_storage.save(name, ContentFile(buffer.getvalue()))


def _load_all_sketches(job: DedupJob) -> tuple[list[int], Sketches, WordKeys]:
    """Every chunk's sketches in one preallocated pair of arrays (no second copy while joining),
    sized from the files themselves, which a redelivered chunk may have rewritten; and every
    chunk's word keys, their rows numbered as the sketches'."""
    chunk_ids = [_load_chunk(job, index)["ids"] for index in range(len(job.chunk_bounds))]
    bands = bands_for(_threshold(job), job.num_perm)
    sketches = Sketches.empty(sum(len(part) for part in chunk_ids), bands, job.num_perm)
    ids: list[int] = []
    word_rows, word_keys, frequencies = [], [], Counter[str]()
    for index in range(len(job.chunk_bounds)):
        data = _load_chunk(job, index)
        sketches.keys[len(ids) : len(ids) + len(chunk_ids[index])] = data["keys"]
        sketches.bins[len(ids) : len(ids) + len(chunk_ids[index])] = data["bins"]
        word_rows.append(data["word_rows"] + len(ids))
        word_keys.append(data["word_keys"])
        frequencies.update(
            dict(zip(data["vocabulary"].tolist(), data["vocabulary_counts"].tolist(), strict=True))
        )
        ids.extend(chunk_ids[index].tolist())
    words = (
        WordKeys(np.concatenate(word_rows), np.concatenate(word_keys), frequencies)
        if word_rows
        else WordKeys.none()
    )
    return ids, sketches, words


def _load_chunk(job: DedupJob, index: int) -> NpzFile:
    """A chunk's file: ids, keys and bins of its sketches, its word keys and counts (each array
    read when first asked for)."""
    with default_storage.open(_sketch_name(job, index), "rb") as handle:
        return np.load(io.BytesIO(handle.read()))


def sketches_discard(job: DedupJob) -> None:
    """Delete the job's sketch files and their folder, and any embedding shares a failed merge
    left (after the merge, or when the job failed)."""
    job.embedding_shares.all().delete()
    for index in range(len(job.chunk_bounds)):
        default_storage.delete(_sketch_name(job, index))
    default_storage.delete(_sketch_folder(job))  # FileSystemStorage removes an empty folder
    if job.method == DedupMethod.MINHASH and lsh_index.enabled():
        lsh_index.index_drop(job, bands_for(_threshold(job), job.num_perm))
