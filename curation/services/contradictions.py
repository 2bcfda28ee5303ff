"""Contradiction jobs: examples whose inputs say the same thing but whose outputs disagree.

Inputs are grouped like the dedup jobs do (exact, MinHash or embedding). Within a group, outputs that agree
form a camp (the same label; the same JSON document; for free text, outputs whose character
5-grams overlap by half or more). Each example outside the largest camp is flagged against the
largest camp's first example, so a group of many cannot explode into all pairs. Flags are raised
by the job, in one transaction at the end; a pair that was ever flagged (open, resolved or
dismissed) is not flagged again.
"""

from __future__ import annotations

import json

import numpy as np
from django.contrib.auth.models import User
from django.db import transaction

from curation.dedup.embeddings import similar_groups
from curation.dedup.minhash import Shingling, near_duplicate_groups
from curation.dedup.normalize import exact_key, same_key_groups
from curation.dedup.short_texts import Meaning
from curation.dedup.unionfind import groups as connected_groups
from curation.errors import InvalidInput
from curation.models import ContradictionJob, DedupMethod, ExampleStatus, Flag, FlagKind, Project, TaskType
from curation.phases import phase
from curation.services.audit import audit
from curation.services.content import canonical_json, clip
from curation.services.dedup import word_folding
from curation.services.embedding_cache import cached_vectors, model_cosines
from curation.services.flags import examples_key, flag_create
from curation.services.jobs import ProgressFn

TEXT_AGREEMENT = 0.5
NGRAM = 5
Pair = tuple[tuple[int, int], str]  # two example ids, and the flag's note


@transaction.atomic
def contradiction_job_create(
    *, project: Project, user: User, threshold: float = 0.9, method: str = DedupMethod.MINHASH
) -> ContradictionJob:
    """Queue a contradiction job; InvalidInput names a bad parameter."""
    if method not in DedupMethod.values:
        raise InvalidInput(f"method must be one of {', '.join(DedupMethod.values)}.", field="method")
    if not 0 < threshold <= 1:
        raise InvalidInput("threshold must be above 0 and at most 1.", field="threshold")
    from curation.tasks import find_contradictions

    job = ContradictionJob.objects.create(
        project=project, created_by=user, method=method, threshold=threshold
    )
    summary = f"Started contradiction job {job.pk} ({method}, threshold {threshold})"
    audit(project=project, actor=user, action="contradiction_job.start", target=job, summary=summary)
    transaction.on_commit(lambda: find_contradictions.delay(job.pk))
    return job


def contradictions_run(job: ContradictionJob, progress: ProgressFn) -> None:
    """Group the inputs, find disagreeing camps, then raise all the flags at once."""
    project = job.project
    with phase("read"):
        rows = list(
            project.examples.exclude(status=ExampleStatus.REJECTED)
            .order_by("id")
            .values_list("id", "input", "output")
        )
    inputs = [text for _, text, _ in rows]
    groups = _input_groups(job, inputs)
    progress(0.7, examples_checked=len(rows))
    with phase("verify"):  # do the outputs of inputs alike disagree?
        pairs = [
            pair
            for group in groups
            for pair in _disagreeing_pairs(project.task_type, [rows[i] for i in group])
        ]
    with phase("write"):
        _flags_raise(job, pairs, len(rows), len(groups))


def _flags_raise(job: ContradictionJob, pairs: list[Pair], checked: int, groups: int) -> None:
    """One flag per pair never flagged before (open, resolved or dismissed), and the job's counts."""
    project = job.project
    already = set(
        Flag.objects.filter(project=project, kind=FlagKind.CONTRADICTION).values_list(
            "examples_key", flat=True
        )
    )
    raised = 0
    with transaction.atomic():
        for (first, second), note in pairs:
            if examples_key([first, second]) in already:
                continue
            flag_create(
                project=project,
                user=None,
                kind=FlagKind.CONTRADICTION,
                example_ids=[first, second],
                note=note,
                job=f"contradiction-job:{job.pk}",
            )
            already.add(examples_key([first, second]))
            raised += 1
        ContradictionJob.objects.filter(pk=job.pk).update(
            examples_checked=checked, groups_checked=groups, flags_raised=raised
        )


def _input_groups(job: ContradictionJob, inputs: list[str]) -> list[list[int]]:
    """Groups of inputs alike (the phases inside: read and embed, or sketch; candidates; verify)."""
    if job.method == DedupMethod.EMBEDDING:
        return similar_groups(cached_vectors(inputs), job.threshold)[0]
    with phase("sketch"):  # normalized texts: what MinHash sketches, and exact keys themselves
        keys = [exact_key(text) for text in inputs]
    if job.method == DedupMethod.MINHASH:  # short texts are compared word by word too
        meaning = Meaning(lambda rows: [inputs[row] for row in rows], model_cosines)
        return near_duplicate_groups(
            keys, threshold=job.threshold, folding=word_folding(job.project), meaning=meaning
        )[0]
    with phase("candidates"):
        return [group for group in same_key_groups(keys) if len(group) > 1]


def _disagreeing_pairs(task_type: str, members: list[tuple[int, str, str]]) -> list[Pair]:
    camps = _camps(task_type, [output for _, _, output in members])
    if len(camps) < 2:
        return []
    camps.sort(key=lambda camp: (-len(camp), camp[0]))
    anchor = members[camps[0][0]]
    found = []
    for camp in camps[1:]:
        for index in camp:
            other = members[index]
            note = f"Same input, different outputs: {clip(anchor[2], 60)!r} vs {clip(other[2], 60)!r}."
            found.append(((anchor[0], other[0]), note))
    return found


def _camps(task_type: str, outputs: list[str]) -> list[list[int]]:
    """Indexes of outputs that agree, grouped; every index is in exactly one camp."""
    if task_type in (TaskType.GENERATION, TaskType.CHAT):
        return _text_camps(outputs)
    return same_key_groups(_output_key(task_type, output) for output in outputs)


def _output_key(task_type: str, output: str) -> str:
    if task_type == TaskType.EXTRACTION:
        try:
            return canonical_json(json.loads(output))
        except json.JSONDecodeError:
            return output.strip()
    return output.strip()


def _text_camps(outputs: list[str]) -> list[list[int]]:
    sets = Shingling.choose("char", NGRAM).sets([exact_key(output) for output in outputs])
    left, right = np.triu_indices(len(outputs), k=1)
    agreeing = np.stack([left, right], axis=1)[sets.jaccard(left, right) >= TEXT_AGREEMENT].tolist()
    joined = connected_groups(agreeing)
    seen = {index for group in joined for index in group}
    return joined + [[index] for index in range(len(outputs)) if index not in seen]
