"""Entities as they stood at a log position, read from the store's own table."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from commands.demo import load_demo
from commands.registry import run
from ledger.application import Ledger
from ledger.domain.end_users import EndUser
from projections.readmodels.events import creating_topics
from tests.conftest import CALLER
from tests.integration.builders import complete_course, register_user, user


def test_an_entity_s_version_events_and_creation_at_a_log_position(ledger: Ledger) -> None:
    load_demo(ledger)
    do = lambda command: run(ledger, command, CALLER)  # noqa: E731
    before = ledger.head()
    register_user(do, "WI-500", "wi-at", "WI-NWH")
    registered = ledger.head()
    complete_course(do, "WI-500", "wi-at", "WI-CE-CORE")
    completed = ledger.head()
    new = user(ledger, "WI-500", "wi-at")
    positions = ledger.positions

    assert positions.version_at(new.id, before) is None
    assert positions.version_at(new.id, registered) == 1
    assert positions.version_at(new.id, completed) == new.version > 1

    old = user(ledger, "WI-500", "wi-u1")
    at_registered = positions.events_at([new.id, old.id], registered)
    assert [(e[0], e[1], e[4]) for e in at_registered] == sorted(
        [(new.id, 1, registered)] + [(old.id, v, p) for v, p in positions.of_entity(old.id).items()]
    )
    at_completed = positions.events_at([new.id], completed)
    assert [e[1] for e in at_completed] == list(range(1, new.version + 1))
    assert [e[4] for e in at_completed] == sorted(positions.of_entity(new.id).values())
    last = ledger.recorder.select_events(new.id)[-1]
    assert at_completed[-1][2:4] == (last.topic, last.state)  # as stored
    assert all(type(e[0]) is UUID and type(e[3]) is bytes for e in at_completed)
    assert positions.events_at([], completed) == []

    topics = creating_topics(EndUser)
    assert new.id not in [c[0] for c in positions.created_at(topics, before)]
    users_now = [c[0] for c in positions.created_at(topics, registered)]
    assert new.id in users_now
    assert old.id in users_now
    assert users_now == sorted(users_now, key=lambda u: u.hex)
    [created] = [c for c in positions.created_at(topics, registered) if c[0] == new.id]
    first = ledger.recorder.select_events(new.id)[0]
    assert created[1:] == (first.topic, first.state)  # the creating event, as stored
    assert len(users_now) == len(positions.created_at(topics, before)) + 1


def test_the_log_read_in_order_is_what_the_recorder_gives(ledger: Ledger) -> None:
    """A follower reads the log through ``positions.notifications`` (on PostgreSQL in binary
    form): the same events, positions and stored bytes as ``select_notifications``, from
    any start and at any limit, also past a gap a rolled-back write left."""
    load_demo(ledger)
    head = ledger.head()
    expected = ledger.recorder.select_notifications(start=1, limit=head + 10)

    def fields(notifications: Any) -> list[tuple[Any, ...]]:
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notifications
        ]

    assert len(expected) > 20
    for start, limit in [(1, head + 10), (1, 7), (expected[5].id, 3), (head, 5), (head + 1, 5)]:
        read = ledger.positions.notifications(start, limit)
        assert fields(read) == fields(ledger.recorder.select_notifications(start, limit))
        assert all(type(n.originator_id) is UUID and type(n.state) is bytes for n in read)
    assert fields(ledger.positions.notifications(1, head + 10)) == fields(expected)
    if ledger.settings.backend == "postgres":  # a position taken by a write that rolled back
        recorder: Any = ledger.recorder
        schema, table = recorder.datastore.schema, recorder.events_table_name
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))",
                (f'"{schema}"."{table}"' if schema else table,),
            )
        register_user(lambda c: run(ledger, c, CALLER), "WI-500", "wi-gap", "WI-NWH")
        after_gap = ledger.positions.notifications(head + 1, 50)
        assert after_gap[0].id == head + 2  # head + 1 is the gap
        assert after_gap[-1].id == ledger.head()
        assert fields(after_gap) == fields(ledger.recorder.select_notifications(head + 1, 50))


def test_the_log_s_planner_statistics_are_refreshed_where_missing_or_stale(
    ledger: Ledger,
) -> None:
    """Before a rebuild's workers read the log by entity, PostgreSQL's statistics of its table
    are gathered if it was never analysed or has changed more than autovacuum lets pass;
    SQLite needs none."""
    load_demo(ledger)
    positions = ledger.positions
    if ledger.settings.backend == "sqlite":
        assert positions.refresh_statistics() is False
        return

    assert positions.refresh_statistics() is True  # a new log, never analysed
    assert _analysed(ledger)
    assert positions.refresh_statistics() is False  # up to date
    do = lambda command: run(ledger, command, CALLER)  # noqa: E731
    for number in range(60 + ledger.head() // 10):
        register_user(do, "WI-500", f"wi-stats-{number}", "WI-NWH")
    # more changed than autovacuum lets pass, once the writers' counts reach the statistics
    # (PostgreSQL flushes them at most once a second)
    deadline = time.monotonic() + 10
    while not positions.refresh_statistics():
        assert time.monotonic() < deadline, "the changed rows never counted"
        time.sleep(0.1)
    assert positions.refresh_statistics() is False


def _analysed(ledger: Ledger) -> bool:
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            "SELECT last_analyze IS NOT NULL AS analysed FROM pg_stat_user_tables "
            "WHERE schemaname = COALESCE(NULLIF(%s, ''), current_schema()) AND relname = %s",
            (recorder.datastore.schema, recorder.events_table_name),
        )
        return bool(cursor.fetchall()[0]["analysed"])


def test_reading_entities_at_a_position_leaves_the_connection_s_settings_as_they_were(
    ledger: Ledger,
) -> None:
    """On PostgreSQL a read of entities at a position asks for no parallel workers, and
    sorts its rows in memory (``PostgresPositions``), for that read's transaction only: the
    pool's connections keep the server's settings for every other query."""
    load_demo(ledger)
    if ledger.settings.backend == "sqlite":
        return
    recorder: Any = ledger.recorder
    show = (
        "SELECT current_setting('max_parallel_workers_per_gather') AS workers, "
        "current_setting('work_mem') AS sorting"
    )

    def settings() -> tuple[str, str]:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(show)
            found = cursor.fetchall()[0]
            return str(found["workers"]), str(found["sorting"])

    before = settings()
    assert before != ("0", "32MB")  # the server's defaults (2, 4MB)
    agency_user = user(ledger, "WI-500", "wi-u1")
    for _ in range(3):
        assert ledger.positions.events_at([agency_user.id], ledger.head())
    assert [settings() for _ in range(3)] == [before] * 3
    # what the read's own statement sees: a statement in its place reports the settings as
    # its one event's topic and state
    positions: Any = ledger.positions
    positions._events_at = (
        "SELECT (%s::uuid[])[1] AS originator_id, 1 AS originator_version, "
        "current_setting('max_parallel_workers_per_gather') AS topic, "
        "convert_to(current_setting('work_mem'), 'UTF8') AS state, "
        "%s::bigint AS notification_id"
    )
    [(_, _, workers, sorting, _)] = positions.events_at([agency_user.id], ledger.head())
    assert (workers, sorting) == ("0", b"32MB")
    assert settings() == before
