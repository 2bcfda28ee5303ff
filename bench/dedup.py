"""MinHash dedup benchmark: a dedup job end to end on a running service (API request, worker
reads the database, normalizes, shingles, hashes, LSH, verifies, writes marks) against two
in-memory anchors run in the same process tree on the same texts: the datasketch reference
pipeline and a rensa (Rust MinHash) pipeline.

    .venv/bin/python bench/dedup.py [--rows 100000] [--repeat 3] [--reference-rows 20000]
                                    [--backend postgresql] [--short]

The anchors are bench-only dependencies: `pip install -e .[bench]`.

Texts: 100 to 600 characters each, strung together from real banking77 and restaurant8k
sentences (bench/corpus.py), 5% of them planted near-duplicates of others. Each repetition
clears the job's marks and runs the job again, then the rensa pipeline, back to back; the
figures printed are each repetition's and the medians.
- datasketch reference: MinHash.generator -> LeanMinHash -> MinHashLSH(threshold, num_perm)
  with an insertion session, a query for every document, union-find; once, on --reference-rows
  texts of their own (it is slow) made the same way.
- rensa: character 5-grams of the normalized texts built in Python (rensa takes tokens) ->
  RMinHash.from_token_sets -> RMinHashLSH(threshold, num_perm, 16 bands) -> query_all ->
  candidate pairs kept whose estimated Jaccard reaches the threshold -> union-find.
Found: a planted (original, copy) pair whose true Jaccard (character 5-grams of the normalized
texts, bench/corpus.py's own oracle) reaches the threshold is found when both texts end up kept
as the same example (for Finch: the copy, the original or both marked duplicates of one kept
example; for the anchors: both in one group). Recall: found / such planted pairs. Precision:
texts marked duplicates whose true Jaccard to the example they are kept as (for the anchors:
their group's first text) reaches the threshold / texts marked.
Target (issue 25): Finch end to end at least as fast as rensa in memory, recall and precision
at least 0.99.

--short: short messages as a support inbox holds them instead (bench/corpus.py short_messages:
every real banking77 and restaurant8k sentence, 24,617, then copies with one or two edits: a
word dropped or added, a filler, a typo, case, punctuation). Finch's job compares them word by
word too (issue 26), asking the embedding model whether a word dropped or added changes the
request; each run starts with the embedding cache empty, as a team's first job does. rensa
compares n-grams only, so it misses what the word rule adds. A mark counts as correct when the
true Jaccard reaches the threshold or the two texts line up word by word but for typos,
fillers and one word (the model's cosine is not re-checked here: bench/short_texts.py does).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import near_duplicate, short_messages, text, true_jaccard
from bench.harness import Service, cpuid_note, run_django, running_service

THRESHOLD, NUM_PERM, NGRAM = 0.8, 128, 5
RENSA_BANDS = 16
LOW, HIGH = 100, 600
CLEAR_SCRIPT = """
from curation.models import DuplicateCluster, Example
Example.objects.filter(project_id={project}).update(duplicate_of=None)
DuplicateCluster.objects.filter(project_id={project}).delete()
"""
COLD_SCRIPT = """
from curation.models import CachedEmbedding
CachedEmbedding.objects.all().delete()
"""
Roots = list[int]


def corpus(count: int, share: float = 0.05, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """`count` distinct texts of LOW to HIGH characters, the last `share` of them planted
    near-duplicates of earlier ones; and the planted (original, copy) pairs."""
    rng = random.Random(seed)
    seen: set[str] = set()
    texts: list[str] = []
    while len(texts) < count - int(count * share):
        candidate = text(rng, LOW, HIGH)
        if candidate not in seen:
            seen.add(candidate)
            texts.append(candidate)
    planted = []
    originals = len(texts)
    while len(texts) < count:
        source = rng.randrange(originals)
        copy = near_duplicate(rng, texts[source])
        if copy not in seen:
            seen.add(copy)
            planted.append((source, len(texts)))
            texts.append(copy)
    return texts, planted


def cpu() -> str:
    """The CPU's model and the flags that decide how fast hashing runs, from /proc/cpuinfo."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    wanted = {"AVX2": "avx2", "AVX-512": "avx512f", "AMX": "amx_tile", "bf16": "avx512_bf16"}
    shown = ", ".join(f"{name} {'yes' if flag in flags else 'no'}" for name, flag in wanted.items())
    return f"{fields.get('model name', 'unknown CPU')}, {os.cpu_count()} CPUs; {shown}"


