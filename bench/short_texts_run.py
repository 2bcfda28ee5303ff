"""The Django side of bench/short_texts.py (imported once Django is set up)."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
from django.contrib.auth.models import User

from bench.quality_run import _fp32_cosine, load, reset
from bench.short_texts import LENGTHS
from curation.dedup.normalize import exact_key
from curation.dedup.short_texts import Folding, compare
from curation.errors import InvalidInput
from curation.models import Example, Flag, Project
from curation.services.contradictions import contradiction_job_create
from curation.services.dedup import dedup_job_create, word_folding
from curation.services.examples import example_create
from curation.services.projects import project_create

Copy = dict[str, str]


def run(rows: list[tuple[str, str]], copies: list[Copy]) -> None:
    from bench.public_data import banking77_labels

    user = User.objects.create_user("bench")
    project = project_create(
        user=user, name="banking77", task_type="classification", target_behavior="Route.",
        labels=banking77_labels(),
    )  # fmt: skip
    load(project, user, rows)
    planted = plant(project, user, copies)
    print(
        f"{len(planted)} copies planted ({sum(c['copy_label'] != c['label'] for c in planted.values())} with another intent)"
    )
    dedup_at_defaults(project, user)
    report_duplicates(project, planted)
    report_contradictions(project, user, planted)


def plant(project: Project, user: User, copies: list[Copy]) -> dict[int, Copy]:
    """example id -> its copy record, for the copies that became examples."""
    originals = set(Example.objects.filter(project=project).values_list("input", flat=True))
    planted: dict[int, Copy] = {}
    for copy in copies:
        if copy["original"] not in originals:
            continue
        try:
            example = example_create(
                project=project, user=user, input=copy["copy"], output=copy["copy_label"], status="submitted"
            )
        except InvalidInput:  # the same text planted twice
            continue
        planted[example.pk] = copy
    return planted


def dedup_at_defaults(project: Project, user: User) -> None:
    for method in ("exact", "minhash", "embedding"):
        start = time.perf_counter()
        job = dedup_job_create(project=project, user=user, method=method)
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        print(
            f"{method} job at its default {job.threshold}: {time.perf_counter() - start:.1f} s, "
            f"{job.clusters} clusters, {job.duplicates_marked} marked"
        )


def report_duplicates(project: Project, planted: dict[int, Copy]) -> None:
    same = {pk: copy for pk, copy in planted.items() if copy["copy_label"] == copy["label"]}
    root, marked = _roots(project)
    original_id = dict(Example.objects.filter(project=project, status="approved").values_list("input", "id"))
    found, caught = set(), set()
    for pk, copy in same.items():
        original = original_id.get(copy["original"])
        if original is not None and root[pk] == root[original]:
            found.add(pk)
        if original is not None and (pk in marked or original in marked):
            caught.add(pk)
    print(
        f"\nnear-duplicate copies (same intent): found {len(found) / len(same):.3f} (both texts in one "
        f"cluster), caught {len(caught) / len(same):.3f} (either text marked), of {len(same)}"
    )
    _table(
        "kind of edit",
        {k: [pk for pk in same if same[pk]["kind"] == k] for k in sorted({c["kind"] for c in same.values()})},
        found,
        caught,
    )
    _table(
        "length of the original",
        {
            name: [pk for pk in same if low <= len(same[pk]["original"].split()) <= high]
            for low, high, name in LENGTHS
        },
        found,
        caught,
    )
    text_of = dict(Example.objects.filter(project=project).values_list("id", "input"))
    for pk in sorted(set(same) - found, key=lambda pk: same[pk]["kind"]):
        original = original_id.get(same[pk]["original"])
        where = f" (kept: {text_of[root[original]]!r} / {text_of[root[pk]]!r})" if original else ""
        print(f"    missed ({same[pk]['kind']}): {same[pk]['original']!r} / {same[pk]['copy']!r}{where}")
    _precision(project, planted)


def _table(title: str, rows: dict[str, list[int]], found: set[int], caught: set[int]) -> None:
    print(f"  {title:<24} {'copies':>6} {'found':>6} {'caught':>6}")
    for name, ids in rows.items():
        print(
            f"  {name:<24} {len(ids):>6} {sum(pk in found for pk in ids) / max(len(ids), 1):>6.2f}"
            f" {sum(pk in caught for pk in ids) / max(len(ids), 1):>6.2f}"
        )


def _roots(project: Project) -> tuple[dict[int, int], set[int]]:
    rows = list(Example.objects.filter(project=project).values_list("id", "duplicate_of_id"))
    return {pk: kept or pk for pk, kept in rows}, {pk for pk, kept in rows if kept}


def _precision(project: Project, planted: dict[int, Copy]) -> None:
    marks = list(
        Example.objects.filter(project=project, duplicate_of__isnull=False).values_list(
            "id", "input", "duplicate_of_id", "duplicate_of__input"
        )
    )
    origin = {pk: copy["original"] for pk, copy in planted.items()}

    def source(pk: int, text: str) -> str:
        return origin.get(pk, text)

    related = [source(pk, text) == source(kept, kept_text) for pk, text, kept, kept_text in marks]
    equal = [exact_key(text) == exact_key(kept_text) for _, text, _, kept_text in marks]
    cosine = _fp32_cosine([m[1] for m in marks], [m[3] for m in marks]) if marks else np.zeros(0)
    folding = word_folding(project)
    surface = [_surface_only(text, kept_text, folding) for _, text, _, kept_text in marks]
    plausible = [r or e or c >= 0.9 or w for r, e, c, w in zip(related, equal, cosine, surface, strict=True)]
    print(
        f"  precision: {sum(plausible) / max(len(marks), 1):.3f} of {len(marks)} marks plausible "
        f"({sum(related)} planted pairs; of the rest {sum(e and not r for r, e in zip(related, equal, strict=True))} "
        f"equal after normalization, {sum(c >= 0.9 for r, c in zip(related, cosine, strict=True) if not r)} at "
        f"cosine >= 0.9, {sum(w and not (r or e or c >= 0.9) for r, e, c, w in zip(related, equal, cosine, surface, strict=True))} "
        "more the same words but for typos, fillers and currency signs); by the cosine alone "
        f"(planted and equal aside): {sum(r or e or c >= 0.9 for r, e, c in zip(related, equal, cosine, strict=True)) / max(len(marks), 1):.3f}"
    )
    for (_, text, _, kept_text), ok, value in zip(marks, plausible, cosine, strict=True):
        if not ok:
            print(f"    implausible ({value:.3f}): {text!r} -> {kept_text!r}")


def _surface_only(text: str, kept: str, folding: Folding) -> bool:
    """The same words in the same order once typos, fillers, case, punctuation, spacing and
    currency signs are set aside: a duplicate a reader sees at once from the cluster page's reason."""
    comparison = compare(folding.words(text), folding.words(kept))
    return comparison is not None and comparison.similarity == 1.0


