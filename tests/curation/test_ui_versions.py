"""The version pages: everyone in the project reads them, only leads freeze, outsiders see
nothing; the freeze page lists what stays out; the version page shows the diff it is asked for."""

from typing import Any

import pytest
from django.test import Client

from curation.models import DatasetVersion, ExampleStatus
from curation.services.versions import version_create
from tests.conftest import Team
from tests.factories import ExampleFactory

APPROVED = ExampleStatus.APPROVED

pytestmark = pytest.mark.usefixtures("media_in_tmp")


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def approved(team: Team, texts: list[str]) -> None:
    for text in texts:
        ExampleFactory.create(project=team.project, input=text, status=APPROVED)


@pytest.mark.django_db
class TestVersionPages:
    def test_the_freeze_page_names_what_stays_out_and_only_leads_may_freeze(self, team: Team) -> None:
        approved(team, ["When does my card come?", "Why was I charged twice?"])
        draft = ExampleFactory.create(project=team.project, status=ExampleStatus.DRAFT)
        page = logged_in(team.annotator).get(f"/projects/{team.project.pk}/versions/new/")
        assert page.status_code == 200
        assert f'href="/examples/{draft.pk}/"' in page.content.decode()
        assert "Only leads freeze versions." in page.content.decode()

        refused = logged_in(team.annotator).post(
            f"/projects/{team.project.pk}/versions/new/", {"eval_fraction": 0.5, "seed": 0}
        )
        assert refused.status_code == 403
        assert not DatasetVersion.objects.exists()

        frozen = logged_in(team.lead).post(
            f"/projects/{team.project.pk}/versions/new/", {"eval_fraction": 0.5, "seed": 0}
        )
        version = DatasetVersion.objects.get()
        assert frozen.status_code == 302 and frozen["Location"] == f"/versions/{version.pk}/"
        assert version.counts == {"train": 1, "eval": 1}

    def test_a_bad_share_is_shown_on_the_form_and_freezes_nothing(self, team: Team) -> None:
        approved(team, ["When does my card come?"])
        response = logged_in(team.lead).post(
            f"/projects/{team.project.pk}/versions/new/", {"eval_fraction": 0.9, "seed": 0}
        )
        assert response.status_code == 200
        assert "Ensure this value is less than or equal to 0.5." in response.content.decode()
        assert not DatasetVersion.objects.exists()

    def test_outsiders_see_no_version(self, team: Team) -> None:
        approved(team, ["When does my card come?", "Why was I charged twice?"])
        version = version_create(project=team.project, user=team.lead, eval_fraction=0.5)
        assert logged_in(team.outsider).get(f"/versions/{version.pk}/").status_code == 404
        assert logged_in(team.outsider).get(f"/projects/{team.project.pk}/versions/").status_code == 404

    def test_a_version_title_names_its_number_once_and_a_given_name_after_it(self, team: Team) -> None:
        approved(team, ["When does my card come?", "Why was I charged twice?"])
        default = version_create(project=team.project, user=team.lead, eval_fraction=0.5)
        named = version_create(project=team.project, user=team.lead, eval_fraction=0.5, name="holiday set")
        client = logged_in(team.annotator)
        assert "<h1>Version 1</h1>" in client.get(f"/versions/{default.pk}/").content.decode()
        assert "<h1>Version 2: holiday set</h1>" in client.get(f"/versions/{named.pk}/").content.decode()
        dashboard = client.get(f"/projects/{team.project.pk}/").content.decode()
        assert f'<a href="/versions/{named.pk}/">v2 holiday set</a>' in dashboard
        named.name = "v2"  # the default name: not repeated after the number
        assert named.custom_name == ""

    def test_only_leads_are_offered_to_train_on_a_version(self, team: Team) -> None:
        approved(team, ["When does my card come?", "Why was I charged twice?"])
        version = version_create(project=team.project, user=team.lead, eval_fraction=0.5)
        train = f'href="/projects/{team.project.pk}/training/">Train on it</a>'
        assert train in logged_in(team.lead).get(f"/versions/{version.pk}/").content.decode()
        assert train not in logged_in(team.annotator).get(f"/versions/{version.pk}/").content.decode()

    def test_a_version_frozen_again_with_nothing_changed_says_so(self, team: Team) -> None:
        approved(team, ["When does my card come?", "Why was I charged twice?"])
        first = version_create(project=team.project, user=team.lead, eval_fraction=0.5)
        second = version_create(project=team.project, user=team.lead, eval_fraction=0.5)
        assert second.sha256 == first.sha256
        client = logged_in(team.annotator)
        assert 'data-testid="same-as"' not in client.get(f"/versions/{first.pk}/").content.decode()
        page = client.get(f"/versions/{second.pk}/").content.decode()
        assert 'data-testid="same-as"' in page and f'href="/versions/{first.pk}/">version 1</a>' in page

    def test_the_version_page_shows_the_card_and_the_diff_to_another_version(self, team: Team) -> None:
        approved(team, ["When does my card come?", "Why was I charged twice?", "Can I pay in euros?"])
        first = version_create(project=team.project, user=team.lead, eval_fraction=0.34)
        approved(team, ["How do I close my account?"])
        second = version_create(project=team.project, user=team.lead, eval_fraction=0.34)
        page = logged_in(team.annotator).get(f"/versions/{second.pk}/?compare={first.pk}")
        text = page.content.decode()
        assert page.status_code == 200
        assert second.sha256 in text
        assert "From v1 to v2: 1 added, 0 removed, 0 changed" in text
        assert "train.jsonl" in text
