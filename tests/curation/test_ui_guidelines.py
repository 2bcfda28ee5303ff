"""Guidelines: edited on the settings page with their revisions kept, shown on Write and Review
with "updated since you last read them", and recorded by each frozen version."""

from __future__ import annotations

import pytest

from curation.models import AuditEvent, ExampleStatus, GuidelinesRevision
from curation.services.datacard import card_markdown
from curation.services.projects import project_update
from curation.services.versions import version_create
from tests.conftest import Team
from tests.curation.test_ui_projects import settings_form
from tests.curation.ui_support import logged_in, text
from tests.factories import ExampleFactory

FIRST = "## Good\n\n- *card_arrival*: the card has not come.\n\n## Bad\n\n- *card_linking* for a late card."
SECOND = "## Good\n\n- **card_arrival** only when the card was ordered."


def set_guidelines(team: Team, guidelines: str) -> None:
    project_update(project=team.project, user=team.lead, changes={"guidelines": guidelines})


@pytest.mark.django_db
class TestEditing:
    def test_the_settings_page_saves_a_revision_and_audits_it(self, team: Team) -> None:
        client = logged_in(team.lead)
        url = f"/projects/{team.project.pk}/settings/"
        for guidelines in (FIRST, SECOND):
            assert client.post(url, settings_form(team.project, guidelines=guidelines)).status_code == 302
            team.project.refresh_from_db()
        assert team.project.guidelines == SECOND and team.project.guidelines_revision == 2
        revisions = GuidelinesRevision.objects.filter(project=team.project).order_by("number")
        assert [(r.number, r.text, r.created_by) for r in revisions] == [
            (1, FIRST, team.lead),
            (2, SECOND, team.lead),
        ]
        events = AuditEvent.objects.filter(project=team.project, action="project.update")
        assert all("guidelines" in event.changes for event in events) and events.count() == 2

    def test_saving_other_settings_keeps_the_revision(self, team: Team) -> None:
        set_guidelines(team, FIRST)
        project_update(project=team.project, user=team.lead, changes={"name": "Renamed"})
        assert team.project.guidelines_revision == 1

    def test_the_guidelines_page_shows_the_current_text_and_earlier_revisions(self, team: Team) -> None:
        set_guidelines(team, FIRST)
        set_guidelines(team, SECOND)
        page = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/guidelines/"))
        assert "<strong>card_arrival</strong> only when the card was ordered" in page
        assert "Revision 1" in page and "<em>card_linking</em> for a late card" in page


@pytest.mark.django_db
class TestPanel:
    def write(self, team: Team) -> str:
        return text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/write/"))

    def test_no_guidelines_no_panel(self, team: Team) -> None:
        assert 'data-testid="guidelines-panel"' not in self.write(team)

    def test_write_and_review_show_the_guidelines_rendered(self, team: Team) -> None:
        set_guidelines(team, FIRST)
        review = text(logged_in(team.reviewer).get(f"/projects/{team.project.pk}/review/"))
        for page in (self.write(team), review):
            assert 'data-testid="guidelines-panel"' in page
            assert "<h2>Good</h2>" in page and "<em>card_arrival</em>: the card has not come." in page

    def test_an_update_is_flagged_until_the_panel_is_opened(self, team: Team) -> None:
        # Given guidelines the annotator has not read
        set_guidelines(team, FIRST)
        assert "not read yet" in self.write(team)
        # When they open the panel (which posts that they read them)
        url = f"/projects/{team.project.pk}/guidelines/read/"
        assert logged_in(team.annotator).post(url).status_code == 204
        # Then the badge is gone, for them only
        assert "updated since you last read them" not in self.write(team)
        review = text(logged_in(team.reviewer).get(f"/projects/{team.project.pk}/review/"))
        assert "not read yet" in review
        # And it comes back as an update when the lead changes the guidelines
        set_guidelines(team, SECOND)
        assert "updated since you last read them" in self.write(team)

    def test_opening_the_guidelines_page_marks_them_read(self, team: Team) -> None:
        set_guidelines(team, FIRST)
        logged_in(team.annotator).get(f"/projects/{team.project.pk}/guidelines/")
        assert "not read yet" not in self.write(team)


@pytest.mark.django_db
class TestVersions:
    def freeze(self, team: Team) -> int:
        for number in range(3):
            ExampleFactory.create(project=team.project, status=ExampleStatus.APPROVED, input=f"Row {number}")
        return version_create(project=team.project, user=team.lead, eval_fraction=0.34).pk

    def test_a_version_keeps_the_guidelines_it_was_labeled_under(self, team: Team) -> None:
        # Given a version frozen under the first guidelines
        set_guidelines(team, FIRST)
        version_id = self.freeze(team)
        # When the guidelines change afterwards
        set_guidelines(team, SECOND)
        # Then the version and its data card still show the first ones
        page = text(logged_in(team.annotator).get(f"/versions/{version_id}/"))
        assert (
            "Labeled under guidelines revision 1" in page and "<em>card_linking</em> for a late card" in page
        )
        version = team.project.versions.get(pk=version_id)
        assert version.guidelines == FIRST and version.guidelines_revision == 1
        card = card_markdown(version)
        assert "## Guidelines" in card and "revision 1" in card and "*card_linking* for a late card" in card

    def test_a_version_without_guidelines_says_so(self, team: Team) -> None:
        page = text(logged_in(team.annotator).get(f"/versions/{self.freeze(team)}/"))
        assert "The project had no guidelines when this version was frozen." in page
