"""Quality jobs record seconds per phase of their work on their record: every kind, chunked
dedup jobs summed over their chunks, running jobs with their progress, failed jobs up to the
failure; the API and the pages show them."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pytest_django import Settings

from curation.models import ContradictionJob, DedupJob, ExampleStatus, JobStatus, ValidationJob
from curation.phases import PHASES, phase
from curation.services import validation_jobs
from curation.services.contradictions import contradictions_run
from curation.services.jobs import ProgressFn, job_run
from curation.services.projects import project_update
from curation.services.validation_jobs import examples_validate
from curation.tasks import dedup_chunk, dedup_examples
from tests.conftest import Team
from tests.curation import test_dedup_chunks
from tests.curation.test_dedup_chunks import MINHASH_ROWS, add_rows
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db
queue = test_dedup_chunks.queue  # the fixture that queues a dedup job's chunks without running them

TEXTS = [
    "Where is my new card? It still has not arrived.",
    "where is my new card it still has not arrived",
    "How do I change the PIN of my card?",
    "What is the exchange rate for euros today?",
]


@pytest.fixture(autouse=True)
def media(settings: Settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)


def recorded(job: Any) -> list[str]:
    """The phases on the job's record, in their stored order checked against PHASES."""
    job.refresh_from_db()
    names = [name for name, _ in job.phase_seconds]
    assert all(seconds > 0 for _, seconds in job.phase_seconds), job.phases
    assert names == [name for name in PHASES if name in job.phases]
    return names


def dedup(team: Team, method: str, **params: Any) -> DedupJob:
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method=method, **params)
    dedup_examples(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


# Embedding first: numba's MinHash threads slow later encodes in the same process (see
# tests/curation/test_dedup_chunks.py).
def test_an_embedding_dedup_job_records_reading_embedding_candidates_and_writing(team: Team) -> None:
    for text in TEXTS:
        ExampleFactory.create(project=team.project, input=text)
    job = dedup(team, "embedding", threshold=0.9)
    assert {"read", "embed", "candidates", "write"} <= set(recorded(job))
    assert "sketch" not in job.phases


def test_a_minhash_dedup_job_records_every_phase_of_its_chunks_and_merge(
    team: Team, settings: Settings
) -> None:
    settings.FINCH_DEDUP_CHUNK_ROWS = 2
    add_rows(team.project, MINHASH_ROWS)
    job = dedup(team, "minhash", threshold=0.7)
    assert job.duplicates_marked == 4
    # embed: the model is asked about a changed word ("afternoon" / "evening"), docs/concepts.md
    assert recorded(job) == ["read", "sketch", "embed", "candidates", "verify", "write"]


def test_the_chunks_of_a_dedup_job_add_their_seconds_to_the_record(
    team: Team, settings: Settings, queue: Any
) -> None:
    # Given a MinHash job planned in chunks, run one at a time
    settings.FINCH_DEDUP_CHUNK_ROWS = 2
    add_rows(team.project, MINHASH_ROWS)
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="minhash", threshold=0.7)
    dedup_examples(job.pk)
    sketched = []
    for job_id, index in queue.chunks:
        # When each chunk runs
        dedup_chunk(job_id, index)
        job.refresh_from_db()
        sketched.append(job.phases["sketch"])
    # Then each one adds to what the ones before it recorded, none replaces it
    assert len(sketched) == 5
    assert all(later > earlier for earlier, later in pairwise(sketched))
    assert recorded(job) == ["read", "sketch"]  # the merge has not run


def test_an_exact_dedup_job_records_read_candidates_and_write(team: Team) -> None:
    for text in TEXTS:
        ExampleFactory.create(project=team.project, input=text)
    assert recorded(dedup(team, "exact")) == ["read", "candidates", "write"]


def test_a_contradiction_job_records_its_phases(team: Team) -> None:
    ExampleFactory.create(project=team.project, input=TEXTS[0], output="card_arrival")
    ExampleFactory.create(project=team.project, input=TEXTS[1], output="card_linking")
    job = ContradictionJob.objects.create(project=team.project, method="minhash", threshold=0.8)
    job_run(ContradictionJob, job.pk, contradictions_run)
    job.refresh_from_db()
    assert (job.status, job.flags_raised) == (JobStatus.SUCCEEDED, 1)
    assert recorded(job) == ["read", "sketch", "candidates", "verify", "write"]


