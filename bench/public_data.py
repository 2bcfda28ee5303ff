"""The real data the benchmarks stand on, bundled in bench/data (CC BY 4.0, see its README):
banking77's splits and intents, restaurant8k's requests. Gzipped copies of the original files,
unchanged, so a clone runs every benchmark with nothing else."""

from __future__ import annotations

import csv
import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
BANKING77_SPLITS = ("train", "test")
RESTAURANT8K_FILES = {"train": "train_0.json.gz", "test": "test.json.gz"}


@lru_cache(maxsize=4)
def banking77(split: str) -> tuple[tuple[str, str], ...]:
    """(text, intent) rows of one banking77 split (`train`: 10,003, `test`: 3,080), in file order."""
    if split not in BANKING77_SPLITS:
        raise ValueError(f"banking77 has the splits {', '.join(BANKING77_SPLITS)}, not {split!r}")
    with gzip.open(DATA / "banking77" / f"{split}.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        return tuple((row["text"], row["category"]) for row in csv.DictReader(handle))


def banking77_labels() -> list[str]:
    """banking77's 77 intents, in its own order."""
    labels: list[str] = json.loads((DATA / "banking77" / "categories.json").read_text(encoding="utf-8"))
    return labels


@lru_cache(maxsize=4)
def restaurant8k(split: str) -> tuple[dict[str, Any], ...]:
    """The items of one restaurant8k split (`train`: train_0.json, 8,198; `test`): each has
    `userInput.text` and, where it has slots, `labels`."""
    if split not in RESTAURANT8K_FILES:
        raise ValueError(f"restaurant8k has the splits {', '.join(RESTAURANT8K_FILES)}, not {split!r}")
    with gzip.open(DATA / "restaurant8k" / RESTAURANT8K_FILES[split], "rt", encoding="utf-8") as handle:
        return tuple(json.load(handle))


def restaurant8k_texts(split: str) -> list[str]:
    """The user requests of one restaurant8k split, as written."""
    return [item["userInput"]["text"] for item in restaurant8k(split)]
