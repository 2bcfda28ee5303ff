"""The team page and its API endpoint: reviewers and leads see the agreement figures; annotators
(who do not see each other's answers) are refused; the nav links it for reviewers only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from curation.models import Role
from curation.services.labeling import annotation_submit, items_enqueue, next_assignment
from tests.conftest import Team
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ANSWERS = {
    "Where is my card?": ("card_arrival", "card_arrival"),
    "Link my card": ("card_linking", "card_linking"),
    "Rate for EUR?": ("exchange_rate", "exchange_rate"),
    "Card still not here": ("card_arrival", "card_linking"),
}


def labeled_twice(team: Team) -> list[User]:
    team.project.labeling_overlap = 2
    team.project.save()
    items_enqueue(project=team.project, user=team.lead, inputs=[{"input": text} for text in ANSWERS])
    people = [
        MembershipFactory.create(project=team.project, role=Role.ANNOTATOR, user__username=name).user
        for name in ("ana", "ben")
    ]
    for position, user in enumerate(people):
        while (claim := next_assignment(project=team.project, user=user)) is not None:
            annotation_submit(item=claim.item, user=user, output=ANSWERS[claim.item.input][position])
    return people


def page(user: User, project_id: int) -> tuple[int, str]:
    client = Client()
    client.force_login(user)
    response = client.get(f"/projects/{project_id}/team/")
    return response.status_code, response.content.decode()


def test_a_reviewer_sees_alpha_its_reading_and_the_confused_labels(team: Team) -> None:
    labeled_twice(team)
    status, html = page(team.reviewer, team.project.pk)
    assert status == 200
    assert 'data-testid="alpha"' in html and "(95%:" in html
    assert "Krippendorff" in html and "items with 2+ annotations" in html
    assert "card_arrival / card_linking: 1 item" in html
    assert 'data-testid="annotator-ana"' in html and 'data-testid="pairwise"' in html
    assert f'href="/projects/{team.project.pk}/team/"' in html  # in the nav


def test_the_reading_says_the_guidelines_need_work_when_alpha_is_low(team: Team) -> None:
    team.project.labeling_overlap = 2
    team.project.save()
    texts = [f"message {n}" for n in range(6)]
    items_enqueue(project=team.project, user=team.lead, inputs=[{"input": t} for t in texts])
    ana, ben = (MembershipFactory.create(project=team.project, role=Role.ANNOTATOR).user for _ in range(2))
    for user, labels in ((ana, ["card_arrival", "card_linking"]), (ben, ["card_linking", "card_arrival"])):
        while (claim := next_assignment(project=team.project, user=user)) is not None:
            annotation_submit(item=claim.item, user=user, output=labels[int(claim.item.input[-1]) % 2])
    status, html = page(team.lead, team.project.pk)
    assert status == 200 and "agreement-low" in html and "guidelines need work" in html


def test_an_empty_queue_says_there_is_not_enough_to_measure(team: Team) -> None:
    status, html = page(team.reviewer, team.project.pk)
    assert status == 200
    assert "Needs at least 2 items with 2 or more annotations each." in html
    assert "Nobody has labeled an item from the queue yet." in html


def test_annotators_are_refused_and_do_not_get_the_nav_link(team: Team) -> None:
    assert page(team.annotator, team.project.pk)[0] == 403
    assert page(team.outsider, team.project.pk)[0] == 404
    client = Client()
    client.force_login(team.annotator)
    dashboard = client.get(f"/projects/{team.project.pk}/").content.decode()
    assert f'href="/projects/{team.project.pk}/team/"' not in dashboard


def test_the_api_gives_the_same_figures_to_reviewers_and_refuses_annotators(
    team: Team, client_for: Callable[[User | None], APIClient]
) -> None:
    labeled_twice(team)
    url = f"/api/projects/{team.project.pk}/agreement/"
    body = client_for(team.reviewer).get(url).json()
    assert body["alpha"]["items"] == 4 and body["alpha"]["interval"][0] <= body["alpha"]["value"]
    assert body["percent_agreement"] == 0.75
    assert body["pairwise"][0]["annotators"] == ["ana", "ben"] and body["pairwise"][0]["items"] == 4
    assert body["confused_pairs"] == [{"labels": ["card_arrival", "card_linking"], "items": 1}]
    assert body["confusion"] == {"labels": ["card_arrival", "card_linking"], "table": [[0, 1], [1, 0]]}
    assert [row["username"] for row in body["annotators"]] == ["ana", "ben"]
    assert body["items"] == {"with_overlap": 4, "measured": 4, "recent_labeled": 4, "limit": 1000}
    assert client_for(team.annotator).get(url).status_code == 403
    assert client_for(team.outsider).get(url).status_code == 404
