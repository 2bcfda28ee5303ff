"""Synthetic but realistic example rows for benchmarks: 20 to 400 characters per field."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = [
    "card",
    "arrive",
    "account",
    "transfer",
    "payment",
    "pending",
    "refund",
    "exchange",
    "rate",
    "fee",
    "cash",
    "withdrawal",
    "atm",
    "pin",
    "blocked",
    "verify",
    "identity",
    "top",
    "up",
    "balance",
    "declined",
    "charged",
    "twice",
    "contactless",
    "virtual",
    "statement",
    "salary",
    "direct",
    "debit",
    "beneficiary",
    "limit",
    "travel",
    "abroad",
    "currency",
    "crypto",
    "savings",
]


def sentence(rng: random.Random, low: int = 20, high: int = 400) -> str:
    target = rng.randint(low, high)
    words: list[str] = []
    length = 0
    while length < target:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:target].strip().capitalize() + "?"


def write_jsonl(path: Path, rows: int, seed: int = 0) -> int:
    """Write `rows` generation examples as JSONL; returns the file size in bytes."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for index in range(rows):
            record = {"input": f"{index} {sentence(rng)}", "output": sentence(rng), "metadata": {"n": index}}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path.stat().st_size
