"""The labeling queue's pages: the label page (keys, htmx card swaps, refusals as messages), the
leads' queue page, the overlap settings, disagreement flags resolved in the flag UI, and the
annotations and alternatives on the review card. Who may open each page is in test_ui_access.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from curation.models import (
    AssignmentState,
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    FlagStatus,
    ItemStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
    Role,
    TaskType,
)
from curation.services.datacard import card_markdown
from curation.services.labeling import (
    annotation_submit,
    items_enqueue,
    next_assignment,
    release_expired_claims,
)
from curation.services.projects import project_update
from curation.services.versions import version_create
from tests.conftest import Team
from tests.curation.ui_support import HTMX, followed_text, logged_in, text
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def queued(project: Project, *texts: str) -> list[LabelingItem]:
    return items_enqueue(project=project, user=None, inputs=[{"input": t} for t in texts]).created


def annotator(project: Project) -> User:
    return MembershipFactory.create(project=project, role=Role.ANNOTATOR).user


def label_url(project: Project, path: str = "") -> str:
    return f"/projects/{project.pk}/label/{path}"


def claim(project: Project, user: User) -> LabelingItem:
    assignment = next_assignment(project=project, user=user)
    assert assignment is not None
    return assignment.item


def answers(item: LabelingItem) -> list[tuple[str, str]]:
    return list(LabelingAssignment.objects.filter(item=item).values_list("state", "output").order_by("id"))


class TestLabelPage:
    def test_shows_the_next_item_its_claim_and_the_numbered_labels(self, team: Team) -> None:
        # Given two queued inputs and guidelines
        project_update(project=team.project, user=None, changes={"guidelines": "Pick the *intent*."})
        first, _ = queued(team.project, "Where is my card?", "What is the rate?")
        # When an annotator opens the label page
        page = text(logged_in(team.annotator).get(label_url(team.project)))
        # Then they hold the first item, see how long, what else waits, and the labels with keys
        assert "Where is my card?" in page
        assert f"Item {first.pk} · 1 more waiting for you" in page
        assert "yours until" in page
        assert 'data-label-key="1"' in page and "<kbd>3</kbd> exchange_rate" in page
        assert 'data-testid="guidelines-panel"' in page
        assert answers(first) == [(AssignmentState.CLAIMED, "")]

    def test_more_than_nine_labels_give_a_filterable_list(self, team: Team) -> None:
        labels = [f"intent_{n}" for n in range(12)]
        project_update(project=team.project, user=None, changes={"labels": labels})
        queued(team.project, "Where is my card?")
        page = text(logged_in(team.annotator).get(label_url(team.project)))
        assert 'data-testid="label-filter"' in page and 'data-label-key="1"' not in page
        assert '<option value="intent_11">' in page

    def test_a_label_submitted_by_htmx_swaps_in_the_next_item(self, team: Team) -> None:
        first, second = queued(team.project, "Where is my card?", "What is the rate?")
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        # When they pick a label and submit
        response = client.post(
            label_url(team.project, "submit/"), {"item": first.pk, "output": "card_arrival"}, **HTMX
        )
        # Then only the card comes back, with the next item, and the answer is recorded
        card = text(response)
        assert response.status_code == 200 and "<h1>" not in card
        assert f"Item {first.pk} labeled." in card and "What is the rate?" in card
        assert answers(first) == [(AssignmentState.SUBMITTED, "card_arrival")]
        assert LabelingItem.objects.get(pk=first.pk).status == ItemStatus.AGREED
        assert answers(second) == [(AssignmentState.CLAIMED, "")]

    def test_a_plain_post_redirects_back_to_the_page(self, team: Team) -> None:
        (item,) = queued(team.project, "Where is my card?")
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        response = client.post(
            label_url(team.project, "submit/"), {"item": item.pk, "output": "card_arrival"}
        )
        page = followed_text(client, response)
        assert f"Item {item.pk} labeled." in page and 'data-testid="label-empty"' in page

    def test_a_label_not_in_the_set_is_refused_and_nothing_is_written(self, team: Team) -> None:
        (item,) = queued(team.project, "Where is my card?")
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        # htmx: the same card again with the reason (htmx swaps no 4xx body)
        swapped = client.post(
            label_url(team.project, "submit/"), {"item": item.pk, "output": "lost_card"}, **HTMX
        )
        assert swapped.status_code == 200
        assert "lost_card" in text(swapped) and 'data-testid="label-problem"' in text(swapped)
        assert "Where is my card?" in text(swapped)
        # a plain post: 400
        plain = client.post(label_url(team.project, "submit/"), {"item": item.pk, "output": "lost_card"})
        assert plain.status_code == 400 and 'data-testid="label-problem"' in text(plain)
        empty = client.post(label_url(team.project, "submit/"), {"item": item.pk}, **HTMX)
        assert "Pick a label first" in text(empty)
        assert answers(item) == [(AssignmentState.CLAIMED, "")]
        assert LabelingItem.objects.get(pk=item.pk).annotation_count == 0

    def test_a_double_submit_is_a_conflict_and_counts_once(self, team: Team) -> None:
        (item,) = queued(team.project, "Where is my card?")
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        data = {"item": item.pk, "output": "card_arrival"}
        assert client.post(label_url(team.project, "submit/"), data).status_code == 302
        again = client.post(label_url(team.project, "submit/"), data)
        assert again.status_code == 409 and f"You already labeled item {item.pk}." in text(again)
        swapped = client.post(label_url(team.project, "submit/"), data, **HTMX)
        assert swapped.status_code == 200 and "You already labeled" in text(swapped)
        assert LabelingItem.objects.get(pk=item.pk).annotation_count == 1
        assert Example.objects.filter(labeling_item=item).count() == 1

    def test_an_expired_claim_whose_slot_was_taken_is_a_conflict(self, team: Team) -> None:
        # Given an annotator whose claim expired and was released, and someone else took the slot
        (item,) = queued(team.project, "Where is my card?")
        late, quick = team.annotator, annotator(team.project)
        claim(team.project, late)
        LabelingAssignment.objects.filter(annotator=late).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        release_expired_claims(project=team.project)
        assert claim(team.project, quick) == item
        # When the late annotator submits
        response = logged_in(late).post(
            label_url(team.project, "submit/"), {"item": item.pk, "output": "card_arrival"}
        )
        # Then they are told, nothing of theirs is recorded and the other's claim stands
        assert response.status_code == 409
        assert "has all the annotations it needs" in text(response)
        assert answers(item) == [(AssignmentState.CLAIMED, "")]

    def test_an_expired_claim_still_unreleased_shows_it_and_may_submit(self, team: Team) -> None:
        (item,) = queued(team.project, "Where is my card?")
        claim(team.project, team.annotator)
        LabelingAssignment.objects.update(expires_at=timezone.now() - timedelta(minutes=2))
        client = logged_in(team.annotator)
        page = text(client.get(label_url(team.project, f"?item={item.pk}"), **HTMX))
        assert "your claim expired" in page
        client.post(label_url(team.project, "submit/"), {"item": item.pk, "output": "card_linking"})
        assert answers(item) == [(AssignmentState.SUBMITTED, "card_linking")]

    def test_an_item_named_badly_is_a_client_error(self, team: Team) -> None:
        queued(team.project, "Where is my card?")
        other = ProjectFactory.create()
        (elsewhere,) = queued(other, "Elsewhere")
        client = logged_in(team.annotator)
        submit = label_url(team.project, "submit/")
        assert client.post(submit, {"output": "card_arrival"}).status_code == 400
        assert client.post(submit, {"item": "abc", "output": "card_arrival"}).status_code == 400
        assert client.post(submit, {"item": elsewhere.pk, "output": "card_arrival"}).status_code == 404
        assert client.post(label_url(team.project, "skip/"), {"item": elsewhere.pk}).status_code == 404
        assert answers(elsewhere) == []

    def test_skip_passes_the_item_on_and_brings_the_next(self, team: Team) -> None:
        first, _ = queued(team.project, "Where is my card?", "What is the rate?")
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        card = text(client.post(label_url(team.project, "skip/"), {"item": first.pk}, **HTMX))
        assert f"Skipped item {first.pk}" in card and "What is the rate?" in card
        assert answers(first) == [(AssignmentState.SKIPPED, "")]
        assert LabelingItem.objects.get(pk=first.pk).coverage == 0

    def test_skipping_an_item_you_do_not_hold_is_refused_and_writes_nothing(self, team: Team) -> None:
        first, second = queued(team.project, "Where is my card?", "What is the rate?")
        client = logged_in(team.annotator)
        client.get(label_url(team.project))  # holds the first
        response = client.post(label_url(team.project, "skip/"), {"item": second.pk})
        assert response.status_code == 409 and f"You do not hold item {second.pk}" in text(response)
        assert answers(second) == []
        client.post(label_url(team.project, "submit/"), {"item": first.pk, "output": "card_arrival"})
        labeled = client.post(label_url(team.project, "skip/"), {"item": first.pk}, **HTMX)
        assert "You do not hold item" in text(labeled)
        assert answers(first) == [(AssignmentState.SUBMITTED, "card_arrival")]

    def test_k_goes_back_to_your_own_answers_and_j_returns_to_the_queue(self, team: Team) -> None:
        first, second, third = queued(team.project, "One?", "Two?", "Three?")
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        client.post(label_url(team.project, "submit/"), {"item": first.pk, "output": "card_arrival"})
        card = text(
            client.post(
                label_url(team.project, "submit/"), {"item": second.pk, "output": "card_linking"}, **HTMX
            )
        )
        # The card of the third offers k back to the second
        assert f"?item={second.pk}" in card
        back = text(client.get(label_url(team.project, f"?item={second.pk}"), **HTMX))
        assert 'data-testid="label-own-answer"' in back and "card_linking" in back
        assert 'name="output"' not in back  # read-only
        assert f"?item={first.pk}" in back and f"?item={third.pk}" not in back
        further = text(client.get(label_url(team.project, f"?item={first.pk}"), **HTMX))
        assert "card_arrival" in further and f"?item={second.pk}" in further
        # j from the newest answer is the queue, which re-shows the claim still held
        queue = text(client.get(label_url(team.project), **HTMX))
        assert "Three?" in queue and 'name="output"' in queue
        assert answers(third) == [(AssignmentState.CLAIMED, "")]

    def test_an_item_you_never_touched_cannot_be_opened(self, team: Team) -> None:
        (item,) = queued(team.project, "Where is my card?")
        response = logged_in(team.annotator).get(label_url(team.project, f"?item={item.pk}"), **HTMX)
        assert response.status_code == 404
        bad = logged_in(team.annotator).get(label_url(team.project, "?item=x"))
        assert bad.status_code == 400

    def test_an_annotator_never_sees_another_annotators_answer_while_the_item_is_queued(
        self, team: Team
    ) -> None:
        project_update(project=team.project, user=None, changes={"labeling_overlap": 2})
        (item,) = queued(team.project, "Where is my card?")
        first, second = team.annotator, annotator(team.project)
        annotation_submit(item=claim(team.project, first), user=first, output="exchange_rate")
        page = text(logged_in(second).get(label_url(team.project)))
        assert "Where is my card?" in page and "exchange_rate" not in page.split("label-choices")[0]
        assert "checked" not in page
        assert LabelingItem.objects.get(pk=item.pk).status == ItemStatus.QUEUED
        # The page tells why answers do not become examples at once
        assert 'data-testid="label-overlap"' in page and "is labeled by 2 people on their own" in page

    def test_an_empty_queue_says_so(self, team: Team) -> None:
        page = text(logged_in(team.annotator).get(label_url(team.project)))
        assert 'data-testid="label-empty"' in page and "Nothing to label right now" in page

    def test_extraction_answers_with_the_write_editor_and_a_submit_button(self) -> None:
        project = ProjectFactory.create(
            task_type=TaskType.EXTRACTION, labels=[], output_schema={"type": "object"}
        )
        user = annotator(project)
        (item,) = queued(project, "Order 12 pizzas")
        client = logged_in(user)
        page = text(client.get(label_url(project)))
        assert 'class="json"' in page and 'data-testid="label-submit"' in page
        refused = client.post(label_url(project, "submit/"), {"item": item.pk, "output": "{not json"})
        assert refused.status_code == 400 and "{not json" in text(refused)  # the text is kept
        client.post(label_url(project, "submit/"), {"item": item.pk, "output": '{"count": 12}'})
        ((state, output),) = answers(item)
        assert state == AssignmentState.SUBMITTED and json.loads(output) == {"count": 12}

    def test_a_typed_answer_keeps_its_line_breaks_as_typed_not_as_the_browser_sends_them(self) -> None:
        # A browser sends each line break of a text box as CR LF
        project = ProjectFactory.create(task_type=TaskType.GENERATION, labels=[])
        user = annotator(project)
        (item,) = queued(project, "Write two lines")
        logged_in(user).post(label_url(project, "submit/"), {"item": item.pk, "output": "first\r\nsecond"})
        ((_, output),) = answers(item)
        assert output == "first\nsecond"

    def test_chat_shows_the_conversation_and_takes_the_reply(self) -> None:
        project = ProjectFactory.create(task_type=TaskType.CHAT, labels=[])
        user = annotator(project)
        conversation = [{"role": "user", "content": "Hello there"}]
        (item,) = items_enqueue(project=project, user=None, inputs=[{"input": conversation}]).created
        client = logged_in(user)
        page = text(client.get(label_url(project)))
        assert "Hello there" in page and "Assistant reply" in page
        client.post(label_url(project, "submit/"), {"item": item.pk, "output": "Hi! How can I help?"})
        assert answers(item) == [(AssignmentState.SUBMITTED, "Hi! How can I help?")]


class TestQueuePage:
    def test_a_lead_queues_pasted_lines_and_sees_what_was_already_queued(self, team: Team) -> None:
        client = logged_in(team.lead)
        response = client.post(
            label_url(team.project, "queue/"), {"inputs": "Where is my card?\n\n  Rate today?  \n"}
        )
        page = followed_text(client, response)
        assert "Queued 2 input(s); 0 already queued." in page
        again = followed_text(
            client, client.post(label_url(team.project, "queue/"), {"inputs": "Rate today?\nNew one"})
        )
        assert "Queued 1 input(s); 1 already queued." in again
        assert sorted(LabelingItem.objects.filter(project=team.project).values_list("input", flat=True)) == [
            "New one",
            "Rate today?",
            "Where is my card?",
        ]
        assert "Waiting for annotations" in again and "0 of 1" in again

    def test_the_list_pages_by_keyset(self, team: Team) -> None:
        queued(team.project, *[f"Input {n}" for n in range(55)])
        client = logged_in(team.lead)
        first = text(client.get(label_url(team.project, "queue/")))
        assert "Input 54" in first and "Input 4<" not in first and "Older inputs" in first
        oldest = LabelingItem.objects.filter(project=team.project).order_by("id")[5].pk
        older = text(client.get(label_url(team.project, f"queue/?before={oldest}")))
        assert "Input 0" in older and "Input 54" not in older

    def test_chat_lines_are_json_lists_and_a_bad_line_queues_nothing(self) -> None:
        project = ProjectFactory.create(task_type=TaskType.CHAT, labels=[])
        lead = MembershipFactory.create(project=project, role=Role.LEAD).user
        client = logged_in(lead)
        good = '[{"role": "user", "content": "Hi"}]'
        # Lines are counted as the box shows them, blank ones too
        bad = client.post(label_url(project, "queue/"), {"inputs": f"{good}\n\nnot json"})
        assert bad.status_code == 400 and "Line 3 is not a JSON list" in text(bad)
        invalid = client.post(
            label_url(project, "queue/"), {"inputs": f'{good}\n\n\n[{{"role": "pirate", "content": "x"}}]'}
        )
        assert invalid.status_code == 400 and "Line 4: " in text(invalid)
        assert not LabelingItem.objects.filter(project=project).exists()
        client.post(label_url(project, "queue/"), {"inputs": good})
        assert LabelingItem.objects.filter(project=project).count() == 1

    def test_an_empty_paste_is_refused(self, team: Team) -> None:
        response = logged_in(team.lead).post(label_url(team.project, "queue/"), {"inputs": "  \n "})
        assert response.status_code == 400 and not LabelingItem.objects.exists()

    def test_the_label_page_links_leads_to_it(self, team: Team) -> None:
        assert 'data-testid="queue-inputs-link"' in text(logged_in(team.lead).get(label_url(team.project)))
        assert 'data-testid="queue-inputs-link"' not in text(
            logged_in(team.annotator).get(label_url(team.project))
        )


def settings_data(project: Project, **labeling: str) -> dict[str, str]:
    return {
        "name": project.name,
        "target_behavior": project.target_behavior,
        "labels": "\n".join(project.labels),
        "output_schema": "",
        **labeling,
    }


class TestOverlapSettings:
    def test_a_lead_sets_the_overlap_the_sample_share_and_the_seed(self, team: Team) -> None:
        (item,) = queued(team.project, "Where is my card?")
        client = logged_in(team.lead)
        page = text(client.get(f"/projects/{team.project.pk}/settings/"))
        assert 'data-testid="labeling-settings"' in page and "the rest get one annotation" in page
        data = settings_data(
            team.project, labeling_overlap="3", labeling_overlap_percent="100", labeling_sample_seed="7"
        )
        response = client.post(f"/projects/{team.project.pk}/settings/", data)
        assert response.status_code == 302
        team.project.refresh_from_db()
        assert (
            team.project.labeling_overlap,
            team.project.labeling_overlap_share,
            team.project.labeling_sample_seed,
        ) == (3, 1.0, 7)
        assert LabelingItem.objects.get(pk=item.pk).target_overlap == 3  # retargeted, untouched

    def test_a_share_as_a_percentage_and_unchanged_boxes_keep_the_stored_share(self, team: Team) -> None:
        client = logged_in(team.lead)
        url = f"/projects/{team.project.pk}/settings/"
        client.post(url, settings_data(team.project, labeling_overlap="2", labeling_overlap_percent="30"))
        team.project.refresh_from_db()
        assert team.project.labeling_overlap_share == pytest.approx(0.3)
        page = text(client.get(url))
        assert 'value="30.0"' in page
        client.post(url, settings_data(team.project, labeling_overlap="2", labeling_overlap_percent="30.0"))
        team.project.refresh_from_db()
        assert team.project.labeling_overlap_share == 0.3

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("labeling_overlap", "7"),
            ("labeling_overlap", "0"),
            ("labeling_overlap_percent", "0"),
            ("labeling_sample_seed", "-1"),
        ],
    )
    def test_out_of_range_values_are_shown_on_the_form_and_nothing_is_saved(
        self, team: Team, field: str, value: str
    ) -> None:
        response = logged_in(team.lead).post(
            f"/projects/{team.project.pk}/settings/", settings_data(team.project, **{field: value})
        )
        assert response.status_code == 200 and 'class="error"' in text(response)
        team.project.refresh_from_db()
        assert (team.project.labeling_overlap, team.project.labeling_overlap_share) == (1, 1.0)


def disagreement(team: Team) -> tuple[Flag, LabelingItem, User, User]:
    """Two annotators who labeled one input differently (overlap 2): an open disagreement flag."""
    project_update(project=team.project, user=None, changes={"labeling_overlap": 2})
    (item,) = queued(team.project, "My card has not arrived")
    first, second = team.annotator, annotator(team.project)
    annotation_submit(item=claim(team.project, first), user=first, output="card_arrival")
    annotation_submit(item=claim(team.project, second), user=second, output="card_linking")
    return Flag.objects.get(kind=FlagKind.DISAGREEMENT), item, first, second


def outputs(item: LabelingItem) -> dict[str, str]:
    return dict(Example.objects.filter(labeling_item=item).values_list("output", "status"))


class TestDisagreementFlags:
    def test_the_flag_shows_the_input_once_and_each_answer_with_who_gave_it(self, team: Team) -> None:
        flag, _, first, second = disagreement(team)
        page = text(logged_in(team.reviewer).get(f"/flags/{flag.pk}/"))
        assert page.count("My card has not arrived") == 1 + ("My card has not arrived" in (flag.note or ""))
        assert page.count('data-testid="flag-answer"') == 2
        assert f"Given by 1: {first.username}" in page and f"Given by 1: {second.username}" in page
        assert page.count('data-testid="keep-answer"') == 2 and 'data-testid="reject-all"' in page
        assert 'value="keep_first"' not in page
        listing = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/flags/"))
        assert "Disagreement" in listing
        annotator_view = text(logged_in(team.annotator).get(f"/flags/{flag.pk}/"))
        assert 'data-testid="keep-answer"' not in annotator_view

    def test_keep_this_answer_rejects_the_others(self, team: Team) -> None:
        flag, item, _, _ = disagreement(team)
        kept = Example.objects.get(labeling_item=item, output="card_linking")
        client = logged_in(team.reviewer)
        page = followed_text(
            client, client.post(f"/flags/{flag.pk}/", {"resolution": "keep_one", "keep": kept.pk})
        )
        assert f"Flag {flag.pk} closed." in page
        assert outputs(item) == {
            "card_arrival": ExampleStatus.REJECTED,
            "card_linking": ExampleStatus.SUBMITTED,
        }
        assert Flag.objects.get(pk=flag.pk).resolution == "keep_one"

    def test_the_queue_page_links_a_disagreeing_input_to_its_flag_open_then_resolved(
        self, team: Team
    ) -> None:
        flag, item, _, _ = disagreement(team)
        client = logged_in(team.lead)
        queue = f"/projects/{team.project.pk}/label/queue/"
        link = f'href="/flags/{flag.pk}/" data-testid="item-flag">flag {flag.pk}, '
        assert link + "open</a>" in text(client.get(queue))
        # Once a reviewer keeps one answer, the page says the flag is resolved
        kept = Example.objects.get(labeling_item=item, output="card_linking")
        client.post(f"/flags/{flag.pk}/", {"resolution": "keep_one", "keep": kept.pk})
        assert link + "resolved</a>" in text(client.get(queue))

    def test_edit_and_keep_replaces_the_answer(self, team: Team) -> None:
        flag, item, _, _ = disagreement(team)
        kept = Example.objects.get(labeling_item=item, output="card_arrival")
        client = logged_in(team.lead)
        data = {"resolution": "keep_one", "keep": kept.pk, "output": "exchange_rate"}
        assert client.post(f"/flags/{flag.pk}/", data).status_code == 302
        assert outputs(item) == {
            "exchange_rate": ExampleStatus.SUBMITTED,
            "card_linking": ExampleStatus.REJECTED,
        }

    def test_reject_all_and_dismiss(self, team: Team) -> None:
        flag, item, _, _ = disagreement(team)
        logged_in(team.reviewer).post(f"/flags/{flag.pk}/", {"resolution": "reject_all"})
        assert set(outputs(item).values()) == {ExampleStatus.REJECTED}
        assert Flag.objects.get(pk=flag.pk).status == FlagStatus.RESOLVED

    def test_every_answer_acceptable_is_not_offered_and_refused(self, team: Team) -> None:
        # Two labels for one input would both enter a version: a contradiction
        flag, item, _, _ = disagreement(team)
        client = logged_in(team.reviewer)
        assert 'data-testid="dismiss"' not in text(client.get(f"/flags/{flag.pk}/"))
        page = text(client.post(f"/flags/{flag.pk}/", {"resolution": "dismiss"}))
        assert "A disagreement&#x27;s answers cannot all stand" in page
        assert set(outputs(item).values()) == {ExampleStatus.SUBMITTED}
        assert Flag.objects.get(pk=flag.pk).status == FlagStatus.OPEN

    def test_a_settled_disagreement_is_counted_on_the_data_card(self, team: Team) -> None:
        flag, item, _, _ = disagreement(team)
        kept = Example.objects.get(labeling_item=item, output="card_linking")
        client = logged_in(team.reviewer)
        client.post(f"/flags/{flag.pk}/", {"resolution": "keep_one", "keep": kept.pk})
        Example.objects.filter(pk=kept.pk).update(status=ExampleStatus.APPROVED)
        version = version_create(project=team.project, user=team.lead, eval_fraction=0.0)
        assert (version.stats["disagreements_resolved"], version.stats["contradictions_resolved"]) == (1, 0)
        page = text(client.get(f"/versions/{version.pk}/"))
        assert '<span class="n">1</span><span class="label">annotators\' disagreement resolved' in page
        assert "Annotators' disagreements resolved among these examples: 1" in card_markdown(version)

    def test_editing_an_answer_into_the_other_keeps_the_other(self, team: Team) -> None:
        flag, item, _, _ = disagreement(team)
        first = Example.objects.get(labeling_item=item, output="card_arrival")
        other = Example.objects.get(labeling_item=item, output="card_linking")
        data = {"resolution": "keep_one", "keep": first.pk, "output": "card_linking"}
        assert logged_in(team.reviewer).post(f"/flags/{flag.pk}/", data).status_code == 302
        assert outputs(item) == {
            "card_arrival": ExampleStatus.REJECTED,
            "card_linking": ExampleStatus.SUBMITTED,
        }
        assert Example.objects.get(pk=other.pk).revision == other.revision  # kept as it was
        flag.refresh_from_db()
        assert (flag.status, flag.resolution) == (FlagStatus.RESOLVED, "keep_one")

    @pytest.mark.parametrize(
        "data",
        [
            {"resolution": "keep_one"},  # which one?
            {"resolution": "keep_one", "keep": "999999"},  # not one of its answers
            {"resolution": "keep_one", "keep": "{kept}", "output": "lost_card"},  # not a label
            {"resolution": "keep_first"},  # a contradiction's resolution
            {"resolution": "dismiss", "keep": "{kept}"},
            {"resolution": "keep_one", "keep": "abc"},
        ],
    )
    def test_a_hostile_resolution_is_named_and_leaves_the_flag_open(
        self, team: Team, data: dict[str, str]
    ) -> None:
        flag, item, _, _ = disagreement(team)
        kept = Example.objects.filter(labeling_item=item).first()
        assert kept is not None
        posted = {key: value.format(kept=kept.pk) for key, value in data.items()}
        response = logged_in(team.reviewer).post(f"/flags/{flag.pk}/", posted)
        assert response.status_code == 200 and 'class="message error"' in text(response)
        assert Flag.objects.get(pk=flag.pk).status == FlagStatus.OPEN
        assert set(outputs(item).values()) == {ExampleStatus.SUBMITTED}
        assert set(outputs(item)) == {"card_arrival", "card_linking"}


class TestReviewOfLabeledItems:
    def test_the_review_card_shows_who_annotated_what(self, team: Team) -> None:
        project_update(project=team.project, user=None, changes={"labeling_overlap": 2})
        queued(team.project, "My card has not arrived")
        first, second = team.annotator, annotator(team.project)
        for user in (first, second):
            annotation_submit(item=claim(team.project, user), user=user, output="card_arrival")
        card = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/review/"))
        assert 'data-testid="annotations"' in card and "by 2 annotators" in card
        assert first.username in card and second.username in card
        example = Example.objects.get()
        assert 'data-testid="annotations"' in text(logged_in(team.annotator).get(f"/examples/{example.pk}/"))

    def test_alternatives_sit_side_by_side_and_rejecting_one_keeps_the_card(self) -> None:
        project = ProjectFactory.create(task_type=TaskType.GENERATION, labels=[], labeling_overlap=2)
        lead = MembershipFactory.create(project=project, role=Role.LEAD).user
        writers = [annotator(project), annotator(project)]
        (item,) = queued(project, "Write a greeting")
        for user, reply in zip(writers, ("Hello!", "Good morning!"), strict=True):
            annotation_submit(item=claim(project, user), user=user, output=reply)
        assert LabelingItem.objects.get(pk=item.pk).status == ItemStatus.ALTERNATIVES
        shown, other = Example.objects.filter(labeling_item=item).order_by("id")
        client = logged_in(lead)
        card = text(client.get(f"/projects/{project.pk}/review/"))
        assert 'data-testid="alternative"' in card and "Good morning!" in card
        # When the reviewer rejects the alternative from beside the card
        data = {"decision": "reject", "revision": other.revision, "then": shown.pk}
        after = text(client.post(f"/examples/{other.pk}/review/", data, **HTMX))
        # Then it is rejected and the card they were on comes back
        assert Example.objects.get(pk=other.pk).status == ExampleStatus.REJECTED
        assert f'data-example="{shown.pk}"' in after
        client.post(
            f"/examples/{shown.pk}/review/", {"decision": "approve", "revision": shown.revision}, **HTMX
        )
        assert Example.objects.get(pk=shown.pk).status == ExampleStatus.APPROVED


class TestDashboard:
    def test_annotators_see_what_waits_for_them_and_a_label_action(self, team: Team) -> None:
        queued(team.project, "One?", "Two?")
        page = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/"))
        assert '<span class="n">2</span><span class="label">to label</span>' in page
        assert 'data-testid="label-action"' in page and f'href="/projects/{team.project.pk}/label/"' in page
