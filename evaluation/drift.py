"""Drift statistics on embeddings and outputs (pure: numpy, scikit-learn, scipy; no Django).

- Out of distribution: an input whose nearest training input (cosine of unit embeddings) is
  less similar than a threshold calibrated on the version itself: the 5th percentile of the
  eval inputs' nearest-train similarities, so about 5% of held-out in-distribution inputs fall
  below it by construction.
- Input drift: how well a logistic regression tells live inputs from training inputs by their
  embeddings, as a cross-validated ROC AUC (0.5: indistinguishable). Small windows make AUCs
  noisy, so the same classifier on randomly relabelled rows gives a permutation baseline; drift
  counts only above both the threshold and that baseline's 95th percentile. Above a few hundred
  rows a side the permutations cost seconds and add nothing: the baseline is then the normal
  approximation of the AUC's null distribution (Mann-Whitney: variance (n1+n2+1)/(12 n1 n2)).
- Output length shift: the two-sample Kolmogorov-Smirnov test of live against training output
  lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from curation.dedup.embeddings import nearest_similarity

Vectors = npt.NDArray[np.float32]

DEFAULT_THRESHOLDS = {
    "ood_rate": 0.2,  # share of live inputs out of distribution
    "input_drift": 0.75,  # domain-classifier AUC
    "invalid_label_rate": 0.05,
    "schema_violation_rate": 0.05,
    "length_shift_p": 0.001,  # KS p-value below this
}
CALIBRATION_PERCENTILE = 5.0
MAX_CLASSIFIER_ROWS = 2000  # per side: enough for a stable AUC, fast on a CPU
PERMUTATIONS = 20
PERMUTATION_MAX_ROWS = 500  # per side; larger windows use the normal approximation
Z_95 = 1.6449
FOLDS = 5


def calibrated_threshold(evaluation: Vectors, train: Vectors) -> float:
    """The similarity below which an input counts as out of distribution."""
    if not len(evaluation) or not len(train):
        return 0.0
    return float(np.percentile(nearest_similarity(evaluation, train), CALIBRATION_PERCENTILE))


@dataclass(frozen=True)
class DomainShift:
    auc: float
    baseline: float  # 95th percentile of the AUC under permuted labels


def domain_classifier_auc(live: Vectors, train: Vectors, seed: int = 0) -> DomainShift:
    rng = np.random.default_rng(seed)
    per_side = min(len(live), len(train), MAX_CLASSIFIER_ROWS)  # balanced: AUC is not skewed by sizes
    live, train = _sampled(live, per_side, rng), _sampled(train, per_side, rng)
    features = np.vstack([live, train])
    labels = np.concatenate([np.ones(len(live)), np.zeros(len(train))])
    auc = _cross_validated_auc(features, labels, seed)
    if per_side > PERMUTATION_MAX_ROWS:
        spread = np.sqrt((len(live) + len(train) + 1) / (12 * len(live) * len(train)))
        return DomainShift(auc=auc, baseline=float(0.5 + Z_95 * spread))
    permuted = [_cross_validated_auc(features, rng.permutation(labels), seed) for _ in range(PERMUTATIONS)]
    return DomainShift(auc=auc, baseline=float(np.percentile(permuted, 95)))


def _sampled(rows: Vectors, count: int, rng: np.random.Generator) -> Vectors:
    if len(rows) <= count:
        return rows
    return rows[rng.choice(len(rows), count, replace=False)]


def _cross_validated_auc(features: Vectors, labels: npt.NDArray[np.float64], seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = min(FOLDS, int(labels.sum()), int(len(labels) - labels.sum()))
    if folds < 2:
        return 0.5
    classifier = LogisticRegression(max_iter=200, C=1.0)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(classifier, features, labels, cv=splitter, method="predict_proba")[:, 1]
    return roc_auc(labels, scores)


def roc_auc(labels: npt.NDArray[np.float64], scores: npt.NDArray[np.float64]) -> float:
    """The probability that a random positive scores above a random negative (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positives = labels == 1
    count, others = int(positives.sum()), int((~positives).sum())
    if not count or not others:
        return 0.5
    return float((ranks[positives].sum() - count * (count + 1) / 2) / (count * others))


def length_shift_p(live: list[int], train: list[int]) -> float:
    from scipy.stats import ks_2samp

    if not live or not train:
        return 1.0
    return float(ks_2samp(live, train).pvalue)
