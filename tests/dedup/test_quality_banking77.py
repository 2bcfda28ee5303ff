"""Quality on real data: banking77 examples with planted near-duplicates and contradictions.

The sample is the 300 banking77 rows shipped in curation/sample_data (CC BY 4.0). Each planted
variant is one edit of an original: case, punctuation, a typo, a filler word. MinHash must find
at least 95% of them with at least 95% of its marks being planted variants; the contradiction
job must flag at least 90% of planted contradictions (the same text with another intent).
"""

import csv
import json
import random
from pathlib import Path

import pytest

from curation.dedup.normalize import exact_key
from curation.errors import InvalidInput
from curation.models import ContradictionJob, DedupJob, Example, Flag, JobStatus, Project
from curation.services.contradictions import contradictions_run
from curation.services.examples import example_create
from curation.services.jobs import job_run
from curation.services.projects import project_create
from curation.tasks import dedup_examples
from tests.factories import UserFactory

SAMPLE = Path(__file__).resolve().parents[2] / "curation" / "sample_data"
FILLERS = ("please", "hi", "thanks", "quickly")


def true_jaccard(left: str, right: str, ngram: int = 5) -> float:
    a, b = exact_key(left), exact_key(right)
    grams_a = {a[i : i + ngram] for i in range(len(a) - ngram + 1)}
    grams_b = {b[i : i + ngram] for i in range(len(b) - ngram + 1)}
    return len(grams_a & grams_b) / len(grams_a | grams_b)


def variant(text: str, rng: random.Random) -> str:
    kind = rng.choice(["case", "punctuation", "typo", "filler"])
    if kind == "case":
        return text.upper() if rng.random() < 0.5 else text.lower()
    if kind == "punctuation":
        return text.rstrip("?.!") + rng.choice(["??", "!", " ...", "."])
    if kind == "typo":
        letters = [i for i in range(1, len(text) - 2) if text[i].isalpha() and text[i + 1].isalpha()]
        i = rng.choice(letters)
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    words = text.split()
    words.insert(rng.randrange(len(words) + 1), rng.choice(FILLERS))
    return " ".join(words)


@pytest.fixture
def banking(db: None) -> tuple[Project, list[tuple[str, str]]]:
    user = UserFactory.create()
    labels = json.loads((SAMPLE / "banking77_categories.json").read_text())
    project = project_create(
        user=user, name="banking77", task_type="classification", target_behavior="Route.", labels=labels
    )
    with (SAMPLE / "banking77_sample.csv").open(newline="", encoding="utf-8") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    for text, label in rows:
        example_create(project=project, user=user, input=text, output=label, status="approved")
    return project, rows


def test_minhash_finds_planted_near_duplicates(banking: tuple[Project, list[tuple[str, str]]]) -> None:
    project, rows = banking
    rng = random.Random(7)
    user = project.created_by
    assert user is not None
    planted: dict[int, str] = {}
    for text, label in rng.sample([row for row in rows if len(row[0]) > 30], 60):
        try:
            copy = example_create(
                project=project, user=user, input=variant(text, rng), output=label, status="submitted"
            )
        except InvalidInput:  # the edit changed nothing (say, lower-casing a lower-case text)
            continue
        planted[copy.pk] = text

    job = DedupJob.objects.create(project=project, created_by=user, method="minhash", threshold=0.8)
    dedup_examples(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error

    marked = dict(
        Example.objects.filter(project=project, duplicate_of__isnull=False).values_list(
            "pk", "duplicate_of__input"
        )
    )
    # MinHash is meant for pairs whose true Jaccard (normalized 5-grams) reaches the threshold;
    # a typo in a short question can fall below it: that is the embedding method's job.
    variants = dict(Example.objects.filter(pk__in=planted).values_list("pk", "input"))
    meant = [pk for pk, original in planted.items() if true_jaccard(variants[pk], original) >= 0.8]
    found = [pk for pk in meant if marked.get(pk) == planted[pk]]
    recall = len(found) / len(meant)
    assert len(meant) >= 30
    precision = len([pk for pk in marked if pk in planted]) / max(len(marked), 1)
    print(
        f"minhash: recall {recall:.3f} over {len(meant)} planted pairs, precision {precision:.3f} of {len(marked)} marks"
    )
    misses = [(variants[pk], planted[pk], marked.get(pk)) for pk in meant if pk not in found]
    assert recall >= 0.95, f"recall {recall:.2f}, missed {misses[:5]}"
    assert precision >= 0.95, f"precision {precision:.2f}: {len(marked)} marked"


def test_contradiction_job_finds_planted_contradictions(
    banking: tuple[Project, list[tuple[str, str]]],
) -> None:
    project, rows = banking
    rng = random.Random(11)
    user = project.created_by
    assert user is not None
    labels = sorted({label for _, label in rows})
    planted = []
    for text, label in rng.sample(rows, 40):
        other = rng.choice([candidate for candidate in labels if candidate != label])
        planted.append(
            example_create(project=project, user=user, input=text + " ", output=other, status="submitted").pk
        )

    job = ContradictionJob.objects.create(project=project, method="minhash", threshold=0.9)
    job_run(ContradictionJob, job.pk, contradictions_run)

    flagged = set(
        Flag.objects.filter(project=project, kind="contradiction").values_list(
            "memberships__example_id", flat=True
        )
    )
    recall = len([pk for pk in planted if pk in flagged]) / len(planted)
    print(f"contradictions: recall {recall:.3f} over {len(planted)} planted")
    assert recall >= 0.9, f"recall {recall:.2f}"
