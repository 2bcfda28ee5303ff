"""Agreement from the labeling queue's real rows: the matrix a project's submitted answers make,
per-annotator figures, the bound on items, the data card of a frozen version, and banking77's
test split labeled twice by a scripted pair of annotators."""

from __future__ import annotations

import csv
import json
import random
from datetime import timedelta
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from django.contrib.auth.models import User

from curation.agreement_selectors import FREE_TEXT, project_agreement, version_agreement
from curation.models import (
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    FlagResolution,
    ItemStatus,
    LabelingItem,
    Project,
    Role,
    TaskType,
)
from curation.services.datacard import card_markdown
from curation.services.examples import example_review
from curation.services.flags import flag_resolve
from curation.services.labeling import annotation_submit, items_enqueue, next_assignment
from curation.services.versions import version_create
from tests.conftest import Team
from tests.factories import ExampleFactory, MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

REPO = Path(__file__).resolve().parents[2]
BANKING77_TEST = REPO.parent / "shared" / "datasets" / "banking77" / "test.csv"
BUNDLED_TEST = REPO / "curation" / "sample_data" / "banking77_test_sample.csv"
BANKING77_ITEMS = 400


def annotators(project: Project, *names: str) -> list[User]:
    return [
        MembershipFactory.create(project=project, role=Role.ANNOTATOR, user__username=name).user
        for name in names
    ]


def with_overlap(project: Project, overlap: int = 2) -> None:
    project.labeling_overlap = overlap
    project.save()


def label_all(project: Project, user: User, answers: dict[str, str], seconds: float = 30) -> None:
    """The user takes items until the queue has none for them, answering by input text."""
    while (claim := next_assignment(project=project, user=user)) is not None:
        submitted = claim.claimed_at + timedelta(seconds=seconds)
        annotation_submit(item=claim.item, user=user, output=answers[claim.item.input], now=submitted)


def queue(project: Project, lead: User, texts: list[str]) -> None:
    items_enqueue(project=project, user=lead, inputs=[{"input": text} for text in texts])


def matrix_alpha(rows: list[tuple[str, str]]) -> float:
    """The package on the coders x items matrix of two annotators' answers."""
    domain = sorted({value for row in rows for value in row})
    data = np.array([[domain.index(row[coder]) for row in rows] for coder in (0, 1)], dtype=float)
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


TEXTS = ["Where is my card?", "Link my card", "Rate for EUR?", "Card stolen!", "Card still not here"]
ANA = dict(
    zip(
        TEXTS,
        ["card_arrival", "card_linking", "exchange_rate", "lost_or_stolen_card", "card_arrival"],
        strict=True,
    )
)
BEN = {**ANA, "Card still not here": "card_linking"}  # one disagreement


def test_the_project_matrix_gives_the_packages_alpha_and_per_annotator_figures(team: Team) -> None:
    with_overlap(team.project)
    queue(team.project, team.lead, TEXTS)
    ana, ben = annotators(team.project, "ana", "ben")
    label_all(team.project, ana, ANA, seconds=20)
    label_all(team.project, ben, BEN, seconds=40)

    figures = project_agreement(project=team.project)

    rows = [(ANA[t], BEN[t]) for t in TEXTS]
    assert figures["alpha"]["value"] == pytest.approx(matrix_alpha(rows))
    assert figures["alpha"]["items"] == 5 and figures["items"]["with_overlap"] == 5
    assert figures["percent_agreement"] == pytest.approx(4 / 5)
    (pair,) = figures["pairwise"]
    assert pair["annotators"] == ["ana", "ben"] and pair["items"] == 5
    assert figures["confused_pairs"] == [{"labels": ["card_arrival", "card_linking"], "items": 1}]
    by_label = {row["label"]: row for row in figures["per_label"]}
    assert by_label["card_arrival"]["items"] == 2 and by_label["exchange_rate"]["items"] == 1
    people = {row["username"]: row for row in figures["annotators"]}
    assert people["ana"]["items_labeled"] == 5
    assert (
        people["ana"]["agreement_with_others"] == pytest.approx(4 / 5) and people["ana"]["comparisons"] == 5
    )
    assert people["ana"]["mean_kappa"] == pytest.approx(pair["kappa"])
    assert (people["ana"]["median_seconds"], people["ben"]["median_seconds"]) == (20, 40)
    assert people["ana"]["agreement_with_reviewers"] is None  # nothing approved yet
    json.dumps(figures, allow_nan=False)


