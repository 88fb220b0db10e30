"""Rebuilds: side by side from the whole log, resumable, an atomic switch, and the diff of
who changed status under a changed policy."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import timedelta
from types import ModuleType
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import Notification

from commands.corrections import RetractEvent
from commands.demo import load_demo
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import CoC
from ledger.ids import entity_id
from ledger.settings import Settings
from projections.compliance.service import ComplianceService
from projections.readmodels import diff, generations, queries, rows
from projections.readmodels.db import (
    OLD_EVENT_COLUMNS,
    OLD_PAYLOAD_COLUMN,
    TABLES,
    ReadModelDb,
)
from projections.readmodels.entities import EntitiesAtPosition
from projections.readmodels.events import event_class
from projections.readmodels.follower import Follower, Step
from projections.readmodels.projector import Projector
from projections.readmodels.queries import ReadModels
from tests.conftest import CALLER
from tests.integration.builders import complete_course, register_user, user
from tests.integration.readmodels_support import snapshot
from tests.script_modules import load_script as load_script_module

LATE = "wi-late"  # CE core 18 months ago: expired under WI-500 2026.1, valid under 2026.2


def load_script(name: str = "rebuild") -> ModuleType:
    return load_script_module(name)


@pytest.fixture
def db(ledger: Ledger, clock: FixedClock) -> ReadModelDb:
    load_demo(ledger)
    do = lambda command: run(ledger, command, CALLER)  # noqa: E731
    register_user(do, "WI-500", LATE, "WI-NWH")
    complete_course(do, "WI-500", LATE, "WI-CE-CORE", clock.now() - timedelta(days=548))
    return ReadModelDb(ledger)


def store_args(settings: Settings) -> list[str]:
    if settings.database_url:
        return ["--database-url", settings.database_url]
    return ["--sqlite-path", str(settings.sqlite_path)]


def rebuild(
    settings: Settings,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> tuple[list[str], dict[str, object]]:
    script = load_script()
    monkeypatch.setattr(script, "Ledger", lambda s: Ledger(s, clock=clock))
    assert script.main([*args, *store_args(settings)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    return lines[:-1], orjson.loads(lines[-1])


def test_a_what_if_rebuild_prints_who_would_change_status_and_switches_nothing(
    ledger: Ledger,
    db: ReadModelDb,
    settings: Settings,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, first = rebuild(settings, clock, monkeypatch, capsys)
    assert first["generation"] == 1
    assert first["previous"] is None
    lines, summary = rebuild(settings, clock, monkeypatch, capsys, "--what-if", "WI-500=2026.2")
    assert summary["dry_run"] is True
    assert summary["status_changed"] == 1
    assert lines[0] == (
        "WI-500 wi-late: non-compliant -> compliant under training:ce-core expired -> satisfied"
    )
    assert generations.current(db) == 1
    assert [g.number for g in generations.generations(db)] == [1]  # the candidate is gone


def test_the_diff_of_two_generations_is_read_a_page_at_a_time(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The diff of a switch reads each generation a page of users at a time (memory does not
    grow with the users) and finds every user changed, added and gone, as reading both
    whole tables does, in order of (coc, ref)."""
    old = generations.begin(db, clock.now(), "old")
    Follower(ledger, db, old, clock).catch_up()
    new = generations.begin(db, clock.now(), "new")
    Follower(ledger, db, new, clock, what_if={"WI-500": "2026.2"}).catch_up()
    old_users, new_users = (db.table(db.prefix(g) + "users") for g in (old, new))
    refs = db.fetchall(f"SELECT coc, ref FROM {new_users} ORDER BY coc, ref")
    with db.transaction() as cursor:  # one user only in the old, one only in the new
        db.execute(cursor, f"DELETE FROM {new_users} WHERE coc = ? AND ref = ?", refs[0])
        db.execute(cursor, f"DELETE FROM {old_users} WHERE coc = ? AND ref = ?", refs[-1])
        db.execute(  # and one whose overall status alone differs
            cursor,
            f"UPDATE {old_users} SET overall = 'x' WHERE coc = ? AND ref = ?",
            refs[len(refs) // 2],
        )

    def whole(table: str) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
        found = db.fetchall(f"SELECT coc, ref, overall, evaluation FROM {table}")
        return {
            (coc, ref): (overall, {c["clause"]: c["state"] for c in orjson.loads(e)["clauses"]})
            for coc, ref, overall, e in found
        }

    before, after = whole(old_users), whole(new_users)
    expected = []
    for coc, ref in sorted(before.keys() | after.keys()):
        was, now = before.get((coc, ref), (None, {})), after.get((coc, ref), (None, {}))
        clauses = tuple(
            (c, was[1].get(c), now[1].get(c))
            for c in sorted(was[1].keys() | now[1].keys())
            if was[1].get(c) != now[1].get(c)
        )
        if clauses or was[0] != now[0]:
            expected.append(diff.StatusChange(coc, ref, was[0], now[0], clauses))
    monkeypatch.setattr(diff, "PAGE", 2)
    found = diff.diff_generations(db, old, new)
    assert (found.users_before, found.users_after) == (len(before), len(after))
    assert found.changes == expected
    assert found.changes[0].after is None  # gone from the new generation
    assert found.changes[-1].before is None  # new in it
    assert len(expected) >= 4  # the what-if changed a user's status too


def test_a_rebuild_switches_to_a_generation_equal_to_the_live_one(
    ledger: Ledger,
    db: ReadModelDb,
    settings: Settings,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = generations.ensure_current(db, clock.now())
    Follower(ledger, db, live, clock, batch_size=13).catch_up()
    lines, summary = rebuild(settings, clock, monkeypatch, capsys)
    assert lines == ["0 users changed (0 overall); switched to generation 2"]
    assert summary["previous"] == live
    assert generations.current(db) == 2
    assert snapshot(db, 2) == snapshot(db, live)  # the old one stays until the next switch


def test_reads_during_a_rebuild_answer_from_the_old_generation_until_the_switch(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "GENERATION_SECONDS", 0.05)
    old = generations.ensure_current(db, clock.now())
    Follower(ledger, db, old, clock).catch_up()
    models = ReadModels(ledger, db, ComplianceService(ledger))
    before = models.user("WI-500", LATE, clock.now())
    assert before["overall"] == "non-compliant"

    new = generations.begin(db, clock.now(), "rebuild")
    stop = threading.Event()
    seen: list[dict[str, object]] = []

    def halfway(step: Step) -> None:  # a reader during the build, then an interruption
        seen.append(models.user("WI-500", LATE, clock.now()))
        stop.set()

    what_if = Follower(ledger, db, new, clock, batch_size=20, what_if={"WI-500": "2026.2"})
    what_if.catch_up(progress=halfway, stop=stop)
    assert 0 < db.position(new) < ledger.head()
    assert seen == [before]
    # a new process resumes the interrupted build from its committed position
    Follower(ledger, db, new, clock, what_if={"WI-500": "2026.2"}).catch_up()
    assert models.user("WI-500", LATE, clock.now()) == before
    generations.switch(db, new, clock.now())
    # a reader trusts the generation it looked up for GENERATION_SECONDS (meanwhile it
    # answers from the previous one, whose tables stay until the next switch)
    time.sleep(0.1)
    assert models.user("WI-500", LATE, clock.now())["overall"] == "compliant"


def test_the_projection_process_catches_the_current_generation_up_with_the_log(
    ledger: Ledger,
    db: ReadModelDb,
    settings: Settings,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = load_script("project")
    monkeypatch.setattr(script, "Ledger", lambda s: Ledger(s, clock=clock))
    assert script.main(["--once", *store_args(settings)]) == 0
    number = generations.current(db)
    assert number is not None
    assert db.position(number) == ledger.head()
    assert script.main(["--database-url", "mysql://nowhere/x"]) == 2


def test_users_evaluated_in_worker_processes_equal_those_evaluated_in_one(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from projections.readmodels import follower, workers

    monkeypatch.setattr(follower, "PARALLEL_FROM", 0)
    monkeypatch.setattr(workers, "CHUNK", 2)  # several chunks in flight at once
    one = generations.begin(db, clock.now(), "one process")
    Follower(ledger, db, one, clock).catch_up()
    several = generations.begin(db, clock.now(), "two workers")
    threads = set(threading.enumerate())
    step = Follower(ledger, db, several, clock, workers=2).catch_up()
    # the workers have exited and the pool's thread with them: none runs into the
    # interpreter's exit (where it could print an ignored "Bad file descriptor" error)
    assert multiprocessing.active_children() == []
    assert set(threading.enumerate()) <= threads
    assert step.pending == 0
    users = snapshot(db, several)["users"]
    assert len(users) > 2 * 2
    assert snapshot(db, several) == snapshot(db, one)


def test_workers_started_before_a_large_backlog_is_applied_evaluate_its_users(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from projections.readmodels import follower, workers

    monkeypatch.setattr(follower, "BACKLOG_FROM", 0)  # every backlog is large
    monkeypatch.setattr(follower, "PARALLEL_FROM", 10**9)  # so only the early start counts
    calls: list[str] = []
    start, evaluate = workers.Workers.start, workers.Workers.evaluate
    monkeypatch.setattr(workers.Workers, "start", lambda self: calls.append("start") or start(self))
    monkeypatch.setattr(
        workers.Workers,
        "evaluate",
        lambda self, **kw: calls.append("evaluate") or evaluate(self, **kw),
    )
    apply_next = Follower.apply_next
    monkeypatch.setattr(
        Follower, "apply_next", lambda self, *a: calls.append("apply") or apply_next(self, *a)
    )
    one = generations.begin(db, clock.now(), "one process")
    Follower(ledger, db, one, clock).catch_up()
    calls.clear()
    several = generations.begin(db, clock.now(), "two workers")
    step = Follower(ledger, db, several, clock, workers=2).catch_up()
    assert calls.index("start") < calls.index("apply")
    assert "evaluate" in calls
    assert step.pending == 0
    assert snapshot(db, several) == snapshot(db, one)


def test_a_worker_s_rows_carry_the_position_they_were_evaluated_at(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    """Not the one its process started at: workers may start before the log is applied."""
    import gc

    from projections.readmodels import workers

    number = generations.begin(db, clock.now(), "early workers")
    thresholds = gc.get_threshold()
    workers._start(ledger.settings, number, clock.now(), {})  # here, not in a process
    try:
        started_at = workers._worker.position if workers._worker else None
        # workers start side by side: only the main process makes the store's tables
        assert workers._worker is not None
        assert not workers._worker.ledger.settings.create_tables
        follower = Follower(ledger, db, number, clock)
        while follower.apply_next():
            pass
        queued = follower.projector.next_users("")
        evaluated = workers._evaluate(queued, clock.now(), follower.position)
    finally:
        workers._worker = workers._clock = None
        gc.set_threshold(*thresholds)
    assert started_at == 0
    assert evaluated.users
    assert {row[9] for row in evaluated.users} == {ledger.head()}  # the position column


@pytest.mark.parametrize("bulk", [True, False], ids=["in-bulk", "line-by-line"])
def test_applying_decodes_only_events_that_create_correct_or_are_kept(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    """An audit line names its event without any of its fields, and its CoC is its entity's
    (kept with the entity's key): an event is decoded only when it creates an entity (its
    key), corrects an event (what it corrects), or, but in bulk, is applied to an aggregate
    kept in memory (any but a user's)."""
    completion = _retract_late_completion(ledger, "recorded for the wrong person")
    number = generations.begin(db, clock.now(), "decoding")
    projector = Follower(ledger, db, number, clock).projector
    log = ledger.recorder.select_notifications(start=1, limit=1_000_000)
    needed = [
        n.id
        for n in log
        if (found := event_class(n.topic)) is not None
        and (found.creates or found.corrects or not (bulk or found.of_user))
    ]
    decoded: list[int] = []
    to_state = ledger.event_mapper.to_state

    def counting(stored: Any) -> Any:
        if isinstance(stored, Notification):  # not the events a correction's link reads
            decoded.append(stored.id)
        return to_state(stored)

    if bulk:
        projector.begin_bulk()
    with monkeypatch.context() as patched:
        patched.setattr(ledger.event_mapper, "to_state", counting)
        for start in range(0, len(log), 50):
            projector.apply(log[start : start + 50])
    projector.end_bulk()
    assert decoded == needed
    assert any(event_class(n.topic).corrects for n in log if n.id in needed)  # type: ignore[union-attr]
    assert len(needed) < len(log) / 2
    lines = db.fetchall(f"SELECT COUNT(*) FROM {db.table(db.prefix(number) + 'audit')}")
    assert lines == [(sum(1 for n in log if event_class(n.topic) is not None),)]
    linked = db.fetchall(
        f"SELECT corrects_version FROM {db.table(db.prefix(number) + 'audit')} WHERE position = ?",
        (log[-1].id,),
    )
    assert linked == [(completion.originator_version,)]


def test_corrections_loaded_in_bulk_are_linked_by_reads_planned_without_parallel_workers(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a bulk load is over, each correction is linked by a read of its entity's lines
    through the new entity index. On PostgreSQL those reads plan without parallel workers
    (the new index has no statistics: the planner had started workers for every read), for
    that transaction only."""
    completion = _retract_late_completion(ledger, "recorded for the wrong person")
    number = generations.begin(db, clock.now(), "bulk")
    projector = Follower(ledger, db, number, clock).projector
    projector.begin_bulk()
    log = ledger.recorder.select_notifications(start=1, limit=1_000_000)
    projector.apply(log)
    show = "SELECT current_setting('max_parallel_workers_per_gather')"
    seen: list[str] = []
    query = db.query

    def observed(cursor: Any, statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
        if statement == projector.sql["lines"]:  # what the read's transaction has set
            seen.append(str(query(cursor, show)[0][0]))
        return query(cursor, statement, params)

    if db.postgres:
        monkeypatch.setattr(db, "query", observed)
    projector.end_bulk()
    audit = db.table(db.prefix(number) + "audit")
    linked = db.fetchall(f"SELECT corrects_version FROM {audit} WHERE position = ?", (log[-1].id,))
    assert linked == [(completion.originator_version,)]
    if db.postgres:
        assert len(seen) >= 2  # the demo's corrections and the retraction
        assert set(seen) == {"0"}
        monkeypatch.undo()
        assert db.fetchall(show) != [("0",)]  # the server's setting, for every other query


def test_a_generation_loaded_in_bulk_equals_one_built_line_by_line_corrections_linked(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from projections.readmodels import follower

    completion = _retract_late_completion(ledger, "recorded for the wrong person")
    retracted_at = ledger.head()
    complete_course(lambda c: run(ledger, c, CALLER), "WI-500", LATE, "WI-CE-CORE", clock.now())
    line_by_line = generations.begin(db, clock.now(), "line by line")
    Follower(ledger, db, line_by_line, clock).catch_up()
    monkeypatch.setattr(follower, "BACKLOG_FROM", 0)  # every backlog is large

    def corrections(number: int) -> list[tuple[object, ...]]:
        table = db.table(db.prefix(number) + "corrections")
        return db.fetchall(f"SELECT entity_id, corrected_event, position FROM {table}")

    bulk = generations.begin(db, clock.now(), "bulk")
    without_index: list[bool] = []
    kept: list[int] = []  # entities kept in memory while applying in bulk
    loading = Follower(ledger, db, bulk, clock, batch_size=10)

    counting: list[bool] = []  # whether the triggers that count users were there

    def progress(_: Step) -> None:
        # neither the entity nor the feed index
        without_index.append(not set(db._audit_indexes(bulk)) & db._catalogue("index"))
        counting.append(db.has_user_counting(bulk))
        if without_index[-1]:
            kept.append(len(loading.projector.entities.lru.cache))

    assert db.has_user_counting(bulk)
    step = loading.catch_up(progress)
    assert without_index[0]
    assert not counting[0]
    assert db.has_user_counting(bulk)
    # their histories grow with the log: agencies and agreements are loaded when derived
    assert kept
    assert set(kept) == {0}
    assert len(loading.projector.entities.lru.cache) > 0  # derived (and kept) afterwards
    assert step.pending == 0
    assert db.has_audit_indexes(bulk)
    assert snapshot(db, bulk) == snapshot(db, line_by_line)
    audit = db.table(db.prefix(bulk) + "audit")
    linked = db.fetchall(
        f"SELECT corrects_version FROM {audit} WHERE position = ?", (retracted_at,)
    )
    assert linked == [(completion.originator_version,)]
    assert corrections(bulk) == []

    interrupted = generations.begin(db, clock.now(), "interrupted")
    stop = threading.Event()
    first = Follower(ledger, db, interrupted, clock, batch_size=1)
    first.catch_up(lambda s: stop.set() if s.position >= retracted_at else None, stop=stop)
    assert 0 < first.position < ledger.head()
    assert not db.has_audit_indexes(interrupted)
    assert not db.has_user_counting(interrupted)
    assert retracted_at in [position for *_, position in corrections(interrupted)]
    monkeypatch.setattr(follower, "BACKLOG_FROM", 10**9)  # resumed line by line
    Follower(ledger, db, interrupted, clock, batch_size=10).catch_up()
    assert db.has_audit_indexes(interrupted)
    assert db.has_user_counting(interrupted)
    assert corrections(interrupted) == []
    assert snapshot(db, interrupted) == snapshot(db, line_by_line)


def test_a_rebuild_evaluates_users_at_the_head_while_applying_and_again_what_came_after(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers evaluate every user as it stands at the log's head H while the log is applied,
    then derive the agencies at H; events recorded during the rebuild, after H, queue their
    users for evaluation again."""
    from projections.readmodels import follower, workers

    monkeypatch.setattr(follower, "BACKLOG_FROM", 0)  # every backlog is large
    monkeypatch.setattr(workers, "CHUNK", 2)  # several chunks in flight at once
    queued_after_head: list[set[str]] = []
    evaluate = workers.Workers.evaluate

    def recording(self: workers.Workers, **kw: object) -> None:
        queued_after_head.append(set(self.projector.next_users("")))
        evaluate(self, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(workers.Workers, "evaluate", recording)
    do = lambda command: run(ledger, command, CALLER)  # noqa: E731
    head = ledger.head()
    ahead = generations.begin(db, clock.now(), "ahead")
    users = db.table(db.prefix(ahead) + "users")
    written_while_applying: list[int] = []
    counting: list[tuple[int, bool]] = []  # whether the triggers counting users were there
    deadline = time.monotonic() + 60

    def during(step: Step) -> None:
        if step.pending >= 0:
            return
        if not written_while_applying:  # once, while the log up to H is applied
            complete_course(do, "WI-500", LATE, "WI-CE-CORE", clock.now())
            register_user(do, "WI-500", "wi-new", "WI-NWH")
        written_while_applying.append(db.fetchall(f"SELECT COUNT(*) FROM {users}")[0][0])
        counting.append((step.position, db.has_user_counting(ahead)))
        if not written_while_applying[-1] and time.monotonic() < deadline:
            time.sleep(0.05)  # the workers are starting; the next batch writes what they did

    step = Follower(ledger, db, ahead, clock, batch_size=10, workers=2).catch_up(during)
    # rows were written before the agencies were derived, which queued their users again
    assert max(written_while_applying) > 0
    assert step.pending == 0
    assert step.position == ledger.head() > head
    assert queued_after_head == [{user(ledger, "WI-500", r).id.hex for r in (LATE, "wi-new")}]
    line_by_line = generations.begin(db, clock.now(), "line by line")
    Follower(ledger, db, line_by_line, clock).catch_up()
    assert snapshot(db, ahead) == snapshot(db, line_by_line)  # user_counts too
    # users rows were written without them up to H, counted once the log was applied there
    assert {there for position, there in counting if position <= head} == {False}
    assert {there for position, there in counting if position > head} == {True}
    evaluated_at = dict(db.fetchall(f"SELECT ref, position FROM {users}"))
    assert evaluated_at[LATE] == evaluated_at["wi-new"] == ledger.head()
    assert set(evaluated_at.values()) == {head, ledger.head()}  # the others at H
    # the workers derived every agency at H; the new user's agency again after it
    agencies = db.table(db.prefix(ahead) + "agencies")
    derived_at = dict(db.fetchall(f"SELECT ref, position FROM {agencies}"))
    assert derived_at.pop("WI-NWH") > head
    assert set(derived_at.values()) == {head}


@pytest.mark.parametrize("resumed_in_bulk", [False, True])
def test_a_rebuild_interrupted_while_evaluating_ahead_resumes_to_the_same_tables(
    ledger: Ledger,
    db: ReadModelDb,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    resumed_in_bulk: bool,
) -> None:
    from projections.readmodels import follower, workers

    line_by_line = generations.begin(db, clock.now(), "line by line")
    Follower(ledger, db, line_by_line, clock).catch_up()
    monkeypatch.setattr(follower, "BACKLOG_FROM", 0)
    monkeypatch.setattr(workers, "CHUNK", 2)
    interrupted = generations.begin(db, clock.now(), "interrupted")
    users = db.table(db.prefix(interrupted) + "users")
    stop = threading.Event()
    deadline = time.monotonic() + 60

    def once_some_users_are_written(step: Step) -> None:
        if db.fetchall(f"SELECT COUNT(*) FROM {users}")[0][0]:
            stop.set()
        elif time.monotonic() < deadline:
            time.sleep(0.05)  # the workers are starting; the next batch writes what they did

    first = Follower(ledger, db, interrupted, clock, batch_size=1, workers=2)
    first.catch_up(once_some_users_are_written, stop=stop)
    assert 0 < first.position < ledger.head()
    written = db.fetchall(f"SELECT DISTINCT position FROM {users}")
    assert written == [(ledger.head(),)]  # evaluated ahead of the generation's position
    if not resumed_in_bulk:
        monkeypatch.setattr(follower, "BACKLOG_FROM", 10**9)
    step = Follower(ledger, db, interrupted, clock, batch_size=10, workers=2).catch_up()
    assert step.pending == 0
    assert snapshot(db, interrupted) == snapshot(db, line_by_line)


def test_a_rebuild_reports_the_users_the_workers_have_still_to_evaluate_ahead(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the log is applied and after, the progress counts down the users the workers
    evaluate at the head (scripts/rebuild's bar shows it), from all of them to none."""
    from projections.readmodels import follower, workers

    monkeypatch.setattr(follower, "BACKLOG_FROM", 0)
    monkeypatch.setattr(workers, "CHUNK", 2)
    steps: list[Step] = []
    building = generations.begin(db, clock.now(), "building")
    Follower(ledger, db, building, clock, batch_size=5, workers=2).catch_up(steps.append)

    counted = [step.ahead for step in steps if step.ahead >= 0]
    users = db.fetchall(f"SELECT COUNT(*) FROM {db.table(db.prefix(building) + 'users')}")
    assert counted[0] == users[0][0] > 2 * 2
    assert counted == sorted(counted, reverse=True)
    assert counted[-1] == 0
    assert all(step.pending == -1 for step in steps if step.position < ledger.head())


def test_a_second_pass_ahead_stopped_before_writing_leaves_every_user_it_changed_queued(
    ledger: Ledger,
    db: ReadModelDb,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An event applied while evaluating ahead queues its user only if it creates the user.
    A user evaluated by an earlier pass (so off the queue) and changed by events the next
    pass applies is queued when that pass begins, so a pass stopped before its workers'
    rows are written still leaves the user to evaluate."""
    from projections.readmodels import follower, workers

    monkeypatch.setattr(follower, "BACKLOG_FROM", 0)
    building = generations.begin(db, clock.now(), "building")
    Follower(ledger, db, building, clock, batch_size=10, workers=2).catch_up()
    assert Follower(ledger, db, building, clock).projector.pending() == 0
    do = lambda command: run(ledger, command, CALLER)  # noqa: E731
    complete_course(do, "WI-500", LATE, "WI-CE-CORE", clock.now() - timedelta(days=1))
    head = ledger.head()
    monkeypatch.setattr(workers.Ahead, "poll", lambda self, wait=False: None)  # writes nothing
    stop = threading.Event()
    second = Follower(ledger, db, building, clock, batch_size=1, workers=2)
    second.catch_up(lambda step: stop.set() if step.position >= head else None, stop=stop)
    assert second.position == head

    monkeypatch.setattr(follower, "BACKLOG_FROM", 10**9)  # resumed without a pass ahead
    assert Follower(ledger, db, building, clock, workers=2).catch_up().pending == 0
    line_by_line = generations.begin(db, clock.now(), "line by line")
    Follower(ledger, db, line_by_line, clock).catch_up()
    assert snapshot(db, building) == snapshot(db, line_by_line)


def _retract_late_completion(ledger: Ledger, reason: str) -> EndUser.CourseCompleted:
    """Retract LATE's last course completion; returns the completion retracted."""
    completion = list(user(ledger, "WI-500", LATE).facts(EndUser.CourseCompleted))[-1]
    retraction = RetractEvent(
        coc="WI-500",
        entity_kind="user",
        entity_ref=LATE,
        event_id=completion.event_id,
        reason=reason,
    )
    run(ledger, retraction, CALLER)
    return completion


def _retract_with_awkward_text(ledger: Ledger) -> str:
    """Retract a completion of LATE's with a reason that COPY's text format has to escape
    (tabs, newlines, backslashes): returns the reason."""
    reason = 'tab\there, line\nbreak, back\\slash, "quoted", \\N, café ✓'
    _retract_late_completion(ledger, reason)
    return reason


def test_a_generation_s_json_documents_are_compressed_with_lz4_where_postgresql_has_it(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the columns of JSON documents (``db.COMPRESSED``) of a new generation
    are compressed with lz4 where the server was built with it (this one is), and with its
    default otherwise; on SQLite nothing changes. Either way they read back as written."""
    with_lz4 = generations.begin(db, clock.now(), "lz4")
    monkeypatch.setattr(ReadModelDb, "_has_lz4", lambda self, cursor: False)
    without = generations.begin(db, clock.now(), "default")
    monkeypatch.undo()
    for number in (with_lz4, without):
        Follower(ledger, db, number, clock).catch_up()
    assert snapshot(db, with_lz4) == snapshot(db, without)
    if not db.postgres:
        return

    def compression(number: int) -> dict[str, str]:
        found = db.fetchall(
            "SELECT a.attname, a.attcompression::text FROM pg_attribute a "
            "WHERE a.attrelid = ?::regclass AND a.attname IN ('evaluation', 'answer', 'ref')",
            (db.table(db.prefix(number) + "users"),),
        )
        return dict(found)

    assert compression(with_lz4) == {"evaluation": "l", "answer": "l", "ref": ""}
    assert compression(without) == {"evaluation": "", "answer": "", "ref": ""}
    summary = db.fetchall(
        "SELECT attcompression::text FROM pg_attribute WHERE attrelid = ?::regclass "
        "AND attname = 'summary'",
        (db.table(db.prefix(with_lz4) + "agencies"),),
    )
    assert summary == [("l",)]


def test_an_audit_line_shows_the_event_as_stored_whatever_its_text_holds(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    """An audit line's event is the log's row at its position (``db.log_join``), not a copy:
    the stored bytes come back unchanged, and the audit table holds no copy of them."""
    reason = _retract_with_awkward_text(ledger)
    at = ledger.head()
    number = generations.begin(db, clock.now(), "audit text")
    Follower(ledger, db, number, clock).catch_up()
    audit = db.table(db.prefix(number) + "audit")
    [(state,)] = db.fetchall(
        f"SELECT log.state FROM {audit} a {db.log_join('a')} WHERE a.position = ?", (at,)
    )
    [stored] = ledger.recorder.select_notifications(start=at, limit=1)
    assert state == stored.state
    assert orjson.loads(state)["reason"] == reason
    assert OLD_PAYLOAD_COLUMN not in db.columns(db.prefix(number) + "audit")
    [(lines, joined)] = db.fetchall(
        f"SELECT COUNT(*) AS lines, COUNT(log.state) AS joined FROM {audit} a {db.log_join('a')}"
    )
    assert lines == joined > 0


def _older_audit_shape(db: ReadModelDb, number: int, copies: bool) -> None:
    """Give generation ``number``'s audit table (before any line) the shape an older version
    made: the event's fields between ``type`` and ``corrects_version``, and with ``copies``
    a copy of the event after them all."""
    audit = db.table(db.prefix(number) + "audit")
    columns = TABLES["audit"][0].replace(
        "corrects_version INTEGER", f"{OLD_EVENT_COLUMNS}, corrects_version INTEGER"
    ) + (f", {OLD_PAYLOAD_COLUMN} TEXT NOT NULL" if copies else "")
    if not db.postgres:
        columns = columns.replace("BIGINT PRIMARY KEY", "INTEGER PRIMARY KEY")
    with db.transaction() as cursor:
        db.execute(cursor, f"DROP TABLE {audit}")
        db.execute(cursor, f"CREATE TABLE {audit} ({columns})")
        db.create_audit_indexes(cursor, number)
    db.add_missing_indexes(number)


@pytest.mark.parametrize("copies", [False, True], ids=["fields", "fields-and-copies"])
def test_a_generation_of_an_older_audit_shape_is_followed_in_that_shape(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, copies: bool
) -> None:
    """A generation made by an older version holds each event's fields in its audit lines
    (the oldest a copy of the event too, ``payload``): followed, in batches then line by line,
    it goes on writing them (copies through COPY on PostgreSQL, whose text format escapes
    tabs, newlines and backslashes), each as the event stored says; and the columns both
    shapes have say what a generation of the new shape says."""
    fresh = generations.begin(db, clock.now(), "new shape")
    Follower(ledger, db, fresh, clock).catch_up()
    older = generations.begin(db, clock.now(), "older shape")
    _older_audit_shape(db, older, copies)
    Follower(ledger, db, older, clock, batch_size=7).catch_up()
    reason = _retract_with_awkward_text(ledger)
    for number in (fresh, older):  # then line by line
        Follower(ledger, db, number, clock).catch_up()
    audit = db.table(db.prefix(older) + "audit")
    fields = ", ".join(c.split()[0] for c in OLD_EVENT_COLUMNS.split(", "))
    copy = f", {OLD_PAYLOAD_COLUMN}" if copies else ""
    lines = db.fetchall(f"SELECT position, {fields}{copy} FROM {audit} ORDER BY position")
    stored = ledger.recorder.select_notifications(start=1, limit=1_000_000)
    by_position = {n.id: n.state for n in stored}
    assert len(lines) > 50
    for position, *written in lines:
        state = orjson.loads(by_position[position])
        expected = list(rows.audit_fields(state).values())
        if copies:
            expected.append(by_position[position].decode())
        assert written == expected, position
    assert orjson.loads(by_position[lines[-1][0]])["reason"] == reason
    assert snapshot(db, older) == snapshot(db, fresh)
    assert OLD_PAYLOAD_COLUMN not in db.columns(db.prefix(fresh) + "audit")
    assert "actor" not in db.columns(db.prefix(fresh) + "audit")


def test_entities_read_together_at_a_position_equal_those_read_one_by_one(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild's workers read the agencies and agreements of a chunk's users in one query
    (``EntitiesAtPosition.prefetch``): at every position of the log each is the entity read
    alone there (one not created yet is not found), and reading them asks the store nothing
    more."""
    number = generations.begin(db, clock.now(), "at positions")
    service = ComplianceService(ledger)
    agencies = ("MO-PHA", "MO-RBS", "MO-CFS", "MO-LOP", "MO-NONE")
    seen = {"found": 0, "absent": 0}
    for position in range(1, ledger.head() + 1, 5):
        together = EntitiesAtPosition(ledger, db, number, position)
        alone = EntitiesAtPosition(ledger, db, number, position)
        tenant = together.get(CoC, entity_id(CoC.kind, "MO-606"))
        if tenant is None:
            continue
        ids = [i for ref in agencies for i in service.organisation_ids(tenant, ref)]
        together.prefetch(ids)
        with monkeypatch.context() as patched:
            patched.setattr(type(ledger.positions), "version_at", _no_store_read)
            patched.setattr(type(ledger.positions), "events_at", _no_store_read)
            read_together = [together._get(i) for i in ids]
        for aggregate_id, found in zip(ids, read_together, strict=True):
            expected = alone._get(aggregate_id)
            seen["found" if expected is not None else "absent"] += 1
            assert (found is None) == (expected is None), (position, aggregate_id)
            if found is not None and expected is not None:
                assert (type(found), found.version) == (type(expected), expected.version)
                assert vars(found) == vars(expected)
    assert seen["found"] > 10
    assert seen["absent"] > 10


def _no_store_read(*_: object) -> None:
    raise AssertionError("read from the store after prefetch")


def test_agencies_and_intakes_derived_at_a_position_are_read_together_and_equal_the_live_ones(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker derives the agencies and intakes queued at a log position after one read of
    every entity they need (``Projector.derive``): the rows equal those of a generation
    that applied the log up to there, and deriving reads no entity from the store alone."""
    live = generations.begin(db, clock.now(), "line by line")
    Follower(ledger, db, live, clock).catch_up()
    head = ledger.head()
    at_head = Projector(ledger, db, live, clock, at_position=head)
    at_head.position = head
    entities = db.table(db.prefix(live) + "entities")
    queued = [
        (str(hex_id), str(coc), str(ref), str(kind))
        for hex_id, coc, ref, kind in db.fetchall(
            f"SELECT id, coc, ref, kind FROM {entities} WHERE kind IN ('agency', 'intake') "
            "ORDER BY id"
        )
    ]
    assert {kind for *_, kind in queued} == {"agency", "intake"}
    reads: list[int] = []
    events_at = type(ledger.positions).events_at

    def counted(self: Any, ids: Any, position: int) -> Any:
        reads.append(len(ids))
        return events_at(self, ids, position)

    with monkeypatch.context() as patched:
        patched.setattr(type(ledger.positions), "version_at", _no_store_read)
        patched.setattr(type(ledger.positions), "events_at", counted)
        patched.setattr(type(ledger.repository), "get", _no_store_read)
        with db.transaction(commit=False) as cursor:
            derived = at_head.derive(cursor, queued)
    assert len(reads) == 1
    agencies = db.table(db.prefix(live) + "agencies")
    assert sorted(derived.agencies) == sorted(db.fetchall(f"SELECT * FROM {agencies}"))
    calendar = db.table(db.prefix(live) + "calendar")
    intakes = db.fetchall(f"SELECT * FROM {calendar} WHERE subject_kind = 'intake'")
    assert sorted(derived.calendar) == sorted(intakes)
    assert [c for c in derived.calendar_cleared if c[1] == "intake"]  # intakes were derived
