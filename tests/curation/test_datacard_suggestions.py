"""A version's data card says how much of it is the model's own outputs: the share of examples
whose output was a model suggestion accepted unchanged, overall and per split, on the page, in
the API and in the exported card."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from curation.models import DatasetVersion, ExampleStatus, Project
from curation.services.datacard import card_markdown, suggestions_sentence
from curation.services.versions import version_create
from tests.conftest import Team
from tests.curation.ui_support import logged_in, text
from tests.factories import ExampleFactory, ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

LABELS = ["card_arrival", "exchange_rate"]
MOSTLY = "mostly the model's own outputs: a tune on them teaches it little it did not know"


def version_of(project: Project, lead: Any, uses: Sequence[str]) -> DatasetVersion:
    project.labels = LABELS
    project.save()
    for index, use in enumerate(uses):
        ExampleFactory.create(
            project=project,
            input=f"Question number {index} about my account",
            output=LABELS[index % 2],
            status=ExampleStatus.APPROVED,
            suggestion_use=use,
        )
    version = version_create(project=project, user=lead, eval_fraction=0.25, seed=3)
    assert version.is_frozen, version.error
    return version


def test_the_card_counts_accepted_suggestions_overall_and_per_split(team: Team) -> None:
    # 20 examples (Example.suggestion_use), 17 with a suggestion
    uses = ["accepted"] * 11 + ["edited"] * 3 + ["replaced"] * 2 + ["unseen"] + [""] * 3
    version = version_of(team.project, team.lead, uses)

    figure = version.stats["suggestions"]
    overall = figure["all"]
    assert (overall["examples"], overall["accepted"], overall["edited"], overall["replaced"]) == (
        20,
        11,
        3,
        2,
    )
    assert (overall["unseen"], overall["with_suggestion"]) == (1, 17)
    assert overall["accepted_share"] == pytest.approx(11 / 20)
    assert overall["suggested_share"] == pytest.approx(17 / 20)
    # Per split: the sides add up to the whole, and each share is of its own side.
    train, evaluation = figure["train"], figure["eval"]
    assert train["examples"] == version.counts["train"] and evaluation["examples"] == version.counts["eval"]
    for key in ("accepted", "edited", "replaced", "unseen", "with_suggestion"):
        assert train[key] + evaluation[key] == overall[key]
    assert train["accepted_share"] == pytest.approx(train["accepted"] / train["examples"])

    sentence = suggestions_sentence(figure)
    assert "55% of the outputs are model suggestions accepted unchanged (11 of 20)" in sentence
    assert MOSTLY in sentence
    card = card_markdown(version)
    assert "## Model suggestions" in card and MOSTLY in card
    assert f"| all | 20 | 11 | 3 | 2 | 1 | {11 / 20:.1%} |" in card


def test_a_version_mostly_written_by_people_gets_no_warning(team: Team) -> None:
    version = version_of(team.project, team.lead, ["accepted"] * 2 + ["edited"] * 8)
    sentence = suggestions_sentence(version.stats["suggestions"])
    assert sentence.startswith("20% of the outputs are model suggestions accepted unchanged")
    assert MOSTLY not in sentence
    none = version_of(ProjectFactory.create(), team.lead, [""] * 4)
    assert (
        suggestions_sentence(none.stats["suggestions"])
        == "No output of this version came from a model suggestion."
    )
    assert suggestions_sentence(None).startswith("Not recorded")  # frozen before the figure existed


def test_the_version_page_and_the_api_show_the_share(team: Team, client_for: Any) -> None:
    version = version_of(team.project, team.lead, ["accepted"] * 6 + [""] * 2)
    page = text(logged_in(team.annotator).get(f"/versions/{version.pk}/"))
    assert 'data-testid="version-suggestions"' in page and "75% of the outputs" in page
    assert "mostly the model&#x27;s own outputs" in page
    assert 'data-testid="version-suggestion-table"' in page
    body = client_for(team.annotator).get(f"/api/versions/{version.pk}/").json()
    assert body["stats"]["suggestions"]["all"]["accepted"] == 6
    card = client_for(team.annotator).get(f"/api/versions/{version.pk}/card/")
    assert card.status_code == 200 and MOSTLY in card.content.decode()