def report_contradictions(project: Project, user: User, planted: dict[int, Copy]) -> None:
    reset(project)
    conflicts = {pk for pk, copy in planted.items() if copy["copy_label"] != copy["label"]}
    start = time.perf_counter()
    job = contradiction_job_create(project=project, user=user)
    job.refresh_from_db()
    flagged = set(
        Flag.objects.filter(project=project, kind="contradiction").values_list(
            "memberships__example_id", flat=True
        )
    )
    kinds: dict[str, list[int]] = defaultdict(list)
    for pk in conflicts:
        kinds[planted[pk]["kind"]].append(pk)
    print(
        f"\ncontradiction job at its defaults ({job.method}, {job.threshold}; {time.perf_counter() - start:.1f} s): "
        f"{job.flags_raised} flags; planted contradictions flagged {len(conflicts & flagged)} of {len(conflicts)}"
    )
    for kind, ids in sorted(kinds.items()):
        print(f"  {kind:<14} {sum(pk in flagged for pk in ids)} of {len(ids)}")
    _other_flags(project, set(planted))


def _other_flags(project: Project, planted: set[int]) -> None:
    """The flags on the real data's own pairs (no planted copy in them), to read by eye."""
    pairs = [
        list(flag.memberships.values_list("example__input", "example__output"))
        for flag in Flag.objects.filter(project=project, kind="contradiction").prefetch_related("memberships")
        if not planted & set(flag.memberships.values_list("example_id", flat=True))
    ]
    print(f"  flags on the real data's own pairs: {len(pairs)}")
    for (first, first_label), (second, second_label) in (pair for pair in pairs[:25] if len(pair) == 2):
        print(f"    {first!r} ({first_label}) / {second!r} ({second_label})")
