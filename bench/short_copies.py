"""Near-copies of short real texts, made the way people retype a request (issue 26): the
generator of bench/short_texts.py, seeded, and the set it made, stored as
bench/data/short_copies.jsonl so that every run scores the same copies.

Kinds of edit (each copy has one, or two at once for the kind "two"):
- `transpose`: two adjacent letters of a word of four or more letters swapped ("card" -> "crad");
- `filler start` / `filler end`: a word people add ("hi,", "please", "urgent:"; "thanks", "asap");
- `case`: the whole text upper- or lower-cased;
- `punctuation`: all punctuation removed, or a mark added at the end;
- `spaces`: one space doubled;
- `drop word`: one word dropped from the middle (texts of five words or more).

    .venv/bin/python bench/short_copies.py   # writes bench/data/short_copies.jsonl again
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.public_data import banking77, banking77_labels

STORED = Path(__file__).resolve().parent / "data" / "short_copies.jsonl"
SEED = 26
PER_KIND = 40
CONTRADICTIONS = 40
FILLERS_START = ["hi,", "hello,", "please", "urgent:", "hey"]
FILLERS_END = ["please", "thanks", "thank you", "asap", "thx"]
Edit = Callable[[random.Random, str], str]


def transpose(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    long_words = [at for at, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    if not long_words:
        return text
    at = rng.choice(long_words)
    word = words[at]
    cut = rng.randrange(1, len(word) - 1)  # never the first letter
    words[at] = word[:cut] + word[cut + 1] + word[cut] + word[cut + 2 :]
    return " ".join(words)


def filler_start(rng: random.Random, text: str) -> str:
    return f"{rng.choice(FILLERS_START)} {text}"


def filler_end(rng: random.Random, text: str) -> str:
    return f"{text.rstrip()} {rng.choice(FILLERS_END)}"


def case(rng: random.Random, text: str) -> str:
    return text.upper() if rng.random() < 0.5 else text.lower()


def punctuation(rng: random.Random, text: str) -> str:
    stripped = re.sub(r"[^\w\s]", "", text)
    if stripped != text and rng.random() < 0.5:
        return " ".join(stripped.split())
    return text.rstrip("?.!") + rng.choice(["?", "!", ".", "??"])


def spaces(rng: random.Random, text: str) -> str:
    gaps = [at for at, character in enumerate(text) if character == " "]
    if not gaps:
        return text
    at = rng.choice(gaps)
    return text[:at] + " " + text[at:]


def drop_word(rng: random.Random, text: str) -> str:
    words = text.split()
    if len(words) < 5:
        return text
    del words[rng.randrange(1, len(words) - 1)]
    return " ".join(words)


EDITS: dict[str, Edit] = {
    "transpose": transpose,
    "filler start": filler_start,
    "filler end": filler_end,
    "case": case,
    "punctuation": punctuation,
    "spaces": spaces,
    "drop word": drop_word,
}


def two_at_once(rng: random.Random, text: str) -> str:
    first, second = rng.sample(sorted(EDITS), 2)
    return EDITS[second](rng, EDITS[first](rng, text))


def generate(seed: int = SEED) -> list[dict[str, str]]:
    """Copies of banking77 messages (train and test): PER_KIND per kind with the original's
    intent, and CONTRADICTIONS more (kinds in turn) with another intent."""
    rng = random.Random(seed)
    rows = sorted(
        {text.strip(): label for split in ("train", "test") for text, label in banking77(split)}.items()
    )
    labels = banking77_labels()
    kinds: dict[str, Edit] = EDITS | {"two": two_at_once}
    copies: list[dict[str, str]] = []
    for kind, edit in kinds.items():
        copies += _copies(rng, rows, kind, edit, PER_KIND, same_label=True, labels=labels)
    for index in range(CONTRADICTIONS):
        kind = sorted(kinds)[index % len(kinds)]
        copies += _copies(rng, rows, kind, kinds[kind], 1, same_label=False, labels=labels)
    return copies


def _copies(
    rng: random.Random,
    rows: list[tuple[str, str]],
    kind: str,
    edit: Edit,
    count: int,
    *,
    same_label: bool,
    labels: list[str],
) -> list[dict[str, str]]:
    made: list[dict[str, str]] = []
    while len(made) < count:
        original, label = rng.choice(rows)
        copy = edit(rng, original)
        if copy.strip() == original:
            continue  # the edit did not apply to this text
        output = label if same_label else rng.choice([other for other in labels if other != label])
        made.append({"kind": kind, "original": original, "label": label, "copy": copy, "copy_label": output})
    return made


def stored() -> list[dict[str, str]]:
    with STORED.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


if __name__ == "__main__":
    rows = generate()
    with STORED.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    print(f"wrote {len(rows)} copies to {STORED}")