def test_a_validation_job_records_read_verify_and_write(team: Team) -> None:
    ExampleFactory.create(project=team.project, output="card_arrival")
    ExampleFactory.create(project=team.project, output="exchange_rate", status=ExampleStatus.SUBMITTED)
    project_update(project=team.project, user=team.lead, changes={"labels": ["card_arrival", "card_linking"]})
    job = ValidationJob.objects.create(project=team.project)
    job_run(ValidationJob, job.pk, examples_validate)
    job.refresh_from_db()
    assert (job.status, job.checked, job.flags_raised) == (JobStatus.SUCCEEDED, 2, 1)
    assert recorded(job) == ["read", "verify", "write"]


def test_a_running_job_shows_its_phases_so_far_with_its_progress(team: Team) -> None:
    seen: dict[str, float] = {}

    def work(job: ValidationJob, progress: ProgressFn) -> None:
        with phase("read"):
            ExampleFactory.create(project=team.project)
        progress(0.5)
        seen.update(ValidationJob.objects.get(pk=job.pk).phases)

    job = ValidationJob.objects.create(project=team.project)
    job_run(ValidationJob, job.pk, work)
    assert list(seen) == ["read"] and seen["read"] > 0


def test_a_failed_job_keeps_the_seconds_up_to_the_phase_it_failed_in(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a validation job whose flags cannot be written
    ExampleFactory.create(project=team.project, output="exchange_rate", status=ExampleStatus.SUBMITTED)
    project_update(project=team.project, user=team.lead, changes={"labels": ["card_arrival", "card_linking"]})

    def refuse(*args: Any) -> int:
        raise RuntimeError("flags are read-only today")

    monkeypatch.setattr(validation_jobs, "_raise_format_flag", refuse)
    job = ValidationJob.objects.create(project=team.project)
    # When it runs
    job_run(ValidationJob, job.pk, examples_validate)
    # Then it failed in its write phase, which is on its record with the phases before it
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, "flags are read-only today")
    assert recorded(job) == ["read", "verify", "write"]


def test_the_api_gives_seconds_per_phase_in_the_phases_order(team: Team, client_for: Any) -> None:
    stored = {"write": 0.3214, "read": 1.25, "verify": 0.5}  # as a jsonb column may hold them
    dedup_job = DedupJob.objects.create(project=team.project, method="minhash", phases=stored)
    contradiction = ContradictionJob.objects.create(project=team.project, phases=stored)
    validation = ValidationJob.objects.create(project=team.project, phases=stored)
    reviewer = client_for(team.reviewer)
    for url in (
        f"/api/dedup-jobs/{dedup_job.pk}/",
        f"/api/contradiction-jobs/{contradiction.pk}/",
        f"/api/validation-jobs/{validation.pk}/",
        f"/api/projects/{team.project.pk}/dedup-jobs/",
    ):
        body = reviewer.get(url).json()
        job = body["results"][0] if "results" in body else body
        assert list(job["phases"].items()) == [("read", 1.25), ("verify", 0.5), ("write", 0.321)], url
        assert {"status", "progress", "started_at", "finished_at"} <= set(job)  # the fields it had


def test_the_pages_show_a_jobs_phases_in_a_small_table(team: Team) -> None:
    phases = {"read": 1.5, "candidates": 0.25, "write": 0.125}
    DedupJob.objects.create(project=team.project, method="minhash", status="succeeded", phases=phases)
    ContradictionJob.objects.create(project=team.project, status="succeeded", phases=phases)
    ValidationJob.objects.create(project=team.project, status="succeeded", phases=phases)
    client = Client()
    client.force_login(team.lead)
    for page in ("duplicates", "flags", "settings"):
        html = client.get(f"/projects/{team.project.pk}/{page}/").content.decode()
        assert 'data-testid="job-phases"' in html, page
        assert "<td>read</td><td>1.500</td>" in html and "<td>candidates</td><td>0.250</td>" in html, page
