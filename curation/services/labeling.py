"""Writes for the labeling queue: queue inputs, hand out the next item, take an answer or a skip.

Handing out is safe under concurrency on both databases: the claim is a conditional UPDATE
(`coverage < target_overlap`) plus a row unique per (item, annotator), so no item is handed out
beyond its overlap and nobody gets an item twice. On PostgreSQL the candidate is picked with
FOR UPDATE SKIP LOCKED, so annotators asking at once take different items instead of queueing
behind one row lock, and the queue's state, pick, slot and claim are one statement (CLAIM_SQL):
a hand-out is one round trip, and the usual answer two: the suggestion the item had (what the
answer did with it is recorded with the answer, curation.services.suggestion_use), then one
statement that records the answer (bench/labeling_queue.py).
SQLite runs one writer at a time anyway and takes the same steps through the ORM.

The order of the hand-outs is the project's labeling_fill (open_items): depth, the default, hands
out the most-covered item first, so an input someone started is finished (and becomes an example,
or a disagreement) before new inputs are started; breadth the least-covered first, so every input
gets a first annotation before any gets a second.

A claim expires after FINCH_LABELING_CLAIM_SECONDS; expired claims are released (their slot
goes back to the queue) before every hand-out and by a periodic task, so none is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from curation.errors import Conflict, InvalidInput
from curation.models import (
    AssignmentState,
    ItemStatus,
    JobStatus,
    LabelingAssignment,
    LabelingFill,
    LabelingItem,
    Project,
)
from curation.models.examples import decode_input
from curation.prepared_sql import columns_of, fetch_rows, model_from_row
from curation.services.audit import audit
from curation.services.content import ContentRules, content_hash
from curation.services.examples import checked_external_id, checked_metadata
from curation.services.labeling_order import novelty_after_queueing
from curation.services.labeling_outcomes import complete_item
from curation.services.overlap_sample import target_overlap, target_overlap_sql
from curation.services.suggestion_use import (
    NONE_SHOWN,
    SUCCEEDED_SUGGESTIONS_SQL,
    Use,
    submitted_use,
)

MAX_INPUTS_PER_CALL = 1000
# Candidates tried per hand-out before giving up on a queue that others keep emptying.
CLAIM_ATTEMPTS = 5
REAP_BATCH = 500


@dataclass(frozen=True)
class QueuedInputs:
    created: list[LabelingItem]
    already_queued: int


def claim_lifetime() -> timedelta:
    return timedelta(seconds=settings.FINCH_LABELING_CLAIM_SECONDS)


# -- queueing ------------------------------------------------------------------------------------


@transaction.atomic
def items_enqueue(
    *,
    project: Project,
    user: User | None,
    inputs: Iterable[dict[str, Any]],
    source: str = "manual",
    row_names: Sequence[str] | None = None,
) -> QueuedInputs:
    """Queue inputs for labeling ({"input", "metadata"?, "external_id"?} each); an input already
    queued in the project is counted, not queued twice. InvalidInput names the first bad one: as
    `inputs[i]`, or by `row_names` (the page's "Line 5" of what was pasted)."""
    rows = list(inputs)
    if len(rows) > MAX_INPUTS_PER_CALL:
        raise InvalidInput(f"Queue at most {MAX_INPUTS_PER_CALL} inputs per request.", field="inputs")
    rules = ContentRules.for_project(project, require_output=False)
    names = row_names or [f"inputs[{position}]" for position in range(len(rows))]
    items = [
        _new_item(project, user, rules, row, name, source) for name, row in zip(names, rows, strict=True)
    ]
    created = _insert_new(project, items)
    if created:
        novelty_after_queueing(project)
    if created and user is not None:
        audit(
            project=project,
            actor=user,
            action="labeling.enqueue",
            target=project,
            summary=f"Queued {len(created)} input(s) for labeling ({source})",
        )
    return QueuedInputs(created=created, already_queued=len(items) - len(created))


def _new_item(
    project: Project, user: User | None, rules: ContentRules, row: Any, where: str, source: str
) -> LabelingItem:
    if not isinstance(row, dict):
        raise InvalidInput(f"{where} must be an object with an input.", field="inputs")
    unknown = set(row) - {"input", "metadata", "external_id"}
    if unknown:
        raise InvalidInput(f"{where} has unknown fields: {', '.join(sorted(unknown))}.", field="inputs")
    try:
        stored_input, _ = rules.validate(row.get("input"), "")
        metadata = checked_metadata(row.get("metadata"))
        external_id = checked_external_id(row.get("external_id"))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}", field="inputs") from exc
    input_hash = content_hash(stored_input, "")
    return LabelingItem(
        project=project,
        input=stored_input,
        input_hash=input_hash,
        metadata=metadata,
        external_id=external_id,
        source=source[:200],
        target_overlap=target_overlap(project, input_hash),
        created_by=user,
    )


