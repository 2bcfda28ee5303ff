"""Near-copies of short texts, compared word by word.

A retyped request differs from its original by a few characters: two letters swapped, a filler
word ("hi,", "thanks"), a dropped word. In a sentence of eight words that costs a third of its
character 5-grams, so MinHash at 0.8 misses it, and an embedding moves far for one typo. Word
by word the copy is plain to see:

- texts are *folded*: case, punctuation, apostrophes and spacing set aside, number words
  written as digits, filler words stripped from the start and the end (a project's list),
  currency signs made one sign where the project says a currency does not change a request;
- two folded texts line up when their words are the same in the same order but for typos (two
  neighbouring letters swapped; from five letters on, one letter added, dropped or changed;
  never two spellings both common in the texts, like "there" / "three"), spaces moved
  ("top up" / "topup"), and at most one word: only in one of them, or another in its place;
- the same words but for typos: near-copies, similarity 1;
- a word only in one, or another word in its place: it may change the request ("get a virtual
  card" / "get a card", "change my name" / "change my PIN") or not ("I need my card" / "I need
  my new card"), which only a model can tell: the embedding model decides (`WordJudge`);
- another number or amount in its place ("$1" / "$10") is another request, whatever the
  character n-grams say.

Candidates come from keys (hashes of word sequences with each word's letters sorted, so that a
swap keeps the key): the whole sequence, and for 4 to 16 words the sequence without each word
in turn and with each two neighbours written as one. Two texts a word apart, a word changed or
a space moved share a key.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from curation.dedup.normalize import exact_key

SHORT_WORDS = 30  # folded texts up to this many words are compared word by word
FILLER_ALLOWANCE = 10  # words: a longer text cannot be short once its fillers are stripped
DELETION_KEYS_FROM = 4  # words: shorter texts are keyed whole only (a dropped word is too much)
# Words: longer texts are keyed whole only; a dropped word or a typo costs them few character
# 5-grams, so MinHash's own candidates hold them (the word rule still judges those).
DELETION_KEYS_UP_TO = 16
LONG_WORD = 5  # letters: from here on one letter added, dropped or changed is a typo too
COMMON_SPELLING = 4  # a spelling used by more texts than this is a word of its own, not a typo
MAX_RUN = 64  # texts sharing one key paired all with all up to this many; then as a chain
CURRENCY_SIGN = "¤"

CONTRACTION_ENDINGS = frozenset({"t", "s", "d", "m", "ll", "re", "ve"})
# "two weeks" and "2 weeks" are one request; "1" and "10" are not.
NUMBERS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
]  # fmt: skip
NUMBER_WORDS = {word: str(value) for value, word in enumerate(NUMBERS)}
FILLER_DEFAULTS: dict[str, list[str]] = {
    "en": [
        "hi", "hello", "hey", "dear", "please", "pls", "plz", "kindly", "urgent", "asap",
        "thanks", "thank you", "thx", "ty", "cheers", "regards", "um", "uh", "so", "actually",
        "just", "basically", "btw",
    ],
    "de": ["hallo", "hi", "bitte", "danke", "dringend", "gruss", "grüße", "vielen dank"],
    "fr": ["bonjour", "salut", "svp", "s il vous plaît", "merci", "urgent", "cordialement"],
    "es": ["hola", "por favor", "gracias", "urgente", "saludos"],
}  # fmt: skip
FILLER_LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español")]


def filler_list(text: str) -> list[str]:
    """A filler list as people type it (one per line or comma-separated), folded like texts."""
    phrases = (exact_key(part) for part in re.split(r"[,\n]", text))
    return list(dict.fromkeys(phrase for phrase in phrases if phrase))


@dataclass(frozen=True)
class Folding:
    """How a project's texts are folded before they are compared word by word."""

    fillers: tuple[str, ...] = ()
    fold_currency: bool = True
    _phrases: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)
    _edges: frozenset[str] = field(init=False, repr=False, compare=False)  # phrases' first and last words
    # Whether a word may begin or end a filler (one of _edges, or a one-word filler misspelled),
    # by word: a job folds each text two or three times, and its words are few (at 200,000 short
    # texts, 23 million typo checks of first and last words against every filler took 100 s).
    _edge_words: dict[str, bool] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        phrases = {tuple(_split(filler)) for filler in self.fillers}
        # Longest first, then in order: a set's order changes with each process's hash seed, and
        # "please hi" folded to "hi" in one worker and "please" in another.
        longest_first = sorted(
            (phrase for phrase in phrases if phrase), key=lambda phrase: (-len(phrase), phrase)
        )
        object.__setattr__(self, "_phrases", tuple(longest_first))
        object.__setattr__(
            self, "_edges", frozenset(word for phrase in longest_first for word in (phrase[0], phrase[-1]))
        )

    def words(self, text: str) -> tuple[str, ...]:
        """The text's words, folded: fillers at either end stripped (never every word)."""
        words = self._prepared(text)
        start, end = 0, len(words)
        changed = bool(words)
        while changed and (self._at_edge(words[start]) or self._at_edge(words[end - 1])):
            changed = False
            for phrase in self._phrases:  # after each strip from the longest again
                size = len(phrase)
                if end - start > size and self._is_phrase(words[start : start + size], phrase):
                    start, changed = start + size, True
                    break
                if end - start > size and self._is_phrase(words[end - size : end], phrase):
                    end, changed = end - size, True
                    break
        return tuple(words[start:end])

    def _at_edge(self, word: str) -> bool:
        if word not in self._edge_words:
            self._edge_words[word] = word in self._edges or any(
                len(phrase) == 1 and is_typo(word, phrase[0]) for phrase in self._phrases
            )
        return self._edge_words[word]

    @staticmethod
    def _is_phrase(words: list[str], phrase: tuple[str, ...]) -> bool:
        """The words are the filler phrase, or a one-word filler misspelled ("aasp")."""
        return tuple(words) == phrase or (len(phrase) == 1 and is_typo(words[0], phrase[0]))

    def _prepared(self, text: str) -> list[str]:
        """The text's words with number words as digits and, if so set, currency signs as one."""
        words = [NUMBER_WORDS.get(word, word) for word in _split(text)]
        return [_currency_folded(word) for word in words] if self.fold_currency else words

    def short(self, texts: Iterable[str]) -> list[tuple[str, ...]]:
        """The folded words of each normalized text (`exact_key`'s form), or none for a text
        too long to be short whatever its fillers (a count of spaces tells, without folding)."""
        longest = SHORT_WORDS + FILLER_ALLOWANCE
        return [self.words(text) if text.count(" ") < longest else () for text in texts]

    def stripped(self, text: str) -> list[str]:
        """The filler phrases `words` strips from the text, for an explanation."""
        words, kept = self._prepared(text), self.words(text)
        if not kept:
            return []
        for start in range(len(words) - len(kept) + 1):
            if tuple(words[start : start + len(kept)]) == kept:
                return [
                    *_phrases_in(words[:start], self._phrases),
                    *_phrases_in(words[start + len(kept) :], self._phrases),
                ]
        return []


