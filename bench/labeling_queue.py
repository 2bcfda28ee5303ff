"""Labeling queue benchmark (issue 22): the queue's "next item" with 1,000,000 queued inputs in
one project and 20 annotators asking at once, against a naive queue measured in the same run on
the same data.

    .venv/bin/python bench/labeling_queue.py [--items 1000000] [--annotators 20] [--rounds 50]
        [--naive-rounds 3] [--repeats 5] [--covered 0.6] [--fill depth|breadth] [--ahead 0]
        [--backend postgresql|sqlite]

Data (not timed): a classification project with overlap 2 (every item wants two annotations),
filled as --fill says (the project's labeling_fill: depth, the default, hands out the most
covered items first, breadth the least covered), the items built by one INSERT ... SELECT
(generate_series on PostgreSQL, a recursive CTE on SQLite). The first --covered share of them
already has one annotation (as a queue that has been worked on for a while: the least-covered
items are the later ones), and one in 5,000 of those holds an expired claim of a former
annotator instead, which the first hand-outs release. With --ahead N, the first N of those
annotations are all the first annotator's, as if they had run N items ahead of the others: in
depth order those items come first and that annotator's hand-outs skip each of them (the one
annotator alone run is theirs). On PostgreSQL the tables are then
vacuumed and a checkpoint taken, as a queue in service has been (not timed), and the bench
makes its own database (FINCH_BENCH_DB: a name on the local server or a postgres:// URL;
default finch_bench_labeling) and drops it at the end; on SQLite a file in a temporary
FINCH_HOME.

Timed: each annotator is a thread with its own database connection (kept, as production's web
tier keeps them with DATABASE_CONN_MAX_AGE 60: opened, and used for one untimed turn, before the
clock starts, as a kept connection has served requests before), the threads spread over
--processes forked processes (default: the web tier's worker processes, config/gunicorn_conf.py),
so that they share a process's GIL as a web worker's threads do. Each calls
`curation.services.labeling.next_assignment` then `annotation_submit` (an answer from the label
set) for --rounds rounds. With the default data, depth first means every hand-out is an item's
second and last answer, so every submit completes an item (an example, or a disagreement flag
for about one in four); breadth first means every hand-out is an item's first answer (with
--covered 1, its second and last too). "Server time" is the time around the service call in the process, as
a web request would spend in it, on cores it shares with the database. Three runs:
- one annotator alone (no contention);
- 20 claiming at once, the target's case: every round, all annotators ask for their next item at
  the same moment (as when they all press Enter at once: each one's submit follows its claim);
  run --repeats times, the run with the median p95 reported (on a 2-core machine the same
  run's p95 varied from 19 to 36 ms between runs minutes apart);
- 20 back to back: each goes on as soon as its submit returns, the machine saturated (a stress
  figure with its throughput, not an annotator's pace).
Reported: p50/p95/p99 of next_assignment, the submit's p95, and throughput (hand-outs per second
of wall time); on PostgreSQL the plans (EXPLAIN ANALYZE) of the queue state and the candidate
pick after the runs.

Baseline, on the same data right after: a straightforward queue written in the bench, on the
same coverage column but without the index made for it (labeling_item_next is dropped for the
run and built again after, not timed; in depth order labeling_item_next_depth too): the first
item in the fill's order the user has not touched (NOT IN their assignments), ORDER BY
coverage, id (coverage DESC for depth), locked with a plain SELECT ... FOR UPDATE (no SKIP
LOCKED, so annotators asking at once queue behind one row lock and look again when it has
filled), then a slot taken and the claim inserted; --naive-rounds rounds of 20 claiming at once (0: no naive run).

Checked after each run: no item has more live assignments than its overlap, no (item,
annotator) pair twice, nobody was handed one item twice; for Finch's run also that each item's
coverage and annotation_count match its assignments. Target: next item p95 under 20 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import bench_database_url, drop_database, fresh_database  # noqa: E402
from bench.ui import cpu_summary  # noqa: E402
from config import gunicorn_conf  # noqa: E402

LABELS = ["card_arrival", "card_linking", "exchange_rate", "pin_blocked", "refund_not_showing_up"]
TARGET_P95_MS = 20.0
ITEM = "curation_labelingitem"
ASSIGNMENT = "curation_labelingassignment"


@dataclass
class Run:
    """One timed run: every thread's call times and what it was handed."""

    next_s: list[float] = field(default_factory=list)
    submit_s: list[float] = field(default_factory=list)
    taken: dict[int, list[int]] = field(default_factory=dict)
    empty: int = 0
    wall_s: float = 0.0
    errors: list[BaseException] = field(default_factory=list)