def load() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def roots_of(groups: list[list[int]], count: int) -> Roots:
    """For each text, its group's first text (itself if in no group)."""
    root = list(range(count))
    for group in groups:
        for member in group:
            root[member] = group[0]
    return root


def datasketch_pipeline(texts: list[str]) -> Roots:
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    from curation.dedup.normalize import exact_key
    from curation.dedup.unionfind import groups

    shingled = []
    for item in texts:
        key = exact_key(item)
        shingled.append([key[i : i + NGRAM].encode() for i in range(max(len(key) - NGRAM + 1, 1))])
    sketches = [LeanMinHash(sketch) for sketch in MinHash.generator(shingled, num_perm=NUM_PERM)]
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for index, sketch in enumerate(sketches):
            session.insert(index, sketch)
    pairs = [
        (index, other)
        for index, sketch in enumerate(sketches)
        for other in lsh.query(sketch)
        if other != index
    ]
    return roots_of(groups(pairs), len(texts))


def rensa_pipeline(texts: list[str]) -> Roots:
    from rensa import RMinHash, RMinHashLSH

    from curation.dedup.normalize import exact_key
    from curation.dedup.unionfind import groups

    tokens = []
    for item in texts:
        key = exact_key(item).ljust(NGRAM)
        tokens.append([key[i : i + NGRAM] for i in range(len(key) - NGRAM + 1)])
    sketches = RMinHash.from_token_sets(tokens, NUM_PERM, 42)
    lsh = RMinHashLSH(THRESHOLD, NUM_PERM, RENSA_BANDS)
    lsh.insert_many(sketches)
    pairs = [
        (index, other)
        for index, candidates in enumerate(lsh.query_all(sketches))
        for other in candidates
        if other > index and sketches[index].jaccard(sketches[other]) >= THRESHOLD
    ]
    return roots_of(groups(pairs), len(texts))


def timed(run: Callable[[], Roots]) -> tuple[float, Roots]:
    start = time.perf_counter()
    roots = run()
    return time.perf_counter() - start, roots


def finch_job(service: Service, project: int, cold: bool) -> tuple[float, Roots, str]:
    """Clear the project's marks (and with `cold` the embedding cache), run a MinHash job
    through the API; seconds, roots, counts."""
    run_django(service.env, CLEAR_SCRIPT.format(project=project) + (COLD_SCRIPT if cold else ""))
    start = time.perf_counter()
    job = service.api("POST", f"/api/projects/{project}/dedup-jobs/", {"method": "minhash"})
    job = service.wait_for_job(f"/api/dedup-jobs/{job['id']}/")
    elapsed = time.perf_counter() - start
    assert job["status"] == "succeeded", job
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in (job.get("phases") or {}).items())
    return (
        elapsed,
        service.kept_rows(project),
        f"{job['clusters']:,} clusters, {job['duplicates_marked']:,} marked; by phase (its record): {phases}",
    )


Alike = Callable[[str, str], bool]


def by_ngrams(first: str, second: str) -> bool:
    return true_jaccard(first, second) >= THRESHOLD


@lru_cache(maxsize=1)
def _english_folding() -> Any:
    """One folding for every mark checked (it caches its filler checks by word)."""
    from curation.dedup.short_texts import FILLER_DEFAULTS, Folding

    return Folding(tuple(FILLER_DEFAULTS["en"]))


def by_ngrams_or_words(first: str, second: str) -> bool:
    """--short's oracle: the n-grams, or the word rule's line-up (typos, fillers, one word)."""
    from curation.dedup.normalize import exact_key
    from curation.dedup.short_texts import compare

    if by_ngrams(first, second):
        return True
    folding = _english_folding()
    return compare(folding.words(exact_key(first)), folding.words(exact_key(second))) is not None