def _insert_new(project: Project, items: list[LabelingItem]) -> list[LabelingItem]:
    _check_external_ids(project, items)
    unique = list({item.input_hash: item for item in items}.values())
    known = set(
        LabelingItem.objects.filter(
            project=project, input_hash__in=[i.input_hash for i in unique]
        ).values_list("input_hash", flat=True)
    )
    fresh = [item for item in unique if item.input_hash not in known]
    try:
        with transaction.atomic():
            return LabelingItem.objects.bulk_create(fresh)
    except IntegrityError as exc:
        raise Conflict(
            "An input or external_id was queued by someone else at the same moment; nothing was "
            "queued. Send the request again."
        ) from exc


def _check_external_ids(project: Project, items: list[LabelingItem]) -> None:
    """InvalidInput naming the first external_id that another input holds, in the request or in
    the queue (an input sent again with its own external_id is counted as queued, as ever)."""
    first_at: dict[str, int] = {}
    for position, item in enumerate(items):
        if item.external_id is None:
            continue
        earlier = first_at.setdefault(item.external_id, position)
        if items[earlier].input_hash != item.input_hash:
            raise InvalidInput(
                f"inputs[{position}].external_id: {item.external_id!r} is repeated within the request "
                f"(inputs[{earlier}] has it for another input); each input needs its own external_id.",
                field=f"inputs[{position}].external_id",
            )
    if first_at:
        _refuse_taken_external_ids(project, items, first_at)


def _refuse_taken_external_ids(project: Project, items: list[LabelingItem], first_at: dict[str, int]) -> None:
    holders = LabelingItem.objects.filter(project=project, external_id__in=list(first_at))
    taken: dict[int, tuple[str, int]] = {}
    for external_id, pk, input_hash in holders.values_list("external_id", "pk", "input_hash"):
        position = first_at[str(external_id)]  # the filter matched it: not None
        if input_hash != items[position].input_hash:
            taken[position] = (str(external_id), pk)
    if taken:
        position = min(taken)
        external_id, pk = taken[position]
        raise InvalidInput(
            f"inputs[{position}].external_id: {external_id!r} is already in the queue for another "
            f"input (item {pk}); each input needs its own external_id.",
            field=f"inputs[{position}].external_id",
        )


def queued_ids_of(project: Project, inputs: list[Any]) -> list[int]:
    """The ids of the project's queued items holding these inputs (as items_enqueue takes
    them), whoever queued them and when."""
    rules = ContentRules.for_project(project, require_output=False)
    hashes = [content_hash(rules.validate(value, "")[0], "") for value in inputs]
    found = LabelingItem.objects.filter(project=project, status=ItemStatus.QUEUED, input_hash__in=hashes)
    return sorted(found.values_list("pk", flat=True))


def retarget_untouched(project: Project) -> int:
    """Give queued items nobody has touched the project's current overlap (after a settings
    change); items in progress keep theirs. How many were changed."""
    expression, params = target_overlap_sql(project, "input_hash")
    untouched = LabelingItem.objects.filter(project=project, status=ItemStatus.QUEUED, coverage=0).exclude(
        Exists(LabelingAssignment.objects.filter(item=OuterRef("pk")))
    )
    ids = list(untouched.values_list("pk", flat=True))
    changed = 0
    table = LabelingItem._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 10_000):
            chunk = ids[start : start + 10_000]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"UPDATE {table} SET target_overlap = {expression} WHERE id IN ({marks})", [*params, *chunk]
            )
            changed += cursor.rowcount
    return changed


# -- handing out ---------------------------------------------------------------------------------