def _split(text: str) -> list[str]:
    """exact_key's words with contractions whole: "doesn't" (or its normalized form "doesn t",
    which is what jobs hold) is "doesnt", as people also type it."""
    words: list[str] = []
    for word in exact_key(text.replace("'", "").replace("\u2019", "")).split():
        if word in CONTRACTION_ENDINGS and words:
            words[-1] += word
        else:
            words.append(word)
    return words


def _phrases_in(words: list[str], phrases: tuple[tuple[str, ...], ...]) -> list[str]:
    found, at = [], 0
    while at < len(words):
        phrase = next((p for p in phrases if tuple(words[at : at + len(p)]) == p), (words[at],))
        found.append(" ".join(phrase))
        at += len(phrase)
    return found


def _currencies(text: str) -> list[str]:
    return [char for char in text if unicodedata.category(char) == "Sc"]


def _currency_folded(word: str) -> str:
    if word.isalnum():  # most words: no sign to look for
        return word
    return "".join(CURRENCY_SIGN if unicodedata.category(char) == "Sc" else char for char in word)


# Keys ------------------------------------------------------------------------------------------


def _anagram(word: str) -> str:
    return "".join(sorted(word))


def _key(letters: Sequence[str]) -> int:
    """A 63-bit hash of a word sequence, the same in every process (unlike `hash`), from two
    checksums; a rare equal key by chance only makes a candidate the comparison turns down."""
    data = " ".join(letters).encode()
    return (zlib.crc32(data) & 0x7FFFFFFF) << 32 | zlib.adler32(data)


