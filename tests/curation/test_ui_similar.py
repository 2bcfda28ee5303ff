"""Find similar on the example page: nearest examples by meaning, through the embedding cache."""

from typing import Any

import pytest
from django.test import Client

from curation.models import CachedEmbedding, DedupJob
from curation.services import embedding_cache
from curation.services.similar import EMBED_ON_DEMAND, similar_examples
from tests.conftest import Team
from tests.factories import ExampleFactory


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
class TestFindSimilar:
    def test_the_nearest_in_meaning_come_first(self, team: Team) -> None:
        # Given a question, a paraphrase of it, and unrelated examples
        asked = ExampleFactory.create(project=team.project, input="My card has not arrived yet")
        paraphrase = ExampleFactory.create(project=team.project, input="The card I ordered still hasn't come")
        ExampleFactory.create(project=team.project, input="What is the exchange rate for euros?")
        ExampleFactory.create(project=team.project, input="Book a table for two at 7pm")

        # When the annotator asks for similar examples
        response = logged_in(team.annotator).get(f"/examples/{asked.pk}/similar/", HTTP_HX_REQUEST="true")

        # Then the paraphrase is listed first, and the example itself is not listed
        assert response.status_code == 200
        found = response.context["found"]
        assert found.matches[0][0].pk == paraphrase.pk
        assert asked.pk not in [match.pk for match, _ in found.matches]
        assert found.searched == 3 and found.not_indexed == 0
        assert f'href="/examples/{paraphrase.pk}/"' in response.content.decode()

    def test_a_large_backlog_is_left_to_an_embedding_job(self, team: Team, monkeypatch: Any) -> None:
        # Given more examples than are embedded on demand, none of them cached
        monkeypatch.setattr("curation.services.similar.EMBED_ON_DEMAND", 2)
        examples = [
            ExampleFactory.create(project=team.project, input=f"question number {i}") for i in range(4)
        ]
        calls: list[int] = []
        real = embedding_cache.encode

        def counting(texts: list[str], path: str, **options: Any) -> Any:
            calls.append(len(texts))
            return real(texts, path, **options)

        monkeypatch.setattr(embedding_cache, "encode", counting)

        # When similar examples are asked for
        found = similar_examples(examples[0])

        # Then nothing was embedded in the request, and the page says how many wait for a job
        assert calls == []
        assert (found.searched, found.not_indexed, found.matches) == (0, 3, [])
        assert EMBED_ON_DEMAND >= 1000

    def test_embeddings_from_a_dedup_job_are_reused(self, team: Team, monkeypatch: Any) -> None:
        # Given an embedding dedup job has indexed the project
        examples = [
            ExampleFactory.create(project=team.project, input=text) for text in ("lost card", "stolen card")
        ]
        from curation.tasks import dedup_examples

        job = DedupJob.objects.create(
            project=team.project, created_by=team.lead, method="embedding", threshold=0.99
        )
        dedup_examples(job.pk)
        assert CachedEmbedding.objects.count() == 2

        # When similar examples are asked for, nothing new is embedded
        monkeypatch.setattr(embedding_cache, "encode", lambda texts, path: pytest.fail("embedded again"))
        found = similar_examples(examples[0])
        assert [match.pk for match, _ in found.matches] == [examples[1].pk]

    def test_outsiders_get_a_404(self, team: Team) -> None:
        example = ExampleFactory.create(project=team.project, input="lost card")
        assert logged_in(team.outsider).get(f"/examples/{example.pk}/similar/").status_code == 404


@pytest.mark.django_db
def test_a_running_dedup_job_shows_a_live_progress_bar(team: Team) -> None:
    running = DedupJob.objects.create(
        project=team.project, created_by=team.lead, method="minhash", status="running", progress=0.4
    )
    page = logged_in(team.lead).get(f"/projects/{team.project.pk}/duplicates/").content.decode()
    assert f'data-job-url="/api/dedup-jobs/{running.pk}/"' in page
    assert 'style="width: 40%"' in page
