"""Near-duplicates and contradictions in short real texts, at the jobs' defaults (issue 26).

    .venv/bin/python bench/short_texts.py

All of banking77 (13,083 customer messages, 5-25 words; CC BY 4.0) is imported as approved
examples, then the stored near-copies of bench/short_copies.py are added as submitted examples:
40 of each kind of edit with the original's intent, and 40 more with another intent (planted
contradictions). As a lead would, the exact, MinHash and embedding dedup jobs run one after
another at their defaults (clusters kept between them), then the contradiction job at its
defaults on a fresh start (no clusters).

- Found: the copy and its original end in one cluster (after the three jobs); caught: at least
  one of the two is marked a duplicate. Per kind of edit and per length of the original.
- Precision: a mark (duplicate -> kept) is plausible when the two are a planted pair (or copies
  of one original), equal after exact normalization, at fp32 cosine 0.9 or more by the
  embedding model, or the same words in the same order once typos, fillers and currency signs
  are set aside (the reason the Duplicates page gives; a typo alone costs a short text's
  embedding 0.1-0.5 of cosine). A word only in one of them, or another word, must pass by the
  cosine. The rest are listed, and the share by the cosine alone is printed too.
- Missed copies are listed with the kept example of each side.
- Contradictions: planted copies with another intent that the default contradiction job flags.
Runs in process on a scratch SQLite database (jobs run as they do in a worker), like
bench/quality.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import banking77, setup
from bench.short_copies import stored

LENGTHS = ((0, 8, "up to 8 words"), (9, 14, "9-14 words"), (15, 10_000, "15 words or more"))


def main() -> None:
    setup()
    from bench.short_texts_run import run

    start = time.perf_counter()
    run(banking77(), stored())
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
