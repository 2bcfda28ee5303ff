"""All user text is escaped: inputs, outputs, notes, comments, on every page that shows them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from curation.models import (
    DatasetVersion,
    DedupJob,
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    ImportJob,
    JobStatus,
    LabelingItem,
    Split,
    TaskType,
    VersionItem,
)
from curation.services.flags import flag_create
from curation.tasks import dedup_examples
from evaluation.models import Deployment, DriftReport, EvalPrediction, EvalRun
from evaluation.monitoring import samples_add
from evaluation.services import comparison_create
from tests.api.test_permissions import Scene
from tests.conftest import Team
from tests.curation.test_ui_access import ACTIONS, populated
from tests.curation.ui_support import HTMX, edited, logged_in, reviewed, text, written
from tests.factories import ExampleFactory, ProjectFactory
from training.models import TrainingRun

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
IMAGE = '<img src=x onerror="alert(2)">'
ESCAPED_IMAGE = "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;"


# The New project form names no project yet; the base models are the hosts', not a project's.
PAGES_OF_NO_PROJECT = {"project-new", "base-models"}


def assert_escaped(page: str, raw: str = SCRIPT, escaped: str = ESCAPED) -> None:
    assert raw not in page
    assert escaped in page


@pytest.fixture
def hostile(team: Team) -> Example:
    """A submitted example whose input is a script, edited once so it has a history."""
    example = written(team.project, team.annotator, SCRIPT, "card_linking")
    return edited(example, team.annotator, output="card_arrival")


@pytest.mark.django_db
class TestEscaping:
    def test_browse(self, team: Team, hostile: Example) -> None:
        client = logged_in(team.annotator)
        assert_escaped(text(client.get(f"/projects/{team.project.pk}/examples/")))
        assert_escaped(text(client.get(f"/projects/{team.project.pk}/examples/?q=script", **HTMX)))

    def test_the_search_box_echo_is_escaped(self, team: Team, hostile: Example) -> None:
        page = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/examples/", {"q": IMAGE}))
        assert_escaped(page, IMAGE, ESCAPED_IMAGE)

    def test_example_page_and_its_history_diff(self, team: Team, hostile: Example) -> None:
        page = text(logged_in(team.annotator).get(f"/examples/{hostile.pk}/"))
        assert_escaped(page)
        assert f"<ins>{ESCAPED}</ins>" in page  # the first revision in the history diff
        assert "r2 · edited" in page

    def test_history_diff_of_an_edited_script(self, team: Team) -> None:
        example = written(team.project, team.annotator, SCRIPT, "card_linking")
        edited(example, team.annotator, input=f"{SCRIPT} {IMAGE}")
        page = text(logged_in(team.annotator).get(f"/examples/{example.pk}/"))
        assert_escaped(page)
        assert_escaped(page, IMAGE, ESCAPED_IMAGE)
        assert "<ins> &lt;img" in page

    def test_review_card(self, team: Team, hostile: Example) -> None:
        client = logged_in(team.reviewer)
        page = text(client.get(f"/projects/{team.project.pk}/review/"))
        assert_escaped(page)
        assert f'<div class="text">{ESCAPED}</div>' in page
        partial = text(client.get(f"/projects/{team.project.pk}/review/?after={hostile.pk - 1}", **HTMX))
        assert_escaped(partial)

    def test_review_card_after_a_conflict(self, team: Team, hostile: Example) -> None:
        page = text(
            logged_in(team.reviewer).post(
                f"/examples/{hostile.pk}/review/", {"decision": "approve", "revision": "1"}, **HTMX
            )
        )
        assert "Someone changed or reviewed this example" in page
        assert_escaped(page)

    def test_chat_messages_on_the_review_card(self, team: Team) -> None:
        team.project.task_type = TaskType.CHAT
        team.project.labels = []
        team.project.save()
        written(team.project, team.annotator, [{"role": "user", "content": SCRIPT}], IMAGE)
        page = text(logged_in(team.reviewer).get(f"/projects/{team.project.pk}/review/"))
        assert_escaped(page)
        assert_escaped(page, IMAGE, ESCAPED_IMAGE)

    def test_flag_search_compare_and_flag_page(self, team: Team, hostile: Example) -> None:
        other = written(team.project, team.reviewer, f"{SCRIPT} again", "exchange_rate")
        client = logged_in(team.annotator)
        search = text(client.get(f"/examples/{hostile.pk}/flag/"))
        assert_escaped(search)
        assert f'value="{ESCAPED}"' in search
        assert_escaped(text(client.get(f"/examples/{hostile.pk}/flag/", {"q": SCRIPT}, **HTMX)))
        compare = text(client.get(f"/examples/{hostile.pk}/flag/compare/?other={other.pk}"))
        assert_escaped(compare)
        assert f"{ESCAPED}<ins> again</ins>" in compare
        response = client.post(f"/examples/{hostile.pk}/flag/compare/", {"other": other.pk, "note": IMAGE})
        flag_page = text(client.get(response["Location"]))
        assert_escaped(flag_page)
        assert_escaped(flag_page, IMAGE, ESCAPED_IMAGE)
        flags = text(client.get(f"/projects/{team.project.pk}/flags/"))
        assert_escaped(flags, IMAGE, ESCAPED_IMAGE)

    def test_a_flag_on_one_example_lists_it_escaped(self, team: Team, hostile: Example) -> None:
        flag = flag_create(
            project=team.project, user=team.annotator, kind=FlagKind.PII, example_ids=[hostile.pk]
        )
        assert_escaped(text(logged_in(team.reviewer).get(f"/flags/{flag.pk}/")))

    def test_review_comments_and_resolution_notes(self, team: Team, hostile: Example) -> None:
        reviewed(hostile, team.reviewer, "request_changes", IMAGE)
        client = logged_in(team.annotator)
        my_work = text(client.get(f"/projects/{team.project.pk}/my-work/"))
        assert_escaped(my_work)
        assert_escaped(my_work, IMAGE, ESCAPED_IMAGE)
        example_page = text(client.get(f"/examples/{hostile.pk}/"))
        assert_escaped(example_page, IMAGE, ESCAPED_IMAGE)
        other = written(team.project, team.reviewer, "Plain", "exchange_rate")
        flag = flag_create(
            project=team.project,
            user=team.annotator,
            kind=FlagKind.CONTRADICTION,
            example_ids=[hostile.pk, other.pk],
        )
        reviewer = logged_in(team.reviewer)
        reviewer.post(f"/flags/{flag.pk}/", {"resolution": "keep_both", "note": IMAGE})
        assert_escaped(text(reviewer.get(f"/flags/{flag.pk}/")), IMAGE, ESCAPED_IMAGE)

    def test_error_messages_that_quote_user_text(self, team: Team) -> None:
        response = logged_in(team.lead).post(
            f"/projects/{team.project.pk}/members/", {"username": SCRIPT, "role": "annotator"}, follow=True
        )
        page = text(response)
        assert "cannot be added here" in page
        assert_escaped(page)

    def test_the_write_form_keeps_typed_text_escaped(self, team: Team) -> None:
        response = logged_in(team.annotator).post(
            f"/projects/{team.project.pk}/write/", {"input": SCRIPT, "output": "", "submit": "1"}
        )
        assert "output must not be empty." in text(response)
        assert_escaped(text(response))

    def test_project_text_set_by_a_lead(self, team: Team) -> None:
        team.project.name = SCRIPT
        team.project.target_behavior = IMAGE
        team.project.save()
        written(team.project, team.annotator, "Hello", "card_arrival", status=ExampleStatus.DRAFT)
        client = logged_in(team.lead)
        for url in ("/", f"/projects/{team.project.pk}/", f"/projects/{team.project.pk}/write/"):
            page = text(client.get(url))
            assert_escaped(page)
            assert IMAGE not in page


def assert_both_escaped(page: str) -> None:
    assert_escaped(page)
    assert_escaped(page, IMAGE, ESCAPED_IMAGE)


@pytest.fixture
def scene(team: Team) -> Scene:
    return Scene(team=team, other=ProjectFactory.create())


def answered(version: DatasetVersion, example_id: int, raw: str) -> EvalRun:
    """A finished run that answered one eval item (whose input is a script) with `raw`."""
    score = {"accuracy": float(raw == "card_arrival"), "invalid_label": 0.0}
    run = EvalRun.objects.create(
        version=version, base_model="/models/base", status=JobStatus.SUCCEEDED, metrics=score, n=1
    )
    EvalPrediction.objects.create(
        run=run, example_id=example_id, input=SCRIPT, reference="card_arrival", raw=raw, scores=score
    )
    return run


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
class TestEscapingJobsAndModels:
    """Names, notes and errors of imports, versions, runs and deployments, and what models and
    live traffic say, on the duplicates, import, version, training, evaluation and monitoring pages."""

    def test_every_page_escapes_the_project_name(self, team: Team, scene: Scene) -> None:
        # Given a project whose name is a script, and every page of the role matrix
        world = populated(team, scene, team.project, team.annotator)
        team.project.name = SCRIPT
        team.project.save()
        client = logged_in(team.lead)
        for action in ACTIONS:
            if action.method == "post" or action.htmx or action.name in PAGES_OF_NO_PROJECT:
                continue
            page = text(client.get(action.url(world)))
            # Then each names it escaped, never as a tag
            assert SCRIPT not in page, action.name
            assert ESCAPED in page, action.name

    def test_duplicates_page(self, team: Team) -> None:
        for variant in (SCRIPT, SCRIPT.upper()):
            ExampleFactory.create(project=team.project, input=variant, output=IMAGE)
        job = DedupJob.objects.create(project=team.project, method="exact")
        dedup_examples(job.pk)
        page = text(logged_in(team.reviewer).get(f"/projects/{team.project.pk}/duplicates/"))
        assert_both_escaped(page)
        assert SCRIPT.upper() not in page

    def test_import_file_name_and_row_errors(self, team: Team) -> None:
        # Given an uploaded file whose name is markup (a name keeps no slash, so no closing tag)
        client = logged_in(team.annotator)
        upload = SimpleUploadedFile(f"{IMAGE}.jsonl", b'{"input": "Hi", "output": "card_arrival"}\n')
        response = client.post(
            f"/projects/{team.project.pk}/import/", {"file": upload, "format": "auto", "status": "draft"}
        )
        job = ImportJob.objects.get()
        assert response["Location"] == f"/imports/{job.pk}/"
        # And row errors and a job error that quote the file's content
        job.errors = [{"line": 2, "error": f"Not valid JSON: {SCRIPT}"}]
        job.error = f"Stopped at {SCRIPT}"
        job.save()
        # Then the import page and the list of imports escape them
        assert_both_escaped(text(client.get(f"/imports/{job.pk}/")))
        assert_escaped(text(client.get(f"/projects/{team.project.pk}/import/")), IMAGE, ESCAPED_IMAGE)

    def test_version_name_note_labels_and_sources(self, team: Team, scene: Scene) -> None:
        # Given approved examples from a source and with a label that are markup
        team.project.labels = [*team.project.labels, IMAGE]
        team.project.save()
        for number in range(3):
            ExampleFactory.create(
                project=team.project, status="approved", input=f"Row {number}", output=IMAGE, source=SCRIPT
            )
        # When a lead freezes them with a name and a note that are scripts
        client = logged_in(team.lead)
        response = client.post(
            f"/projects/{team.project.pk}/versions/new/",
            {"name": SCRIPT, "note": IMAGE, "eval_fraction": "0.34", "seed": "0"},
        )
        version = DatasetVersion.objects.get()
        assert response["Location"] == f"/versions/{version.pk}/" and version.is_frozen
        # Then every page that shows the version escapes them
        other = scene.frozen_version(team.project)
        for url in (
            f"/projects/{team.project.pk}/versions/",
            f"/versions/{version.pk}/",
            f"/versions/{other.pk}/?compare={version.pk}",
            f"/projects/{team.project.pk}/training/",  # the launch form lists the versions
        ):
            assert_escaped(text(client.get(url)))
        assert_both_escaped(text(client.get(f"/versions/{version.pk}/")))

    def test_training_run_name_base_model_and_error(self, team: Team, scene: Scene) -> None:
        # Given a run launched from the form with a script as its name and markup in its model's
        # path (a bare name no model has is refused at launch)
        version = scene.frozen_version(team.project)
        client = logged_in(team.lead)
        response = client.post(
            f"/projects/{team.project.pk}/training/",
            {"version": version.pk, "base_model": f"/models/{IMAGE}", "name": SCRIPT},
        )
        run = TrainingRun.objects.get()
        assert response["Location"] == f"/training/{run.pk}/"
        # And a worker that failed it with an error quoting both
        run.status = JobStatus.FAILED
        run.error = f"Preflight: no model folder at {IMAGE} for {SCRIPT}."
        run.save()
        # Then the list and the run's page escape them, for every role
        for user in (team.annotator, team.lead):
            for url in (f"/projects/{team.project.pk}/training/", f"/training/{run.pk}/"):
                assert_both_escaped(text(logged_in(user).get(url)))

    def test_leaderboard_runs_and_the_adapters_offered(self, team: Team, scene: Scene) -> None:
        # Given a trained run named with a script, and an eval run of markup that failed quoting it
        trained = scene.training_run(team.project, with_adapter=True)
        trained.name = SCRIPT
        trained.save()
        EvalRun.objects.create(
            version=trained.version,
            base_model=IMAGE,
            status=JobStatus.FAILED,
            error=f"No model at {IMAGE}: {SCRIPT}",
        )
        # Then the leaderboard (with its launch form, for a lead) escapes them
        for user in (team.annotator, team.lead):
            assert_both_escaped(text(logged_in(user).get(f"/versions/{trained.version_id}/evaluation/")))

    def test_comparison_shows_inputs_and_model_outputs_escaped(self, team: Team, scene: Scene) -> None:
        # Given an eval item whose input is a script, right for the baseline, markup from the tuned model
        version = scene.frozen_version(team.project)
        item = VersionItem.objects.filter(version=version, split=Split.EVAL).earliest("id")
        comparison = comparison_create(
            baseline=answered(version, item.example_id, "card_arrival"),
            candidate=answered(version, item.example_id, IMAGE),
            user=None,
        )
        # Then the comparison's regressions show both escaped
        client = logged_in(team.reviewer)
        assert_both_escaped(text(client.get(f"/comparisons/{comparison.pk}/")))
        # And the flag raised from it quotes the model's answer escaped
        response = client.post(
            f"/comparisons/{comparison.pk}/feedback/", {"example": item.example_id, "action": "flag"}
        )
        assert response.status_code == 302
        flag = Flag.objects.get()
        assert IMAGE in flag.note
        assert_escaped(text(client.get(f"/flags/{flag.pk}/")), IMAGE, ESCAPED_IMAGE)

    def test_deployment_name_report_and_live_inputs(self, team: Team, scene: Scene) -> None:
        # Given a deployment a lead named with a script, from the form
        run = scene.training_run(team.project, with_adapter=True)
        lead = logged_in(team.lead)
        deployments = f"/projects/{team.project.pk}/deployments/"
        response = lead.post(deployments, {"training_run": run.pk, "name": SCRIPT})
        deployment = Deployment.objects.get()
        assert response["Location"] == f"/deployments/{deployment.pk}/"
        # And live samples whose input is a script, and a report whose reasons quote markup
        samples_add(deployment=deployment, rows=[{"input": f"{SCRIPT} live", "output": IMAGE}])
        sample = deployment.samples.get()
        now = timezone.now()
        report = DriftReport.objects.create(
            deployment=deployment,
            window_start=now - timedelta(hours=1),
            window_end=now,
            n=1,
            enough_data=True,
            ood_rate=1.0,
            input_drift=0.9,
            input_drift_baseline=0.6,
            alert=True,
            reasons=[f"Inputs unlike the training data, e.g. {IMAGE}"],
            ood_sample_ids=[sample.pk],
        )
        # Then the deployments list and the deployment's page escape them
        assert_escaped(text(lead.get(deployments)))
        assert_both_escaped(text(logged_in(team.reviewer).get(f"/deployments/{deployment.pk}/")))
        # And a second deployment of that name is refused with a message that quotes it escaped
        again = lead.post(deployments, {"training_run": run.pk, "name": SCRIPT}, follow=True)
        assert "already has a deployment named" in text(again)
        assert_escaped(text(again))
        # And the live input sent to the labeling queue is stored as sent, its source naming the
        # deployment, and the page it lands back on stays escaped
        sent = lead.post(f"/drift-reports/{report.pk}/to-annotation/", follow=True)
        assert "joined the labeling queue" in text(sent)
        assert_escaped(text(sent))
        item = LabelingItem.objects.get(source__startswith="deployment:")
        assert item.input == f"{SCRIPT} live"


HOSTILE_GUIDELINES = (
    f"# Rules {SCRIPT}\n\n{IMAGE}\n\n[click me](javascript:alert(3)) [tab](java\tscript:alert(4)) "
    "[data](data:text/html;base64,PHNjcmlwdD4=) [fine](https://example.com/guide)\n"
)


@pytest.mark.django_db
class TestGuidelines:
    """Guidelines are Markdown rendered with raw HTML escaped and only safe links."""

    def pages(self, team: Team) -> list[str]:
        from curation.services.projects import project_update

        project_update(project=team.project, user=team.lead, changes={"guidelines": HOSTILE_GUIDELINES})
        for number in range(3):
            ExampleFactory.create(project=team.project, status=ExampleStatus.APPROVED, input=f"G {number}")
        from curation.services.versions import version_create

        version = version_create(project=team.project, user=team.lead, eval_fraction=0.34)
        urls = [
            f"/projects/{team.project.pk}/write/",
            f"/projects/{team.project.pk}/review/",
            f"/projects/{team.project.pk}/guidelines/",
            f"/versions/{version.pk}/",
        ]
        return [text(logged_in(team.lead).get(url)) for url in urls]

    def test_scripts_and_tags_are_shown_as_text(self, team: Team) -> None:
        for page in self.pages(team):
            assert_escaped(page)
            assert_escaped(page, IMAGE, ESCAPED_IMAGE)

    def test_only_safe_links_become_links(self, team: Team) -> None:
        for page in self.pages(team):
            assert 'href="https://example.com/guide"' in page
            assert 'href="javascript' not in page.lower() and 'href="java' not in page.lower()
            assert 'href="data:' not in page.lower()

    def test_the_settings_form_shows_the_raw_text_escaped(self, team: Team) -> None:
        self.pages(team)
        page = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/settings/"))
        assert_escaped(page)
