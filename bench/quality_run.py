"""The Django side of bench/quality.py (imported once Django is set up)."""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable

import numpy as np
from django.contrib.auth.models import User

from bench.corpus import true_jaccard
from curation.dedup.embeddings import encode
from curation.errors import InvalidInput
from curation.models import ContradictionJob, DedupJob, DuplicateCluster, Example, Flag, Project
from curation.services.embedding_cache import model_path
from curation.services.examples import example_create
from curation.services.imports import import_job_create, import_run
from curation.services.jobs import job_run
from curation.services.projects import project_create
from curation.tasks import dedup_examples, find_contradictions

Edit = Callable[[random.Random, str], str]


def run(
    rows: list[tuple[str, str]], edits: dict[str, Edit], per_kind: int, contradictions: int, labels: list[str]
) -> None:
    user = User.objects.create_user("bench")
    project = project_create(
        user=user, name="banking77", task_type="classification", target_behavior="Route.", labels=labels
    )
    load(project, user, rows)
    rng = random.Random(0)
    variants = plant_variants(project, user, rows, edits, per_kind, rng)
    conflicts = plant_contradictions(project, user, rows, labels, contradictions, rng)
    print(
        f"{project.examples.count():,} examples: {len(rows):,} real rows (less exact copies), "
        f"{len(variants):,} planted near-duplicates, {len(conflicts):,} planted contradictions"
    )
    real_duplicates(project, user, set(variants) | set(conflicts))
    minhash_quality(project, user, variants)
    embedding_quality(project, user, variants)
    contradiction_quality(project, user, conflicts)


def load(project: Project, user: User, rows: list[tuple[str, str]]) -> None:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "category"])
    writer.writerows(rows)
    job = import_job_create(
        project=project,
        user=user,
        upload=io.BytesIO(buffer.getvalue().encode()),
        filename="banking77.csv",
        input_field="text",
        output_field="category",
        status="approved",
        queue=False,
    )
    job_run(type(job), job.pk, import_run)
    job.refresh_from_db()
    print(
        f"import: {job.created:,} created, {job.skipped_existing:,} already there (identical after trimming)"
    )


def plant_variants(
    project: Project,
    user: User,
    rows: list[tuple[str, str]],
    edits: dict[str, Edit],
    per_kind: int,
    rng: random.Random,
) -> dict[int, tuple[str, str, str]]:
    """example id -> (kind, original text, label) for each planted near-duplicate."""
    originals = dict(Example.objects.filter(project=project).values_list("input", "id"))
    planted: dict[int, tuple[str, str, str]] = {}
    for kind, edit in edits.items():
        for text, label in rng.sample(rows, per_kind):
            try:
                copy = example_create(
                    project=project, user=user, input=edit(rng, text), output=label, status="submitted"
                )
            except InvalidInput:  # the edit changed nothing
                continue
            if text.strip() in originals:
                planted[copy.pk] = (kind, text.strip(), label)
    return planted


def plant_contradictions(
    project: Project,
    user: User,
    rows: list[tuple[str, str]],
    labels: list[str],
    count: int,
    rng: random.Random,
) -> list[int]:
    planted = []
    for text, label in rng.sample(rows, count):
        other = rng.choice([candidate for candidate in labels if candidate != label])
        edited = rng.choice([lambda value: value + " ", lambda value: _soft_edit(rng, value)])(text)
        try:
            planted.append(
                example_create(project=project, user=user, input=edited, output=other, status="submitted").pk
            )
        except InvalidInput:
            continue
    return planted


def _soft_edit(rng: random.Random, text: str) -> str:
    return rng.choice([text.lower(), text.rstrip("?.!") + "?", text.upper()])


def reset(project: Project) -> None:
    DuplicateCluster.objects.filter(project=project).delete()
    Example.objects.filter(project=project).update(duplicate_of=None)


def dedup(project: Project, user: User, method: str, threshold: float) -> tuple[DedupJob, float]:
    reset(project)
    job = DedupJob.objects.create(project=project, created_by=user, method=method, threshold=threshold)
    start = time.perf_counter()
    dedup_examples(job.pk)
    elapsed = time.perf_counter() - start
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job, elapsed


def marks(project: Project) -> dict[int, tuple[str, str, str, str]]:
    """duplicate id -> (its input, its label, kept input, kept label)."""
    rows = Example.objects.filter(project=project, duplicate_of__isnull=False).values_list(
        "id", "input", "output", "duplicate_of__input", "duplicate_of__output"
    )
    return {pk: (text, label, kept_text, kept_label) for pk, text, label, kept_text, kept_label in rows}


def real_duplicates(project: Project, user: User, planted: set[int]) -> None:
    """The data's own duplicates: marks where neither example was planted."""
    job, elapsed = dedup(project, user, "exact", 1.0)
    rows = Example.objects.filter(project=project, duplicate_of__isnull=False).values_list(
        "id", "duplicate_of_id", "input", "output", "duplicate_of__input", "duplicate_of__output"
    )
    real = [(t, kt, lb, kl) for pk, kept, t, lb, kt, kl in rows if pk not in planted and kept not in planted]
    conflicts = [pair for pair in real if pair[2] != pair[3]]
    print(
        f"\nexact job ({elapsed:.1f} s): {job.clusters} clusters, {job.duplicates_marked} marked; "
        f"{len(real)} marks are the data's own duplicates, {len(conflicts)} of them with another label"
    )
    for text, kept, label, kept_label in conflicts:
        print(f"  {text!r} ({label}) vs {kept!r} ({kept_label})")


