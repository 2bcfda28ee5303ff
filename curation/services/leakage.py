"""Train/eval leakage of a version: eval items with a near copy in train, by three measures.

- exact: equal normalized input (case, spacing, punctuation, Unicode forms ignored);
- ngram: character/word n-gram Jaccard of the normalized inputs at the MinHash dedup threshold
  (the dedup job's sketches, band keys and exact verification);
- embedding: cosine of the inputs' embeddings at the embedding dedup threshold (the dedup job's
  model and cache). Embedding more than FINCH_LEAKAGE_EMBED_LIMIT uncached texts would make a
  freeze slow, so then that measure is skipped and says why (an embedding dedup job fills the
  cache).
The split already keeps equal normalized inputs and dedup clusters on one side, so what this
finds is near copies no dedup job has clustered yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings

from curation.dedup.minhash import Shingling, candidate_pairs_across, sketch, verified_pairs
from curation.models import DedupMethod
from curation.services.dedup import DEFAULT_THRESHOLDS
from curation.services.embedding_cache import model_label, similar_text_pairs, uncached_count

Pairs = npt.NDArray[np.int64]
EXAMPLE_PAIRS = 20  # shown on the version page, so a lead can see what leaked
NUM_PERM = 128


Found = tuple[Pairs, Callable[[int, int], float]]


def leakage_check(
    ids: list[int],
    texts: list[str],
    keys: list[str],
    in_eval: npt.NDArray[np.bool_],
    ngram: Found | None = None,
) -> dict[str, Any]:
    """The leakage report of rows (example ids, input texts and their normalized keys, as
    curation.dedup.normalize.exact_key makes them) split by `in_eval`. `ngram`: ngram_pairs'
    result when the caller computed it already (a freeze does, while the database copies)."""
    found: dict[str, Found] = {
        "exact": _exact_pairs(keys, in_eval),
        "ngram": ngram if ngram is not None else ngram_pairs(keys, in_eval),
    }
    report: dict[str, Any] = {"checked": True, "methods": {}}
    missing = uncached_count(texts, limit=settings.FINCH_LEAKAGE_EMBED_LIMIT)
    if missing <= settings.FINCH_LEAKAGE_EMBED_LIMIT:
        found["embedding"] = similar_text_pairs(
            texts, DEFAULT_THRESHOLDS[DedupMethod.EMBEDDING], wanted=_across(in_eval)
        )
    else:
        report["methods"]["embedding"] = {
            "skipped": (
                f"at least {missing} inputs have no cached embedding, more than FINCH_LEAKAGE_EMBED_LIMIT "
                f"({settings.FINCH_LEAKAGE_EMBED_LIMIT}); an embedding dedup job caches them"
            )
        }
    leaked: set[tuple[int, int]] = set()
    samples: list[dict[str, Any]] = []
    for method, (pairs, similarity) in found.items():
        report["methods"][method] = {"pairs": len(pairs)}
        for a, b in pairs.tolist():
            train_row, eval_row = (b, a) if in_eval[a] else (a, b)
            leaked.add((train_row, eval_row))
            if len(samples) < EXAMPLE_PAIRS:
                samples.append(
                    {
                        "method": method,
                        "train": ids[train_row],
                        "eval": ids[eval_row],
                        "similarity": round(similarity(a, b), 4),
                    }
                )
    report["near_duplicate_pairs"] = len(leaked)
    report["eval_items_leaked"] = len({eval_row for _, eval_row in leaked})
    report["examples"] = samples
    report["thresholds"] = {
        "ngram": DEFAULT_THRESHOLDS[DedupMethod.MINHASH],
        "embedding": DEFAULT_THRESHOLDS[DedupMethod.EMBEDDING],
    }
    report["embedding_model"] = model_label()
    return report


def _across(in_eval: npt.NDArray[np.bool_]) -> Callable[[Pairs], npt.NDArray[np.bool_]]:
    def wanted(pairs: Pairs) -> npt.NDArray[np.bool_]:
        return np.asarray(in_eval[pairs[:, 0]] != in_eval[pairs[:, 1]])

    return wanted


def _exact_pairs(keys: list[str], in_eval: npt.NDArray[np.bool_]) -> Found:
    first_train: dict[str, int] = {}
    for row, key in enumerate(keys):
        if not in_eval[row]:
            first_train.setdefault(key, row)
    pairs = [(first_train[key], row) for row, key in enumerate(keys) if in_eval[row] and key in first_train]
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2), lambda a, b: 1.0


def ngram_pairs(keys: list[str], in_eval: npt.NDArray[np.bool_]) -> Found:
    """Train/eval pairs of normalized inputs at the MinHash threshold (no database: safe in a
    thread, and the sketching releases the GIL)."""
    threshold = DEFAULT_THRESHOLDS[DedupMethod.MINHASH]
    if len(keys) < 2:
        return np.empty((0, 2), dtype=np.int64), lambda a, b: 0.0
    lengths = sorted(len(key) for key in keys)
    shingling = Shingling.choose("auto", 0, lengths[len(lengths) // 2])
    sketches = sketch(keys, shingling, threshold=threshold, num_perm=NUM_PERM)
    candidates = candidate_pairs_across(sketches.keys, in_eval)
    pairs, jaccard = verified_pairs(
        sketches, candidates, lambda rows: [keys[row] for row in rows], shingling, threshold
    )
    similarity = dict(zip(map(tuple, pairs.tolist()), jaccard.tolist(), strict=True))
    return pairs, lambda a, b: similarity[(min(a, b), max(a, b))]