def answer(item_id: int, annotator_index: int) -> str:
    """Annotators agree on most items and differ on about one in four."""
    if (item_id + annotator_index) % 4:
        return LABELS[item_id % len(LABELS)]
    return LABELS[(item_id + annotator_index) % len(LABELS)]


# -- setup ---------------------------------------------------------------------------------------


def configure(backend: str) -> str | None:
    """Environment for Django on a fresh database; the PostgreSQL database's URL, to drop."""
    home = tempfile.mkdtemp(prefix=f"finch-bench-labeling-{backend}-")
    os.environ["FINCH_HOME"] = home
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DATABASE_CONN_MAX_AGE"] = "60"  # as production's web tier: connections kept
    if backend == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{home}/bench.sqlite3"
        return None
    url = bench_database_url("finch_bench_labeling")
    fresh_database(url)
    os.environ["DATABASE_URL"] = url
    return url


ITEMS_SQL = {
    "postgresql": (
        "INSERT INTO {item} (project_id, input, input_hash, metadata, external_id, source, status,"
        " target_overlap, coverage, annotation_count, created_by_id, created_at, completed_at)"
        " SELECT {project}, 'My card ' || n || ' has still not arrived after ' || (n % 97) ||"
        " ' days, what should I do?', md5(n::text) || md5((n + 1)::text), '{{}}'::jsonb, NULL, 'bench',"
        " 'queued', 2, CASE WHEN n <= {covered} THEN 1 ELSE 0 END,"
        " CASE WHEN n <= {covered} AND n % 5000 <> 7 THEN 1 ELSE 0 END, NULL, now(), NULL"
        " FROM generate_series(1, {items}) AS n"
    ),
    "sqlite": (
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {items})"
        " INSERT INTO {item} (project_id, input, input_hash, metadata, external_id, source, status,"
        " target_overlap, coverage, annotation_count, created_by_id, created_at, completed_at)"
        " SELECT {project}, 'My card ' || n || ' has still not arrived after ' || (n % 97) ||"
        " ' days, what should I do?', printf('%064d', n), '{{}}', NULL, 'bench',"
        " 'queued', 2, CASE WHEN n <= {covered} THEN 1 ELSE 0 END,"
        " CASE WHEN n <= {covered} AND n % 5000 <> 7 THEN 1 ELSE 0 END, NULL, datetime('now'), NULL"
        " FROM s"
    ),
}

# The covered items' one annotation (annotator by item id; the first annotator's for the first
# --ahead items), or an expired claim of a former one.
ASSIGNMENTS_SQL = (
    "INSERT INTO {assignment} (item_id, annotator_id, state, output, claimed_at, expires_at, submitted_at)"
    " SELECT i.id, CASE WHEN i.annotation_count = 1 THEN CASE WHEN i.id < {ahead_below} THEN {first}"
    " ELSE CASE i.id %% {count} {annotators} END END"
    " ELSE %s END,"
    " CASE WHEN i.annotation_count = 1 THEN 'submitted' ELSE 'claimed' END,"
    " CASE WHEN i.annotation_count = 1 THEN CASE i.id %% {labels_count} {labels} END ELSE '' END,"
    " %s, CASE WHEN i.annotation_count = 1 THEN NULL ELSE %s END,"
    " CASE WHEN i.annotation_count = 1 THEN %s ELSE NULL END"
    " FROM {item} i WHERE i.project_id = %s AND i.coverage = 1"
)