def next_assignment(
    *, project: Project, user: User, now: datetime | None = None
) -> LabelingAssignment | None:
    """The user's live claim in the project, else a new claim on the first item they have not
    labeled or skipped in the queue's order (open_items); None when the queue has nothing for them.

    One statement claims, unless the user holds a live claim or expired claims wait to be
    released, and says which: the usual hand-out is one round trip."""
    now = now or timezone.now()
    for _ in range(CLAIM_ATTEMPTS):
        try:
            attempt = _claim_next(project, user, now)
        except IntegrityError:
            continue  # the same user claimed it in another tab a moment ago: all of it rolled back
        if attempt.claim is not None:
            return attempt.claim
        if attempt.holds_one:
            return live_claim(project=project, user=user, now=now)
        if not attempt.expired_waiting:
            return None
        release_expired_claims(now=now, project=project)
    return None


@dataclass(frozen=True)
class ClaimAttempt:
    """A new claim, or why there is none: the user holds a live one, expired claims wait to be
    released (either way nothing was claimed), or neither (the queue has nothing for the user)."""

    claim: LabelingAssignment | None
    holds_one: bool = False
    expired_waiting: bool = False


# Why nothing is claimed: the user's live claim in the project, expired claims to release there.
HOLDS_LIVE_CLAIM_SQL = (
    "EXISTS (SELECT 1 FROM curation_labelingassignment own"
    " JOIN curation_labelingitem own_item ON own_item.id = own.item_id"
    " WHERE own_item.project_id = %s AND own.annotator_id = %s AND own.state = 'claimed'"
    " AND own.expires_at > %s)"
)
EXPIRED_WAITING_SQL = (
    "EXISTS (SELECT 1 FROM curation_labelingassignment stale"
    " JOIN curation_labelingitem stale_item ON stale_item.id = stale.item_id"
    " WHERE stale_item.project_id = %s AND stale.state = 'claimed' AND stale.expires_at <= %s)"
)
# Raw SQL, not the ORM: built by the ORM it cost three times as long in Python as in the database.
QUEUE_STATE_SQL = f"SELECT {HOLDS_LIVE_CLAIM_SQL}, {EXPIRED_WAITING_SQL}"


def queue_state_params(project: Project, user: User, now: datetime) -> list[Any]:
    stamp = connection.ops.adapt_datetimefield_value(now)
    return [project.pk, user.pk, stamp, project.pk, stamp]


def _queue_state(project: Project, user: User, now: datetime) -> tuple[bool, bool]:
    """(whether the user holds a live claim in the project, whether expired claims wait to be
    released there)."""
    with connection.cursor() as cursor:
        cursor.execute(QUEUE_STATE_SQL, queue_state_params(project, user, now))
        holds, expired = cursor.fetchone()
    return bool(holds), bool(expired)


def live_claim(*, project: Project, user: User, now: datetime | None = None) -> LabelingAssignment | None:
    now = now or timezone.now()
    return (
        LabelingAssignment.objects.filter(
            item__project=project, annotator=user, state=AssignmentState.CLAIMED, expires_at__gt=now
        )
        .select_related("item__project")
        .order_by("claimed_at")
        .first()
    )


def fill_of(project: Project) -> LabelingFill:
    """The project's labeling_fill; depth (the default) for anything else."""
    return LabelingFill.BREADTH if project.labeling_fill == LabelingFill.BREADTH else LabelingFill.DEPTH


def open_items(project: Project) -> QuerySet[LabelingItem]:
    """Items with a free slot, in the order the queue hands them out: by coverage, the most
    covered first (labeling_fill depth: started inputs are finished first) or the least (breadth:
    every input gets a first annotation before any gets a second), then by priority (the
    project's labeling order), then as they were queued."""
    coverage = F("coverage").asc() if fill_of(project) == LabelingFill.BREADTH else F("coverage").desc()
    return LabelingItem.objects.filter(
        project=project, status=ItemStatus.QUEUED, coverage__lt=F("target_overlap")
    ).order_by(coverage, F("priority").asc(nulls_last=True), "id")


def _claim_next(project: Project, user: User, now: datetime) -> ClaimAttempt:
    """One try at claiming the next item; nothing is claimed while the user holds a live claim in
    the project or expired claims wait there. Raises IntegrityError, with nothing written, when
    the user holds the candidate already."""
    if connection.vendor == "postgresql":
        return _claim_next_postgresql(project, user, now)
    with transaction.atomic():
        holds_one, expired_waiting = _queue_state(project, user, now)
        if holds_one or expired_waiting:
            return ClaimAttempt(None, holds_one, expired_waiting)
        candidate = _candidate(project, user)
        return ClaimAttempt(_claim(candidate, project, user, now) if candidate is not None else None)


