"""Read models follow the log exactly once and equal a rebuild from scratch."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.base import Caller
from commands.corrections import RetractEvent
from commands.demo import load_demo
from commands.end_users import RecordCourseCompletion, RecordDeparture, RegisterEndUser
from commands.organisations import AddRegion, JoinRegion, LeaveRegion, RegisterAgency
from commands.registry import run
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import Source
from ledger.domain.end_users import EndUser
from ledger.errors import LedgerError
from ledger.ids import entity_id
from projections.compliance.service import ComplianceService
from projections.readmodels import generations, rows
from projections.readmodels.db import ReadModelDb
from projections.readmodels.follower import Follower
from projections.readmodels.queries import TABLES_ONLY, NeedsStore, ReadModels
from projections.readmodels.runner import CurrentGenerationRunner
from projections.readmodels.timetravel import TimeTravel, known_at
from tests.integration.builders import user
from tests.integration.readmodels_support import (
    assert_agrees_with_the_store,
    drop_user_counting,
    rebuilt,
    snapshot,
)

CALLER = Caller(actor="prop", source=Source.CLI, request_id="req-prop")
USERS = [("MO-606", "mo-u1"), ("WI-500", "wi-u1"), ("CA-600", "ca-u1"), ("IL-510", "il-u1")]
COURSES = ["MO-SECURITY-PRIVACY", "WI-CE-CORE", "LA-HMIS-10", "LA-HMIS-511", "MO-DATA-STANDARDS"]
AGENCIES = {"MO-606": "MO-CFS", "WI-500": "WI-NWH", "CA-600": "CA-SCH", "IL-510": "IL-LDC"}


@pytest.fixture
def db(ledger: Ledger) -> ReadModelDb:
    load_demo(ledger)
    return ReadModelDb(ledger)


def test_a_generation_holds_users_agencies_regions_and_the_audit_trail(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    number = generations.ensure_current(db, clock.now())
    step = Follower(ledger, db, number, clock).catch_up()
    assert step.position == ledger.head()
    assert step.pending == 0
    models = ReadModels(ledger, db, ComplianceService(ledger))
    wi = models.user("WI-500", "wi-u1", clock.now())
    assert wi["overall"] == "compliant"
    assert wi["evaluation"]["clauses"]
    assert [a["agency_ref"] for a in models.region("MO-606", "R1")] == ["MO-CFS"]
    trail = models.audit_trail("WI-500", "user", "wi-u1")
    assert [e["version"] for e in trail] == list(range(1, len(trail) + 1))
    assert trail[0]["type"] == "EndUser.Registered"
    assert all(e["actor"] and e["recorded_at"] and e["effective_at"] for e in trail)
    assert models.lag() == {
        "generation": number,
        "position": ledger.head(),
        "head": ledger.head(),
        "lag": 0,
        "pending": 0,
    }


def test_an_audit_trail_as_known_at_a_moment_reads_in_pages_what_the_log_says(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    """An audit line names its event; its id, clocks and who recorded it are read from the
    log's row, and a page as known at a moment keeps the lines recorded by then: pages of
    two read as known at a moment equal the whole trail's lines recorded by then."""
    number = generations.ensure_current(db, clock.now())
    coc, ref = "WI-500", "wi-u1"
    clock.advance(timedelta(hours=1))
    run(ledger, RecordDeparture(coc=coc, user_ref=ref, reason="moved"), CALLER)
    Follower(ledger, db, number, clock).catch_up()
    models = ReadModels(ledger, db, ComplianceService(ledger))
    whole = models.audit_trail(coc, "user", ref)
    stored = {
        e.originator_version: e for e in ledger.repository.get(user(ledger, coc, ref).id)._facts
    }
    for line in whole:
        event = stored[line["version"]]
        assert line["event_id"] == event.event_id.hex
        assert (line["effective_at"], line["recorded_at"]) == (
            rows.iso(event.effective_at),
            rows.iso(event.timestamp),
        )
        assert (line["actor"], line["source"], line["request_id"]) == (
            event.actor,
            event.source.value,
            event.request_id,
        )
    moment = stored[whole[-1]["version"]].timestamp - timedelta(seconds=1)
    expected = [line for line in whole if line["recorded_at"] <= rows.iso(moment)]
    assert 2 < len(expected) < len(whole)
    paged: list[dict[str, object]] = []
    while page := models.audit_trail(
        coc, "user", ref, moment, after=int(paged[-1]["version"]) if paged else 0, limit=2
    ):
        paged += page
    assert paged == expected


