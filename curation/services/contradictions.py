"""Contradiction jobs: examples whose inputs say the same thing but whose outputs disagree.

Inputs are grouped like the dedup jobs do (exact, MinHash or embedding). Within a group, outputs that agree
form a camp (the same label; the same JSON document; for free text, outputs whose character
5-grams overlap by half or more). Each example outside the largest camp is flagged against the
largest camp's first example, so a group of many cannot explode into all pairs. Flags are raised
by the job, in one transaction at the end; a pair that was ever flagged (open, resolved or
dismissed) is not flagged again. Examples marked duplicates are left out: no version holds one, and
flagging one against another example would reopen what a reviewer settled for its kept example.
"""

from __future__ import annotations

import numpy as np
from django.contrib.auth.models import User
from django.db import transaction

from curation.dedup.embeddings import similar_groups
from curation.dedup.minhash import Shingling, near_duplicate_groups
from curation.dedup.normalize import exact_key, same_key_groups
from curation.dedup.short_texts import Meaning
from curation.dedup.unionfind import groups as connected_groups
from curation.errors import InvalidInput
from curation.models import ContradictionJob, DedupMethod, ExampleStatus, FlagKind, Project, TaskType
from curation.phases import phase
from curation.services.audit import audit
from curation.services.content import answer_key
from curation.services.dedup import word_folding
from curation.services.dispatch import job_send_on_commit
from curation.services.embedding_cache import cached_vectors, model_cosines
from curation.services.flags import JobPair, disagreement_note, job_flags_raise
from curation.services.jobs import ProgressFn

TEXT_AGREEMENT = 0.5
NGRAM = 5


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
    job_send_on_commit(job, lambda: find_contradictions.delay(job.pk))
    return job


def contradictions_run(job: ContradictionJob, progress: ProgressFn) -> None:
    """Group the inputs, find disagreeing camps, then raise all the flags at once."""
    project = job.project
    with phase("read"):
        rows = list(  # a duplicate stays out of versions: its kept example speaks for it
            project.examples.exclude(status=ExampleStatus.REJECTED)
            .filter(duplicate_of__isnull=True)
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


def _flags_raise(job: ContradictionJob, pairs: list[JobPair], checked: int, groups: int) -> None:
    """One flag per pair never flagged before (open, resolved or dismissed), and the job's counts."""
    with transaction.atomic():
        raised = job_flags_raise(job.project, FlagKind.CONTRADICTION, pairs, f"contradiction-job:{job.pk}")
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


def _disagreeing_pairs(task_type: str, members: list[tuple[int, str, str]]) -> list[JobPair]:
    camps = _camps(task_type, [output for _, _, output in members])
    if len(camps) < 2:
        return []
    camps.sort(key=lambda camp: (-len(camp), camp[0]))
    anchor = members[camps[0][0]]
    return [
        ((anchor[0], members[index][0]), disagreement_note(anchor[2], members[index][2]))
        for camp in camps[1:]
        for index in camp
    ]


def _camps(task_type: str, outputs: list[str]) -> list[list[int]]:
    """Indexes of outputs that agree, grouped; every index is in exactly one camp."""
    if task_type in (TaskType.GENERATION, TaskType.CHAT):
        return _text_camps(outputs)
    return same_key_groups(answer_key(task_type, output) for output in outputs)


def _text_camps(outputs: list[str]) -> list[list[int]]:
    sets = Shingling.choose("char", NGRAM).sets([exact_key(output) for output in outputs])
    left, right = np.triu_indices(len(outputs), k=1)
    agreeing = np.stack([left, right], axis=1)[sets.jaccard(left, right) >= TEXT_AGREEMENT].tolist()
    joined = connected_groups(agreeing)
    seen = {index for group in joined for index in group}
    return joined + [[index] for index in range(len(outputs)) if index not in seen]