def test_agreement_with_reviewers_compares_answers_with_the_approved_example(team: Team) -> None:
    with_overlap(team.project)
    queue(team.project, team.lead, TEXTS)
    ana, ben = annotators(team.project, "ana", "ben")
    label_all(team.project, ana, ANA)
    label_all(team.project, ben, BEN)
    # The lead settles the disagreement for ben's answer, and a reviewer approves two items.
    flag = Flag.objects.get(project=team.project, kind=FlagKind.DISAGREEMENT)
    kept = flag.examples.get(output="card_linking")
    flag_resolve(flag=flag, user=team.lead, resolution=FlagResolution.KEEP_ONE, keep=kept.pk)
    for example in [Example.objects.get(pk=kept.pk), Example.objects.get(input="Rate for EUR?")]:
        example_review(example=example, user=team.reviewer, decision="approve")

    people = {row["username"]: row for row in project_agreement(project=team.project)["annotators"]}

    assert (people["ana"]["agreement_with_reviewers"], people["ana"]["reviewed_items"]) == (0.5, 2)
    assert (people["ben"]["agreement_with_reviewers"], people["ben"]["reviewed_items"]) == (1.0, 2)


def test_items_with_one_answer_do_not_count_and_the_window_is_bounded(team: Team, settings: object) -> None:
    with_overlap(team.project)
    queue(team.project, team.lead, TEXTS)
    ana, ben = annotators(team.project, "ana", "ben")
    label_all(team.project, ana, ANA)
    assert project_agreement(project=team.project)["alpha"]["items"] == 0
    label_all(team.project, ben, BEN)
    settings.FINCH_AGREEMENT_MAX_ITEMS = 3  # type: ignore[attr-defined]
    figures = project_agreement(project=team.project)
    assert figures["items"] == {"with_overlap": 5, "measured": 3, "recent_labeled": 3, "limit": 3}
    newest = LabelingItem.objects.filter(project=team.project).order_by("-id")[:3]
    assert figures["alpha"]["items"] == 3
    assert figures["pairwise"][0]["items"] == 3
    assert {item.input for item in newest} == set(TEXTS[2:])


def test_free_text_projects_are_not_measured_and_say_why(team: Team) -> None:
    team.project.task_type = TaskType.GENERATION
    team.project.labels = []
    team.project.save()
    with_overlap(team.project)
    queue(team.project, team.lead, ["Write a greeting", "Write a goodbye"])
    ana, ben = annotators(team.project, "ana", "ben")
    label_all(team.project, ana, {"Write a greeting": "Hello!", "Write a goodbye": "Bye."})
    label_all(team.project, ben, {"Write a greeting": "Hi there.", "Write a goodbye": "Bye."})
    figures = project_agreement(project=team.project)
    assert figures["alpha"] == {"value": None, "interval": None, "items": 2, "reason": FREE_TEXT}
    assert figures["pairwise"] == [] and figures["per_label"] == []
    assert {row["username"]: row["items_labeled"] for row in figures["annotators"]} == {"ana": 2, "ben": 2}


def test_extraction_gets_field_level_agreement(team: Team) -> None:
    team.project.task_type = TaskType.EXTRACTION
    team.project.labels = []
    team.project.output_schema = {"type": "object"}
    team.project.save()
    with_overlap(team.project)
    texts = ["Pay 10 to Ann", "Pay 5 to Bob", "Pay 7 to Cy"]
    queue(team.project, team.lead, texts)
    ana, ben = annotators(team.project, "ana", "ben")
    label_all(
        team.project,
        ana,
        dict(
            zip(
                texts,
                ['{"to": "Ann", "amount": 10}', '{"to": "Bob", "amount": 5}', '{"to": "Cy"}'],
                strict=True,
            )
        ),
    )
    label_all(
        team.project,
        ben,
        dict(
            zip(
                texts,
                ['{"amount": 10, "to": "Ann"}', '{"to": "Bob", "amount": 5}', '{"to": "Cy", "amount": 7}'],
                strict=True,
            )
        ),
    )
    figures = project_agreement(project=team.project)
    fields = {row["field"]: row for row in figures["per_field"]}
    assert set(fields) == {"amount", "to"}
    assert fields["amount"]["agreement"] == pytest.approx(2 / 3)  # one answer lacks it
    assert fields["to"]["agreement"] == 1.0 and fields["to"]["alpha"]["value"] == 1.0
    assert figures["percent_agreement"] == pytest.approx(2 / 3)  # key order does not matter


def approve_all(project: Project, reviewer: User) -> None:
    for example in Example.objects.filter(project=project, status=ExampleStatus.SUBMITTED):
        example_review(example=example, user=reviewer, decision="approve")


