"""MinHash dedup benchmark: a dedup job end to end on a running service (API request, worker
reads the database, shingles, hashes, LSH, verifies, writes marks) against the datasketch
reference pipeline on the same texts, in one run.

    .venv/bin/python bench/dedup.py [--rows 1000000] [--reference-rows 20000] [--backend postgresql]

Texts: bench/corpus.py (real banking77 and restaurant8k sentences strung together, 20 to 400
characters), 5% of them planted near-duplicates. The reference: MinHash.generator ->
LeanMinHash -> MinHashLSH(threshold, num_perm) with an insertion session, a query for every
document, union-find; its docs/s on --reference-rows documents is compared with the job's.
Recall: planted pairs whose true Jaccard (character 5-grams of the normalized texts) reaches
the threshold, found in one cluster. Precision: marked examples whose true Jaccard to their
kept example reaches the threshold, recomputed here independently.
Targets (issue 5): 1,000,000 examples in under 60 s, at least 5x the reference's docs/s, at most
1 KB of worker memory per document, recall and precision at least 0.99.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import corpus, true_jaccard
from bench.harness import Service, running_service

THRESHOLD, NUM_PERM, NGRAM = 0.8, 128, 5


def reference_docs_per_s(texts: list[str]) -> float:
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    from curation.dedup.normalize import exact_key
    from curation.dedup.unionfind import groups

    start = time.perf_counter()
    shingled = []
    for text in texts:
        key = exact_key(text)
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
    groups(pairs)
    return len(texts) / (time.perf_counter() - start)


def load(service: Service, texts: list[str]) -> int:
    body = {"name": "dedup bench", "task_type": "generation", "target_behavior": "Answer."}
    project = int(service.api("POST", "/api/projects/", body)["id"])
    service.import_texts(project, texts)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    args = parser.parse_args()
    texts, planted = corpus(args.rows)
    with running_service(args.backend) as service:
        project = load(service, texts)
        start = time.perf_counter()
        job = service.api("POST", f"/api/projects/{project}/dedup-jobs/", {"method": "minhash"})
        job = service.wait_for_job(f"/api/dedup-jobs/{job['id']}/")
        elapsed = time.perf_counter() - start
        assert job["status"] == "succeeded", job
        worker_mb = service.peak_rss_mb("worker")
        kept = service.kept_rows(project)
    recall, wanted, precision, checked = measure(texts, planted, kept)
    reference = reference_docs_per_s(texts[: args.reference_rows])
    ours = args.rows / elapsed
    print(f"\n{'pipeline':<46} {'docs':>9} {'seconds':>8} {'docs/s':>9}")
    print(f"{'Finch minhash job (API to marks written)':<46} {args.rows:>9,} {elapsed:>8.1f} {ours:>9,.0f}")
    print(
        f"{'datasketch reference (in memory)':<46} {args.reference_rows:>9,} "
        f"{args.reference_rows / reference:>8.1f} {reference:>9,.0f}"
    )
    print(
        f"\nspeedup {ours / reference:.1f}x; clusters {job['clusters']:,}, marked {job['duplicates_marked']:,}"
    )
    print(
        f"worker peak RSS {worker_mb:,.0f} MB = {worker_mb * 1024 * 1024 / args.rows:,.0f} bytes per document"
    )
    print(f"recall {recall:.4f} over {wanted:,} planted pairs at or above J={THRESHOLD}")
    print(f"precision {precision:.4f} over {checked:,} marked examples (true Jaccard to the kept one)")


def measure(
    texts: list[str], planted: list[tuple[int, int]], root: list[int]
) -> tuple[float, int, float, int]:
    """`root`: for each text, the row of the example it is kept as (Service.kept_rows)."""
    wanted = [(a, b) for a, b in planted if true_jaccard(texts[a], texts[b]) >= THRESHOLD]
    found = sum(root[a] == root[b] for a, b in wanted)
    members = [index for index, kept in enumerate(root) if kept != index]
    correct = sum(true_jaccard(texts[index], texts[root[index]]) >= THRESHOLD for index in members)
    return found / max(len(wanted), 1), len(wanted), correct / max(len(members), 1), len(members)


if __name__ == "__main__":
    main()
