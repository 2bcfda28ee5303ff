"""Realistic benchmark texts built from the real sentences bundled in bench/data.

Each text (20 to 400 characters) strings together real banking77 and restaurant8k sentences,
with about a quarter of the words swapped for other words of the same corpus (drawn by their
frequency), so texts read like customer messages but are distinct. A share of them are then
planted near-duplicates of others (case, punctuation, a typo, a filler word, swapped words).
"""

from __future__ import annotations

import random
from functools import lru_cache

from bench.public_data import banking77, restaurant8k_texts

SWAP_RATE = 0.25
FILLERS = ["please", "hi", "thanks", "so", "um", "actually", "just", "hello"]


@lru_cache(maxsize=1)
def real_sentences() -> tuple[str, ...]:
    sentences = [text.strip() for split in ("train", "test") for text, _ in banking77(split)]
    sentences += [text.strip() for split in ("train", "test") for text in restaurant8k_texts(split)]
    return tuple(sentence for sentence in sentences if sentence)


@lru_cache(maxsize=1)
def _words() -> tuple[str, ...]:
    """Every word occurrence of the corpus: a uniform draw from it follows word frequency."""
    return tuple(word for sentence in real_sentences() for word in sentence.split())


def text(rng: random.Random, low: int = 20, high: int = 400) -> str:
    target = rng.randint(low, high)
    sentences, words = real_sentences(), _words()
    parts: list[str] = []
    length = 0
    while length < target:
        sentence = rng.choice(sentences).split()
        parts.extend(rng.choice(words) if rng.random() < SWAP_RATE else word for word in sentence)
        length = sum(len(word) + 1 for word in parts)
    joined = " ".join(parts)
    cut = joined.rfind(" ", 0, target + 1)
    result = joined[: cut if cut >= low else target]
    return result if len(result) >= low else joined[:target]


def near_duplicate(rng: random.Random, original: str) -> str:
    """A copy of `original` with one or two small edits people make."""
    edits = [_case, _punctuation, _typo, _filler, _swap]
    result = original
    for edit in rng.sample(edits, rng.randint(1, 2)):
        result = edit(rng, result)
    return result


def _case(rng: random.Random, value: str) -> str:
    return value.upper() if rng.random() < 0.5 else value.lower()


def _punctuation(rng: random.Random, value: str) -> str:
    return value.rstrip("?.!") + rng.choice(["?", "!", "...", " ?"])


def _typo(rng: random.Random, value: str) -> str:
    if len(value) < 4:
        return value
    at = rng.randrange(1, len(value) - 2)
    return value[:at] + value[at + 1] + value[at] + value[at + 2 :]


def _filler(rng: random.Random, value: str) -> str:
    return f"{rng.choice(FILLERS)} {value}"


def _swap(rng: random.Random, value: str) -> str:
    words = value.split()
    if len(words) < 3:
        return value
    at = rng.randrange(len(words) - 1)
    words[at], words[at + 1] = words[at + 1], words[at]
    return " ".join(words)


def _dropped_word(rng: random.Random, value: str) -> str:
    words = value.split()
    if len(words) < 3:
        return value
    del words[rng.randrange(len(words))]
    return " ".join(words)


def _added_word(rng: random.Random, value: str) -> str:
    words = value.split()
    words.insert(rng.randrange(len(words) + 1), rng.choice(_words()))
    return " ".join(words)


def short_messages(count: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """`count` distinct short messages as a support inbox holds them: every real banking77 and
    restaurant8k sentence once (up to `count`), then copies of them with one or two edits people
    make (a word dropped or added, a filler, a typo, case, punctuation), most sentences asked
    many ways; and the (original, copy) pairs."""
    rng = random.Random(seed)
    originals = sorted(set(real_sentences()))
    rng.shuffle(originals)
    texts = originals[:count]
    seen = set(texts)
    edits = [_dropped_word, _added_word, _filler, _typo, _case, _punctuation]
    planted = []
    kept = len(texts)
    while len(texts) < count:
        source = rng.randrange(kept)
        copy = texts[source]
        for edit in rng.sample(edits, rng.randint(1, 2)):
            copy = edit(rng, copy)
        if copy not in seen:
            seen.add(copy)
            planted.append((source, len(texts)))
            texts.append(copy)
    return texts, planted


def corpus(
    count: int, duplicate_share: float = 0.05, seed: int = 0
) -> tuple[list[str], list[tuple[int, int]]]:
    """`count` distinct texts, the last `duplicate_share` of them near-duplicates of earlier ones;
    returns the texts and the planted (original index, copy index) pairs."""
    rng = random.Random(seed)
    seen: set[str] = set()
    texts: list[str] = []
    while len(texts) < count - int(count * duplicate_share):
        candidate = text(rng)
        if candidate not in seen:
            seen.add(candidate)
            texts.append(candidate)
    originals = len(texts)
    planted = []
    while len(texts) < count:
        source = rng.randrange(originals)
        copy = near_duplicate(rng, texts[source])
        if copy not in seen:
            seen.add(copy)
            planted.append((source, len(texts)))
            texts.append(copy)
    return texts, planted


def true_jaccard(left: str, right: str, ngram: int = 5) -> float:
    """The benchmarks' own oracle, independent of Finch's code: the Jaccard of the character
    n-gram sets of the normalized texts (a shorter text padded to one n-gram)."""
    from curation.dedup.normalize import exact_key

    def grams(text: str) -> set[str]:
        key = exact_key(text).ljust(ngram)
        return {key[i : i + ngram] for i in range(len(key) - ngram + 1)}

    a, b = grams(left), grams(right)
    return len(a & b) / len(a | b)