def measure(
    texts: list[str], planted: list[tuple[int, int]], root: Roots, alike: Alike = by_ngrams
) -> tuple[float, int, float, int]:
    """`root`: for each text, the row of the text it is kept as."""
    wanted = [(a, b) for a, b in planted if true_jaccard(texts[a], texts[b]) >= THRESHOLD]
    found = sum(root[a] == root[b] for a, b in wanted)
    members = [index for index, kept in enumerate(root) if kept != index]
    correct = sum(alike(texts[index], texts[root[index]]) for index in members)
    return found / max(len(wanted), 1), len(wanted), correct / max(len(members), 1), len(members)


def quality(
    name: str, texts: list[str], planted: list[tuple[int, int]], root: Roots, alike: Alike = by_ngrams
) -> str:
    recall, wanted, precision, marked = measure(texts, planted, root, alike)
    return f"{name:<12} recall {recall:.4f} of {wanted:,} planted pairs; precision {precision:.4f} of {marked:,} marked"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-rows", type=int, default=20_000)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--short", action="store_true", help="short messages, the embedding cache cold")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    texts, planted = short_messages(args.rows) if args.short else corpus(args.rows)
    alike = by_ngrams_or_words if args.short else by_ngrams
    print(f"CPU: {cpu()}\n{cpuid_note()}\n{load()} at the start")
    finch: list[float] = []
    rensa: list[float] = []
    with running_service(args.backend, port=args.port) as service:
        body = {"name": "dedup bench", "task_type": "generation", "target_behavior": "Answer."}
        project = int(service.api("POST", "/api/projects/", body)["id"])
        service.import_texts(project, texts)
        print(f"\n{'run':>4} {'Finch job s':>12} {'rensa s':>9} {'Finch/rensa docs/s':>19}  {'load':<22}")
        for run in range(args.repeat):
            seconds, finch_roots, counts = finch_job(service, project, cold=args.short)
            rensa_seconds, rensa_roots = timed(lambda: rensa_pipeline(texts))
            finch.append(seconds)
            rensa.append(rensa_seconds)
            print(
                f"{run + 1:>4} {seconds:>12.2f} {rensa_seconds:>9.2f} {rensa_seconds / seconds:>19.2f}x  {load()}"
            )
        worker_mb = service.peak_rss_mb("worker")
    reference_texts, reference_planted = corpus(args.reference_rows, seed=1)  # planted pairs of its own
    reference_seconds, reference_roots = timed(lambda: datasketch_pipeline(reference_texts))
    report(args, texts, planted, finch, rensa, reference_seconds)
    print(f"\nFinch: {counts}; worker peak RSS {worker_mb:,.0f} MB")
    if args.short:
        print(
            "short messages; the embedding cache emptied before each Finch run; a mark is correct by n-grams or words"
        )
    print(quality("Finch", texts, planted, finch_roots, alike))
    print(quality("rensa", texts, planted, rensa_roots, alike))
    print(quality("datasketch", reference_texts, reference_planted, reference_roots) + " (its own texts)")
    print(f"{load()} at the end")


def report(
    args: argparse.Namespace,
    texts: list[str],
    planted: list[tuple[int, int]],
    finch: list[float],
    rensa: list[float],
    reference_seconds: float,
) -> None:
    ours, theirs = statistics.median(finch), statistics.median(rensa)
    print(f"\n{'pipeline (median of runs)':<44} {'docs':>9} {'seconds':>8} {'docs/s':>9}")
    print(
        f"{'Finch minhash job (API to marks written)':<44} {args.rows:>9,} {ours:>8.2f} {args.rows / ours:>9,.0f}"
    )
    print(f"{'rensa pipeline (in memory)':<44} {args.rows:>9,} {theirs:>8.2f} {args.rows / theirs:>9,.0f}")
    reference = args.reference_rows / reference_seconds
    print(
        f"{'datasketch reference (in memory)':<44} {args.reference_rows:>9,} {reference_seconds:>8.2f} {reference:>9,.0f}"
    )
    print(
        f"\nFinch / rensa docs/s: {theirs / ours:.2f}x; Finch / datasketch: {args.rows / ours / reference:.1f}x"
    )
    print(f"CPU: {cpu()}")


if __name__ == "__main__":
    main()