def _candidate(project: Project, user: User) -> LabelingItem | None:
    touched = LabelingAssignment.objects.filter(item=OuterRef("pk"), annotator=user)
    candidates = open_items(project).exclude(Exists(touched))
    if connection.features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True)
    return candidates.first()


def _claim(item: LabelingItem, project: Project, user: User, now: datetime) -> LabelingAssignment | None:
    """Take a slot of the candidate (in the caller's transaction) and record the user's claim; the
    claim comes with its item and project loaded, as callers use them."""
    taken = LabelingItem.objects.filter(
        pk=item.pk, status=ItemStatus.QUEUED, coverage__lt=F("target_overlap")
    ).update(coverage=F("coverage") + 1)
    if not taken:
        return None
    # The row was read in this transaction (SQLite has one writer), so this is the value just
    # written. An IntegrityError (the user's claim from another tab) rolls it all back.
    item.coverage += 1
    item.project = project
    return LabelingAssignment.objects.create(
        item=item, annotator=user, claimed_at=now, expires_at=now + claim_lifetime()
    )


# open_items() and _candidate() in SQL, one text per labeling_fill: the partial index in the
# fill's order (breadth: labeling_item_next, coverage ascending; depth: labeling_item_next_depth,
# coverage descending; then priority ascending, which puts NULL last on PostgreSQL, then id),
# the user's own items left out by a probe of the unique (item, annotator) index, rows another
# hand-out holds skipped. Kept in step with them by tests/curation/test_labeling_queue.py.
# In depth order the items a user answered that still wait for others' answers come first: a
# user far ahead of the others skips each of them, one index probe apiece (bench/labeling_queue.py
# --ahead measures it).
CANDIDATE_FROM = (
    "FROM curation_labelingitem item"
    " WHERE item.project_id = %s AND item.status = 'queued' AND item.coverage < item.target_overlap"
    " AND NOT EXISTS (SELECT 1 FROM curation_labelingassignment mine"
    " WHERE mine.item_id = item.id AND mine.annotator_id = %s)"
)
CANDIDATE_ORDER: dict[str, str] = {
    LabelingFill.DEPTH: " ORDER BY item.coverage DESC, item.priority, item.id LIMIT 1 FOR UPDATE SKIP LOCKED",
    LabelingFill.BREADTH: " ORDER BY item.coverage, item.priority, item.id LIMIT 1 FOR UPDATE SKIP LOCKED",
}
CANDIDATE_SQL = {fill: f"SELECT item.id {CANDIDATE_FROM}{order}" for fill, order in CANDIDATE_ORDER.items()}
# A claim is a lease that expires: PostgreSQL may commit it without waiting for the WAL to reach
# the disk (synchronous_commit off, for the claim's own transaction only). A crash can then lose
# the last fraction of a second of claims, each whole (its slot and its row go together), and the
# item is handed out again; an answer still commits durably. Where a caller holds a transaction
# open, the setting would cover all of it, so it is left as it is there.
ASYNC_COMMIT_SQL = ", set_config('synchronous_commit', 'off', true) AS async_commit"
CLAIM_SQL_TEMPLATE = (
    f"WITH state AS (SELECT {HOLDS_LIVE_CLAIM_SQL} AS holds_one, {EXPIRED_WAITING_SQL} AS expired_waiting"
    "{async_commit}),"
    f" candidate AS (SELECT item.id {CANDIDATE_FROM}"
    " AND NOT (SELECT holds_one OR expired_waiting FROM state){order}),"
    " taken AS (UPDATE curation_labelingitem item SET coverage = item.coverage + 1 FROM candidate"
    " WHERE item.id = candidate.id AND item.status = 'queued' AND item.coverage < item.target_overlap"
    f" RETURNING {columns_of(LabelingItem, 'item')}),"
    " claim AS (INSERT INTO curation_labelingassignment"
    " (item_id, annotator_id, state, output, claimed_at, expires_at)"
    " SELECT taken.id, %s, 'claimed', '', %s, %s FROM taken RETURNING id, item_id)"
    # One row whatever happened: the claimed item, or NULLs and why nothing was claimed.
    f" SELECT {columns_of(LabelingItem, 'taken')}, claim.id AS claim_id, state.holds_one, state.expired_waiting"
    " FROM state LEFT JOIN (taken JOIN claim ON claim.item_id = taken.id) ON true"
)
# By labeling_fill: each text is a prepared statement of its own, with its own plan.
CLAIM_SQL = {
    fill: CLAIM_SQL_TEMPLATE.format(async_commit="", order=order) for fill, order in CANDIDATE_ORDER.items()
}
CLAIM_ASYNC_COMMIT_SQL = {
    fill: CLAIM_SQL_TEMPLATE.format(async_commit=ASYNC_COMMIT_SQL, order=order)
    for fill, order in CANDIDATE_ORDER.items()
}