def load(items: int, covered: float, annotator_count: int, fill: str, ahead: int) -> tuple[Any, list[Any]]:
    """The project, its annotators, the queued items and the earlier annotations."""
    from django.contrib.auth.models import User
    from django.db import connection

    from curation.models import Membership, Role
    from curation.services.projects import project_create

    lead = User.objects.create_user("bench-lead", password="bench-password-1")
    project = project_create(
        user=lead,
        name="bench labeling queue",
        task_type="classification",
        target_behavior="Label customer messages with their intent.",
        labels=LABELS,
    )
    project.labeling_overlap = 2
    project.labeling_fill = fill
    project.save(update_fields=["labeling_overlap", "labeling_fill"])
    User.objects.bulk_create(
        [User(username=f"annotator-{index:02d}") for index in range(annotator_count + 1)]
    )
    people = list(User.objects.filter(username__startswith="annotator-").order_by("username"))
    former, annotators = people[-1], people[:-1]
    Membership.objects.bulk_create(
        [Membership(project=project, user=user, role=Role.ANNOTATOR) for user in people]
    )
    vendor = connection.vendor
    now = datetime.now(tz=UTC)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            ITEMS_SQL[vendor].format(item=ITEM, project=project.pk, covered=int(items * covered), items=items)
        )
        cursor.execute(f"SELECT MIN(id) FROM {ITEM} WHERE project_id = %s", [project.pk])
        first_id = int(cursor.fetchone()[0])
        cursor.execute(
            ASSIGNMENTS_SQL.format(
                assignment=ASSIGNMENT,
                item=ITEM,
                ahead_below=first_id + ahead,
                first=annotators[0].pk,
                count=len(annotators),
                annotators=" ".join(f"WHEN {i} THEN {u.pk}" for i, u in enumerate(annotators)),
                labels_count=len(LABELS),
                labels=" ".join(f"WHEN {i} THEN '{label}'" for i, label in enumerate(LABELS)),
            ),
            [
                former.pk,
                adapt(now - timedelta(hours=2)),
                adapt(now - timedelta(hours=1)),
                adapt(now - timedelta(hours=2) + timedelta(seconds=30)),
                project.pk,
            ],
        )
        if vendor == "postgresql":
            # A queue in service has been vacuumed: without this, autovacuum of the million rows
            # just inserted and the checkpoint they call for fall into the timed runs.
            cursor.execute("VACUUM (ANALYZE) curation_labelingitem, curation_labelingassignment")
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")
    return project, annotators


# -- the runs ------------------------------------------------------------------------------------


def run_annotators(
    people: list[Any],
    rounds: int,
    turn: Callable[[int, Any], tuple[float, float, int | None]],
    *,
    processes: int,
    together: bool,
) -> Run:
    """Each annotator a thread with its own connection, spread over `processes` forked processes
    (the web tier's worker processes: config/gunicorn_conf.py), all released at once for `rounds`
    turns each. `together`: every round, all ask for their next item at the same moment (a
    barrier before each hand-out); otherwise each goes on as soon as its submit returns."""
    from django.db import connections

    connections.close_all()  # children open their own; a connection must not cross a fork
    context = multiprocessing.get_context("fork")
    start_line = context.Barrier(len(people) + 1)
    round_line = context.Barrier(len(people)) if together else None
    results = context.Queue()
    groups = [list(range(len(people)))[offset::processes] for offset in range(processes)]
    children = [
        context.Process(target=_annotate, args=(group, people, rounds, turn, start_line, round_line, results))
        for group in groups
        if group
    ]
    for child in children:
        child.start()
    # An annotator that fails before the start breaks the line: its error comes with the results.
    with contextlib.suppress(threading.BrokenBarrierError):
        start_line.wait()
    start = time.perf_counter()
    run = Run()
    for _ in people:
        index, next_s, submit_s, taken, empty, error = results.get()
        run.next_s += next_s
        run.submit_s += submit_s
        run.taken[index] = taken
        run.empty += empty
        if error:
            run.errors.append(RuntimeError(error))
    run.wall_s = time.perf_counter() - start
    for child in children:
        child.join()
    return run