def keys(words: Sequence[str]) -> list[int]:
    """The candidate keys of one folded text (none for an empty or a long text)."""
    if not words or len(words) > SHORT_WORDS:
        return []
    letters = [_anagram(word) for word in words]
    found = {_key(letters)}
    if len(letters) > DELETION_KEYS_UP_TO:
        return list(found)
    if len(letters) >= DELETION_KEYS_FROM:
        found.update(_key(letters[:at] + letters[at + 1 :]) for at in range(len(letters)))
    found.update(  # two words written as one: "top up" / "topup"
        _key([*letters[:at], _anagram(words[at] + words[at + 1]), *letters[at + 2 :]])
        for at in range(len(words) - 1)
        if words[at].isalpha() and words[at + 1].isalpha()
    )
    return list(found)


def key_rows(texts: Iterable[Sequence[str]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(row, key) for every key of every text: what a chunk keeps for the merge."""
    rows: list[int] = []
    values: list[int] = []
    for row, words in enumerate(texts):
        found = keys(words)
        rows.extend([row] * len(found))
        values.extend(found)
    return np.asarray(rows, dtype=np.int64), np.asarray(values, dtype=np.int64)


def candidate_pairs(rows: npt.NDArray[np.int64], values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row pairs that share a key, each once and sorted: every pair of a run up to MAX_RUN
    texts, a chain through longer runs (a template many texts share; the chain keeps them
    connected without a quadratic number of pairs). Runs of one length are paired at once
    (at 200,000 short texts, 1.2 million runs: one at a time took 30 s)."""
    order = np.lexsort((rows, values))
    rows, values = rows[order], values[order]
    first_of_key = np.concatenate(([True], values[1:] != values[:-1]))
    once = first_of_key | np.concatenate(([True], rows[1:] != rows[:-1]))  # a row once a key
    rows, first_of_key = rows[once], first_of_key[once]
    starts = np.flatnonzero(first_of_key)
    lengths = np.diff(np.append(starts, len(rows)))
    found = [np.empty((0, 2), dtype=np.int64)]
    for length in np.unique(lengths[(lengths > 1) & (lengths <= MAX_RUN)]).tolist():
        runs = rows[starts[lengths == length, None] + np.arange(length)]  # one run a line
        left, right = np.triu_indices(length, k=1)
        found.append(np.stack([runs[:, left], runs[:, right]], axis=2).reshape(-1, 2))
    for start, length in zip(
        starts[lengths > MAX_RUN].tolist(), lengths[lengths > MAX_RUN].tolist(), strict=True
    ):
        members = rows[start : start + length]
        found.append(np.stack([members[:-1], members[1:]], axis=1))
    pairs = np.concatenate(found)
    packed = np.unique(pairs[:, 0] << 32 | pairs[:, 1])  # rows fit 32 bits; one sort, not unique(axis=0)'s
    return np.stack([packed >> 32, packed & 0xFFFFFFFF], axis=1)


# Comparing two texts ---------------------------------------------------------------------------


def document_frequencies(texts: Iterable[Sequence[str]]) -> Counter[str]:
    """In how many texts each folded word occurs."""
    counts: Counter[str] = Counter()
    for words in texts:
        counts.update(set(words))
    return counts


@dataclass(frozen=True)
class Weights:
    """Inverse document frequencies (smoothed, as scikit-learn's): a word in every text weighs
    1, a word in one text of 10,000 about 9.5."""

    frequencies: Counter[str]
    texts: int

    def of(self, word: str) -> float:
        return math.log((self.texts + 1) / (self.frequencies.get(word, 0) + 1)) + 1

    def common(self, word: str) -> bool:
        return self.frequencies.get(word, 0) > COMMON_SPELLING


@dataclass(frozen=True)
class Comparison:
    """How two folded texts line up word by word: the same words in the same order but for
    typos and at most one word (only in one of them, or different in the same place)."""

    similarity: float  # the matched words' share of the weight of both
    typos: tuple[tuple[str, str], ...] = ()  # (as in the first, as in the second)
    only_first: str | None = None  # the word in the first text the second lacks or changed
    only_second: str | None = None


def compare(first: Sequence[str], second: Sequence[str], weights: Weights | None = None) -> Comparison | None:
    """Line two folded texts up; None when more than one word differs (or either is empty).
    `weights` None weighs every word 1 and knows no common spellings."""
    if not first or not second or abs(len(first) - len(second)) > 1:
        return None
    if "".join(first) == "".join(second):  # the same letters, a space moved, added or dropped
        return Comparison(1.0, _respaced(first, second))
    head = _common_length(first, second, weights)
    rest = min(len(first), len(second)) - head
    tail = _common_length(first[::-1][:rest], second[::-1][:rest], weights)
    middle_first, middle_second = first[head : len(first) - tail], second[head : len(second) - tail]
    if len(middle_first) > 1 or len(middle_second) > 1:
        return None
    matched = list(zip(first[:head], second[:head], strict=True))
    matched += zip(first[len(first) - tail :], second[len(second) - tail :], strict=True)
    typos = tuple((a, b) for a, b in matched if a != b)
    changed = [*middle_first, *middle_second]
    if len(changed) == 2 and _one_edit(*changed) and not any(map(_is_amount, changed)):
        return None  # a slip the rule does not take ("form" / "from", "the" / "tje"): n-grams decide
    weigh = weights.of if weights else (lambda word: 1.0)
    common = sum(weigh(_usual(a, b, weights)) for a, b in matched)
    extra = (*middle_first, *middle_second)
    return Comparison(
        common / (common + sum(map(weigh, extra))),
        typos,
        *(middle_first or (None,)),
        *(middle_second or (None,)),
    )


def _respaced(first: Sequence[str], second: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The span where two word sequences of the same letters differ, as one typo."""
    head = 0
    while head < min(len(first), len(second)) and first[head] == second[head]:
        head += 1
    tail = 0
    while tail < min(len(first), len(second)) - head and first[-1 - tail] == second[-1 - tail]:
        tail += 1
    if head == len(first) == len(second):
        return ()
    return ((" ".join(first[head : len(first) - tail]), " ".join(second[head : len(second) - tail])),)


def _one_edit(a: str, b: str) -> bool:
    """One character added, dropped, changed, or two neighbours swapped (any characters)."""
    return _edit(a, b) is not None


def _edit(a: str, b: str) -> str | None:
    """How two different strings are one edit apart: "swap" (two neighbours), "change" (one
    character), "add" (one character more in one of them); None when they are not."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return None
    if len(a) == len(b):
        differ = [at for at in range(len(a)) if a[at] != b[at]]
        if len(differ) == 1:
            return "change"
        neighbours = len(differ) == 2 and differ[1] == differ[0] + 1
        swapped = neighbours and a[differ[0]] == b[differ[1]] and a[differ[1]] == b[differ[0]]
        return "swap" if swapped else None
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return "add" if any(longer[:at] + longer[at + 1 :] == shorter for at in range(len(longer))) else None


def _common_length(first: Sequence[str], second: Sequence[str], weights: Weights | None) -> int:
    """How many words from the start are the same word (or a typo of it) in both."""
    count = 0
    for a, b in zip(first, second, strict=False):
        if a != b and not is_typo(a, b, weights):
            break
        count += 1
    return count


def _usual(a: str, b: str, weights: Weights | None) -> str:
    """A misspelled word weighs as its more common spelling (a typo is rare by nature)."""
    if a == b or weights is None:
        return a
    return a if weights.frequencies.get(a, 0) >= weights.frequencies.get(b, 0) else b


def is_typo(a: str, b: str, weights: Weights | None = None) -> bool:
    """One spelling of the other: letters only, one edit apart (a swap of two neighbours in any
    word; one letter added, dropped or changed from LONG_WORD letters on), and not two spellings
    both common in the texts ("there" / "three")."""
    if not (a.isalpha() and b.isalpha()) or min(len(a), len(b)) < 2:
        return False
    if weights and weights.common(a) and weights.common(b):
        return False
    edit = _edit(a, b)
    return edit == "swap" or (edit is not None and min(len(a), len(b)) >= LONG_WORD)


@dataclass(frozen=True)
class WordRule:
    """The word-by-word similarity of a job's short texts: folding and the texts' weights."""

    folding: Folding
    weights: Weights

    @classmethod
    def over(cls, texts: Iterable[str], folding: Folding) -> WordRule:
        """Weights from the texts themselves (when they are all at hand: an in-memory job)."""
        words = folding.short(texts)
        return cls(folding, Weights(document_frequencies(words), len(words)))

    def judge(
        self, texts: Sequence[str], rows: Sequence[int], meaning: Meaning | None, threshold: float
    ) -> WordJudge:
        """The rule over these texts (the job's rows `rows`), the model asked where a word is
        dropped (`meaning`; None: the rule alone, by the words' weights)."""
        return WordJudge(self, self.folding.short(texts), rows, meaning, threshold)


Ints = npt.NDArray[np.int64]
CHANGED_WORD_COSINE = 0.9  # a word dropped or changed leaves the request as it was, by the model's cosine


@dataclass(frozen=True)
class Meaning:
    """What the embedding model says of pairs of texts: `inputs_of` gives a job's rows' texts
    as written, `cosines` the model's cosine of each pair of texts."""

    inputs_of: Callable[[list[int]], list[str]]
    cosines: Callable[[list[tuple[str, str]]], list[float]]


class WordJudge:
    """Similarities of pairs among some texts (by their positions), the word rule deciding
    where it applies and character n-grams (`jaccard`, given) elsewhere:
    - typos, fillers, case, punctuation, spacing and currency signs aside, the same words: 1;
    - another number or amount in the same place ("$1" / "$10"): 0, whatever the n-grams say;
    - one word only in one of them: whether it changes the request is the model's call, so the
      similarity is the model's cosine of the two texts, typos corrected first (a typo moves an
      embedding far: "SPEA" for "SEPA" costs 0.3), and 0 below CHANGED_WORD_COSINE; without a
      model, the weighted share of the words they have in common;
    - another word in its place: the n-grams' similarity, unless the model finds the request
      changed ("name" / "PIN" does, "afternoon" / "evening" hardly): then 0."""

    def __init__(
        self,
        rule: WordRule,
        words: list[tuple[str, ...]],
        rows: Sequence[int],
        meaning: Meaning | None,
        threshold: float,
    ) -> None:
        self.rule, self.words, self.rows, self.meaning = rule, words, rows, meaning
        self.threshold = threshold
        self.cosine: dict[tuple[int, int], float] = {}

    def similarities(self, pairs: Ints, jaccard: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """For pairs of positions, with their Jaccard (the model asked once for all of them)."""
        comparisons = [self._compare(a, b) for a, b in pairs.tolist()]
        self._ask(
            [
                (a, b, comparison)
                for (a, b), comparison, value in zip(
                    pairs.tolist(), comparisons, jaccard.tolist(), strict=True
                )
                if comparison is not None and self._asks_model(comparison, value)
            ]
        )
        return np.array(
            [
                self._pick(comparison, a, b, value)
                for (a, b), comparison, value in zip(
                    pairs.tolist(), comparisons, jaccard.tolist(), strict=True
                )
            ],
            dtype=np.float64,
        )

    def similarity(self, a: int, b: int, jaccard: float) -> float:
        comparison = self._compare(a, b)
        if comparison is not None and self._asks_model(comparison, jaccard) and (a, b) not in self.cosine:
            self._ask([(a, b, comparison)])
        return self._pick(comparison, a, b, jaccard)

    def _compare(self, a: int, b: int) -> Comparison | None:
        first, second = self.words[a], self.words[b]
        if len(first) > SHORT_WORDS or len(second) > SHORT_WORDS:
            return None
        return compare(first, second, self.rule.weights)

    def _ask(self, pairs: list[tuple[int, int, Comparison]]) -> None:
        if self.meaning is None or not pairs:
            return
        rows = sorted({self.rows[at] for a, b, _ in pairs for at in (a, b)})
        written = dict(zip(rows, self.meaning.inputs_of(rows), strict=True))
        texts = [
            (
                _corrected(written[self.rows[a]], [(b, a) for a, b in comparison.typos], self.rule.weights),
                _corrected(written[self.rows[b]], comparison.typos, self.rule.weights),
            )
            for a, b, comparison in pairs
        ]
        for (a, b, _), cosine in zip(pairs, self.meaning.cosines(texts), strict=True):
            self.cosine[(a, b)] = self.cosine[(b, a)] = cosine

    def _asks_model(self, comparison: Comparison, jaccard: float) -> bool:
        """A dropped word always; a changed word when the n-grams call the two alike (the model
        may veto a pair, not make one: among real requests a changed word mostly changes it)."""
        if _other_amount(comparison) or not (comparison.only_first or comparison.only_second):
            return False
        return not (comparison.only_first and comparison.only_second) or jaccard >= self.threshold

    def _pick(self, comparison: Comparison | None, a: int, b: int, jaccard: float) -> float:
        if comparison is None:
            return jaccard
        if _other_amount(comparison):
            return 0.0
        if not (comparison.only_first or comparison.only_second):
            return comparison.similarity  # 1: typos, fillers, spacing and the like only
        changed = bool(comparison.only_first and comparison.only_second)
        if (a, b) not in self.cosine:  # no model, or a changed word the n-grams call apart
            return jaccard if changed else comparison.similarity
        cosine = self.cosine[(a, b)]
        if cosine < CHANGED_WORD_COSINE:
            return 0.0
        return jaccard if changed else cosine


def _corrected(text: str, typos: Iterable[tuple[str, str]], weights: Weights) -> str:
    """A text with the words it misspells, (other spelling, its spelling) in `typos`, written
    the other way where that is the usual spelling: the model then compares words, not typos."""
    for usual, typo in typos:
        if " " not in usual + typo and _usual(usual, typo, weights) == usual:
            text = re.sub(rf"\b{re.escape(typo)}\b", usual, text, flags=re.IGNORECASE)
    return text


def _other_amount(comparison: Comparison) -> bool:
    """Another number or amount in the same place: "$1" / "$10", and "£1" / "€1" where currency
    signs do not fold. The model finds them alike; the request is not."""
    if not (comparison.only_first and comparison.only_second):
        return False
    return _is_amount(comparison.only_first) or _is_amount(comparison.only_second)


def _is_amount(word: str) -> bool:
    return any(char.isdigit() or unicodedata.category(char) == "Sc" for char in word)


# Explaining a pair -----------------------------------------------------------------------------


def explain(first: str, second: str, folding: Folding) -> str | None:
    """Why `first` is a near-copy of `second` (the kept one: its spellings are read as right)
    word by word, in a sentence; None when the rule does not apply (more than one word apart,
    or another amount: character n-grams or embeddings found them)."""
    comparison = compare(folding.words(first), folding.words(second))
    if comparison is None or _other_amount(comparison):
        return None
    parts = ["The same words once case, punctuation and spacing are set aside"]
    fillers = sorted(set(folding.stripped(first)) | set(folding.stripped(second)))
    if fillers:
        parts.append("filler words " + ", ".join(f"'{word}'" for word in fillers) + " stripped")
    parts += [f"'{a}' read as '{b}'" for a, b in comparison.typos]
    if folding.fold_currency and _currencies(first) != _currencies(second):
        parts.append("currency signs taken as one")
    model = "which the embedding model finds the same request"
    if comparison.only_first and comparison.only_second:
        parts.append(f"'{comparison.only_second}' in place of '{comparison.only_first}', {model}")
    elif comparison.only_first or comparison.only_second:
        parts.append(f"'{comparison.only_first or comparison.only_second}' only in one, {model}")
    return "; ".join(parts) + "."