def _claim_next_postgresql(project: Project, user: User, now: datetime) -> ClaimAttempt:
    """Check the queue's state, pick, take a slot and record the claim in one prepared statement:
    one round trip where the steps cost six, and no planning, which is what keeps a hand-out fast
    when many annotators ask at once."""
    expires_at = now + claim_lifetime()
    params = [*queue_state_params(project, user, now), project.pk, user.pk, user.pk, now, expires_at]
    in_transaction = connection.in_atomic_block
    sql = (CLAIM_SQL if in_transaction else CLAIM_ASYNC_COMMIT_SQL)[fill_of(project)]
    with transaction.atomic() if in_transaction else nullcontext():
        (row,) = fetch_rows(sql, params)
    if row["claim_id"] is None:
        return ClaimAttempt(None, row["holds_one"], row["expired_waiting"])
    item = model_from_row(LabelingItem, row)
    item.project = project
    claim = LabelingAssignment(
        id=row["claim_id"],
        item=item,
        annotator=user,
        state=AssignmentState.CLAIMED,
        claimed_at=now,
        expires_at=expires_at,
    )
    claim._state.adding = False
    claim._state.db = item._state.db
    return ClaimAttempt(claim)


def release_expired_claims(*, now: datetime | None = None, project: Project | None = None) -> int:
    """Give the slots of expired claims back to the queue. How many were released.

    Set-based, a batch at a time: the expired claims are locked, deleted, and each item's coverage
    lowered by its count. A release running at the same time waits for those locks rather than
    skipping them, so it returns only once the slots are back (its caller may hand them out)
    and never gives one back twice. With none expired it is one query on the partial index
    labeling_claim_expiry and no transaction, as it runs before every hand-out."""
    now = now or timezone.now()
    expired = LabelingAssignment.objects.filter(state=AssignmentState.CLAIMED, expires_at__lte=now)
    if project is not None:
        expired = expired.filter(item__project=project)
    if not expired.exists():
        return 0  # the usual case: one query, no transaction
    expired = expired.select_for_update(of=("self",))
    released = 0
    while True:
        with transaction.atomic():
            rows = list(expired.values_list("pk", "item_id")[:REAP_BATCH])
            if not rows:
                return released
            LabelingAssignment.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
            per_item = Counter(item_id for _, item_id in rows)
            for count in set(per_item.values()):
                LabelingItem.objects.filter(pk__in=[i for i, n in per_item.items() if n == count]).update(
                    coverage=F("coverage") - count
                )
        released += len(rows)
        if len(rows) < REAP_BATCH:
            return released


# -- answers -------------------------------------------------------------------------------------


def annotation_submit(
    *,
    item: LabelingItem,
    user: User,
    output: Any,
    suggestion_id: Any = None,
    now: datetime | None = None,
) -> LabelingAssignment:
    """Record the user's answer on an item they hold (or can still take), with the model
    suggestion it had (`suggestion_id`: the one the page showed; else the item's latest) and
    what the answer did with it; completes the item when it was the last answer it needed.
    InvalidInput for an answer the project refuses or a suggestion not of this item, Conflict
    for an item already answered by the user or with no slot left."""
    now = now or timezone.now()
    stored_output = valid_answer(item, output)
    # Without a suggestion named, the one-statement answer applies where the item has none.
    if suggestion_id in (None, "", NONE_SHOWN) and (
        answer := _answer_at_once(item, user, stored_output, now)
    ):
        return answer
    use = submitted_use(item, suggestion_id, stored_output)
    with transaction.atomic():
        answered = _answer_claim(item, user, stored_output, use, now)
        if answered is None:
            answered = _answer_without_claim(item, user, stored_output, use, now)
        assignment, annotation_count, target_overlap = answered
        if annotation_count >= target_overlap:
            locked = LabelingItem.objects.select_related("project").get(pk=item.pk)  # locked above
            complete_item(locked, now=now)
    return assignment