def _annotate(
    group: list[int],
    people: list[Any],
    rounds: int,
    turn: Callable[[int, Any], tuple[float, float, int | None]],
    start_line: Any,
    round_line: Any,
    results: Any,
) -> None:
    """One worker process: its annotators' threads; each puts its times and items on `results`."""
    from django.db import connection

    def work(index: int) -> None:
        next_s: list[float] = []
        submit_s: list[float] = []
        taken: list[int] = []
        empty, error = 0, ""
        try:
            # Not timed: a web process keeps its connections (DATABASE_CONN_MAX_AGE), and a kept
            # connection has served requests before; a fresh backend's first statements load its
            # catalog caches and prepare the statements, tens of milliseconds that production
            # pays once a connection, not once a hand-out. So one turn first, its item counted.
            connection.ensure_connection()
            warm_item = turn(index, people[index])[2]
            taken.extend([warm_item] if warm_item is not None else [])
            start_line.wait()
            for _ in range(rounds):
                if round_line is not None:
                    round_line.wait()
                took_next, took_submit, item_id = turn(index, people[index])
                next_s.append(took_next)
                if item_id is None:
                    empty += 1
                    break
                submit_s.append(took_submit)
                taken.append(item_id)
        except threading.BrokenBarrierError:
            error = "another annotator stopped: the round barrier broke"
        except BaseException as exc:  # reported, and the run fails in report()
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if error:
                start_line.abort()  # a failed warm-up turn: nobody waits for this one to start
            if round_line is not None and (empty or error):
                round_line.abort()  # the others would wait for this one forever
            connection.close()
            results.put((index, next_s, submit_s, taken, empty, error))

    threads = [threading.Thread(target=work, args=(index,)) for index in group]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def finch_turn(project: Any) -> Callable[[int, Any], tuple[float, float, int | None]]:
    from curation.services.labeling import annotation_submit, next_assignment

    def turn(index: int, user: Any) -> tuple[float, float, int | None]:
        start = time.perf_counter()
        claim = next_assignment(project=project, user=user)
        next_s = time.perf_counter() - start
        if claim is None:
            return next_s, -1.0, None
        start = time.perf_counter()
        annotation_submit(item=claim.item, user=user, output=answer(claim.item_id, index))
        return next_s, time.perf_counter() - start, claim.item_id

    return turn


NAIVE_ORDER = {"depth": "coverage DESC, id", "breadth": "coverage, id"}
NAIVE_OPEN = (
    f"FROM {ITEM} WHERE project_id = %s AND status = 'queued' AND coverage < target_overlap"
    f" AND id NOT IN (SELECT item_id FROM {ASSIGNMENT} WHERE annotator_id = %s)"
)


def naive_next(project_id: int, user_id: int, fill: str) -> int | None:
    """What a straightforward queue does with the same coverage column but no index made for it:
    pick the least-covered item the user has not touched, lock it with a plain FOR UPDATE
    (annotators asking at once queue behind that row lock), take a slot, insert the claim."""
    from django.db import connection, transaction

    now = datetime.now(tz=UTC)
    stamp = connection.ops.adapt_datetimefield_value(now)
    expires = connection.ops.adapt_datetimefield_value(now + timedelta(minutes=20))
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""  # SQLite: one writer anyway
    while True:  # until it claims one, or the queue has nothing for the user
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id {NAIVE_OPEN} ORDER BY {NAIVE_ORDER[fill]} LIMIT 1{lock}", [project_id, user_id]
            )
            row = cursor.fetchone()
            if row is None:
                # The row it waited for may have filled up meanwhile (PostgreSQL then returns
                # nothing): look again unless the queue really is empty for the user.
                cursor.execute(f"SELECT EXISTS (SELECT 1 {NAIVE_OPEN})", [project_id, user_id])
                if cursor.fetchone()[0]:
                    continue
                return None
            cursor.execute(
                f"UPDATE {ITEM} SET coverage = coverage + 1 WHERE id = %s AND coverage < target_overlap",
                [row[0]],
            )
            if not cursor.rowcount:
                continue  # filled up while this one waited for the lock: look again
            cursor.execute(
                f"INSERT INTO {ASSIGNMENT} (item_id, annotator_id, state, output, claimed_at, expires_at)"
                " VALUES (%s, %s, 'claimed', '', %s, %s)",
                [row[0], user_id, stamp, expires],
            )
            return int(row[0])


