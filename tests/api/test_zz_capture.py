import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from curation.models import Membership, Role
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


def show(title, response):
    print(f"\n=== {title} -> {response.status_code}")
    if response.content:
        print(json.dumps(response.json(), ensure_ascii=False))


def test_capture(client_for, django_capture_on_commit_callbacks):
    project = ProjectFactory(name="Support intents", labels=["card_arrival", "card_linking", "exchange_rate", "lost_or_stolen_card"])
    users = {}
    for name, role in [("admin", Role.LEAD), ("rita", Role.REVIEWER), ("ana", Role.ANNOTATOR), ("ben", Role.ANNOTATOR)]:
        users[name] = UserFactory(username=name)
        Membership.objects.create(project=project, user=users[name], role=role)
    admin, rita, ana, ben = (client_for(users[n]) for n in ("admin", "rita", "ana", "ben"))
    p = project.pk
    show("patch", admin.patch(f"/api/projects/{p}/", {"labeling_overlap": 2, "labeling_overlap_share": 0.5, "labeling_sample_seed": 7}, format="json"))
    show("queue", admin.post(f"/api/projects/{p}/labeling/items/", {"inputs": [
        {"input": "My new card still has not arrived", "metadata": {"channel": "chat"}},
        {"input": "Why was I charged a fee for the exchange?", "external_id": "t-2"},
        {"input": "My card has not arrived and I was charged twice"},
        {"input": "My new card still has not arrived"}]}, format="json"))
    show("list", rita.get(f"/api/projects/{p}/labeling/items/", {"status": "queued", "page_size": 2}))
    show("list annotator", ana.get(f"/api/projects/{p}/labeling/items/"))
    c = ana.post(f"/api/projects/{p}/labeling/next/"); show("next ana", c)
    item = c.json()["item"]["id"]
    show("bad label", ana.post(f"/api/labeling/items/{item}/annotations/", {"output": "refund"}, format="json"))
    show("answer ana", ana.post(f"/api/labeling/items/{item}/annotations/", {"output": "card_arrival"}, format="json"))
    show("again ana", ana.post(f"/api/labeling/items/{item}/annotations/", {"output": "card_linking"}, format="json"))
    show("item as ben", ben.get(f"/api/labeling/items/{item}/"))
    c2 = ben.post(f"/api/projects/{p}/labeling/next/"); show("next ben", c2)
    show("answer ben", ben.post(f"/api/labeling/items/{c2.json()['item']['id']}/annotations/", {"output": "card_linking"}, format="json"))
    show("item as rita", rita.get(f"/api/labeling/items/{item}/"))
    said = {"ana": {"My new card still has not arrived": "card_arrival", "My card has not arrived and I was charged twice": "card_arrival"},
            "ben": {"My new card still has not arrived": "card_arrival", "My card has not arrived and I was charged twice": "lost_or_stolen_card"}}
    for name, client in (("ben", ben), ("ana", ana)):
        while True:
            n = client.post(f"/api/projects/{p}/labeling/next/")
            if n.status_code == 204:
                show(f"next empty {name}", n); break
            text = n.json()["item"]["input"]
            show(f"answer {name}", client.post(f"/api/labeling/items/{n.json()['item']['id']}/annotations/", {"output": said[name].get(text, "exchange_rate")}, format="json"))
    show("skip labeled", ana.post(f"/api/labeling/items/{item}/skip/"))
    show("project", rita.get(f"/api/projects/{p}/"))
    with django_capture_on_commit_callbacks(execute=True):
        r = admin.post(f"/api/projects/{p}/imports/", {"file": SimpleUploadedFile("raw-messages.jsonl", b'{"text": "Can I freeze my card?"}\n{"text": "Is there a fee to top up?", "label": "top_up_fee"}\n'), "status": "unlabeled"}, format="multipart")
    show("import", admin.get(f"/api/imports/{r.json()['id']}/"))
    from curation.models import Flag
    f = Flag.objects.filter(kind="disagreement").first()
    if f:
        show("flag", rita.get(f"/api/flags/{f.pk}/"))
        ids = rita.get(f"/api/flags/{f.pk}/").json()["examples"]
        show("resolve", admin.post(f"/api/flags/{f.pk}/resolve/", {"resolution": "keep_one", "keep": ids[1], "note": "Charged twice: a card problem, not delivery."}, format="json"))
    resp = rita.get(f"/api/projects/{p}/examples/export/", {"annotations": "true", "source": "api"})
    print("\n=== export"); print(b"".join(resp.streaming_content).decode())
