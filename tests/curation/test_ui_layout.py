"""Layout fixes that show in the markup (issue 21, 6 and 8); the widths are checked in the
browser (tests/browser/test_layout.py)."""

from __future__ import annotations

from typing import Any

import pytest

from curation.models import DatasetVersion, DedupJob, Role
from curation.services.datacard import _histogram, length_edges
from curation.views.versions import _charts
from tests.conftest import Team
from tests.curation.ui_support import logged_in, text, written
from tests.factories import MembershipFactory, ProjectFactory

SIDES = ("train", "eval")


def test_length_bins_come_from_the_data_and_none_is_empty() -> None:
    lengths = [40 + n % 30 for n in range(200)] + [900]
    edges = length_edges(lengths)
    histogram = _histogram(lengths, edges)
    assert edges[0] == 40 and len(edges) >= 4
    assert all(histogram["counts"]), histogram  # every bin holds lengths
    assert length_edges([]) == [0] and length_edges([7, 7, 7]) == [7]


def test_a_one_value_length_bin_reads_as_that_value() -> None:
    lengths = [*range(8, 16), 40]  # bins at 8, 9, ... 15; the last runs to 40
    stats = {"lengths": {"input_chars": {side: _histogram(lengths, length_edges(lengths)) for side in SIDES}}}
    labels = [row["label"] for row in _charts(DatasetVersion(stats=stats))[0]["bins"]]
    assert labels == ["8", "9", "10", "11", "12", "13", "14", "15-40"]


@pytest.mark.django_db
class TestMarkup:
    def test_a_long_project_name_is_truncated_with_its_full_name_as_title(self, team: Team) -> None:
        project = ProjectFactory.create(name="Customer support intents, EMEA 2026")  # 35 characters
        MembershipFactory.create(project=project, user=team.lead, role=Role.LEAD)
        page = text(logged_in(team.lead).get(f"/projects/{project.pk}/"))
        assert 'class="name" href="/projects/' in page
        assert 'title="Customer support intents, EMEA 2026"' in page

    def test_duplicates_keeps_the_last_chosen_method_not_its_threshold(
        self, team: Team, settings: Any
    ) -> None:
        DedupJob.objects.create(project=team.project, method="minhash", threshold=0.7, created_by=team.lead)
        page = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/duplicates/"))
        # The method is kept; a threshold carried over would replace the next method's default
        assert '<option value="minhash" selected>' in page and 'value="0.7"' not in page

    def test_clusters_have_anchors_and_forms_share_the_stacked_style(self, team: Team, frozen: Any) -> None:
        version = frozen(team.project, team.lead)
        client = logged_in(team.lead)
        board = text(client.get(f"/versions/{version.pk}/evaluation/"))
        freeze = text(client.get(f"/projects/{team.project.pk}/versions/new/"))
        assert 'id="launch-eval" class="stacked"' in board and 'class="card stacked" id="freeze"' in freeze

    def test_the_label_bars_leave_room_for_their_counts(self, team: Team, frozen: Any) -> None:
        version = frozen(team.project, team.lead)
        page = text(logged_in(team.lead).get(f"/versions/{version.pk}/"))
        assert '<span class="barbox"><span class="hbar train"' in page and '<span class="count">' in page


@pytest.mark.django_db
def test_find_similar_shows_a_spinner_that_says_when_the_model_loads(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = written(team.project, team.annotator, "Where is my card?")
    client = logged_in(team.annotator)
    for loaded, words in ((False, "Loading the embedding model (first use, ~10 s)"), (True, "Searching…")):
        monkeypatch.setattr("curation.views.examples.model_loaded", lambda loaded=loaded: loaded)
        page = text(client.get(f"/examples/{example.pk}/"))
        assert 'hx-indicator="#similar-loading"' in page and 'class="htmx-indicator spinner' in page
        assert words in page


def test_model_loaded_follows_the_process_cache(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from curation.dedup import embeddings, int8
    from curation.services import embedding_cache

    settings.FINCH_EMBEDDING_INT8 = False
    # Where the model embeds in torch (native bfloat16), the torch model's cache answers
    monkeypatch.setattr(embedding_cache, "model_by_export", lambda path: False)
    assert embedding_cache.model_loaded() is (embeddings._model.cache_info().currsize > 0)
    # Where its fp32 ONNX export embeds for it, the ONNX sessions' cache answers
    monkeypatch.setattr(embedding_cache, "model_by_export", lambda path: True)
    assert embedding_cache.model_loaded() is (int8._session.cache_info().currsize > 0)
    assert int8.session_loaded() is (int8._session.cache_info().currsize > 0)