QUEUE_INDEXES = ("labeling_item_next", "labeling_item_next_depth")


@contextmanager
def without_the_queue_index() -> Iterator[None]:
    """Drop the partial indexes made for the queue (labeling_item_next, labeling_item_next_depth)
    for the naive run, build them again after (not timed): the naive queue is what the same
    column costs without an index made for it."""
    from django.db import connection

    from curation.models import LabelingItem

    indexes = [i for i in LabelingItem._meta.indexes if i.name in QUEUE_INDEXES]
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.remove_index(LabelingItem, index)
    try:
        yield
    finally:
        with connection.schema_editor() as editor:
            for index in indexes:
                editor.add_index(LabelingItem, index)


def naive_turn(project: Any) -> Callable[[int, Any], tuple[float, float, int | None]]:
    from django.db import connection

    def turn(index: int, user: Any) -> tuple[float, float, int | None]:
        start = time.perf_counter()
        item_id = naive_next(project.pk, user.pk, project.labeling_fill)
        next_s = time.perf_counter() - start
        if item_id is None:
            return next_s, -1.0, None
        start = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ASSIGNMENT} SET state = 'submitted', output = %s, submitted_at = %s,"
                " expires_at = NULL WHERE item_id = %s AND annotator_id = %s",
                [
                    answer(item_id, index),
                    connection.ops.adapt_datetimefield_value(datetime.now(tz=UTC)),
                    item_id,
                    user.pk,
                ],
            )
        return next_s, time.perf_counter() - start, item_id

    return turn


# -- checks and figures --------------------------------------------------------------------------


def violations(run: Run, counters_too: bool) -> dict[str, int]:
    """What must be zero after a run: over-covered items, duplicate pairs, a repeat hand-out, and
    (Finch's counters) coverage or annotation counts that do not match the assignments."""
    from django.db import connection

    found: dict[str, tuple[str, list[Any]]] = {
        "items beyond their overlap": (
            f"SELECT COUNT(*) FROM (SELECT a.item_id FROM {ASSIGNMENT} a JOIN {ITEM} i ON i.id = a.item_id"
            " WHERE a.state IN ('claimed', 'submitted') GROUP BY a.item_id, i.target_overlap"
            " HAVING COUNT(*) > i.target_overlap) x",
            [],
        ),
        "duplicate (item, annotator) pairs": (
            f"SELECT COUNT(*) FROM (SELECT item_id FROM {ASSIGNMENT}"
            " GROUP BY item_id, annotator_id HAVING COUNT(*) > 1) x",
            [],
        ),
    }
    if counters_too:
        found["items whose coverage is not their claims + answers"] = (
            f"SELECT COUNT(*) FROM {ITEM} i LEFT JOIN (SELECT item_id, COUNT(*) AS n FROM {ASSIGNMENT}"
            " WHERE state IN ('claimed', 'submitted') GROUP BY item_id) a ON a.item_id = i.id"
            " WHERE i.coverage <> COALESCE(a.n, 0)",
            [],
        )
        found["items whose annotation_count is not their answers"] = (
            f"SELECT COUNT(*) FROM {ITEM} i LEFT JOIN (SELECT item_id, COUNT(*) AS n FROM {ASSIGNMENT}"
            " WHERE state = 'submitted' GROUP BY item_id) a ON a.item_id = i.id"
            " WHERE i.annotation_count <> COALESCE(a.n, 0)",
            [],
        )
        found["complete items still queued"] = (
            f"SELECT COUNT(*) FROM {ITEM} WHERE status = 'queued' AND annotation_count >= target_overlap",
            [],
        )
    counts = {}
    with connection.cursor() as cursor:
        for name, (sql, params) in found.items():
            cursor.execute(sql, params)
            counts[name] = int(cursor.fetchone()[0])
    counts["an item handed twice to one annotator"] = sum(
        len(items) - len(set(items)) for items in run.taken.values()
    )
    return counts


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(int(len(ordered) * share + 0.999999) - 1, 0)] * 1000