Answered = tuple[LabelingAssignment, int, int]  # the answer, the item's answers, its overlap
SUGGESTION_FIELDS = ("suggestion", "suggestion_shown", "suggestion_use")

# The usual answer, to the user's claim, in one statement (PostgreSQL): the claim's row and then
# the item's are locked, in the order release_expired_claims locks them.
ANSWER_CLAIM_SQL = (
    "WITH answered AS (UPDATE curation_labelingassignment"
    " SET state = 'submitted', output = %s, expires_at = NULL, submitted_at = %s,"
    " suggestion_id = %s, suggestion_shown = %s, suggestion_use = %s"
    " WHERE item_id = %s AND annotator_id = %s AND state = 'claimed'"
    f" RETURNING {columns_of(LabelingAssignment, 'curation_labelingassignment')}),"
    " counted AS (UPDATE curation_labelingitem item SET annotation_count = item.annotation_count + 1"
    " FROM answered WHERE item.id = answered.item_id"
    " RETURNING item.annotation_count AS item_answers, item.target_overlap AS item_overlap)"
    f" SELECT {columns_of(LabelingAssignment, 'answered')}, counted.item_answers, counted.item_overlap"
    " FROM answered, counted"
)


# The usual answer to a claim where nothing more has to happen with it (PostgreSQL), as one
# statement that commits on its own: no BEGIN and COMMIT round trips, no suggestion lookup of its
# own. It writes nothing (and the caller takes the path above) when the item has a suggestion,
# whose use the answer records, or when the answer would complete the item, whose outcome must
# commit with it. Two last answers at once both pass that check in their snapshots; the later one
# then finds the count raised under the row lock, and its NULL count fails the NOT NULL
# constraint, which undoes all of its statement.
ANSWER_AT_ONCE_SQL = (
    "WITH answered AS (UPDATE curation_labelingassignment"
    " SET state = 'submitted', output = %s, expires_at = NULL, submitted_at = %s,"
    " suggestion_id = NULL, suggestion_shown = false, suggestion_use = ''"
    " WHERE item_id = %s AND annotator_id = %s AND state = 'claimed'"
    " AND EXISTS (SELECT 1 FROM curation_labelingitem wanting WHERE wanting.id = item_id"
    " AND wanting.annotation_count + 1 < wanting.target_overlap)"
    f" AND NOT EXISTS (SELECT 1 {SUCCEEDED_SUGGESTIONS_SQL.format(column='item_id')})"
    f" RETURNING {columns_of(LabelingAssignment, 'curation_labelingassignment')}),"
    " counted AS (UPDATE curation_labelingitem item SET annotation_count = CASE"
    " WHEN item.annotation_count + 1 < item.target_overlap THEN item.annotation_count + 1 END"
    " FROM answered WHERE item.id = answered.item_id RETURNING item.id)"
    f" SELECT {columns_of(LabelingAssignment, 'answered')} FROM answered, counted"
)


def _answer_at_once(item: LabelingItem, user: User, output: str, now: datetime) -> LabelingAssignment | None:
    """The answer to the user's claim by ANSWER_AT_ONCE_SQL; None, with nothing written, when it
    does not apply: off PostgreSQL, an item with a suggestion, the item's last answer, no claim."""
    if connection.vendor != "postgresql" or item.annotation_count + 1 >= item.target_overlap:
        return None
    params = [output, now, item.pk, user.pk, item.pk, JobStatus.SUCCEEDED]
    try:
        # In a caller's transaction, a savepoint keeps a refused statement from ending all of it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            rows = fetch_rows(ANSWER_AT_ONCE_SQL, params)
    except IntegrityError:
        return None  # another last answer raced this one: the transactional path completes it
    if not rows:
        return None
    answer = model_from_row(LabelingAssignment, rows[0])
    answer.item = item
    return answer


