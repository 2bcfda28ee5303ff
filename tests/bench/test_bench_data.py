"""The benchmarks run from a clone alone: their data is in bench/data, with its license, and no
benchmark reads anything outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from bench import public_data
from bench.corpus import corpus, real_sentences

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_banking77_is_bundled_whole_with_its_intents() -> None:
    train, test = public_data.banking77("train"), public_data.banking77("test")
    assert (len(train), len(test)) == (10_003, 3_080)
    labels = public_data.banking77_labels()
    assert len(labels) == 77
    assert {intent for _, intent in (*train, *test)} == set(labels)
    assert train[0] == ("I am still waiting on my card?", "card_arrival")


def test_restaurant8k_is_bundled_with_its_slots() -> None:
    train = public_data.restaurant8k("train")
    assert len(train) == 8_198
    assert all(item["userInput"]["text"] for item in train)
    assert any(label["slot"] == "people" for item in train for label in item.get("labels", []))
    assert len(public_data.restaurant8k_texts("test")) == len(public_data.restaurant8k("test")) > 0


def test_the_data_carries_its_license_and_attribution() -> None:
    for name in ("banking77", "restaurant8k"):
        assert "Attribution 4.0 International" in (BENCH / "data" / name / "LICENSE").read_text()
    readme = (BENCH / "data" / "README.md").read_text()
    assert "CC BY 4.0" in readme and "Casanueva et al." in readme and "Coope et al." in readme


def test_the_corpus_is_built_from_the_bundled_sentences() -> None:
    assert len(real_sentences()) > 20_000
    texts, planted = corpus(200, duplicate_share=0.1)
    assert len(set(texts)) == 200 and len(planted) == 20


def test_no_benchmark_reads_outside_the_repository() -> None:
    outside = re.compile(r"""["']\.\./|\.parent\.parent\.parent|["']shared["']""")
    for path in sorted(BENCH.glob("*.py")):
        assert not outside.search(path.read_text()), f"{path.name} reads outside the repository"
