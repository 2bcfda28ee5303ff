"""New project from the web UI, who may create one, and changing labels or schema once there
are examples (the impact count, relabeling, the validation job from the settings page)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings

from curation.models import (
    AuditEvent,
    Example,
    ExampleStatus,
    LabelingAssignment,
    Membership,
    Project,
    Role,
    TaskType,
    ValidationJob,
)
from tests.conftest import Team
from tests.curation.test_suggestion_use import annotator, answer, queued
from tests.curation.test_ui_labeling import disagreement
from tests.curation.ui_support import followed_text, logged_in, text, written
from tests.factories import ProjectFactory

SCHEMA = {
    "type": "object",
    "properties": {"merchant": {"type": "string"}, "amount": {"type": "number"}},
    "required": ["merchant", "amount"],
}


def new_project_form(**changes: Any) -> dict[str, Any]:
    form = {
        "name": "Support intents",
        "task_type": TaskType.CLASSIFICATION,
        "target_behavior": "Route each support message to one intent.",
        "system_prompt": "You route messages.",
        "labels": "refund\nshipping\nother",
        "output_schema": "",
        "min_gain": "0.02",
        "reviewers_may_not_review_own": "on",
        "guidelines": "# Intents\n\nGood: *refund* for money back.\n\nBad: *other* when a label fits.",
    }
    form.update(changes)
    return form


def settings_form(project: Project, **changes: Any) -> dict[str, Any]:
    form = {
        "name": project.name,
        "target_behavior": project.target_behavior,
        "system_prompt": project.system_prompt,
        "labels": "\n".join(project.labels),
        "output_schema": json.dumps(project.output_schema) if project.output_schema else "",
        "min_gain": str(project.min_gain),
        "reviewers_may_not_review_own": "on",
        "guidelines": project.guidelines,
        "label_renames": "{}",
    }
    form.update(changes)
    return form


@pytest.mark.django_db
class TestNewProject:
    def test_home_offers_new_project(self, team: Team) -> None:
        assert 'href="/projects/new/"' in text(logged_in(team.outsider).get("/"))

    def test_a_signed_in_user_creates_a_project_and_leads_it(self, team: Team) -> None:
        # Given a user who belongs to no project, on the New project form
        client = logged_in(team.outsider)
        assert 'data-testid="label-editor"' in text(client.get("/projects/new/"))
        # When they create a project with labels, a minimum gain and guidelines
        response = client.post("/projects/new/", new_project_form())
        # Then it exists with those settings, they are its lead, and the creation is audited
        project = Project.objects.get(name="Support intents")
        assert response["Location"] == f"/projects/{project.pk}/"
        assert "you are its lead" in followed_text(client, response)
        assert project.labels == ["refund", "shipping", "other"] and project.min_gain == 0.02
        assert project.guidelines.startswith("# Intents") and project.guidelines_revision == 1
        assert Membership.objects.get(project=project).user == team.outsider
        assert Membership.objects.get(project=project).role == Role.LEAD
        assert AuditEvent.objects.filter(
            project=project, action="project.create", actor=team.outsider
        ).exists()

    def test_an_extraction_project_gets_its_schema(self, team: Team) -> None:
        form = new_project_form(task_type=TaskType.EXTRACTION, labels="", output_schema=json.dumps(SCHEMA))
        logged_in(team.outsider).post("/projects/new/", form)
        assert Project.objects.get(name="Support intents").output_schema == SCHEMA

    @pytest.mark.parametrize(
        ("changes", "problem"),
        [
            ({"labels": "refund"}, "A classification project needs at least two labels."),
            ({"labels": "refund\nrefund"}, "labels must be unique: “refund” listed more than once."),
            ({"output_schema": '{"type": "nonsense"}'}, "output_schema"),
            ({"output_schema": "{not json"}, "Enter a valid JSON."),
        ],
    )
    def test_bad_settings_are_named_and_nothing_is_created(
        self, team: Team, changes: dict[str, str], problem: str
    ) -> None:
        response = logged_in(team.outsider).post("/projects/new/", new_project_form(**changes))
        assert response.status_code == 200
        assert problem in text(response)
        assert not Project.objects.filter(name="Support intents").exists()

    @override_settings(FINCH_PROJECT_CREATORS="staff")
    def test_staff_only_refuses_others_and_names_the_rule(self, team: Team) -> None:
        # Given FINCH_PROJECT_CREATORS=staff
        client = logged_in(team.lead, raise_errors=False)
        # Then a non-staff user is not offered the form and is refused it, with the rule named
        assert 'href="/projects/new/"' not in text(client.get("/"))
        for response in (client.get("/projects/new/"), client.post("/projects/new/", new_project_form())):
            assert response.status_code == 403
        assert not Project.objects.filter(name="Support intents").exists()
        # And staff still create projects
        staff = logged_in(team.staff)
        assert staff.post("/projects/new/", new_project_form()).status_code == 302
        assert Project.objects.filter(name="Support intents").exists()


@pytest.mark.django_db
class TestLabelAndSchemaChanges:
    def url(self, team: Team) -> str:
        return f"/projects/{team.project.pk}/settings/"

    def test_the_settings_page_uses_the_same_editors(self, team: Team) -> None:
        page = text(logged_in(team.lead).get(self.url(team)))
        assert 'data-testid="label-editor"' in page and 'data-testid="schema-editor"' in page
        assert 'data-testid="validation-start"' in page

    def test_no_schema_is_an_empty_box_not_null(self, team: Team) -> None:
        page = text(logged_in(team.lead).get(self.url(team)))
        assert 'id="id_output_schema">\n</textarea>' in page

    def test_removing_a_used_label_counts_the_examples_before_saving(self, team: Team) -> None:
        # Given two examples labeled card_arrival
        for question in ("Where is my card?", "Has my card shipped?"):
            written(team.project, team.annotator, question, "card_arrival")
        client = logged_in(team.lead)
        labels = "card_linking\nexchange_rate\nlost_or_stolen_card"
        # When the lead removes that label
        response = client.post(self.url(team), settings_form(team.project, labels=labels))
        # Then nothing is saved yet: the page counts the examples the change leaves invalid
        page = text(response)
        assert response.status_code == 200
        assert 'data-testid="impact-invalid">2<' in page and "card_arrival" in page
        team.project.refresh_from_db()
        assert "card_arrival" in team.project.labels
        # And once confirmed it is saved, and the validation job flags what no longer fits
        response = client.post(
            self.url(team), {**settings_form(team.project, labels=labels), "confirmed": "1"}
        )
        job = ValidationJob.objects.get(project=team.project)
        assert f"Validation job {job.pk} flags the examples that no longer fit." in followed_text(
            client, response
        )
        team.project.refresh_from_db()
        assert team.project.labels == labels.split("\n")

    def test_a_change_that_touches_no_example_saves_at_once(self, team: Team) -> None:
        written(team.project, team.annotator, "Where is my card?", "card_arrival")
        labels = "card_arrival\ncard_linking\nexchange_rate\nlost_or_stolen_card\nrefund"
        response = logged_in(team.lead).post(self.url(team), settings_form(team.project, labels=labels))
        assert response.status_code == 302
        team.project.refresh_from_db()
        assert "refund" in team.project.labels

    def test_a_new_schema_counts_the_outputs_it_refuses(self, team: Team) -> None:
        project = ProjectFactory.create(task_type=TaskType.EXTRACTION, labels=[], output_schema=None)
        Membership.objects.create(project=project, user=team.lead, role=Role.LEAD)
        written(project, team.lead, "Paid 12 at Acme", '{"merchant": "Acme", "amount": 12}')
        written(project, team.lead, "Paid at Bolt", '{"merchant": "Bolt"}')
        form = settings_form(project, output_schema=json.dumps(SCHEMA))
        response = logged_in(team.lead).post(f"/projects/{project.pk}/settings/", form)
        assert 'data-testid="impact-invalid">1<' in text(response)
        project.refresh_from_db()
        assert project.output_schema is None

    def test_renaming_a_label_relabels_its_examples_with_history_and_audit(self, team: Team) -> None:
        # Given an approved and a submitted example labeled card_arrival
        first = written(team.project, team.annotator, "Where is my card?", "card_arrival")
        second = written(team.project, team.annotator, "Card not here yet", "card_arrival")
        Example.objects.filter(pk=first.pk).update(status=ExampleStatus.APPROVED)
        labels = "card_delivery\ncard_linking\nexchange_rate\nlost_or_stolen_card"
        renames = json.dumps({"card_arrival": "card_delivery"})
        client = logged_in(team.lead)
        form = settings_form(team.project, labels=labels, label_renames=renames)
        # When the lead renames the label: the page counts the examples under it first
        assert 'data-testid="impact-renamed">2<' in text(client.post(self.url(team), form))
        # And they confirm with "move the examples"
        response = client.post(self.url(team), {**form, "confirmed": "1", "relabel": "on"})
        # Then both examples carry the new name, as edits with history and audit events
        assert "Relabeled 2 examples." in followed_text(client, response)
        for example in (first, second):
            example.refresh_from_db()
            assert example.output == "card_delivery" and example.revision == 2
            assert example.revisions.filter(output="card_arrival").exists()
        events = AuditEvent.objects.filter(project=team.project, action="example.update", actor=team.lead)
        assert events.count() == 2

    def test_renaming_a_label_to_another_ones_name_merges_them(self, team: Team) -> None:
        # Given card_arrival and card_linking, and one input with an example under each
        both = [
            written(team.project, team.annotator, "Card came, app refuses it", label)
            for label in ("card_arrival", "card_linking")
        ]
        alone = written(team.project, team.annotator, "Where is my card?", "card_arrival")
        # When the lead renames card_arrival's row to card_linking (the editor lists it twice)
        labels = "card_linking\ncard_linking\nexchange_rate\nlost_or_stolen_card"
        renames = json.dumps({"card_arrival": "card_linking"})
        form = settings_form(team.project, labels=labels, label_renames=renames)
        client = logged_in(team.lead)
        assert 'data-testid="impact-renamed">2<' in text(client.post(self.url(team), form))
        response = client.post(self.url(team), {**form, "confirmed": "1", "relabel": "on"})
        # Then the label is listed once, the lone example moved, and the one whose input already
        # has a card_linking example stays under the old name, named, for the validation job
        page = followed_text(client, response)
        assert "Relabeled 1 example." in page
        assert f"Left under the old label: 1 example (ids {both[0].pk})" in page
        team.project.refresh_from_db()
        assert team.project.labels == ["card_linking", "exchange_rate", "lost_or_stolen_card"]
        alone.refresh_from_db()
        both[0].refresh_from_db()
        assert (alone.output, both[0].output) == ("card_linking", "card_arrival")
        assert ValidationJob.objects.filter(project=team.project).exists()

    def test_chained_renames_move_every_example_whatever_the_rows_order(self, team: Team) -> None:
        # Given one input with an example under card_arrival and one under card_linking
        first, second = (
            written(team.project, team.annotator, "Card came, app refuses it", label)
            for label in ("card_arrival", "card_linking")
        )
        # When card_arrival becomes card_linking and card_linking becomes card_delivery in one
        # save, the first rename listed first
        labels = "card_linking\ncard_delivery\nexchange_rate\nlost_or_stolen_card"
        renames = json.dumps({"card_arrival": "card_linking", "card_linking": "card_delivery"})
        form = settings_form(team.project, labels=labels, label_renames=renames)
        client = logged_in(team.lead)
        page = followed_text(client, client.post(self.url(team), {**form, "confirmed": "1", "relabel": "on"}))
        # Then both moved: card_linking's examples left before card_arrival's came in
        assert "Relabeled 2 examples." in page and "Left under the old label" not in page
        first.refresh_from_db()
        second.refresh_from_db()
        assert (first.output, second.output) == ("card_linking", "card_delivery")

    def test_merging_the_two_labels_of_a_disagreement_settles_it(self, team: Team) -> None:
        # Given two annotators who answered one input card_arrival and card_linking
        flag, item, _, _ = disagreement(team)
        # When the lead merges card_arrival into card_linking, moving the examples
        labels = "card_linking\ncard_linking\nexchange_rate\nlost_or_stolen_card"
        renames = json.dumps({"card_arrival": "card_linking"})
        form = settings_form(team.project, labels=labels, label_renames=renames)
        client = logged_in(team.lead)
        page = followed_text(client, client.post(self.url(team), {**form, "confirmed": "1", "relabel": "on"}))
        # Then the answers agree: the flag is resolved keeping the card_linking example, the
        # other rejected (not left under a label that is gone), with the merge as the note
        assert "1 disagreement flag settled: both answers now say the same label" in page
        assert "Left under the old label" not in page
        flag.refresh_from_db()
        assert (flag.status, flag.resolution, flag.resolved_by) == ("resolved", "keep_one", team.lead)
        assert (
            flag.resolution_note
            == "Labels merged: “card_arrival” into “card_linking”, so both answers are “card_linking”."
        )
        statuses = dict(Example.objects.filter(labeling_item=item).values_list("output", "status"))
        assert statuses["card_arrival"] == ExampleStatus.REJECTED
        assert statuses["card_linking"] != ExampleStatus.REJECTED
        # and nothing is left unfit: no validation job
        assert (
            "Validation job" not in page and not ValidationJob.objects.filter(project=team.project).exists()
        )
        # and the flag page says where the rejected answer's label went (both annotators'
        # answers, renamed, are the kept one's), not that it was edited since
        answers = text(client.get(f"/flags/{flag.pk}/"))
        assert "A label no longer in the project (merged into another or removed since)" in answers
        assert "Edited since" not in answers

    def test_a_swap_of_a_disagreements_two_labels_leaves_it_open(self, team: Team) -> None:
        flag, _, _, _ = disagreement(team)
        # card_arrival and card_linking trade names: the answers still differ
        labels = "card_linking\ncard_arrival\nexchange_rate\nlost_or_stolen_card"
        renames = json.dumps({"card_arrival": "card_linking", "card_linking": "card_arrival"})
        form = settings_form(team.project, labels=labels, label_renames=renames)
        client = logged_in(team.lead)
        page = followed_text(client, client.post(self.url(team), {**form, "confirmed": "1", "relabel": "on"}))
        assert "disagreement flag settled" not in page
        flag.refresh_from_db()
        assert flag.status == "open"

    def test_a_disagreement_with_a_third_answer_stays_open_after_a_merge(self, team: Team) -> None:
        flag, item, _, _ = disagreement(team)
        third = written(team.project, team.reviewer, "My card has not arrived", "exchange_rate")
        flag.examples.add(third, through_defaults={"position": 2})
        labels = "card_linking\ncard_linking\nexchange_rate\nlost_or_stolen_card"
        form = settings_form(
            team.project, labels=labels, label_renames=json.dumps({"card_arrival": "card_linking"})
        )
        client = logged_in(team.lead)
        page = followed_text(client, client.post(self.url(team), {**form, "confirmed": "1", "relabel": "on"}))
        left = Example.objects.get(labeling_item=item, output="card_arrival")
        assert f"Left under the old label: 1 example (ids {left.pk})" in page
        flag.refresh_from_db()
        assert flag.status == "open"

    @pytest.mark.parametrize("renames", ['"x"', '["card_arrival"]', '{"card_arrival": 3}'])
    def test_renames_that_are_not_an_object_of_names_are_refused_not_a_500(
        self, team: Team, renames: str
    ) -> None:
        labels = "card_linking\nexchange_rate"
        form = {**settings_form(team.project, labels=labels, label_renames=renames), "confirmed": "1"}
        response = logged_in(team.lead).post(self.url(team), form)
        assert response.status_code == 200
        team.project.refresh_from_db()
        assert "card_arrival" in team.project.labels

    def test_a_label_listed_twice_without_a_rename_is_refused(self, team: Team) -> None:
        labels = "card_linking\ncard_linking\nexchange_rate"
        response = logged_in(team.lead).post(self.url(team), settings_form(team.project, labels=labels))
        assert "labels must be unique: “card_linking” listed more than once." in text(response)

    def test_renaming_labels_renames_the_labeling_queues_answers_too(self, team: Team) -> None:
        # Given answers in the labeling queue under two labels that are then swapped
        first, second = queued(team.project, "Card not here", "Rate for euros?")
        user = annotator(team.project)
        answer(team.project, user, "card_arrival")
        answer(team.project, user, "exchange_rate")
        renames = json.dumps({"card_arrival": "exchange_rate", "exchange_rate": "card_arrival"})
        form = settings_form(team.project, label_renames=renames)
        # When the lead confirms the rename with "move the examples"
        client = logged_in(team.lead)
        client.post(self.url(team), {**form, "confirmed": "1", "relabel": "on"})
        # Then each answer carries its label's new name (agreement compares the same labels)
        outputs = dict(LabelingAssignment.objects.values_list("item_id", "output"))
        assert outputs == {first.pk: "exchange_rate", second.pk: "card_arrival"}

    def test_swapping_two_labels_names_in_the_editor_asks_to_move_their_examples(self, team: Team) -> None:
        # Given an example under each of two labels whose names the lead swaps in the editor
        arrival = written(team.project, team.annotator, "Where is my card?", "card_arrival")
        linking = written(team.project, team.annotator, "How do I link my card?", "card_linking")
        labels = "card_linking\ncard_arrival\nexchange_rate\nlost_or_stolen_card"
        renames = json.dumps({"card_arrival": "card_linking", "card_linking": "card_arrival"})
        form = settings_form(team.project, labels=labels, label_renames=renames)
        client = logged_in(team.lead)
        # Then saving counts them first (the same names stay labels, their examples would not
        # follow: it saved at once, leaving each example under the other's meaning)
        page = text(client.post(self.url(team), form))
        assert 'data-testid="impact-renamed">2<' in page and "Move the examples" in page
        # and confirming with "move the examples" swaps them
        followed_text(client, client.post(self.url(team), {**form, "confirmed": "1", "relabel": "on"}))
        arrival.refresh_from_db()
        linking.refresh_from_db()
        assert (arrival.output, linking.output) == ("card_linking", "card_arrival")

    def test_a_rename_of_an_unknown_label_is_refused_whole(self, team: Team) -> None:
        written(team.project, team.annotator, "Where is my card?", "card_arrival")
        labels = "card_delivery\ncard_linking\nexchange_rate\nlost_or_stolen_card"
        renames = json.dumps({"nope": "card_delivery"})
        form = {**settings_form(team.project, labels=labels, label_renames=renames), "confirmed": "1"}
        response = logged_in(team.lead).post(self.url(team), {**form, "relabel": "on"})
        assert "Cannot relabel &#x27;nope&#x27;" in text(response)
        team.project.refresh_from_db()
        assert "card_arrival" in team.project.labels

    def test_the_validation_job_starts_from_the_settings_page(self, team: Team) -> None:
        client = logged_in(team.lead)
        response = client.post(f"/projects/{team.project.pk}/validation-jobs/")
        assert response["Location"] == f"/projects/{team.project.pk}/settings/#validation"
        job = ValidationJob.objects.get(project=team.project)
        page = followed_text(client, response)
        assert f"Validation job {job.pk} started" in page
        assert f'data-job-url="/api/validation-jobs/{job.pk}/"' in page
        assert AuditEvent.objects.filter(action="validation_job.start", target_id=job.pk).exists()


@pytest.mark.django_db
def test_swapping_two_label_names_moves_each_example_once(team: Team) -> None:
    from curation.services.label_changes import project_settings_change

    # Given one example under each of two labels
    arrival = written(team.project, team.annotator, "Where is my card?", "card_arrival")
    linking = written(team.project, team.annotator, "How do I link my card?", "card_linking")
    # When a lead swaps their names and relabels
    moved = project_settings_change(
        project=team.project,
        user=team.lead,
        changes={"labels": team.project.labels},
        renames={"card_arrival": "card_linking", "card_linking": "card_arrival"},
    )
    # Then each example moved once, to the other name
    arrival.refresh_from_db()
    linking.refresh_from_db()
    assert (moved.moved, moved.left) == (2, [])
    assert (arrival.output, linking.output) == ("card_linking", "card_arrival")