def figures(run: Run) -> dict[str, float]:
    handed = sum(len(items) for items in run.taken.values())
    return {
        "calls": len(run.next_s),
        "p50": statistics.median(run.next_s) * 1000,
        "p95": percentile(run.next_s, 0.95),
        "p99": percentile(run.next_s, 0.99),
        "submit_p95": percentile(run.submit_s, 0.95) if run.submit_s else float("nan"),
        "per_s": handed / run.wall_s,
        "handed": handed,
        "wall_s": run.wall_s,
    }


def report(name: str, run: Run, finch: bool) -> dict[str, float]:
    """Print a run's figures and checks. Finch's run must not fail; the naive one may (SQLite
    gives up on a writer after its 30 s busy timeout), and how often is printed."""
    if run.errors and finch:
        causes = sorted({str(error) for error in run.errors})
        raise RuntimeError(f"{name}: {len(run.errors)} annotator(s) failed: {'; '.join(causes)}")
    result = figures(run)
    print(
        f"{name:<34} {result['calls']:>6,.0f} {result['p50']:>8.1f} {result['p95']:>8.1f} {result['p99']:>8.1f}"
        f" {result['submit_p95']:>10.1f} {result['per_s']:>10.1f}",
        flush=True,
    )
    broken = {what: count for what, count in violations(run, counters_too=finch).items() if count}
    if run.empty:
        print(f"    {run.empty} call(s) found nothing to hand out", flush=True)
    if run.errors:
        print(f"    {len(run.errors)} annotator(s) stopped by an error: {run.errors[0]}", flush=True)
    print(f"    wall {run.wall_s:.1f} s, load average after: {os.getloadavg()[0]:.1f}", flush=True)
    print(f"    checks: {broken or 'all hold'}", flush=True)
    if broken:
        raise SystemExit(f"{name}: the queue broke its rules: {broken}")
    return result


SCAN = re.compile(
    r"(\S[^(]*Scan[^(]*?)\s+\(cost[^)]*\)\s+\((?:actual [^)]*rows=(\d+) loops=(\d+)|never executed)\)"
)


def plans(project: Any, user: Any) -> None:
    """EXPLAIN ANALYZE of the hand-out's two statements on PostgreSQL (the queue state: a live
    claim of the user's? expired claims to release?; the candidate picked inside the claim
    statement): each scan, with the rows it returned per loop, and the execution time."""
    from django.db import connection, transaction
    from django.utils import timezone

    from curation.services.labeling import CANDIDATE_SQL, QUEUE_STATE_SQL, queue_state_params

    state_sql = (QUEUE_STATE_SQL, queue_state_params(project, user, timezone.now()))
    candidate = (CANDIDATE_SQL[project.labeling_fill], (project.pk, user.pk))
    statements = {"queue state": state_sql, "candidate": candidate}
    for name, (sql, params) in statements.items():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            lines = [row[0].strip() for row in cursor.fetchall()]
            transaction.set_rollback(True)  # the candidate's row lock goes with it
        scans = []
        for line in lines:
            if found := SCAN.search(line):
                node, rows, loops = found.groups()
                scans.append(
                    f"{node.strip()} ({'never executed' if rows is None else f'{rows} rows x {loops}'})"
                )
        took = next(line for line in lines if line.startswith("Execution Time"))
        print(f"    plan, {name}: {'; '.join(scans)}; {took}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--naive-rounds", type=int, default=3)
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs of the target's case; the median p95 is the figure"
    )
    parser.add_argument("--covered", type=float, default=0.6)
    parser.add_argument(
        "--fill", default="depth", choices=["depth", "breadth"], help="the project's labeling_fill"
    )
    parser.add_argument(
        "--ahead",
        type=int,
        default=0,
        help="the first annotator's own answers among the covered items, waiting for a second",
    )
    parser.add_argument(
        "--processes", type=int, default=int(gunicorn_conf.workers), help="worker processes (gunicorn's)"
    )
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    args = parser.parse_args()
    database = configure(args.backend)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        bench(args)
    finally:
        if database:
            from django.db import connections

            connections.close_all()
            drop_database(database)


