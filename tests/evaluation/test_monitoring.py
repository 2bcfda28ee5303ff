"""Monitoring: live samples against the data a deployed adapter was trained on. Banking77
traffic looks like its training data; restaurant requests do not, and raise an alert."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from curation.errors import InvalidInput
from curation.models import (
    DatasetVersion,
    Example,
    ExampleStatus,
    ItemStatus,
    JobStatus,
    LabelingItem,
    Project,
)
from curation.services.versions import version_create
from evaluation.models import Deployment, LiveSample
from evaluation.monitoring import deployment_create, drift_report, ood_to_annotation, samples_add
from tests.conftest import Team
from tests.factories import ExampleFactory
from training.models import TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

SAMPLES = Path(__file__).resolve().parents[2] / "curation" / "sample_data"


def banking_rows(name: str = "banking77_sample.csv") -> list[tuple[str, str]]:
    with (SAMPLES / name).open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def restaurant_texts() -> list[str]:
    return (SAMPLES / "restaurant8k_sample.txt").read_text(encoding="utf-8").splitlines()


def deployed(project: Project, lead: object, rows: list[tuple[str, str]]) -> Deployment:
    for text, label in rows:
        ExampleFactory.create(project=project, input=text, output=label, status=ExampleStatus.APPROVED)
    version = version_create(project=project, user=lead, eval_fraction=0.2)  # type: ignore[arg-type]
    assert version.is_frozen, version.error
    return deployment_create(training_run=trained_run(version), user=None, name="prod")


def trained_run(version: DatasetVersion) -> TrainingRun:
    """A run that succeeded with an adapter, no files behind it: deployments read the record only."""
    return TrainingRun.objects.create(
        version=version,
        base_model="/models/base",
        version_sha256=version.sha256,
        status=JobStatus.SUCCEEDED,
        adapter_path="training/run-0/adapter",
        adapter_sha256="0" * 64,
    )


@pytest.fixture
def banking(team: Team) -> tuple[Deployment, list[tuple[str, str]]]:
    """A deployment trained on the 300 bundled banking77 training rows, and 100 rows of the
    banking77 test split as its live traffic."""
    team.project.labels = sorted(json.loads((SAMPLES / "banking77_categories.json").read_text()))
    team.project.save()
    return deployed(team.project, team.lead, banking_rows()), banking_rows("banking77_test_sample.csv")


def test_traffic_like_the_training_data_raises_no_alert(
    banking: tuple[Deployment, list[tuple[str, str]]],
) -> None:
    deployment, held_back = banking
    samples_add(deployment=deployment, rows=[{"input": text, "output": label} for text, label in held_back])

    report = drift_report(deployment=deployment)

    assert report.enough_data and report.n == 100
    assert report.ood_rate is not None and report.ood_rate < 0.2
    assert report.input_drift is not None and report.input_drift < 0.75
    assert report.invalid_label_rate == 0.0
    assert not report.alert, report.reasons
    deployment.refresh_from_db()
    assert deployment.ood_similarity is not None and deployment.calibration["percentile"] == 5.0


def test_samples_without_an_output_are_left_out_of_the_answer_checks(
    banking: tuple[Deployment, list[tuple[str, str]]],
) -> None:
    # Given traffic like the training data, most of it inputs alone (output is optional)
    deployment, held_back = banking
    rows = [{"input": text} for text, _ in held_back[:80]]
    rows += [{"input": text, "output": label} for text, label in held_back[80:]]
    samples_add(deployment=deployment, rows=rows)

    report = drift_report(deployment=deployment)

    # Then the answers checked are the twenty that came, all naming a label: no alert
    assert report.n == 100 and report.invalid_label_rate == 0.0
    assert not report.alert, report.reasons


def test_traffic_from_another_domain_raises_an_alert(
    banking: tuple[Deployment, list[tuple[str, str]]],
) -> None:
    deployment, _ = banking
    rows = [
        {"input": text, "output": "card_arrival" if i % 2 else "book a table"}
        for i, text in enumerate(restaurant_texts()[:100])
    ]
    samples_add(deployment=deployment, rows=rows)

    report = drift_report(deployment=deployment)

    assert report.ood_rate is not None and report.ood_rate > 0.5
    assert report.input_drift is not None and report.input_drift > 0.9
    assert report.invalid_label_rate == 0.5
    assert report.alert
    assert any("out of distribution" in reason for reason in report.reasons)
    assert any("AUC" in reason for reason in report.reasons)
    assert any("name no label" in reason for reason in report.reasons)
    assert len(report.ood_sample_ids) == round(report.ood_rate * 100)


def test_a_small_window_says_not_enough_data(banking: tuple[Deployment, list[tuple[str, str]]]) -> None:
    deployment, held_back = banking
    old = (timezone.now() - timedelta(days=3)).isoformat()
    samples_add(
        deployment=deployment, rows=[{"input": text, "output": label, "at": old} for text, label in held_back]
    )
    samples_add(
        deployment=deployment, rows=[{"input": text, "output": "x"} for text in restaurant_texts()[:10]]
    )

    report = drift_report(deployment=deployment)  # the last 24 hours: the ten restaurant requests

    assert not report.enough_data and report.n == 10 and not report.alert
    assert report.ood_rate is None
    assert report.reasons == ["Not enough data: 10 samples in the window, fewer than 50."]
    assert drift_report(deployment=deployment, hours=24 * 7).n == 110


def test_schema_violations_are_counted(team: Team) -> None:
    project = team.project
    project.task_type, project.labels = "extraction", []
    project.output_schema = {
        "type": "object",
        "properties": {"people": {"type": "integer"}},
        "required": ["people"],
    }
    project.save()
    rows = [
        (f"A table for {n} people at {n % 12 + 1} pm, please", json.dumps({"people": n})) for n in range(60)
    ]
    deployment = deployed(project, team.lead, rows)
    outputs = ['{"people": 2}'] * 40 + ['{"people": "two"}'] * 10 + ["sorry, no idea"] * 10
    samples_add(
        deployment=deployment,
        rows=[{"input": f"Table for {i} tonight", "output": o} for i, o in enumerate(outputs)],
    )

    report = drift_report(deployment=deployment)

    assert report.json_invalid_rate == pytest.approx(10 / 60)
    assert report.schema_violation_rate == pytest.approx(20 / 60)
    assert report.alert and any("break the schema" in reason for reason in report.reasons)


def test_out_of_distribution_samples_go_to_the_labeling_queue(
    team: Team, banking: tuple[Deployment, list[tuple[str, str]]]
) -> None:
    deployment, _ = banking
    samples_add(
        deployment=deployment, rows=[{"input": text, "output": "x"} for text in restaurant_texts()[:60]]
    )
    report = drift_report(deployment=deployment)
    project = deployment.training_run.version.project

    queued = ood_to_annotation(report=report, user=team.lead)

    items = LabelingItem.objects.filter(project=project, source="deployment:prod")
    assert len(queued.created) == len(report.ood_sample_ids) == items.count() > 30
    assert all(item.status == ItemStatus.QUEUED for item in items)
    first = items.order_by("id").first()
    assert first is not None and first.metadata["drift_report"] == report.pk
    assert first.metadata["deployment"] == deployment.pk and "live_sample" in first.metadata
    assert not Example.objects.filter(project=project, source="deployment:prod").exists()  # no drafts
    again = ood_to_annotation(report=report, user=team.lead)  # already queued: not twice
    assert again.created == [] and again.already_queued == items.count()


def test_bad_samples_are_named_and_nothing_is_stored(
    banking: tuple[Deployment, list[tuple[str, str]]],
) -> None:
    deployment, _ = banking
    good = {"input": "Where is my card?", "output": "card_arrival"}
    cases = [
        ([], "non-empty JSON list"),
        ({"input": "x"}, "non-empty JSON list"),
        ([good, {"input": ""}], r"\[1\]\.input"),
        ([good, {"input": "x", "output": 3}], r"\[1\]\.output"),
        ([good, {"input": "x", "at": "yesterday"}], r"\[1\]\.at: expected an ISO 8601"),
        ([good, {"input": "x", "at": "2999-01-01T00:00:00Z"}], "in the future"),
        ([good, {"input": "x", "score": 1}], "unknown field"),
    ]
    for rows, message in cases:
        with pytest.raises(InvalidInput, match=message):
            samples_add(deployment=deployment, rows=rows)
    assert not LiveSample.objects.exists()


def test_only_a_finished_run_with_an_adapter_is_deployed(team: Team, frozen: object) -> None:
    version = DatasetVersion.objects.create(
        project=team.project, number=7, eval_fraction=0.1, status="frozen"
    )
    queued = TrainingRun.objects.create(version=version, base_model="/m", version_sha256="")
    with pytest.raises(InvalidInput, match="has no adapter to deploy"):
        deployment_create(training_run=queued, user=None, name="prod")


def test_the_auc_baseline_is_a_permutation_for_small_windows_and_the_normal_null_for_large() -> None:
    import numpy as np

    from evaluation.drift import domain_classifier_auc

    rng = np.random.default_rng(3)

    def unit(rows: int) -> np.ndarray:
        vectors = rng.standard_normal((rows, 16)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    small = domain_classifier_auc(unit(60), unit(60))
    assert 0.5 < small.baseline < 0.75  # chance AUCs of 60 against 60 reach well above 0.5
    assert small.auc < 0.75
    large = domain_classifier_auc(unit(1500), unit(1500))
    assert large.baseline == pytest.approx(0.5 + 1.6449 * np.sqrt(3001 / (12 * 1500 * 1500)))
    shifted = unit(1500) + 0.5 * np.eye(16, dtype=np.float32)[0]
    assert domain_classifier_auc(shifted, unit(1500)).auc > 0.9


def test_a_shift_in_generated_output_lengths_is_caught(team: Team) -> None:
    project = team.project
    project.task_type, project.labels = "generation", []
    project.save()
    rows = [
        (f"Summarize ticket {n}: card {n % 7} arrived late", f"Card {n % 7} arrived late.") for n in range(80)
    ]
    deployment = deployed(project, team.lead, rows)
    long = "The customer explains at great length that the card arrived late and asks many things. " * 4
    samples_add(
        deployment=deployment,
        rows=[{"input": f"Summarize ticket {i}: card late", "output": long} for i in range(60)],
    )

    report = drift_report(deployment=deployment)

    assert report.length_shift_p is not None and report.length_shift_p < 1e-6
    assert any("Output lengths shifted" in reason for reason in report.reasons)