def test_following_in_small_batches_equals_a_rebuild_in_one_pass(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    live = generations.ensure_current(db, clock.now())
    follower = Follower(ledger, db, live, clock, batch_size=7, cache_size=3, users_kept=3)
    follower.catch_up()
    assert snapshot(db, live) == snapshot(db, rebuilt(ledger, db, clock, batch_size=10_000))


OPERATION = st.one_of(
    st.tuples(
        st.just("complete"), st.integers(0, 3), st.sampled_from(COURSES), st.integers(0, 400)
    ),
    st.tuples(st.just("retract"), st.integers(0, 3)),
    st.tuples(st.just("register"), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("depart"), st.integers(0, 3)),
    st.tuples(st.just("region"), st.booleans()),
    st.tuples(
        st.just("follow"),
    ),
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=st.lists(OPERATION, min_size=1, max_size=12))
def test_incremental_read_models_equal_a_rebuild_for_random_event_sequences(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, operations: list[tuple[object, ...]]
) -> None:
    live = generations.ensure_current(db, clock.now())
    follower = Follower(ledger, db, live, clock, batch_size=5, cache_size=4, users_kept=2)
    for operation in operations:
        _perform(ledger, clock, operation, follower)
    follower.catch_up()
    assert_agrees_with_the_store(ledger, db, live, clock.now())
    fresh = rebuilt(ledger, db, clock)
    try:
        assert snapshot(db, live) == snapshot(db, fresh)
    finally:
        generations.discard(db, fresh)


def _perform(
    ledger: Ledger, clock: FixedClock, operation: tuple[object, ...], follower: Follower
) -> None:
    kind = operation[0]
    if kind == "follow":
        follower.catch_up()
        return
    if kind == "complete":
        _, index, course, days = operation
        coc, ref = USERS[int(index)]  # type: ignore[call-overload]
        command: object = RecordCourseCompletion(
            coc=coc,
            user_ref=ref,
            course_code=str(course),
            provider="LMS",
            effective_at=clock.now() - timedelta(days=int(days)),  # type: ignore[call-overload]
        )
    elif kind == "retract":
        coc, ref = USERS[int(operation[1])]  # type: ignore[call-overload]
        completions = list(user(ledger, coc, ref).facts(EndUser.CourseCompleted))
        if not completions:
            return
        command = RetractEvent(
            coc=coc,
            entity_kind="user",
            entity_ref=ref,
            event_id=completions[-1].event_id,
            reason="recorded for the wrong person",
        )
    elif kind == "register":
        coc = USERS[int(operation[1])][0]  # type: ignore[call-overload]
        command = RegisterEndUser(
            coc=coc,
            user_ref=f"prop-{operation[2]}",
            agency_ref=AGENCIES[coc],
            person_name="Synthetic Person",
            email="synthetic@example.org",
        )
    elif kind == "depart":
        coc, ref = USERS[int(operation[1])]  # type: ignore[call-overload]
        command = RecordDeparture(coc=coc, user_ref=ref, reason="left")
    else:
        joining = bool(operation[1])
        command = (JoinRegion if joining else LeaveRegion)(
            coc="MO-606", agency_ref="MO-CFS", region="R1"
        )
    # a command refused by a rule writes nothing, which is part of the sequence too
    with contextlib.suppress(LedgerError):
        run(ledger, command, CALLER)  # type: ignore[arg-type]
    clock.advance(timedelta(minutes=5))


def test_a_follower_brings_the_users_it_kept_up_to_date_from_their_newer_events(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    live = generations.ensure_current(db, clock.now())
    follower = Follower(ledger, db, live, clock, batch_size=5, users_kept=100)
    follower.catch_up()
    kept = follower.projector.entities.kept
    ids = [entity_id(EndUser.kind, coc, ref).hex for coc, ref in USERS]
    built = [kept.get(hex_id)[0] for hex_id in ids]
    for operation in [
        ("complete", 0, "MO-SECURITY-PRIVACY", 3),
        ("complete", 1, "WI-CE-CORE", 10),
        ("retract", 1),
        ("depart", 2),
        ("complete", 3, "LA-HMIS-10", 1),
    ]:
        _perform(ledger, clock, operation, follower)
        follower.catch_up()

    now = [kept.get(hex_id)[0] for hex_id in ids]
    assert all(a is b for a, b in zip(now, built, strict=True))  # updated, not built again
    assert [u.version for u in now] == [
        len(ledger.history(entity_id(EndUser.kind, coc, ref))) for coc, ref in USERS
    ]
    assert_agrees_with_the_store(ledger, db, live, clock.now())
    fresh = rebuilt(ledger, db, clock)
    assert snapshot(db, live) == snapshot(db, fresh)


def test_a_follower_killed_mid_batch_resumes_without_applying_anything_twice(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = generations.ensure_current(db, clock.now())
    follower = Follower(ledger, db, live, clock, batch_size=25)
    follower.apply_next()
    crashing = Follower(ledger, db, live, clock, batch_size=25)
    before = crashing.position

    def crash(*_: object) -> None:
        raise RuntimeError("killed in the middle of a batch")

    monkeypatch.setattr(crashing.projector, "_queue", crash)
    with pytest.raises(RuntimeError):
        crashing.apply_next()
    monkeypatch.undo()
    assert db.position(live) == before  # the half-applied batch left nothing behind
    Follower(ledger, db, live, clock, batch_size=25).catch_up()  # a new process resumes
    assert snapshot(db, live) == snapshot(db, rebuilt(ledger, db, clock))


def _followed(ledger: Ledger, db: ReadModelDb, clock: FixedClock) -> tuple[int, ReadModels]:
    """The current generation, caught up with the log, and queries over it."""
    live = generations.ensure_current(db, clock.now())
    Follower(ledger, db, live, clock).catch_up()
    return live, ReadModels(ledger, db, ComplianceService(ledger))


def test_a_generation_made_before_users_rows_held_their_answers_is_read_and_followed(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    live, models = _followed(ledger, db, clock)
    later = clock.now() + timedelta(days=3 * 365)  # wi-u1's answer expired: evaluated then
    answers = [models.user(coc, ref, when) for coc, ref in USERS for when in (clock.now(), later)]
    page = orjson.dumps(models.users_json("WI-500", later, limit=100))
    assert [a["evaluated"] for a in answers].count("at query time") >= 1
    users = db.table(db.prefix(live) + "users")
    with db.transaction() as cursor:  # the users table as an older version made it
        db.execute(cursor, f"ALTER TABLE {users} DROP COLUMN answer")
    older = ReadModels(ledger, db, ComplianceService(ledger))
    assert [older.user(coc, ref, when) for coc, ref in USERS for when in (clock.now(), later)] == (
        answers
    )
    assert orjson.dumps(older.users_json("WI-500", later, limit=100)) == page

    # followed in its own shape: a new fact changes its user's row there as in a rebuild
    for operation in [("register", 0, 5), ("complete", 0, "MO-SECURITY-PRIVACY", 3)]:
        _perform(ledger, clock, operation, Follower(ledger, db, live, clock))
    step = Follower(ledger, db, live, clock).catch_up()
    assert (step.position, step.pending) == (ledger.head(), 0)
    fresh = rebuilt(ledger, db, clock)
    try:
        assert "answer" not in db.columns(db.prefix(live) + "users")
        assert snapshot(db, live)["users"] == [row[:-1] for row in snapshot(db, fresh)["users"]]
    finally:
        generations.discard(db, fresh)


def test_an_expiry_shows_at_query_time_without_a_new_event(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    _, models = _followed(ledger, db, clock)
    row = models.user("WI-500", "wi-u1", clock.now())
    assert row["overall"] == "compliant"
    assert row["evaluation"]["next_change"] is not None
    later = clock.now() + timedelta(days=3 * 365)
    token = TABLES_ONLY.set(True)  # as the API asks on the event loop (api/reads.py)
    try:
        with pytest.raises(NeedsStore):
            models.user("WI-500", "wi-u1", later)
        assert models.user("WI-500", "wi-u1", clock.now()) == row  # fresh: the tables only
    finally:
        TABLES_ONLY.reset(token)
    again = models.user("WI-500", "wi-u1", later)
    assert again["evaluated"] == "at query time"
    assert again["overall"] != "compliant"
    upcoming = models.calendar("WI-500", clock.now(), days=3650)
    assert any(e["subject_ref"] == "wi-u1" and e["what"] == "expires" for e in upcoming)


def test_a_generation_made_before_user_counts_gets_them_counted_when_next_followed(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    live, models = _followed(ledger, db, clock)
    before = {coc: models.agency(coc, ref, clock.now())["users"] for coc, ref in AGENCIES.items()}
    assert sum(sum(counts.values()) for counts in before.values()) >= len(USERS)
    drop_user_counting(db, live)  # as an older version left it
    follower = Follower(ledger, db, live, clock)  # its projector adds what is missing
    assert {c: models.agency(c, r, clock.now())["users"] for c, r in AGENCIES.items()} == before
    run(ledger, RecordDeparture(coc="WI-500", user_ref="wi-u1", reason="left"), CALLER)
    follower.catch_up()  # and the triggers keep them from then on
    assert_agrees_with_the_store(ledger, db, live, clock.now())


def test_a_generation_made_before_answers_and_user_counts_gets_its_counts_when_followed(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    """A generation older than both (no answer column, no user_counts) is given the table,
    its triggers and its counts when next opened, and nothing else of its shape changes
    (a new generation's lz4 compression is not for it: it lacks the columns)."""
    live, models = _followed(ledger, db, clock)
    before = {coc: models.agency(coc, ref, clock.now())["users"] for coc, ref in AGENCIES.items()}
    users = db.table(db.prefix(live) + "users")
    with db.transaction() as cursor:
        db.execute(cursor, f"ALTER TABLE {users} DROP COLUMN answer")
    drop_user_counting(db, live)
    follower = Follower(ledger, db, live, clock)  # its projector adds what is missing
    assert "answer" not in db.columns(db.prefix(live) + "users")
    assert db.has_user_counting(live)
    assert {c: models.agency(c, r, clock.now())["users"] for c, r in AGENCIES.items()} == before
    run(ledger, RecordDeparture(coc="WI-500", user_ref="wi-u1", reason="left"), CALLER)
    follower.catch_up()  # and the triggers keep them from then on
    counts = db.table(db.prefix(live) + "user_counts")
    kept = db.fetchall(f"SELECT coc, agency_ref, overall, users FROM {counts}")
    counted = db.fetchall(
        f"SELECT coc, COALESCE(agency_ref, ''), overall, COUNT(*) FROM {users} "
        "GROUP BY coc, COALESCE(agency_ref, ''), overall"
    )
    assert sorted(kept) == sorted(counted)
    assert ("WI-500", "") in {row[:2] for row in kept}  # wi-u1 left its agency


def _plan(db: ReadModelDb, statement: str, params: Sequence[object]) -> str:
    """How the store would run ``statement``: SQLite's query plan, or PostgreSQL's with
    sequential scans discouraged (its tables here are too small for an index to pay)."""
    if db.postgres:
        with db.transaction(commit=False) as cursor:
            db.execute(cursor, "SET LOCAL enable_seqscan = off")
            return str(db.query(cursor, "EXPLAIN " + statement, params))
    return str(db.fetchall("EXPLAIN QUERY PLAN " + statement, params))


def test_a_page_of_an_agency_s_users_reads_that_agency_s_users_only(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``?agency=``: paged, exactly the agency's users in order of ref; read through the
    (coc, agency_ref, ref) index, not by walking every user of the CoC for those of the
    agency (a page of an agency with one user in a CoC of 9,264 took 54 ms so, 0.01 ms
    through the index)."""
    live, models = _followed(ledger, db, clock)
    users = db.table(db.prefix(live) + "users")
    agencies = db.fetchall(
        f"SELECT DISTINCT coc, agency_ref FROM {users} WHERE agency_ref IS NOT NULL "
        "ORDER BY coc, agency_ref"
    )
    assert len(agencies) > 3
    for coc, agency in agencies:
        expected = db.fetchall(
            f"SELECT ref FROM {users} WHERE coc = ? AND agency_ref = ? ORDER BY ref",
            (coc, agency),
        )
        walked: list[str] = []
        while True:
            page = models.users_json(
                coc, clock.now(), agency=agency, after=walked[-1] if walked else "", limit=2
            )
            walked += [ref for ref, _ in page]
            if len(page) < 2:
                break
        assert walked == [ref for (ref,) in expected]

    asked: list[tuple[str, tuple[object, ...]]] = []
    fetchall = db.fetchall
    monkeypatch.setattr(db, "fetchall", lambda s, p=(): asked.append((s, p)) or fetchall(s, p))
    models.users_json("WI-500", clock.now(), agency="WI-NWH", limit=2)
    monkeypatch.undo()
    [(statement, params)] = [(s, p) for s, p in asked if "agency_ref" in s]
    plan = _plan(db, statement, params)  # the agency and the ref are both the index's
    if db.postgres:
        assert f"{db.prefix(live)}users_i0" in plan
        assert "(agency_ref = 'WI-NWH'::text) AND (ref > ''::text)" in plan
    else:
        assert "(coc=? AND agency_ref=? AND ref>?)" in plan


def test_users_whose_status_lapsed_by_itself_are_queued_again_in_every_coc(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    """``mark_stale`` (the service's runner, once a minute): the users whose projected status
    lapsed by itself since (``valid_until`` passed) are queued and evaluated again, in every
    CoC; each CoC's are found through the (coc, valid_until) index, not by reading every
    user's row while holding the store's writer lock."""
    live = generations.ensure_current(db, clock.now())
    follower = Follower(ledger, db, live, clock)
    follower.catch_up()
    projector = follower.projector
    users = db.table(db.prefix(live) + "users")
    later = clock.now() + timedelta(days=3 * 365)
    lapsed = db.fetchall(
        f"SELECT coc, ref FROM {users} WHERE valid_until <= ? ORDER BY coc, ref",
        (rows.iso(later),),
    )
    assert len({coc for coc, _ in lapsed}) > 1
    projector.mark_stale()
    assert projector.pending() == 0  # nothing has lapsed yet
    clock.set(later)
    projector.mark_stale()
    assert projector.pending() == len(lapsed)
    follower.catch_up()
    assert projector.pending() == 0
    assert not db.fetchall(f"SELECT ref FROM {users} WHERE valid_until <= ?", (rows.iso(later),))

    params = ("WI-500", rows.iso(later))
    statement = projector.sql["stale"].split(" SELECT ", 1)[1].split(" ON CONFLICT")[0]
    plan = _plan(db, "SELECT " + statement, params)
    if db.postgres:
        assert "Index Cond: ((coc = 'WI-500'::text) AND (valid_until <=" in plan
    else:
        assert "(coc=? AND valid_until<?)" in plan


def test_an_entity_as_known_at_a_recorded_time_is_its_history_recorded_by_then(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    """Time travel's loader "as known at K" (``known_at``) gives each entity built from the
    events recorded by K (read once), the repository's aggregate at that version; None
    before its first."""
    for coc, ref in USERS:  # each user gets later facts, recorded a day apart
        for course in ("MO-SECURITY-PRIVACY", "WI-CE-CORE"):
            clock.set(clock.now() + timedelta(days=1))
            completion = RecordCourseCompletion(
                coc=coc, user_ref=ref, course_code=course, provider="LMS", effective_at=clock.now()
            )
            run(ledger, completion, CALLER)
    for coc, ref in USERS:
        user_id = entity_id(EndUser.kind, coc, ref)
        events = list(ledger.events.get(user_id))
        moments = sorted({e.timestamp for e in events})
        assert known_at(ledger, moments[0] - timedelta(seconds=1))(EndUser, user_id) is None
        for moment in moments:
            version = max(e.originator_version for e in events if e.timestamp <= moment)
            loaded = known_at(ledger, moment)(EndUser, user_id)
            expected = ledger.repository.get(user_id, version=version)
            assert loaded is not None
            assert loaded.version == version
            assert list(loaded.facts()) == list(expected.facts())
        assert len(moments) >= 3


def test_a_coc_as_known_at_a_recorded_time_reads_each_entity_once(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole CoC as known at K (a page of its users): the CoC, agencies and agreements
    that every user's evaluation asks for again are read from the store once per answer,
    and each user's status is the one found asking for that user alone."""
    follower = Follower(ledger, db, generations.ensure_current(db, clock.now()), clock)
    for number in range(3):  # users of the same agency
        _perform(ledger, clock, ("register", 0, number), follower)
    _, models = _followed(ledger, db, clock)
    coc, now = "MO-606", clock.now()
    refs = models.user_refs(coc)
    assert len(refs) == 4
    alone = [entry for ref in refs for entry in TimeTravel(ledger).coc(coc, [ref], now, now)]
    reads: list[object] = []
    get = ledger.events.get
    monkeypatch.setattr(ledger.events, "get", lambda i, *a: reads.append(i) or get(i, *a))
    assert TimeTravel(ledger).coc(coc, refs, now, now) == alone
    assert len(reads) > len(refs)  # the users, their CoC, agencies and agreements
    assert len(reads) == len(set(reads))  # none read twice


def test_a_transfer_of_agency_moves_the_user_between_agency_counts(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    live = generations.ensure_current(db, clock.now())
    follower = Follower(ledger, db, live, clock)
    follower.catch_up()
    models = ReadModels(ledger, db, ComplianceService(ledger))
    before = models.agency("WI-500", "WI-NWH", clock.now())["users"]
    run(ledger, RecordDeparture(coc="WI-500", user_ref="wi-u1", reason="left"), CALLER)
    follower.catch_up()
    after = models.agency("WI-500", "WI-NWH", clock.now())["users"]
    assert sum(before.values()) == sum(after.values()) + 1
    assert isinstance(user(ledger, "WI-500", "wi-u1"), EndUser)


def test_an_agency_event_queues_that_agency_s_users_and_a_coc_event_every_user_of_the_coc(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    live = generations.ensure_current(db, clock.now())
    run(ledger, RegisterAgency(coc="MO-606", agency_ref="MO-OTHER", agency_name="Other"), CALLER)
    for ref in ("other-1", "other-2"):
        command = RegisterEndUser(coc="MO-606", user_ref=ref, agency_ref="MO-OTHER")
        run(ledger, command, CALLER)
    follower = Follower(ledger, db, live, clock)
    follower.catch_up()
    pending = db.table(db.prefix(live) + "pending")
    entities = db.table(db.prefix(live) + "entities")

    def queued_after(command: object) -> set[str]:
        run(ledger, command, CALLER)  # type: ignore[arg-type]
        follower.apply_next()
        while follower.projector.derive_pending():
            pass
        found = db.fetchall(
            f"SELECT e.ref FROM {pending} p JOIN {entities} e ON e.id = p.entity_id"
        )
        follower.catch_up()  # evaluates them: the queue is empty again
        return {ref for (ref,) in found}

    mo_users = {
        ref
        for (ref,) in db.fetchall(
            f"SELECT ref FROM {entities} WHERE coc = 'MO-606' AND kind = 'user'"
        )
    }
    cfs_users = {
        ref
        for (ref,) in db.fetchall(
            f"SELECT ref FROM {entities} WHERE coc = 'MO-606' AND kind = 'user' "
            "AND agency_ref = 'MO-CFS'"
        )
    }
    assert cfs_users
    assert {"other-1", "other-2"} <= mo_users - cfs_users
    region = AddRegion(coc="MO-606", region="R-NEW", region_name="A new region")
    assert queued_after(region) == mo_users
    joined = JoinRegion(coc="MO-606", agency_ref="MO-CFS", region="R-NEW")
    assert queued_after(joined) == cfs_users


def test_a_generation_made_before_a_table_existed_gets_it_when_followed_again(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    number = generations.ensure_current(db, clock.now())
    with db.transaction() as cursor:
        db.execute(cursor, f"DROP TABLE {db.table(db.prefix(number) + 'derive')}")
    step = Follower(ledger, db, number, clock).catch_up()
    assert step.pending == 0
    assert db.fetchall(f"SELECT COUNT(*) FROM {db.table(db.prefix(number) + 'derive')}") == [(0,)]
    assert snapshot(db, number) == snapshot(db, rebuilt(ledger, db, clock))


def test_the_runner_follows_a_write_at_once_when_woken_by_it(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    runner = CurrentGenerationRunner(ledger, db, clock, interval=60.0)  # would sleep a minute
    stop, wake = threading.Event(), threading.Event()
    unlisten = ledger.add_save_listener(lambda _: wake.set())
    thread = threading.Thread(target=runner.run, args=(stop,), kwargs={"wake": wake})
    thread.start()
    try:
        _wait_for(lambda: runner.follower is not None and runner.follower.position == ledger.head())
        run(ledger, RegisterEndUser(coc="WI-500", user_ref="woken", agency_ref="WI-NWH"), CALLER)
        head = ledger.head()
        _wait_for(
            lambda: ReadModels(ledger, db, ComplianceService(ledger)).lag()["position"] >= head
        )
    finally:
        unlisten()
        stop.set()
        wake.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def _wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def _queued_after_a_completion(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, index: int
) -> tuple[int, Follower, RecordCourseCompletion]:
    """The current generation and a follower of it, caught up, then a course completion of
    ``USERS[index]`` applied: the user is queued to be evaluated."""
    live = generations.ensure_current(db, clock.now())
    follower = Follower(ledger, db, live, clock)
    follower.catch_up()
    coc, ref = USERS[index]
    completion = RecordCourseCompletion(
        coc=coc, user_ref=ref, course_code=COURSES[index], provider="LMS", effective_at=clock.now()
    )
    run(ledger, completion, CALLER)
    follower.apply_next()
    return live, follower, completion


def test_a_command_commits_while_the_read_models_evaluate_users(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, follower, completion = _queued_after_a_completion(ledger, db, clock, 0)
    evaluate, committed = follower.projector.evaluate_users, []

    def evaluate_while_a_command_commits(cursor: object, hex_ids: list[str]) -> object:
        again = completion.model_copy(update={"course_code": COURSES[4]})
        writer = threading.Thread(target=lambda: committed.append(run(ledger, again, CALLER)))
        writer.start()
        writer.join(timeout=30)  # the store's writer waited for the whole evaluation before
        return evaluate(cursor, hex_ids)

    monkeypatch.setattr(follower.projector, "evaluate_users", evaluate_while_a_command_commits)
    follower.catch_up()
    assert len(committed) == 1  # committed while the evaluation went on
    monkeypatch.undo()
    follower.catch_up()
    assert_agrees_with_the_store(ledger, db, live, clock.now())
    assert snapshot(db, live) == snapshot(db, rebuilt(ledger, db, clock))


def test_work_read_while_another_follower_applied_the_log_is_not_written(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, first, completion = _queued_after_a_completion(ledger, db, clock, 1)
    coc, ref = completion.coc, completion.user_ref
    evaluate = first.projector.evaluate_users

    def evaluate_while_another_follower_moves_on(cursor: object, hex_ids: list[str]) -> object:
        monkeypatch.undo()
        evaluated = evaluate(cursor, hex_ids)  # the user as it stood
        completed = list(user(ledger, coc, ref).facts(EndUser.CourseCompleted))[-1]
        retraction = RetractEvent(
            coc=coc,
            entity_kind="user",
            entity_ref=ref,
            event_id=completed.event_id,
            reason="wrong person",
        )
        run(ledger, retraction, CALLER)  # the user changes again
        Follower(ledger, db, live, clock).catch_up()  # another process applies and evaluates it
        return evaluated

    monkeypatch.setattr(first.projector, "evaluate_users", evaluate_while_another_follower_moves_on)
    first.catch_up()  # its evaluation is now stale: not written
    assert_agrees_with_the_store(ledger, db, live, clock.now())
    assert snapshot(db, live) == snapshot(db, rebuilt(ledger, db, clock))


def test_rows_are_deleted_by_their_keys_in_one_statement_or_one_per_key(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    """``ReadModelDb.delete``: exactly the rows whose columns equal one of the keys go (one
    statement on PostgreSQL, one per key on SQLite), whatever their text holds; no keys, no
    change."""
    number = generations.begin(db, clock.now(), "deleting")
    calendar = db.table(db.prefix(number) + "calendar")
    awkward = 'it\'s a "ref", {with} commas\tand\\slashes'
    rows_in = [
        ("WI-500", "user", ref, None, "clause", "expires", "2027-01-01", "due")
        for ref in ("a", "b", awkward, "d")
    ] + [("MO-606", "user", "a", None, "clause", "expires", "2027-01-01", "due")]
    with db.transaction() as cursor:
        db.insert(cursor, calendar, rows_in)
    subject = ("coc", "subject_kind", "subject_ref")

    def left() -> list[tuple[object, ...]]:
        return sorted(db.fetchall(f"SELECT coc, subject_ref FROM {calendar}"))

    with db.transaction() as cursor:
        db.delete(cursor, calendar, subject, [])
    assert len(left()) == 5
    with db.transaction() as cursor:
        keys = [("WI-500", "user", "a"), ("WI-500", "user", awkward), ("WI-500", "agency", "b")]
        db.delete(cursor, calendar, subject, keys)
    assert left() == [("MO-606", "a"), ("WI-500", "b"), ("WI-500", "d")]
    with db.transaction() as cursor:
        db.delete(cursor, calendar, ("subject_ref",), [("a",), ("d",), ("a",)])
    assert left() == [("WI-500", "b")]


def test_rows_are_inserted_or_updated_in_one_statement_or_one_per_row(
    ledger: Ledger, db: ReadModelDb, clock: FixedClock
) -> None:
    """``ReadModelDb.insert_many``: an INSERT of one row's values (placeholders, constants,
    NULL, an ON CONFLICT clause) run for many rows; on PostgreSQL as one statement of arrays
    typed as the table's columns. Rows read back as written, whatever their text holds."""
    number = generations.begin(db, clock.now(), "inserting")
    entities = db.table(db.prefix(number) + "entities")
    upsert = (
        f"INSERT INTO {entities} VALUES (?, ?, 'user', ?, NULL, ?, ?) ON CONFLICT (id) "
        "DO UPDATE SET version = excluded.version, position = excluded.position"
    )
    awkward = 'it\'s a "ref", {with} commas\tand\\slashes, NULL'
    with db.transaction() as cursor:
        db.insert_many(cursor, upsert, [])
        db.insert_many(
            cursor, upsert, [("a", "WI-500", awkward, 1, 10), ("b", "MO-606", "b", 2, 2**40)]
        )
    with db.transaction() as cursor:
        db.insert_many(
            cursor, upsert, [("a", "WI-500", awkward, 3, 30), ("c", "WI-500", "c", 1, 5)]
        )
    found = db.fetchall(f"SELECT id, coc, kind, ref, agency_ref, version, position FROM {entities}")
    assert sorted(found) == [
        ("a", "WI-500", "user", awkward, None, 3, 30),
        ("b", "MO-606", "user", "b", None, 2, 2**40),
        ("c", "WI-500", "user", "c", None, 1, 5),
    ]
    with pytest.raises(ValueError, match="not an INSERT"), db.transaction() as cursor:
        db.insert_many(cursor, f"UPDATE {entities} SET version = ?", [(1,)])