def test_the_data_card_reports_the_agreement_of_the_examples_it_holds(team: Team) -> None:
    with_overlap(team.project)
    queue(team.project, team.lead, TEXTS)
    ana, ben = annotators(team.project, "ana", "ben")
    label_all(team.project, ana, ANA)
    label_all(team.project, ben, BEN)
    flag = Flag.objects.get(project=team.project, kind=FlagKind.DISAGREEMENT)
    flag_resolve(flag=flag, user=team.lead, resolution=FlagResolution.REJECT_ALL)
    approve_all(team.project, team.reviewer)

    version = version_create(project=team.project, user=team.lead)

    figure = version.stats["agreement"]
    # The disagreement was rejected: the version holds the four agreed items only.
    assert figure["items"] == 4 and figure["with_overlap"] == 4
    assert figure["value"] == 1.0  # the four agreed items, four different labels
    assert figure == version_agreement(version)
    assert "Krippendorff's alpha (nominal) 1.000" in card_markdown(version)
    assert "on 4 labeling-queue items with two or more annotations." in card_markdown(version)


def test_the_data_card_gives_alpha_with_its_interval_or_says_nothing_overlapped(team: Team) -> None:
    with_overlap(team.project)
    texts = [f"Where is card number {n}?" for n in range(12)]
    queue(team.project, team.lead, texts)
    ana, ben = annotators(team.project, "ana", "ben")
    answers = {t: ["card_arrival", "card_linking", "exchange_rate"][n % 3] for n, t in enumerate(texts)}
    label_all(team.project, ana, answers)
    label_all(team.project, ben, answers)
    approve_all(team.project, team.reviewer)
    version = version_create(project=team.project, user=team.lead)
    assert version.stats["agreement"]["value"] == 1.0 and version.stats["agreement"]["items"] == 12
    assert (
        "Krippendorff's alpha (nominal) 1.000, 95% bootstrap interval 1.000 to 1.000, on 12"
        in card_markdown(version)
    )

    ExampleFactory.create(project=team.project, status=ExampleStatus.APPROVED)  # written whole
    Example.objects.filter(labeling_item__isnull=False).update(status=ExampleStatus.REJECTED)
    plain = version_create(project=team.project, user=team.lead)
    assert plain.error == ""
    assert "None of these examples was labeled by two or more annotators" in card_markdown(plain)


def banking77_rows() -> tuple[list[tuple[str, str]], str]:
    """A seeded sample of banking77's test split (../shared/datasets), else the bundled 100 rows."""
    path = BANKING77_TEST if BANKING77_TEST.exists() else BUNDLED_TEST
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    unique = list({text.strip(): (text, label) for text, label in rows}.values())
    return random.Random(22).sample(unique, min(BANKING77_ITEMS, len(unique))), path.name


def test_banking77_labeled_twice_with_a_known_disagreement_set_gives_those_flags_and_the_packages_alpha(
    team: Team,
) -> None:
    # Given banking77's test inputs queued unlabeled with overlap 2, and two scripted annotators:
    # A gives the dataset's label, B a different one on a seeded 10% of the inputs.
    rows, _ = banking77_rows()
    labels = sorted(
        {label for _, label in rows}
        | set(json.loads((REPO / "curation" / "sample_data" / "banking77_categories.json").read_text()))
    )
    team.project.labels = labels
    team.project.save()
    with_overlap(team.project)
    for start in range(0, len(rows), 1000):
        queue(team.project, team.lead, [text for text, _ in rows[start : start + 1000]])
    truth = dict(rows)
    stored = set(LabelingItem.objects.filter(project=team.project).values_list("input", flat=True))
    assert stored == set(truth)
    rng = random.Random(77)
    disagreed = set(rng.sample(sorted(truth), len(truth) // 10))
    b_answers = {
        text: rng.choice([label for label in labels if label != truth[text]])
        if text in disagreed
        else truth[text]
        for text in sorted(truth)
    }
    a, b = annotators(team.project, "annotator_a", "annotator_b")

    # When both label the whole queue
    label_all(team.project, a, truth)
    label_all(team.project, b, b_answers)

    # Then exactly the planted set is flagged, the rest agreed, and alpha is the package's
    flags = Flag.objects.filter(project=team.project, kind=FlagKind.DISAGREEMENT)
    flagged = {flag.examples.values_list("input", flat=True)[0] for flag in flags}
    assert flagged == disagreed
    assert LabelingItem.objects.filter(project=team.project, status=ItemStatus.AGREED).count() == len(
        truth
    ) - len(disagreed)
    figures = project_agreement(project=team.project)
    pairs = [(truth[t], b_answers[t]) for t in sorted(truth)]
    assert figures["alpha"]["items"] == len(truth)
    assert figures["alpha"]["value"] == pytest.approx(matrix_alpha(pairs), abs=1e-12)
    # With 77 near-balanced labels, chance agreement is small: alpha is close to 1 - 10%.
    assert figures["alpha"]["value"] == pytest.approx(0.9, abs=0.02)
    low, high = figures["alpha"]["interval"]
    assert low < figures["alpha"]["value"] < high
    assert figures["percent_agreement"] == pytest.approx(1 - len(disagreed) / len(truth))
    assert sum(pair["items"] for pair in figures["confused_pairs"]) <= len(disagreed)
