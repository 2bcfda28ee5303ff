"""Two tabs (or two leads) on a project's settings page: a stale page keeps what the other saved
and is refused where both changed a setting (curation.services.stale_settings)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.test import Client

from curation.models import Example, Project
from curation.services.projects import project_update
from curation.services.stale_settings import (
    SettingsChangedSince,
    changes_since_opened,
    settings_fingerprints,
)
from curation.views import projects as projects_view
from tests.conftest import Team
from tests.curation.test_ui_projects import settings_form
from tests.curation.ui_support import followed_text, logged_in, text, written

pytestmark = pytest.mark.django_db


class Tab:
    """A settings page as opened: the form as it showed the project, and its hidden fingerprints."""

    def __init__(self, client: Client, project: Project) -> None:
        self.client, self.url = client, f"/projects/{project.pk}/settings/"
        page = text(client.get(self.url))
        self.opened_with = _hidden(page, "opened_with")
        self.form = settings_form(Project.objects.get(pk=project.pk))

    def save(self, **changes: Any) -> Any:
        return self.client.post(self.url, {**self.form, "opened_with": self.opened_with, **changes})


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden {name} on the page"
    return html.unescape(found.group(1))


def test_a_stale_tab_saving_other_settings_keeps_a_rename_made_in_another(team: Team) -> None:
    # Given an example under card_arrival and two settings tabs open on the same project
    written(team.project, team.annotator, "Where is my card?", "card_arrival")
    client = logged_in(team.lead)
    first, second = Tab(client, team.project), Tab(client, team.project)
    renamed = [label if label != "card_arrival" else "card_delivery" for label in team.project.labels]

    # When the first renames card_arrival (moving its example) and the second, still showing the
    # old labels, saves new guidelines
    response = first.save(
        labels="\n".join(renamed),
        label_renames=json.dumps({"card_arrival": "card_delivery"}),
        confirmed="1",
        relabel="on",
    )
    assert response.status_code == 302
    response = second.save(guidelines="Route by what the customer asks for.")

    # Then both changes hold: the rename was not saved over with the old list
    assert response.status_code == 302
    project = Project.objects.get(pk=team.project.pk)
    assert project.labels == renamed
    assert project.guidelines == "Route by what the customer asks for."
    assert Example.objects.get(project=project).output == "card_delivery"


def test_a_stale_tab_changing_the_same_setting_is_refused_naming_it_then_may_replace_it(team: Team) -> None:
    client = logged_in(team.lead)
    first, second = Tab(client, team.project), Tab(client, team.project)
    first.save(labels="\n".join([*team.project.labels, "refund"]))
    theirs = Project.objects.get(pk=team.project.pk).labels

    # When the stale tab saves its own new label list
    mine = [*team.project.labels, "card_fee"]
    response = second.save(labels="\n".join(mine))

    # Then nothing is saved and the page names the setting and its value now
    assert response.status_code == 200
    page = text(response)
    assert "Another lead saved changes to these settings since you opened this page: labels (now: " in page
    assert ", refund)" in page and "save again to replace them with yours" in page
    assert Project.objects.get(pk=team.project.pk).labels == theirs
    # And the refused page, saved again as it is, replaces them
    again = {**second.form, "labels": "\n".join(mine), "opened_with": _hidden(page, "opened_with")}
    assert "Settings saved." in followed_text(client, client.post(second.url, again))
    assert Project.objects.get(pk=team.project.pk).labels == mine


def test_a_save_landing_while_the_page_is_posted_is_weighed_not_saved_over(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a page posting new labels, and another lead's save landing after the request read
    # the project but before it saved (two saves in the same instant)
    client = logged_in(team.lead)
    tab = Tab(client, team.project)
    check = projects_view._impact_to_confirm

    def another_save_first(project: Project, form: Any) -> Any:
        other = Project.objects.get(pk=project.pk)
        project_update(project=other, user=team.lead, changes={"labels": [*other.labels, "refund"]})
        return check(project, form)

    monkeypatch.setattr(projects_view, "_impact_to_confirm", another_save_first)

    # When the page's labels are saved
    response = tab.save(labels="\n".join([*team.project.labels, "card_fee"]))

    # Then they are refused as a clash with the other lead's, which stay
    assert response.status_code == 200
    assert "labels (now: " in text(response)
    assert Project.objects.get(pk=team.project.pk).labels == [*team.project.labels, "refund"]


def test_saving_the_refused_page_again_replaces_only_the_settings_it_named(team: Team) -> None:
    # Given a stale tab, while another saved a label and a system prompt
    client = logged_in(team.lead)
    first, second = Tab(client, team.project), Tab(client, team.project)
    first.save(labels="\n".join([*team.project.labels, "refund"]), system_prompt="Answer with a label.")

    # When the stale tab's new labels are refused, and it saves again as the page came back
    mine = [*team.project.labels, "card_fee"]
    page = text(second.save(labels="\n".join(mine)))
    assert "labels (now: " in page and "system prompt" not in page
    again = {**second.form, "labels": "\n".join(mine), "opened_with": _hidden(page, "opened_with")}
    assert client.post(second.url, again).status_code == 302

    # Then its labels replace theirs, and the system prompt it never changed stays theirs
    project = Project.objects.get(pk=team.project.pk)
    assert (project.labels, project.system_prompt) == (mine, "Answer with a label.")


def test_guidelines_as_a_browser_posts_them_are_not_a_change(team: Team) -> None:
    # Given guidelines of several lines, a stale tab, and new guidelines saved by another
    project_update(project=team.project, user=team.lead, changes={"guidelines": "## Good\n- one\n- two\n"})
    client = logged_in(team.lead)
    first, second = Tab(client, team.project), Tab(client, team.project)
    first.save(guidelines="## Good\r\n- one\r\n- two\r\n- three\r\n")

    # When the stale tab, its guidelines untouched (the browser sends CR LF), renames the project
    response = second.save(name="Routing", guidelines="## Good\r\n- one\r\n- two\r\n")

    # Then that is no clash, and the other's guidelines stay
    assert response.status_code == 302
    project = Project.objects.get(pk=team.project.pk)
    assert (project.name, project.guidelines) == ("Routing", "## Good\n- one\n- two\n- three\n")


def test_a_share_left_alone_here_is_no_clash_when_another_changed_it(team: Team) -> None:
    project_update(project=team.project, user=team.lead, changes={"labeling_overlap_share": 1 / 3})
    opened = settings_fingerprints(team.project)
    project_update(project=team.project, user=team.lead, changes={"labeling_overlap_share": 0.5})

    # The page's 33.333333% comes back as a share a rounding away from 1/3
    posted = {"name": "Renamed", "labeling_overlap_share": round(100 / 3, 6) / 100}

    assert changes_since_opened(team.project, opened, posted) == {"name": "Renamed"}


def test_a_clash_names_settings_as_the_page_does(team: Team) -> None:
    opened = settings_fingerprints(team.project)
    project_update(
        project=team.project,
        user=team.lead,
        changes={"labeling_overlap_share": 0.5, "min_gain": 0.05},
    )

    with pytest.raises(SettingsChangedSince) as refused:
        changes_since_opened(team.project, opened, {"labeling_overlap_share": 0.25, "min_gain": 0.1})

    assert "share of inputs that get the overlap (now: 50%); minimum gain to ship (now: 0.05)" in (
        refused.value.message
    )
    assert refused.value.fields == ["labeling_overlap_share", "min_gain"]


def test_changes_made_elsewhere_to_settings_left_alone_here_stay(team: Team) -> None:
    opened = settings_fingerprints(team.project)
    project_update(project=team.project, user=team.lead, changes={"name": "Renamed", "min_gain": 0.05})

    # The page posts its old name and min_gain unchanged, and its own system prompt
    posted = {"name": "Project as opened", "min_gain": 0.0, "system_prompt": "Be brief."}
    opened["name"] = settings_fingerprints(Project(name="Project as opened"))["name"]

    kept = changes_since_opened(team.project, opened, posted)

    assert kept == {"system_prompt": "Be brief."}


def test_the_same_change_made_twice_is_no_clash_and_a_share_shown_rounded_is_unchanged(team: Team) -> None:
    project_update(project=team.project, user=team.lead, changes={"labeling_overlap_share": 1 / 3})
    opened = settings_fingerprints(team.project)
    project_update(project=team.project, user=team.lead, changes={"system_prompt": "Be brief."})

    # The share came back from a percentage rounded to six places
    posted = {"system_prompt": "Be brief.", "labeling_overlap_share": round(100 / 3, 6) / 100}

    assert changes_since_opened(team.project, opened, posted) == posted


def test_a_clash_names_every_setting_both_changed(team: Team) -> None:
    opened = settings_fingerprints(team.project)
    project_update(project=team.project, user=team.lead, changes={"name": "Theirs", "guidelines": "x" * 500})

    with pytest.raises(SettingsChangedSince) as refused:
        changes_since_opened(team.project, opened, {"name": "Mine", "guidelines": "Mine too."})

    assert refused.value.field == "name"
    assert "name (now: Theirs); guidelines (now: " + "x" * 119 + "…)" in refused.value.message


def test_a_post_without_fingerprints_saves_as_before(team: Team) -> None:
    client = logged_in(team.lead)
    form = settings_form(team.project, name="Renamed by a script")
    form.pop("opened_with", None)

    assert client.post(f"/projects/{team.project.pk}/settings/", form).status_code == 302
    assert Project.objects.get(pk=team.project.pk).name == "Renamed by a script"
