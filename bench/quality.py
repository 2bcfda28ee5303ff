"""Quality of the dedup and contradiction jobs on all of banking77 (13,083 real customer
messages, CC BY 4.0), with planted near-duplicates and contradictions, in one run.

    .venv/bin/python bench/quality.py [--variants 150] [--contradictions 300]

Planted near-duplicates: copies of real messages with one edit (case, punctuation, a typo, a
filler word, two words swapped), kept in the original's intent. Planted contradictions: copies
with a small edit (or none but spacing) labeled with another intent.
Each method is scored on what it is meant to catch: MinHash on planted pairs whose true Jaccard
(character 5-grams of normalized text) reaches its threshold; embedding on planted pairs whose
fp32 cosine reaches its threshold (recall per kind of edit is printed too: typos change
word pieces, which moves embeddings more than people expect). Precision: marked examples whose
true similarity to the kept example reaches the threshold, and the share whose intent matches.
The real data's own duplicates and label conflicts are listed: the jobs must find them.
Targets (issue 5): recall >= 0.95 at precision >= 0.95 for both; contradictions >= 0.9.
Runs in process on a scratch SQLite database (jobs run as they do in a worker).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import _case, _filler, _punctuation, _swap, _typo
from bench.public_data import banking77 as banking77_split
from bench.public_data import banking77_labels

EDITS: dict[str, Callable[[random.Random, str], str]] = {
    "case": _case,
    "punctuation": _punctuation,
    "typo": _typo,
    "filler": _filler,
    "word order": _swap,
}


def setup() -> None:
    home = tempfile.mkdtemp(prefix="finch-bench-quality-")
    os.environ.update(
        FINCH_HOME=home,
        DATABASE_URL=f"sqlite:///{home}/finch.sqlite3",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        CELERY_TASK_ALWAYS_EAGER="1",
        FINCH_LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def banking77() -> list[tuple[str, str]]:
    return [*banking77_split("train"), *banking77_split("test")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", type=int, default=150, help="planted near-duplicates per kind of edit")
    parser.add_argument("--contradictions", type=int, default=300)
    args = parser.parse_args()
    setup()
    from bench.quality_run import run

    run(
        banking77(),
        EDITS,
        args.variants,
        args.contradictions,
        banking77_labels(),
    )
    print(f"\n(total {time.process_time():.0f} s of CPU)")


if __name__ == "__main__":
    main()