def minhash_quality(project: Project, user: User, variants: dict[int, tuple[str, str, str]]) -> None:
    threshold = 0.8
    job, elapsed = dedup(project, user, "minhash", threshold)
    marked = marks(project)
    inputs = dict(Example.objects.filter(pk__in=variants).values_list("id", "input"))
    meant = {
        pk for pk, (_, original, _) in variants.items() if true_jaccard(inputs[pk], original) >= threshold
    }
    found = {pk for pk in meant if pk in marked and _same_cluster(pk, variants[pk][1], project)}
    precise = sum(true_jaccard(text, kept) >= threshold for text, _, kept, _ in marked.values())
    same_label = sum(label == kept_label for _, label, _, kept_label in marked.values())
    _report("minhash", threshold, elapsed, job, len(found), len(meant), precise, same_label, len(marked))
    _per_kind(variants, meant, found)
    _resolved(project, variants, meant)


def embedding_quality(project: Project, user: User, variants: dict[int, tuple[str, str, str]]) -> None:
    threshold = 0.95
    job, elapsed = dedup(project, user, "embedding", threshold)
    marked = marks(project)
    inputs = dict(Example.objects.filter(pk__in=variants).values_list("id", "input"))
    ids = list(variants)
    cosine = _fp32_cosine([inputs[pk] for pk in ids], [variants[pk][1] for pk in ids])
    meant = {pk for pk, value in zip(ids, cosine, strict=True) if value >= threshold}
    found = {pk for pk in ids if pk in marked and _same_cluster(pk, variants[pk][1], project)}
    pairs = list(marked.values())
    exact = _fp32_cosine([text for text, *_ in pairs], [kept for _, _, kept, _ in pairs])
    precise = int((exact >= threshold - 1e-3).sum())
    same_label = sum(label == kept_label for _, label, _, kept_label in pairs)
    _report(
        "embedding", threshold, elapsed, job, len(found & meant), len(meant), precise, same_label, len(marked)
    )
    _per_kind(variants, meant, found)
    _resolved(project, variants, meant)


def _resolved(project: Project, variants: dict[int, tuple[str, str, str]], meant: set[int]) -> None:
    """A looser recall: planted pairs of which at most one example is left unmarked. Cutting
    chains around leaders can mark the original a duplicate of a third example and leave the
    copy, or the reverse: the redundancy is gone either way."""
    originals = dict(Example.objects.filter(project=project).values_list("input", "duplicate_of_id"))
    copies = dict(Example.objects.filter(pk__in=meant).values_list("id", "duplicate_of_id"))
    gone = sum(copies[pk] is not None or originals.get(variants[pk][1]) is not None for pk in meant)
    print(f"  no longer both kept: {gone / max(len(meant), 1):.3f} of {len(meant)} planted pairs")


def _fp32_cosine(left: list[str], right: list[str]) -> np.ndarray:
    a, b = encode(left, model_path(), fp32=True), encode(right, model_path(), fp32=True)
    return np.einsum("ij,ij->i", a, b)


def _same_cluster(pk: int, original: str, project: Project) -> bool:
    """The variant and its original ended up together (one marks the other, or both one third)."""
    variant = Example.objects.get(pk=pk)
    source = Example.objects.filter(project=project, input=original).first()
    if source is None:
        return False
    root = variant.duplicate_of_id or variant.pk
    return root in (source.pk, source.duplicate_of_id)


def _report(
    name: str,
    threshold: float,
    elapsed: float,
    job: DedupJob,
    found: int,
    meant: int,
    precise: int,
    same_label: int,
    marked: int,
) -> None:
    print(f"\n{name} job at {threshold} ({elapsed:.1f} s): {job.clusters} clusters, {marked} marked")
    print(f"  recall {found / max(meant, 1):.3f} over {meant} planted pairs at or above the threshold")
    print(
        f"  precision {precise / max(marked, 1):.3f} (true similarity to the kept example at or above the threshold);"
        f" {same_label / max(marked, 1):.3f} share the kept example's intent"
    )


def _per_kind(variants: dict[int, tuple[str, str, str]], meant: set[int], found: set[int]) -> None:
    for kind in sorted({value[0] for value in variants.values()}):
        ids = [pk for pk, value in variants.items() if value[0] == kind]
        print(
            f"    {kind:<12} planted {len(ids):>4}, meant {sum(pk in meant for pk in ids):>4}, "
            f"found {sum(pk in found for pk in ids):>4}"
        )


def contradiction_quality(project: Project, user: User, planted: list[int]) -> None:
    reset(project)
    job = ContradictionJob.objects.create(project=project, created_by=user, method="minhash", threshold=0.9)
    start = time.perf_counter()
    find_contradictions(job.pk)
    elapsed = time.perf_counter() - start
    job.refresh_from_db()
    flagged = set(
        Flag.objects.filter(project=project, kind="contradiction").values_list(
            "memberships__example_id", flat=True
        )
    )
    found = sum(pk in flagged for pk in planted)
    print(
        f"\ncontradiction job ({elapsed:.1f} s): {job.flags_raised} flags; planted found {found} of {len(planted)}"
        f" (recall {found / max(len(planted), 1):.3f})"
    )
    real = Flag.objects.filter(project=project, kind="contradiction").exclude(
        memberships__example_id__in=planted
    )
    for flag in real[:10]:
        texts = list(flag.memberships.values_list("example__input", "example__output"))
        print(f"  real conflict: {texts}")
