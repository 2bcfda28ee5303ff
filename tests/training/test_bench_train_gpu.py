"""bench/train_gpu.py still runs: its tiny CPU mode, a few steps, baseline and Finch rows."""

from __future__ import annotations

import re

import pytest

from bench import train_gpu

pytestmark = pytest.mark.any_database  # its subject is not the database


def test_tiny_benchmark_prints_baseline_and_finch_rows(capsys: pytest.CaptureFixture[str]) -> None:
    rows = train_gpu.main(
        [
            "--model",
            "tiny",
            "--steps",
            "3",
            "--warmup",
            "1",
            "--max-examples",
            "256",
            "--finch-batch-sizes",
            "8,16",
        ]
    )

    printed = capsys.readouterr().out
    assert [(row.name.split()[0], row.batch_size) for row in rows] == [
        ("transformers", 8),
        ("Finch", 8),
        ("Finch", 16),
    ]
    assert all(row.tokens > 0 and row.seconds > 0 and row.tokens <= row.padded for row in rows)
    assert all(0 <= row.padding_share < 1 and row.peak_mb > 0 for row in rows)
    for row in rows:
        line = re.search(rf"^{re.escape(row.name)}\s+{row.batch_size}\s+([\d,]+)\s", printed, re.MULTILINE)
        assert line, f"no printed row for {row.name} at batch {row.batch_size}:\n{printed}"
        assert int(line.group(1).replace(",", "")) > 0
    assert "parameters" in printed and "speedup" in printed