def bench(args: argparse.Namespace) -> None:
    print(cpu_summary(), flush=True)
    print(f"load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
    start = time.perf_counter()
    project, people = load(args.items, args.covered, args.annotators, args.fill, args.ahead)
    ahead = f", {args.ahead:,} of those the first annotator's" if args.ahead else ""
    print(
        f"[{args.backend}] loaded {args.items:,} queued items (overlap 2 filled {args.fill} first,"
        f" {args.covered:.0%} with one annotation already{ahead}), {len(people)} annotators in"
        f" {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    processes = args.processes
    print(
        f"annotators spread over {processes} worker process(es), threads in each, as the web tier runs"
        " (config/gunicorn_conf.py)"
    )
    print(
        f"\n{'next item':<40} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8}"
        f" {'p99 ms':>8} {'submit p95':>10} {'items/s':>10}"
    )
    finch, naive = finch_turn(project), naive_turn(project)
    alone = report(
        "Finch, one annotator alone",
        run_annotators(people[:1], args.rounds, finch, processes=1, together=True),
        True,
    )
    repeats = [
        report(
            f"Finch, {len(people)} claiming at once",
            run_annotators(people, args.rounds, finch, processes=processes, together=True),
            True,
        )
        for _ in range(args.repeats)
    ]
    together = sorted(repeats, key=lambda run: run["p95"])[len(repeats) // 2]  # the median run
    flat_out = report(
        f"Finch, {len(people)} back to back",
        run_annotators(people, args.rounds, finch, processes=processes, together=False),
        True,
    )
    if args.backend == "postgresql":
        plans(project, people[0])
    versus = ""
    if args.naive_rounds:  # 0: no naive run (a short check of Finch alone)
        with without_the_queue_index():
            baseline = report(
                f"naive, {len(people)} claiming at once",
                run_annotators(people, args.naive_rounds, naive, processes=processes, together=True),
                False,
            )
        versus = f" vs naive {baseline['p95']:,.1f} ms ({baseline['p95'] / together['p95']:,.0f}x at p95)"
    each = " / ".join(f"{run['p95']:.1f}" for run in repeats)
    print(
        f"\n[{args.backend}] {args.items:,} items filled {args.fill} first, {len(people)} annotators"
        f" claiming at once: Finch p95 {together['p95']:.1f} ms (the median of {len(repeats)} runs:"
        f" {each}){versus}"
    )
    print(f"one annotator alone (no contention): p50 {alone['p50']:.1f} ms, p95 {alone['p95']:.1f} ms")
    print(
        f"back to back, no pause between items (the machine saturated, a stress figure, not an"
        f" annotator's pace): p95 {flat_out['p95']:.1f} ms, {flat_out['per_s']:,.0f} items/s"
    )
    met = "met" if together["p95"] < TARGET_P95_MS else "NOT met"
    print(
        f"target: next item p95 under {TARGET_P95_MS:.0f} ms server time, {len(people)} claiming at once: {met}"
    )


if __name__ == "__main__":
    main()
