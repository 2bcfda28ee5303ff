"""The dedup kernels compiled ahead (sketch.compile_kernels, run by prepare_models): a first
MinHash job on a CPU that numba's cache has not seen would otherwise compile them itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The compiled functions a job calls directly; the others are compiled inside these.
JOB_KERNELS = [
    "sketch._sketch_rows", "sketch._shingle_sets", "sketch._pair_jaccard", "sketch._one_jaccard",
    "sketch._fold_and_squeeze", "exact_search._block_pairs", "exact_search._offer_pairs",
]  # fmt: skip

pytestmark = pytest.mark.any_database


def test_compile_kernels_fills_an_empty_cache_with_every_kernel_a_job_calls(tmp_path: Path) -> None:
    # Given an empty numba cache (a CPU it has not seen)
    cache = tmp_path / "numba-cache"
    script = "from curation.dedup import sketch; print(sketch.compile_kernels())"

    # When the kernels are compiled, in a process of their own
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "NUMBA_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )

    # Then the cache it names holds an index for each kernel a job calls
    assert Path(done.stdout.strip()) == cache
    indexed = [path.name for path in cache.rglob("*.nbi")]
    missing = [name for name in JOB_KERNELS if not any(f"{name}-" in index for index in indexed)]
    assert not missing, indexed
