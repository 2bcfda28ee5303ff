"""The labeling queue over the REST API: leads queue inputs, annotators take the next item and
answer or skip it, reviewers follow the items; what annotators may see of each other's answers;
hostile input; the project's labeling settings; resolving a disagreement flag through the API.
(Roles per endpoint: tests/api/test_permissions.py. Files in and out: test_labeling_files_api.py.
Parallel requests on PostgreSQL: tests/integration/test_labeling_api_concurrency.py.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from curation.models import (
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
)
from curation.services.labeling import MAX_INPUTS_PER_CALL
from tests.api.support import error_fields
from tests.conftest import Team
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User | None], APIClient]
API = "/api"


def queue(client: APIClient, project: Project, *texts: str, **extra: Any) -> Any:
    body = {"inputs": [{"input": text, **extra} for text in texts]}
    return client.post(f"{API}/projects/{project.pk}/labeling/items/", body, format="json")


def take(client: APIClient, project: Project) -> Any:
    return client.post(f"{API}/projects/{project.pk}/labeling/next/")


def answer(client: APIClient, item_id: int, output: Any) -> Any:
    return client.post(f"{API}/labeling/items/{item_id}/annotations/", {"output": output}, format="json")


def annotator(project: Project) -> User:
    user = MembershipFactory.create(project=project, role=Role.ANNOTATOR).user
    assert isinstance(user, User)
    return user


def with_overlap(project: Project, overlap: int) -> Project:
    project.labeling_overlap = overlap
    project.save(update_fields=["labeling_overlap"])
    return project


# --- queueing and listing -------------------------------------------------------------------------


def test_a_lead_queues_inputs_and_an_input_queued_twice_is_counted_not_duplicated(
    team: Team, client_for: ClientFor
) -> None:
    lead = client_for(team.lead)
    first = queue(lead, team.project, "Where is my card?", "What is the rate today?", metadata={"batch": 1})
    again = queue(lead, team.project, "Where is my card?", "My card was stolen")

    assert first.status_code == again.status_code == 201
    assert len(first.json()["created"]) == 2 and first.json()["already_queued"] == 0
    assert len(again.json()["created"]) == 1 and again.json()["already_queued"] == 1
    items = LabelingItem.objects.filter(project=team.project)
    assert items.count() == 3 and set(items.values_list("source", flat=True)) == {"api"}
    assert items.get(pk=first.json()["created"][0]).metadata == {"batch": 1}


def test_reviewers_list_items_with_status_and_coverage_filtered_and_paged_by_cursor(
    team: Team, client_for: ClientFor, django_assert_max_num_queries: Any
) -> None:
    project = with_overlap(team.project, 2)
    queue(client_for(team.lead), project, *[f"message {n}" for n in range(5)])
    claim = take(client_for(team.annotator), project).json()
    answer(client_for(team.annotator), claim["item"]["id"], "card_arrival")
    reviewer = client_for(team.reviewer)

    with django_assert_max_num_queries(8):
        page = reviewer.get(f"{API}/projects/{project.pk}/labeling/items/", {"page_size": 2})
    assert page.status_code == 200
    first = page.json()
    assert len(first["results"]) == 2 and first["next"]
    assert set(first["results"][0]) >= {
        "id",
        "input",
        "status",
        "target_overlap",
        "annotation_count",
        "created_at",
    }
    rest = reviewer.get(first["next"]).json()["results"]
    rest += reviewer.get(reviewer.get(first["next"]).json()["next"]).json()["results"]
    listed = first["results"] + rest
    assert len({item["id"] for item in listed}) == 5
    answered = [item for item in listed if item["id"] == claim["item"]["id"]]
    assert answered[0]["annotation_count"] == 1 and answered[0]["target_overlap"] == 2

    queued = reviewer.get(f"{API}/projects/{project.pk}/labeling/items/", {"status": "queued"}).json()
    assert len(queued["results"]) == 5
    by_source = reviewer.get(f"{API}/projects/{project.pk}/labeling/items/", {"source": "import:1"})
    assert by_source.json()["results"] == []
    bad = reviewer.get(f"{API}/projects/{project.pk}/labeling/items/", {"status": "done"})
    assert bad.status_code == 400 and error_fields(bad) == ["status"]


def test_annotators_do_not_list_the_queue_but_see_its_counts_on_the_project(
    team: Team, client_for: ClientFor
) -> None:
    queue(client_for(team.lead), team.project, "one", "two")

    listing = client_for(team.annotator).get(f"{API}/projects/{team.project.pk}/labeling/items/")
    detail = client_for(team.annotator).get(f"{API}/projects/{team.project.pk}/")

    assert listing.status_code == 403
    assert detail.json()["labeling"] == {
        "queued": 2,
        "agreed": 0,
        "disagreed": 0,
        "alternatives": 0,
        "set_aside": 0,
        "claimable": 2,
        "stuck": 0,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": [{"input": "x", "output": "card_arrival"}]}, "inputs"),
        ({"inputs": [{"input": "x"}], "source": "me"}, "source"),
        ({"inputs": "x"}, "inputs"),
        ({"inputs": []}, "inputs"),
        ({"inputs": [{"input": " "}]}, "inputs"),
        ({"inputs": [{"input": "x", "metadata": ["not", "an", "object"]}]}, "inputs"),
        ({"inputs": [{"input": "x", "external_id": {"a": 1}}]}, "inputs"),
        ({"inputs": [{"input": f"row {n}"} for n in range(MAX_INPUTS_PER_CALL + 1)]}, "inputs"),
        ({}, "inputs"),
    ],
    ids=[
        "output",
        "unknown-field",
        "not-a-list",
        "empty",
        "blank-input",
        "metadata",
        "id-type",
        "huge",
        "none",
    ],
)
def test_bad_queue_requests_are_400_naming_the_field_and_queue_nothing(
    team: Team, client_for: ClientFor, body: dict[str, Any], field: str
) -> None:
    response = client_for(team.lead).post(
        f"{API}/projects/{team.project.pk}/labeling/items/", body, format="json"
    )

    assert response.status_code == 400, response.content
    assert field in " ".join(str(name) for name in error_fields(response))
    assert not LabelingItem.objects.exists()


@pytest.mark.parametrize(
    ("queued", "body", "field", "problem"),
    [
        pytest.param(
            [],
            {"inputs": [{"input": "ok5", "external_id": "e1"}, {"input": "ok6", "external_id": "e1"}]},
            "inputs[1].external_id",
            "'e1' is repeated within the request (inputs[0] has it for another input)",
            id="repeated-in-request",
        ),
        pytest.param(
            [{"input": "ok5", "external_id": "e1"}],
            {"inputs": [{"input": "ok7"}, {"input": "ok6", "external_id": "e1"}]},
            "inputs[1].external_id",
            "'e1' is already in the queue for another input (item ",
            id="already-queued",
        ),
    ],
)
def test_an_external_id_that_another_input_holds_is_400_naming_it_and_queues_nothing(
    team: Team,
    client_for: ClientFor,
    queued: list[dict[str, str]],
    body: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    lead = client_for(team.lead)
    url = f"{API}/projects/{team.project.pk}/labeling/items/"
    if queued:
        assert lead.post(url, {"inputs": queued}, format="json").status_code == 201

    response = lead.post(url, body, format="json")

    assert response.status_code == 400, response.content
    assert error_fields(response) == [field]
    assert problem in response.json()["detail"]
    assert LabelingItem.objects.count() == len(queued)


def test_an_input_sent_again_with_its_own_external_id_is_counted_as_queued(
    team: Team, client_for: ClientFor
) -> None:
    lead = client_for(team.lead)
    url = f"{API}/projects/{team.project.pk}/labeling/items/"
    row = {"input": "ok5", "external_id": "e1"}

    first = lead.post(url, {"inputs": [row, row]}, format="json")
    again = lead.post(url, {"inputs": [row, {"input": "ok6", "external_id": "e2"}]}, format="json")

    assert (first.status_code, again.status_code) == (201, 201)
    assert (len(first.json()["created"]), first.json()["already_queued"]) == (1, 1)
    assert (len(again.json()["created"]), again.json()["already_queued"]) == (1, 1)


# --- taking, answering, skipping ------------------------------------------------------------------


def test_next_hands_out_a_claim_keeps_it_until_answered_and_is_204_when_nothing_is_left(
    team: Team, client_for: ClientFor
) -> None:
    queue(client_for(team.lead), team.project, "Where is my card?")
    me = client_for(team.annotator)

    claim = take(me, team.project)
    again = take(me, team.project)

    assert claim.status_code == 200
    body = claim.json()
    assert set(body) == {"item", "expires_at"} and set(body["item"]) == {
        "id",
        "input",
        "metadata",
        "suggestion",
    }
    assert body["item"]["suggestion"] is None  # no suggestion run yet (test_labeling_suggestions_api.py)
    assert body["item"]["input"] == "Where is my card?"
    assert again.json()["item"]["id"] == body["item"]["id"]  # the live claim, not a second item
    done = answer(me, body["item"]["id"], "card_arrival")
    assert done.status_code == 201
    empty = take(me, team.project)
    assert empty.status_code == 204 and empty.content == b""


def test_one_answer_completes_an_item_and_the_response_names_its_example(
    team: Team, client_for: ClientFor
) -> None:
    queue(client_for(team.lead), team.project, "Where is my card?")
    me = client_for(team.annotator)
    item_id = take(me, team.project).json()["item"]["id"]

    response = answer(me, item_id, "card_arrival")

    body = response.json()
    assert response.status_code == 201
    assert body["item"] == item_id and body["annotator"] == team.annotator.username
    assert body["output"] == "card_arrival" and body["seconds"] >= 0
    example = Example.objects.get(labeling_item_id=item_id)
    assert body["item_status"] == ItemStatus.AGREED and body["examples"] == [example.pk]
    assert body["flag"] is None and example.status == ExampleStatus.SUBMITTED


def test_answers_that_disagree_raise_a_flag_that_the_lead_resolves_through_the_api(
    team: Team, client_for: ClientFor
) -> None:
    project = with_overlap(team.project, 2)
    queue(client_for(team.lead), project, "My card has not arrived and I was charged twice")
    first, second = annotator(project), annotator(project)
    item_id = take(client_for(first), project).json()["item"]["id"]
    assert take(client_for(second), project).json()["item"]["id"] == item_id
    waiting = answer(client_for(first), item_id, "card_arrival").json()
    assert (
        waiting["item_status"] == ItemStatus.QUEUED and waiting["examples"] == [] and waiting["flag"] is None
    )

    done = answer(client_for(second), item_id, "card_linking").json()

    assert done["item_status"] == ItemStatus.DISAGREED and len(done["examples"]) == 2
    flag = client_for(team.reviewer).get(f"{API}/flags/{done['flag']}/").json()
    assert flag["kind"] == FlagKind.DISAGREEMENT and flag["examples"] == done["examples"]
    assert flag["answers"] == [
        {"example": done["examples"][0], "output": "card_arrival", "annotators": [first.username]},
        {"example": done["examples"][1], "output": "card_linking", "annotators": [second.username]},
    ]
    listed = client_for(team.reviewer).get(f"{API}/projects/{project.pk}/flags/", {"kind": "disagreement"})
    assert listed.json()["results"][0]["answers"] == flag["answers"]

    keep = done["examples"][1]
    resolve = f"{API}/flags/{done['flag']}/resolve/"
    lead = client_for(team.lead)
    missing_keep = lead.post(resolve, {"resolution": "keep_one"}, format="json")
    assert missing_keep.status_code == 400 and error_fields(missing_keep) == ["keep"]
    stranger = lead.post(resolve, {"resolution": "keep_one", "keep": 999_999}, format="json")
    assert stranger.status_code == 400 and error_fields(stranger) == ["keep"]
    resolved = lead.post(
        resolve, {"resolution": "keep_one", "keep": keep, "output": "lost_or_stolen_card"}, format="json"
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == FlagStatus.RESOLVED
    kept, dropped = Example.objects.get(pk=keep), Example.objects.get(pk=done["examples"][0])
    assert kept.output == "lost_or_stolen_card" and kept.status == ExampleStatus.SUBMITTED
    assert dropped.status == ExampleStatus.REJECTED
    # The answers still name what each annotator said, after the kept example was edited
    after = client_for(team.reviewer).get(f"{API}/flags/{done['flag']}/").json()["answers"]
    assert [answer["output"] for answer in after] == ["card_arrival", "card_linking"]


def test_annotators_see_only_their_own_answer_while_an_item_is_queued_and_every_answer_after(
    team: Team, client_for: ClientFor
) -> None:
    project = with_overlap(team.project, 3)
    queue(client_for(team.lead), project, "Where is my card?")
    first, second, third = annotator(project), annotator(project), annotator(project)
    item_id = take(client_for(first), project).json()["item"]["id"]
    answer(client_for(first), item_id, "card_arrival")
    url = f"{API}/labeling/items/{item_id}/"

    mine = client_for(first).get(url).json()
    theirs = client_for(second).get(url).json()
    reviewer = client_for(team.reviewer).get(url).json()

    assert [a["annotator"] for a in mine["annotations"]] == [first.username]
    assert mine["annotations"][0]["output"] == "card_arrival" and mine["annotations"][0]["seconds"] >= 0
    assert theirs["annotations"] == [] and theirs["status"] == ItemStatus.QUEUED
    assert [a["annotator"] for a in reviewer["annotations"]] == [first.username]
    for user in (second, third):
        take(client_for(user), project)
        answer(client_for(user), item_id, "card_arrival")
    labeled = client_for(second).get(url).json()
    assert labeled["status"] == ItemStatus.AGREED and len(labeled["annotations"]) == 3
    assert labeled["examples"] == list(
        Example.objects.filter(labeling_item_id=item_id).values_list("pk", flat=True)
    )


def test_a_label_outside_the_set_is_400_and_the_claim_is_kept(team: Team, client_for: ClientFor) -> None:
    queue(client_for(team.lead), team.project, "Where is my card?")
    me = client_for(team.annotator)
    item_id = take(me, team.project).json()["item"]["id"]

    for bad in ("not_a_label", 3, ["card_arrival"], None, ""):
        response = answer(me, item_id, bad)
        assert response.status_code == 400, (bad, response.content)
    unknown = me.post(
        f"{API}/labeling/items/{item_id}/annotations/", {"output": "card_arrival", "x": 1}, format="json"
    )
    assert unknown.status_code == 400 and error_fields(unknown) == ["x"]
    assert answer(me, item_id, "card_arrival").status_code == 201


def test_a_second_answer_by_the_same_annotator_is_409(team: Team, client_for: ClientFor) -> None:
    project = with_overlap(team.project, 2)
    queue(client_for(team.lead), project, "Where is my card?")
    me = client_for(team.annotator)
    item_id = take(me, project).json()["item"]["id"]
    assert answer(me, item_id, "card_arrival").status_code == 201

    again = answer(me, item_id, "card_linking")

    assert again.status_code == 409 and "already labeled" in again.json()["detail"]
    assert LabelingAssignment.objects.get(item_id=item_id).output == "card_arrival"


def test_an_answer_on_a_stale_claim_whose_slot_was_taken_is_409(team: Team, client_for: ClientFor) -> None:
    queue(client_for(team.lead), team.project, "Where is my card?")
    slow, quick = annotator(team.project), annotator(team.project)
    item_id = take(client_for(slow), team.project).json()["item"]["id"]
    LabelingAssignment.objects.filter(annotator=slow).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert take(client_for(quick), team.project).json()["item"]["id"] == item_id  # released, taken
    assert answer(client_for(quick), item_id, "card_linking").status_code == 201

    late = answer(client_for(slow), item_id, "card_arrival")

    assert late.status_code == 409 and "Take the next item" in late.json()["detail"]
    assert Example.objects.get(labeling_item_id=item_id).output == "card_linking"


def test_skipping_gives_the_slot_back_twice_is_harmless_and_after_answering_is_409(
    team: Team, client_for: ClientFor
) -> None:
    queue(client_for(team.lead), team.project, "first", "second")
    me = client_for(team.annotator)
    skipped = take(me, team.project).json()["item"]["id"]

    assert me.post(f"{API}/labeling/items/{skipped}/skip/").status_code == 204
    assert me.post(f"{API}/labeling/items/{skipped}/skip/").status_code == 204
    other = take(me, team.project).json()["item"]["id"]
    assert other != skipped
    assert answer(me, other, "card_arrival").status_code == 201
    assert take(me, team.project).status_code == 204  # the skipped item is not offered again
    assert me.post(f"{API}/labeling/items/{other}/skip/").status_code == 409
    assert LabelingItem.objects.get(pk=skipped).coverage == 0  # its slot is free for others
    assert take(client_for(team.reviewer), team.project).json()["item"]["id"] == skipped


def test_an_unknown_item_is_404_and_ids_of_other_projects_leak_nothing(
    team: Team, client_for: ClientFor
) -> None:
    me = client_for(team.annotator)
    for path in ("", "annotations/", "skip/"):
        method = me.get if path == "" else me.post
        assert method(f"{API}/labeling/items/2000000000/{path}").status_code == 404
        assert method(f"{API}/labeling/items/abc/{path}").status_code == 404


# --- project settings -----------------------------------------------------------------------------


def test_the_labeling_settings_are_set_at_creation_changed_by_the_lead_and_checked(
    team: Team, client_for: ClientFor
) -> None:
    lead = client_for(team.lead)
    created = lead.post(
        f"{API}/projects/",
        {
            "name": "Overlap",
            "task_type": "classification",
            "target_behavior": "Route.",
            "labels": ["a", "b"],
            "labeling_overlap": 3,
            "labeling_overlap_share": 0.5,
            "labeling_sample_seed": 7,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["labeling_overlap"], body["labeling_overlap_share"], body["labeling_sample_seed"]) == (
        3,
        0.5,
        7,
    )

    url = f"{API}/projects/{team.project.pk}/"
    queue(lead, team.project, "untouched")
    changed = lead.patch(url, {"labeling_overlap": 2}, format="json")
    assert changed.status_code == 200 and changed.json()["labeling_overlap"] == 2
    assert LabelingItem.objects.get(project=team.project).target_overlap == 2  # retargeted
    for bad, field in (
        ({"labeling_overlap": 6}, "labeling_overlap"),
        ({"labeling_overlap": "two"}, "labeling_overlap"),
        ({"labeling_overlap_share": 0}, "labeling_overlap_share"),
        ({"labeling_overlap_share": 1.5}, "labeling_overlap_share"),
        ({"labeling_sample_seed": -1}, "labeling_sample_seed"),
    ):
        refused = lead.patch(url, bad, format="json")
        assert refused.status_code == 400 and error_fields(refused) == [field], bad
    assert client_for(team.reviewer).patch(url, {"labeling_overlap": 3}, format="json").status_code == 403
    assert Project.objects.get(pk=team.project.pk).labeling_overlap == 2


def test_the_fill_is_depth_by_default_read_and_changed_by_a_lead_and_an_unknown_one_is_named(
    team: Team, client_for: ClientFor
) -> None:
    lead = client_for(team.lead)
    url = f"{API}/projects/{team.project.pk}/"
    assert lead.get(url).json()["labeling_fill"] == "depth"
    assert client_for(team.annotator).get(url).json()["labeling_fill"] == "depth"
    created = lead.post(
        f"{API}/projects/",
        {"name": "Wide", "task_type": "generation", "target_behavior": "Reply.", "labeling_fill": "breadth"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["labeling_fill"] == "breadth", created.content
    changed = lead.patch(url, {"labeling_fill": "breadth"}, format="json")
    assert changed.status_code == 200 and changed.json()["labeling_fill"] == "breadth"
    for bad in ("sideways", "", None, 1, ["depth"]):
        refused = lead.patch(url, {"labeling_fill": bad}, format="json")
        assert refused.status_code == 400 and error_fields(refused) == ["labeling_fill"], bad
    assert client_for(team.reviewer).patch(url, {"labeling_fill": "depth"}, format="json").status_code == 403
    assert Project.objects.get(pk=team.project.pk).labeling_fill == "breadth"


@pytest.mark.parametrize(("fill", "second_gets"), [("depth", 0), ("breadth", 1)])
def test_next_follows_the_fill(team: Team, client_for: ClientFor, fill: str, second_gets: int) -> None:
    project = with_overlap(team.project, 2)
    lead = client_for(team.lead)
    assert (
        lead.patch(f"{API}/projects/{project.pk}/", {"labeling_fill": fill}, format="json").status_code == 200
    )
    ids = queue(lead, project, "one", "two").json()["created"]
    first, second = client_for(annotator(project)), client_for(annotator(project))
    assert take(first, project).json()["item"]["id"] == ids[0]
    assert take(second, project).json()["item"]["id"] == ids[second_gets]


def disagreed(team: Team, client_for: ClientFor, text: str, answers: tuple[str, str]) -> dict[str, Any]:
    """An input two annotators answered differently (overlap 2): the second answer's response,
    with the item, its two examples and the disagreement flag."""
    project = with_overlap(team.project, 2)
    queue(client_for(team.lead), project, text)
    first, second = annotator(project), annotator(project)
    item_id = take(client_for(first), project).json()["item"]["id"]
    take(client_for(second), project)
    answer(client_for(first), item_id, answers[0])
    return {"item_id": item_id, **answer(client_for(second), item_id, answers[1]).json()}


def test_a_disagreement_flag_is_not_resolved_with_contradiction_resolutions(
    team: Team, client_for: ClientFor
) -> None:
    done = disagreed(team, client_for, "Charged twice", ("card_arrival", "exchange_rate"))
    item_id, flag_id = done["item_id"], done["flag"]
    resolve = f"{API}/flags/{flag_id}/resolve/"

    wrong = client_for(team.lead).post(resolve, {"resolution": "keep_first"}, format="json")
    stray = client_for(team.lead).post(resolve, {"resolution": "dismiss", "keep": 1}, format="json")
    dropped = client_for(team.lead).post(resolve, {"resolution": "reject_all"}, format="json")

    assert wrong.status_code == 400 and stray.status_code == 400
    assert dropped.status_code == 200 and Flag.objects.get(pk=flag_id).status == FlagStatus.RESOLVED
    assert set(Example.objects.filter(labeling_item_id=item_id).values_list("status", flat=True)) == {
        ExampleStatus.REJECTED
    }


def test_a_reviewer_approves_one_answer_of_an_open_disagreement_but_not_a_second(
    team: Team, client_for: ClientFor
) -> None:
    done = disagreed(team, client_for, "Charged twice for one coffee", ("card_arrival", "exchange_rate"))
    one, other = done["examples"]
    reviewer = client_for(team.reviewer)

    approved = reviewer.post(f"{API}/examples/{one}/reviews/", {"decision": "approve"}, format="json")
    refused = reviewer.post(f"{API}/examples/{other}/reviews/", {"decision": "approve"}, format="json")
    rejected = reviewer.post(f"{API}/examples/{other}/reviews/", {"decision": "reject"}, format="json")

    assert approved.status_code == 201, approved.content
    assert refused.status_code == 400 and error_fields(refused) == ["decision"]
    assert f"Example {one}" in refused.json()["errors"][0]["message"]
    assert f"flag {done['flag']}" in refused.json()["errors"][0]["message"]
    assert rejected.status_code == 201  # rejecting the other answer is no contradiction
    assert Example.objects.get(pk=other).status == ExampleStatus.REJECTED


def test_keeping_an_answer_whose_label_was_removed_since_is_refused_and_the_flag_stays_open(
    team: Team, client_for: ClientFor
) -> None:
    done = disagreed(team, client_for, "Top up failed twice", ("card_arrival", "exchange_rate"))
    project = team.project
    project.labels = [label for label in project.labels if label != "exchange_rate"]
    project.save(update_fields=["labels"])
    resolve = f"{API}/flags/{done['flag']}/resolve/"

    refused = client_for(team.lead).post(
        resolve, {"resolution": "keep_one", "keep": done["examples"][1]}, format="json"
    )

    assert refused.status_code == 400 and error_fields(refused) == ["keep"]
    assert "is not one of the project's labels" in refused.json()["errors"][0]["message"]
    assert Flag.objects.get(pk=done["flag"]).status == FlagStatus.OPEN
    assert set(Example.objects.filter(pk__in=done["examples"]).values_list("status", flat=True)) == {
        ExampleStatus.SUBMITTED
    }
