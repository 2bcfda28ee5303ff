"""curation.agreement on plain matrices: Krippendorff's textbook examples, hand-computed cases,
and the krippendorff package and scikit-learn on the same data."""

from __future__ import annotations

import json
import math

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from curation import agreement
from curation.agreement import (
    MISSING,
    NO_VARIATION,
    TOO_FEW_ITEMS,
    alpha_reading,
    confused_pairs,
    field_alphas,
    label_alphas,
    nominal_alpha,
    pairwise_kappa,
    percent_agreement,
)

NAN = math.nan


def items_from_rows(rows: list[list[float]]) -> list[dict[str, str]]:
    """Coders x units (NaN: missing), the package's layout, as our items x annotators."""
    coders = "ABCDEFG"[: len(rows)]
    return [
        {
            coder: str(int(row[unit]))
            for coder, row in zip(coders, rows, strict=True)
            if not math.isnan(row[unit])
        }
        for unit in range(len(rows[0]))
    ]


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
# 12 units, missing values; nominal alpha = 0.743.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
# The krippendorff package's own doctest (3 coders, 15 units): nominal alpha = 0.691358.
PACKAGE_EXAMPLE = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]
# Two annotators, four items: (a, a), (a, b), (b, b), (b, b). By hand: n_a = 3, n_b = 5, n = 8;
# one disagreeing item adds o_ab = o_ba = 1, so D_o = 2 and D_e = 2 * 3 * 5 / 7;
# alpha = 1 - 2 / (30 / 7) = 8 / 15. Kappa: p_o = 3/4, p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2, so 1/2.
SMALL = [{"x": "a", "y": "a"}, {"x": "a", "y": "b"}, {"x": "b", "y": "b"}, {"x": "b", "y": "b"}]


def test_krippendorffs_own_nominal_example_gives_0_743() -> None:
    result = nominal_alpha(items_from_rows(KRIPPENDORFF_2011))
    assert result.value == pytest.approx(0.743, abs=5e-4)
    assert result.items == 11  # unit 12 has one value: not pairable


def test_the_package_doctest_matrix_gives_0_691() -> None:
    assert nominal_alpha(items_from_rows(PACKAGE_EXAMPLE)).value == pytest.approx(0.691358, abs=1e-6)


def test_a_hand_computed_alpha_and_kappa() -> None:
    assert nominal_alpha(SMALL).value == pytest.approx(8 / 15)
    (pair,) = pairwise_kappa(SMALL)
    assert (pair.first, pair.second, pair.items) == ("x", "y", 4)
    assert pair.kappa == pytest.approx(0.5)
    assert percent_agreement(SMALL) == pytest.approx(3 / 4)


def random_items(seed: int, units: int = 60, coders: int = 4, values: int = 5) -> list[dict[int, str]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, values, units)
    items = []
    for unit in range(units):
        row = {}
        for coder in range(coders):
            if rng.random() < 0.3:
                continue  # missing
            noisy = rng.random() < 0.25
            row[coder] = f"v{rng.integers(0, values) if noisy else truth[unit]}"
        items.append(row)
    return items


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alpha_equals_the_package_on_the_same_reliability_data(seed: int) -> None:
    items = random_items(seed)
    domain = sorted({v for item in items for v in item.values()})
    data = np.full((4, len(items)), np.nan)
    for unit, item in enumerate(items):
        for coder, value in item.items():
            data[coder, unit] = domain.index(value)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert nominal_alpha(items).value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", [4, 5])
def test_the_bootstraps_per_item_sums_give_the_packages_alpha(seed: int) -> None:
    """Each resample's alpha comes from per-item sums: with every item once, that is the package's."""
    paired = agreement.pairable(random_items(seed))
    domain = sorted({v for item in paired for v in item.values()})
    counts = agreement.value_counts(paired, domain)
    observed, _ = agreement._unit_sums(counts)
    n, n_c = counts.sum(), counts.sum(axis=0)
    from_sums = 1 - (n - 1) * observed.sum() / (n**2 - (n_c**2).sum())
    assert from_sums == pytest.approx(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))


def test_the_bootstrap_interval_is_seeded_and_contains_the_estimate() -> None:
    items = random_items(7, units=200)
    first = nominal_alpha(items, seed=11)
    again = nominal_alpha(items, seed=11)
    other = nominal_alpha(items, seed=12)
    assert first.interval is not None and other.interval is not None
    assert first.interval == again.interval
    assert first.interval != other.interval
    assert first.value is not None and first.interval[0] < first.value < first.interval[1]
    assert first.interval[1] - first.interval[0] < 0.3  # 200 items pin it down


