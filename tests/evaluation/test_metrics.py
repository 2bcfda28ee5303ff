"""Metrics, answer extraction and the paired statistics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.extract import Answer, extract, json_object_of, label_of
from evaluation.metrics import field_match, macro_f1, normalized, rouge_l, score, tokens
from evaluation.stats import Guardrail, Interval, mcnemar_exact, mean_statistic, paired_bootstrap, verdict

LABELS = ["card_arrival", "card_linking", "exchange_rate"]


def answers(task: str, raws: list[str], labels: list[str] = LABELS) -> list[Answer]:
    return [extract(task, raw, labels) for raw in raws]


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("card_arrival", "card_arrival"),
        ('  "Card_Arrival".\nbecause it is late', "card_arrival"),
        ("The intent is exchange_rate, clearly.", "exchange_rate"),
        ("card_arrival or card_linking", None),  # two labels named: no answer
        ("I am not sure", None),
        ("", None),
    ],
)
def test_label_extraction(raw: str, label: str | None) -> None:
    assert label_of(raw, LABELS) == label


def test_json_extraction_skips_prose_and_fences() -> None:
    assert json_object_of('Sure! ```json\n{"b": 1, "a": "x"}\n``` done') == '{"a":"x","b":1}'
    assert json_object_of('{not json} then {"ok": true}') == '{"ok":true}'
    assert json_object_of("[1, 2]") is None


def test_classification_metrics_by_hand() -> None:
    references = ["card_arrival", "card_arrival", "card_linking", "exchange_rate"]
    scored = score(
        "classification",
        answers("classification", ["card_arrival", "card_linking", "card_linking", "???"]),
        references,
        labels=LABELS,
    )
    assert scored.per_example["accuracy"] == [1.0, 0.0, 1.0, 0.0]
    assert scored.per_example["invalid_label"] == [0.0, 0.0, 0.0, 1.0]
    assert scored.aggregate["accuracy"] == 0.5
    assert scored.aggregate["invalid_label"] == 0.25
    # F1: card_arrival 2*1/(1+2)=2/3, card_linking 2*1/(2+1)=2/3, exchange_rate 0 -> mean 4/9
    assert scored.aggregate["macro_f1"] == pytest.approx(4 / 9)
    assert macro_f1(["a", "a"], ["a", "a"]) == 1.0


def test_extraction_metrics_by_hand() -> None:
    schema = {
        "type": "object",
        "properties": {"date": {"type": "string"}, "people": {"type": "integer"}},
        "required": ["date", "people"],
    }
    references = ['{"date":"fri","people":2}'] * 4
    raws = ['{"date": "fri", "people": 2}', '{"date": "fri", "people": "two"}', '{"date": "sat"}', "no json"]
    scored = score("extraction", answers("extraction", raws), references, schema=schema)
    assert scored.per_example["json_valid"] == [1.0, 1.0, 1.0, 0.0]
    assert scored.per_example["schema_valid"] == [1.0, 0.0, 0.0, 0.0]
    assert scored.per_example["field_exact_match"] == [1.0, 0.5, 0.0, 0.0]
    assert scored.per_example["exact_match"] == [1.0, 0.0, 0.0, 0.0]
    assert field_match({"a": [1, 2]}, {"a": [1, 2], "b": None}) == 0.5


def test_a_model_output_the_schema_cannot_be_applied_to_does_not_conform() -> None:
    # Given a schema stored before such schemas were refused: a self-reference, a pattern that
    # backtracks without end, a multipleOf no huge integer can be checked against
    schema = {
        "properties": {
            "loop": {"$ref": "#/properties/loop"},
            "name": {"type": "string", "pattern": "^(a|aa)+$"},
            "n": {"multipleOf": 0.1},
        }
    }
    raws = ['{"loop": 1}', '{"name": "' + "a" * 60 + '!"}', '{"n": 1' + "0" * 400 + "}", '{"name": "aa"}']
    # Then scoring says so for each, and fails on none
    scored = score("extraction", answers("extraction", raws), ['{"name": "aa"}'] * 4, schema=schema)
    assert scored.per_example["schema_valid"] == [0.0, 0.0, 0.0, 1.0]


def test_generation_metrics_by_hand() -> None:
    raws = ["  Hello   World ", "the cat sat", "same words"]
    scored = score(
        "generation", answers("generation", raws), ["hello world", "the cat sat on the mat", "same words"]
    )
    assert scored.per_example["exact_match"] == [1.0, 0.0, 1.0]  # case and spacing do not count
    # ROUGE-L: LCS 3 of 3 and of 6 tokens: P=1, R=0.5, F1=2/3
    assert scored.per_example["rouge_l"][1] == pytest.approx(2 / 3)
    assert scored.per_example["chrf"][2] == pytest.approx(1.0)
    assert 0 < scored.per_example["chrf"][1] < scored.per_example["chrf"][2]
    assert scored.per_example["chrf"][0] < 1  # chrF compares characters as they are


def test_unicode_safe_tokens_and_normalization() -> None:
    assert tokens("東京に行く") == ["東", "京", "に", "行", "く"]
    assert tokens("Café, naïve_x 42!") == ["café", "naïve", "x", "42"]
    assert rouge_l("東京に行く", "京都に行く") == pytest.approx(0.8)  # LCS 京,に,行,く = 4 of 5
    assert normalized("\uff26\uff55\uff4c\uff4c  WIDTH") == "full width"  # full-width letters


def test_mcnemar_exact_against_known_cases() -> None:
    # 0 vs 10 disagreements: p = 2 * 0.5**10
    baseline, candidate = [0.0] * 10 + [1.0] * 5, [1.0] * 15
    assert mcnemar_exact(baseline, candidate) == (0, 10, pytest.approx(2 / 1024))
    # 3 vs 5: p = 2 * (C(8,0)+C(8,1)+C(8,2)+C(8,3)) / 256 = 2 * 93 / 256
    b = [1.0] * 3 + [0.0] * 5
    c = [0.0] * 3 + [1.0] * 5
    assert mcnemar_exact(b, c)[2] == pytest.approx(2 * 93 / 256)
    assert mcnemar_exact([1.0, 0.0], [1.0, 0.0]) == (0, 0, 1.0)
    assert math.isclose(mcnemar_exact([1.0] * 4, [0.0] * 4)[2], 0.125)


def test_identical_systems_give_an_interval_around_zero_and_no_ship() -> None:
    scores = list(np.random.default_rng(1).integers(0, 2, 200).astype(float))
    interval = paired_bootstrap(mean_statistic(scores), mean_statistic(scores), len(scores), seed=0)
    assert interval == Interval(0.0, 0.0, 0.0)
    decided = verdict("accuracy", interval, 0.0, [])
    assert not decided.ship and "not entirely above the minimum gain" in decided.reason


def test_a_clearly_better_system_ships_and_the_seed_fixes_the_interval() -> None:
    rng = np.random.default_rng(2)
    baseline = rng.integers(0, 2, 300).astype(float)
    candidate = np.where(rng.random(300) < 0.4, 1.0, baseline)  # fixes about 40% of the errors
    run = lambda seed: paired_bootstrap(mean_statistic(baseline), mean_statistic(candidate), 300, seed=seed)  # noqa: E731
    interval = run(7)
    assert interval == run(7) and interval != run(8)
    assert interval.delta == pytest.approx(candidate.mean() - baseline.mean())
    assert 0 < interval.low < interval.delta < interval.high
    decided = verdict("accuracy", interval, 0.0, [])
    assert decided.ship and "whole 95% interval" in decided.reason
    assert not verdict("accuracy", interval, min_gain=0.5, guardrails=[]).ship


def test_a_guardrail_significantly_worse_blocks_shipping() -> None:
    interval = Interval(0.2, 0.1, 0.3)
    worse = Guardrail("invalid_label", "higher", baseline=0.0, candidate=0.3, p_value=0.001)
    noise = Guardrail("invalid_label", "higher", baseline=0.0, candidate=0.02, p_value=0.5)
    blocked = verdict("accuracy", interval, 0.0, [worse])
    assert not blocked.ship and "guardrail got significantly worse: invalid_label" in blocked.reason
    assert verdict("accuracy", interval, 0.0, [noise]).ship