def _answer_claim(item: LabelingItem, user: User, output: str, use: Use, now: datetime) -> Answered | None:
    """The answer on the user's claim (an expired claim not yet released still holds its slot);
    None when the user holds no claim on the item, or off PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    suggestion_id = use.suggestion.pk if use.suggestion is not None else None
    params = [output, now, suggestion_id, use.shown, use.use, item.pk, user.pk]
    rows = fetch_rows(ANSWER_CLAIM_SQL, params)
    if not rows:
        return None
    answer = model_from_row(LabelingAssignment, rows[0])
    answer.suggestion = use.suggestion  # the row holds its id; callers read the suggestion
    return answer, rows[0]["item_answers"], rows[0]["item_overlap"]


def _answer_without_claim(item: LabelingItem, user: User, output: str, use: Use, now: datetime) -> Answered:
    """The answer through the ORM, in the caller's transaction: to a claim (SQLite), or taking a
    free slot when the claim was released or the user had skipped the item."""
    # Only the item's row: FOR UPDATE over the join would also lock the project's row and make
    # every submit in the project wait for the one before it.
    locked = LabelingItem.objects.select_for_update(of=("self",)).select_related("project").get(pk=item.pk)
    assignment = _holding_assignment(locked, user, now)
    assignment.state = AssignmentState.SUBMITTED
    assignment.output = output
    assignment.expires_at = None
    assignment.submitted_at = now
    assignment.suggestion, assignment.suggestion_shown = use.suggestion, use.shown
    assignment.suggestion_use = use.use
    if assignment.pk is None:  # an answer without a claim, on a free slot
        assignment.save()
    else:
        fields = ["state", "output", "claimed_at", "expires_at", "submitted_at", *SUGGESTION_FIELDS]
        assignment.save(update_fields=fields)
    locked.annotation_count += 1
    locked.save(update_fields=["annotation_count"])
    return assignment, locked.annotation_count, locked.target_overlap


def valid_answer(item: LabelingItem, output: Any) -> str:
    """An answer to the item in stored form; InvalidInput when the project refuses it."""
    rules = ContentRules.for_project(item.project, require_output=True)
    _, stored_output = rules.validate(decode_input(item.project.task_type, item.input), output)
    return stored_output


def _holding_assignment(item: LabelingItem, user: User, now: datetime) -> LabelingAssignment:
    """The user's claim on a locked item, taking a free slot when the claim had expired."""
    assignment = LabelingAssignment.objects.filter(item=item, annotator=user).first()
    if assignment is not None and assignment.state == AssignmentState.SUBMITTED:
        raise Conflict(f"You already labeled item {item.pk}.")
    if assignment is not None and assignment.state == AssignmentState.CLAIMED:
        return assignment  # an expired, unreleased claim still holds its slot
    if item.status == ItemStatus.SET_ASIDE:
        raise Conflict(
            f"Item {item.pk} was set aside by a lead: it is no longer to be labeled. Take the next item."
        )
    if item.status != ItemStatus.QUEUED or item.coverage >= item.target_overlap:
        raise Conflict(
            f"Item {item.pk} has all the annotations it needs; your claim on it had expired. Take the next item."
        )
    item.coverage += 1
    item.save(update_fields=["coverage"])
    if assignment is None:
        return LabelingAssignment(item=item, annotator=user, claimed_at=now)
    assignment.claimed_at = now  # a skip taken back
    return assignment


MAX_SKIP_REASON = 200


def assignment_skip(*, item: LabelingItem, user: User, reason: str = "") -> None:
    """Pass on an item, saying why if the user will (models.SKIP_REASONS, or their own words): the
    slot goes back to the queue and the user is not given it again."""
    reason = " ".join(str(reason or "").split())
    if len(reason) > MAX_SKIP_REASON:
        raise InvalidInput(f"reason: at most {MAX_SKIP_REASON} characters.", field="reason")
    with transaction.atomic():
        locked = LabelingItem.objects.select_for_update().get(pk=item.pk)
        assignment = LabelingAssignment.objects.filter(item=locked, annotator=user).first()
        if assignment is not None and assignment.state == AssignmentState.SUBMITTED:
            raise Conflict(f"You already labeled item {item.pk}.")
        if locked.status != ItemStatus.QUEUED:
            raise Conflict(
                f"Item {item.pk} is not in the queue ({locked.get_status_display()}): there is nothing to skip."
            )
        if assignment is None:
            LabelingAssignment.objects.create(
                item=locked,
                annotator=user,
                state=AssignmentState.SKIPPED,
                claimed_at=timezone.now(),
                skip_reason=reason,
            )
            return
        if assignment.state == AssignmentState.CLAIMED:
            locked.coverage -= 1
            locked.save(update_fields=["coverage"])
        assignment.state = AssignmentState.SKIPPED
        assignment.expires_at = None
        assignment.skip_reason = reason
        assignment.save(update_fields=["state", "expires_at", "skip_reason"])
