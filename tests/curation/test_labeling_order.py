"""The labeling queue's order, set by the lead: as queued, least confident model suggestion first,
or the inputs least like the latest version's training inputs first (embedded by a task)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from curation.errors import InvalidInput
from curation.models import JobStatus, LabelingItem, LabelingOrder, Project, Suggestion
from curation.services.labeling import items_enqueue, next_assignment, open_items
from curation.services.labeling_order import INVALID_PRIORITY, novelty_pending
from curation.services.projects import project_update
from evaluation.models import SuggestionRun
from tests.api.support import error_fields
from tests.conftest import Team
from tests.curation.ui_support import logged_in, text
from tests.factories import MembershipFactory
from tests.training.support import FreezeFn

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

Capture = Callable[..., Any]  # django_capture_on_commit_callbacks


def queue(project: Project, *texts: str) -> list[LabelingItem]:
    return items_enqueue(project=project, user=None, inputs=[{"input": t} for t in texts]).created


def handed_out(project: Project) -> list[int]:
    return list(open_items(project).values_list("pk", flat=True))


def suggestion_run(project: Project, status: str = JobStatus.SUCCEEDED) -> SuggestionRun:
    return SuggestionRun.objects.create(project=project, base_model="/models/base", status=status)


def suggest(run: SuggestionRun, item: LabelingItem, confidence: float, valid: bool = True) -> None:
    Suggestion.objects.create(
        run=run, project=run.project, item=item, output="card_arrival", valid=valid, confidence=confidence
    )


def set_order(project: Project, lead: User, order: str) -> None:
    project_update(project=project, user=lead, changes={"labeling_order": order})


def test_uncertainty_hands_out_the_least_confident_first_then_those_without_a_suggestion(team: Team) -> None:
    sure, unsure, broken, bare, overruled = queue(team.project, "a", "b", "c", "d", "e")
    older, newer = suggestion_run(team.project), suggestion_run(team.project)
    suggest(older, sure, 0.2)
    suggest(newer, sure, 0.95)  # the latest succeeded run's suggestion counts
    suggest(newer, unsure, 0.4)
    suggest(newer, broken, 0.99, valid=False)  # an invalid suggestion: first of all
    suggest(older, overruled, 0.6)
    failed = suggestion_run(team.project, JobStatus.FAILED)
    suggest(failed, overruled, 0.01)  # a failed run's suggestion does not count

    set_order(team.project, team.lead, LabelingOrder.UNCERTAINTY)

    assert handed_out(team.project) == [broken.pk, unsure.pk, overruled.pk, sure.pk, bare.pk]
    assert LabelingItem.objects.get(pk=broken.pk).priority == INVALID_PRIORITY
    assert LabelingItem.objects.get(pk=bare.pk).priority is None
    annotator = MembershipFactory.create(project=team.project, role="annotator").user
    claim = next_assignment(project=team.project, user=annotator)
    assert claim is not None and claim.item_id == broken.pk

    set_order(team.project, team.lead, LabelingOrder.ARRIVAL)  # back: as queued, priorities gone
    assert not LabelingItem.objects.filter(project=team.project).exclude(priority=None).exists()
    assert handed_out(team.project) == [sure.pk, unsure.pk, bare.pk, overruled.pk]  # `broken` is claimed


def test_arrival_is_the_order_items_were_queued(team: Team) -> None:
    items = queue(team.project, "one", "two", "three")
    LabelingItem.objects.filter(pk=items[2].pk).update(priority=0.1)  # left over from another order
    set_order(team.project, team.lead, LabelingOrder.UNCERTAINTY)
    set_order(team.project, team.lead, LabelingOrder.ARRIVAL)
    assert handed_out(team.project) == [item.pk for item in items]


BANKING = ["My card still has not arrived (ref 900)?", "Why is the euro exchange rate so bad (ref 901)?"]
FAR = "Slow-roast the lamb shoulder with rosemary, garlic and anchovies for five hours"


def test_novelty_hands_out_the_input_least_like_the_training_inputs_first(
    team: Team, frozen: FreezeFn, django_capture_on_commit_callbacks: Capture
) -> None:
    frozen(team.project, team.lead, count=30)
    near, far, nearer = queue(team.project, BANKING[0], FAR, BANKING[1])

    with django_capture_on_commit_callbacks(execute=True):
        set_order(team.project, team.lead, LabelingOrder.NOVELTY)  # the task runs after commit

    priority = {
        pk: value
        for pk, value in LabelingItem.objects.filter(project=team.project).values_list("pk", "priority")
        if value is not None
    }
    assert len(priority) == 3
    assert handed_out(team.project)[0] == far.pk
    assert priority[far.pk] < min(priority[near.pk], priority[nearer.pk]) - 0.2

    # Newly queued inputs are ranked too, among the others.
    with django_capture_on_commit_callbacks(execute=True):
        (other,) = queue(team.project, "Bake the sourdough at 250 degrees with steam for twenty minutes")
    assert LabelingItem.objects.get(pk=other.pk).priority is not None
    assert set(handed_out(team.project)[:2]) == {far.pk, other.pk}
    assert novelty_pending(team.project) == 0


def test_inputs_imported_into_the_queue_are_ranked_by_novelty(
    team: Team, frozen: FreezeFn, client_for: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    frozen(team.project, team.lead, count=30)
    with django_capture_on_commit_callbacks(execute=True):
        set_order(team.project, team.lead, LabelingOrder.NOVELTY)
    content = "".join(json.dumps({"text": text}) + "\n" for text in [BANKING[0], FAR]).encode()
    upload = {"file": SimpleUploadedFile("inputs.jsonl", content), "status": "unlabeled"}

    with django_capture_on_commit_callbacks(execute=True):  # the import, then the ranking
        response = client_for(team.lead).post(
            f"/api/projects/{team.project.pk}/imports/", upload, format="multipart"
        )

    assert response.status_code == 202, response.content
    items = dict(LabelingItem.objects.filter(project=team.project).values_list("input", "pk"))
    assert novelty_pending(team.project) == 0
    assert handed_out(team.project) == [items[FAR], items[BANKING[0]]]


def test_novelty_writes_nothing_once_the_lead_chose_another_order(
    team: Team, frozen: FreezeFn, django_capture_on_commit_callbacks: Capture
) -> None:
    from curation.services.labeling_order import novelty_priorities

    frozen(team.project, team.lead, count=30)
    queue(team.project, FAR)
    with django_capture_on_commit_callbacks(execute=False):
        set_order(team.project, team.lead, LabelingOrder.NOVELTY)  # queued, not run yet
    assert novelty_pending(team.project) == 1
    set_order(team.project, team.lead, LabelingOrder.ARRIVAL)
    assert novelty_priorities(team.project.pk, only_new=False) == 0
    assert not LabelingItem.objects.filter(project=team.project).exclude(priority=None).exists()


def test_novelty_without_a_frozen_version_is_refused_naming_the_setting(team: Team) -> None:
    with pytest.raises(InvalidInput, match=r"labeling_order novelty .* no frozen version") as refused:
        set_order(team.project, team.lead, LabelingOrder.NOVELTY)
    assert refused.value.field == "labeling_order"
    team.project.refresh_from_db()
    assert team.project.labeling_order == LabelingOrder.ARRIVAL


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("labeling_order", "random"),
        ("labeling_order", 3),
        ("suggestion_blind_share", 1.5),
        ("suggestion_blind_share", -0.1),
        ("suggestion_blind_share", "half"),
        ("suggestion_blind_share", True),
    ],
)
def test_bad_order_and_blind_share_are_refused_naming_the_field(team: Team, field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        project_update(project=team.project, user=team.lead, changes={field: value})
    assert refused.value.field == field and field in refused.value.message
    team.project.refresh_from_db()
    assert (team.project.labeling_order, team.project.suggestion_blind_share) == ("arrival", 0.0)


def test_the_blind_share_is_kept(team: Team) -> None:
    project_update(project=team.project, user=team.lead, changes={"suggestion_blind_share": 0.25})
    assert Project.objects.get(pk=team.project.pk).suggestion_blind_share == 0.25


# -- in the settings page and the API ------------------------------------------------------------


def settings_data(project: Project, **labeling: str) -> dict[str, str]:
    return {
        "name": project.name,
        "target_behavior": project.target_behavior,
        "labels": "\n".join(project.labels),
        "output_schema": "",
        **labeling,
    }


def test_a_lead_sets_the_order_and_the_blind_share_on_the_settings_page(team: Team) -> None:
    sure, unsure = queue(team.project, "a", "b")
    run = suggestion_run(team.project)
    suggest(run, sure, 0.9)
    suggest(run, unsure, 0.3)
    client = logged_in(team.lead)
    url = f"/projects/{team.project.pk}/settings/"
    page = text(client.get(url))
    assert 'name="labeling_order"' in page and 'name="labeling_blind_percent"' in page

    saved = client.post(
        url, settings_data(team.project, labeling_order="uncertainty", labeling_blind_percent="20")
    )

    assert saved.status_code == 302
    team.project.refresh_from_db()
    assert (team.project.labeling_order, team.project.suggestion_blind_share) == ("uncertainty", 0.2)
    assert handed_out(team.project) == [unsure.pk, sure.pk]  # the change ranked the queue


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({"labeling_order": "random"}, "Select a valid choice"),
        ({"labeling_blind_percent": "150"}, "less than or equal to 100"),
        ({"labeling_order": "novelty"}, "no frozen version"),  # the service's refusal, on the field
    ],
)
def test_bad_values_are_shown_on_the_form_and_nothing_is_saved(
    team: Team, data: dict[str, str], shown: str
) -> None:
    response = logged_in(team.lead).post(
        f"/projects/{team.project.pk}/settings/", settings_data(team.project, **data)
    )
    page = text(response)
    assert response.status_code == 200 and shown in page and 'class="error"' in page
    team.project.refresh_from_db()
    assert (team.project.labeling_order, team.project.suggestion_blind_share) == ("arrival", 0.0)


def test_the_api_reads_and_changes_the_order_and_the_blind_share(team: Team, client_for: Any) -> None:
    lead = client_for(team.lead)
    url = f"/api/projects/{team.project.pk}/"
    body = lead.get(url).json()
    assert (body["labeling_order"], body["suggestion_blind_share"]) == ("arrival", 0.0)
    changed = lead.patch(url, {"labeling_order": "uncertainty", "suggestion_blind_share": 0.1}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["labeling_order"], changed.json()["suggestion_blind_share"]) == (
        "uncertainty",
        0.1,
    )
    for bad, field in (
        ({"labeling_order": "random"}, "labeling_order"),
        ({"labeling_order": "novelty"}, "labeling_order"),  # no frozen version
        ({"suggestion_blind_share": 1.5}, "suggestion_blind_share"),
        ({"suggestion_blind_share": "half"}, "suggestion_blind_share"),
    ):
        refused = lead.patch(url, bad, format="json")
        assert refused.status_code == 400 and error_fields(refused) == [field], (bad, refused.content)
    assert (
        client_for(team.reviewer).patch(url, {"labeling_order": "arrival"}, format="json").status_code == 403
    )
    assert Project.objects.get(pk=team.project.pk).labeling_order == "uncertainty"