def test_too_few_items_and_no_variation_give_none_with_a_reason_and_valid_json() -> None:
    one = nominal_alpha([{"a": "x", "b": "y"}, {"a": "x"}])
    same = nominal_alpha([{"a": "x", "b": "x"}, {"a": "x", "b": "x", "c": "x"}])
    assert (one.value, one.items, one.reason) == (None, 1, TOO_FEW_ITEMS)
    assert (same.value, same.interval, same.reason) == (None, None, NO_VARIATION)
    json.dumps(same.as_dict(), allow_nan=False)  # no NaN reaches a JSON body
    (pair,) = pairwise_kappa([{"a": "x", "b": "x"}, {"a": "x", "b": "x"}])
    assert pair.kappa is None and "undefined" in pair.reason


def test_per_label_alpha_is_one_vs_rest_and_counts_the_items_a_label_appears_in() -> None:
    # With two labels, each label against the rest is the whole variable: both equal the alpha.
    by_label = {entry.label: entry for entry in label_alphas(SMALL)}
    assert by_label["a"].alpha.value == pytest.approx(8 / 15)
    assert by_label["b"].alpha.value == pytest.approx(8 / 15)
    assert (by_label["a"].items, by_label["b"].items) == (2, 3)
    # On Krippendorff's data, label "3" against the rest equals the package on that binary matrix.
    items = items_from_rows(KRIPPENDORFF_2011)
    binary = np.where(np.isnan(np.array(KRIPPENDORFF_2011)), np.nan, np.array(KRIPPENDORFF_2011) == 3)
    expected = krippendorff.alpha(reliability_data=binary, level_of_measurement="nominal")
    three = next(entry for entry in label_alphas(items) if entry.label == "3")
    assert three.alpha.value == pytest.approx(expected)
    assert three.alpha.interval is not None
    assert three.alpha.value is not None
    assert three.alpha.interval[0] <= three.alpha.value <= three.alpha.interval[1]


def test_kappa_equals_scikit_learn_on_the_items_both_labeled() -> None:
    items = random_items(9, units=80, coders=3)
    kappas = {(k.first, k.second): k for k in pairwise_kappa(items)}
    shared = [item for item in items if 0 in item and 2 in item]
    expected = cohen_kappa_score([i[0] for i in shared], [i[2] for i in shared])
    assert kappas[(0, 2)].items == len(shared)
    assert kappas[(0, 2)].kappa == pytest.approx(expected)


def test_field_alpha_treats_a_missing_field_as_its_own_value() -> None:
    answers: list[dict[str, dict[str, object]]] = [
        {"x": {"city": "Paris", "amount": 10}, "y": {"city": "Paris", "amount": 10}},
        {"x": {"city": "Rome", "amount": 5}, "y": {"city": "Roma", "amount": 5}},
        {"x": {"city": "Oslo"}, "y": {"city": "Oslo", "amount": 7}},
        {"x": {"city": "Lima", "amount": 3}, "y": {"city": "Lima", "amount": 3}},
    ]
    fields = {entry.field: entry for entry in field_alphas(answers)}
    assert set(fields) == {"amount", "city"}
    city = [
        {"x": '"Paris"', "y": '"Paris"'},
        {"x": '"Rome"', "y": '"Roma"'},
        {"x": '"Oslo"', "y": '"Oslo"'},
        {"x": '"Lima"', "y": '"Lima"'},
    ]
    amount = [{"x": "10", "y": "10"}, {"x": "5", "y": "5"}, {"x": MISSING, "y": "7"}, {"x": "3", "y": "3"}]
    assert fields["city"].alpha.value == pytest.approx(nominal_alpha(city).value)
    assert fields["amount"].alpha.value == pytest.approx(nominal_alpha(amount).value)
    assert fields["city"].agreement == fields["amount"].agreement == pytest.approx(3 / 4)


def test_percent_agreement_counts_pairs_and_confused_pairs_count_items() -> None:
    items = [
        {"a": "card_arrival", "b": "card_arrival", "c": "card_linking"},
        {"a": "card_linking", "b": "card_arrival"},
        {"a": "exchange_rate", "b": "lost_or_stolen_card"},
        {"a": "exchange_rate", "b": "exchange_rate"},
    ]
    assert percent_agreement(items) == pytest.approx((1 + 0 + 0 + 1) / (3 + 1 + 1 + 1))
    confusion = confused_pairs(items, top=1)
    assert confusion.pairs == [("card_arrival", "card_linking", 2)]
    assert confusion.labels == ["card_arrival", "card_linking"]
    assert confusion.table == [[0, 2], [2, 0]]


def test_alpha_reads_against_krippendorffs_thresholds() -> None:
    assert [alpha_reading(v)[0] for v in (0.9, 0.8, 0.7, 0.667, 0.5, None)] == [
        "good",
        "good",
        "tentative",
        "tentative",
        "low",
        "unknown",
    ]
