"""Log positions of stored events, looked up by entity (receipts of retried commands, history),
and entities as they stood at a log position (a rebuild evaluates users at the log's head
while it is still applying the log, see ``projections.readmodels.workers``).

eventsourcing gives positions when events are written and when the log is read in order,
but not for one entity's events, nor an entity's events up to a position; this reads the
recorder's own table for that.

On PostgreSQL these reads (and ``notifications``, the log in order as a follower reads it)
take rows as tuples in binary form: eventsourcing's reads take each row as a dict of text
values, the events as hexadecimal text that the server encodes and the client decodes. The
whole 494,415-event log of scripts/bench_rebuild read in batches of 10,000 cost 4.0 s of the
reader's CPU and 1.4 s of the server's through ``select_notifications``, 1.9 s and 0.7 s
so; the events of its 23,336 users read 500 at a time, 2.6 s and 3.0 s as dicts of text,
0.9 s and 2.6 s so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    Notification,
    OperationalError,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry

from ledger.postgres_reads import SERIAL_PLANS
from ledger.sql_lists import in_list

if TYPE_CHECKING:  # imported only when PostgreSQL is configured
    from eventsourcing.postgres import PostgresApplicationRecorder


# an event as stored, with its position: (entity id, version, topic, state, position)
EventAt = tuple[UUID, int, str, bytes, int]
# an entity with the event that created it as stored: (entity id, topic, state)
Created = tuple[UUID, str, bytes]


class PositionIndex(Protocol):
    def notifications(self, start: int, limit: int) -> Sequence[Notification]:
        """Up to ``limit`` events of the log from position ``start`` on, in log order: what
        the recorder's ``select_notifications(start, limit)`` gives."""
        ...

    def of_entity(self, aggregate_id: UUID) -> dict[int, int]:
        """Version -> log position of every event of one entity."""
        ...

    def version_at(self, aggregate_id: UUID, position: int) -> int | None:
        """The entity's version at log position ``position`` (None: it did not exist)."""
        ...

    def events_at(self, aggregate_ids: Sequence[UUID], position: int) -> list[EventAt]:
        """The events of these entities at or before ``position``, entity by entity (in
        id order), each entity's in version order."""
        ...

    def created_at(self, topics: Sequence[str], position: int) -> list[Created]:
        """The entities created, at or before ``position``, by an event of one of these
        topics, in id order, each with that event's topic and stored state."""
        ...

    def refresh_statistics(self) -> bool:
        """Before many reads of entities at a position (a rebuild): have the database's
        planner statistics of the log's table brought up to date where they are missing or
        stale. Returns whether it did."""
        ...


class SQLitePositions:
    """The log position of an event is its row's rowid."""

    def __init__(self, recorder: SQLiteApplicationRecorder) -> None:
        self._recorder = recorder
        table = recorder.events_table_name
        self._statement = f"SELECT originator_version, rowid FROM {table} WHERE originator_id = ?"
        self._version_at = (
            f"SELECT MAX(originator_version) FROM {table} WHERE originator_id = ? AND rowid <= ?"
        )
        self._events_at = (
            f"SELECT originator_id, originator_version, topic, state, rowid FROM {table} "
            "WHERE originator_id IN ({}) AND rowid <= ? ORDER BY originator_id, originator_version"
        )
        self._created_at = (
            f"SELECT originator_id, topic, state FROM {table} WHERE originator_version = 1 "
            "AND topic IN ({}) AND rowid <= ? ORDER BY originator_id"
        )

    def notifications(self, start: int, limit: int) -> Sequence[Notification]:
        return self._recorder.select_notifications(start, limit)

    def of_entity(self, aggregate_id: UUID) -> dict[int, int]:
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._statement, (aggregate_id.hex,))
            return {row[0]: row[1] for row in cursor.fetchall()}

    def version_at(self, aggregate_id: UUID, position: int) -> int | None:
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._version_at, (aggregate_id.hex, position))
            found: int | None = cursor.fetchall()[0][0]
            return found

    def events_at(self, aggregate_ids: Sequence[UUID], position: int) -> list[EventAt]:
        if not aggregate_ids:
            return []
        marks, hex_ids = in_list([i.hex for i in aggregate_ids])
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._events_at.format(marks), [*hex_ids, position])
            by_hex = {i.hex: i for i in aggregate_ids}
            return [(by_hex[r[0]], r[1], r[2], r[3], r[4]) for r in cursor.fetchall()]

    def created_at(self, topics: Sequence[str], position: int) -> list[Created]:
        marks, padded = in_list(topics)
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._created_at.format(marks), [*padded, position])
            return [(UUID(r[0]), r[1], r[2]) for r in cursor.fetchall()]

    def refresh_statistics(self) -> bool:
        """Nothing: SQLite plans these reads by the table's keys, statistics or not."""
        return False


class PostgresPositions:
    """The log position of an event is its row's notification_id."""

    def __init__(self, recorder: PostgresApplicationRecorder) -> None:
        from psycopg.sql import SQL, Identifier

        self._recorder = recorder
        names = {
            "schema": Identifier(recorder.datastore.schema),
            "table": Identifier(recorder.events_table_name),
        }
        self._statement = SQL(
            "SELECT originator_version, notification_id FROM {schema}.{table} "
            "WHERE originator_id = %s"
        ).format(**names)
        self._version_at = SQL(
            "SELECT MAX(originator_version) AS version FROM {schema}.{table} "
            "WHERE originator_id = %s AND notification_id <= %s"
        ).format(**names)
        self._notifications = SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id "
            "FROM {schema}.{table} WHERE notification_id >= %s ORDER BY notification_id "
            "LIMIT %s"
        ).format(**names)
        self._events_at = SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id "
            "FROM {schema}.{table} WHERE originator_id = ANY(%s) AND notification_id <= %s "
            "ORDER BY originator_id, originator_version"
        ).format(**names)
        # whole-machine CPU of a 494,415-event rebuild, two alternating pairs: 33.5 and
        # 34.6 s without parallel workers for these reads, 35.0 and 38.2 s with them
        self._serial = SERIAL_PLANS
        # 500 users' events (about 5 MB) sorted in memory, not in temporary files as with
        # the default 4 MB: the server's CPU for all of a 494,415-event log's users, 2.42 s
        # against 2.63 s
        self._sort_in_memory = "SET LOCAL work_mem = '32MB'"
        self._created_at = SQL(
            "SELECT originator_id, topic, state FROM {schema}.{table} "
            "WHERE originator_version = 1 AND topic = ANY(%s) AND notification_id <= %s "
            "ORDER BY originator_id"
        ).format(**names)
        self._names = (recorder.datastore.schema, recorder.events_table_name)
        self._staleness = (
            "SELECT c.reltuples AS analysed_rows, COALESCE(s.n_mod_since_analyze, 0) AS changed, "
            "s.last_analyze IS NULL AND s.last_autoanalyze IS NULL AS never FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE n.nspname = COALESCE(NULLIF(%s, ''), current_schema()) AND c.relname = %s"
        )
        self._analyze = SQL("ANALYZE {schema}.{table}").format(**names)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as eventsourcing's
    def notifications(self, start: int, limit: int) -> Sequence[Notification]:
        from psycopg.rows import tuple_row

        with (
            self._recorder.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row) as cursor,
        ):
            cursor.execute(self._notifications, (start, limit), prepare=True, binary=True)
            return [
                Notification(
                    id=r[4], originator_id=r[0], originator_version=r[1], topic=r[2], state=r[3]
                )
                for r in cursor.fetchall()
            ]

    def of_entity(self, aggregate_id: UUID) -> dict[int, int]:
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._statement, (aggregate_id,))
            return {row["originator_version"]: row["notification_id"] for row in cursor.fetchall()}

    def version_at(self, aggregate_id: UUID, position: int) -> int | None:
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._version_at, (aggregate_id, position))
            found: int | None = cursor.fetchall()[0]["version"]
            return found

    def events_at(self, aggregate_ids: Sequence[UUID], position: int) -> list[EventAt]:
        if not aggregate_ids:
            return []
        from psycopg.rows import tuple_row

        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._serial)
            cursor.execute(self._sort_in_memory)
            with cursor.connection.cursor(row_factory=tuple_row) as rows:
                rows.execute(self._events_at, (list(aggregate_ids), position), binary=True)
                return rows.fetchall()

    def created_at(self, topics: Sequence[str], position: int) -> list[Created]:
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._created_at, (list(topics), position))
            return [(r["originator_id"], r["topic"], bytes(r["state"])) for r in cursor.fetchall()]

    def refresh_statistics(self) -> bool:
        """ANALYZE the log's table where it was never analysed, or where more of its rows
        changed since than autovacuum lets pass (50 + 10% of them): right after a log was
        loaded in bulk, or where autovacuum is off. Without statistics the planner took the
        events of 500 entities (``events_at``) for a parallel scan of the whole table, about
        200 ms a query instead of 30 on a 500,000-event log; a rebuild's workers run one
        per 500 users. A role that does not own the table is skipped by PostgreSQL with a
        warning, not refused."""
        with self._recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(self._staleness, self._names)
            found = cursor.fetchall()
            if not found:
                return False
            table = found[0]
            limit = 50 + 0.1 * max(table["analysed_rows"], 0)
            if not (table["never"] or table["changed"] > limit):
                return False
            cursor.execute(self._analyze)
            return True


def position_index(recorder: ApplicationRecorder) -> PositionIndex:
    if isinstance(recorder, SQLiteApplicationRecorder):
        return SQLitePositions(recorder)
    if type(recorder).__module__ == "eventsourcing.postgres":
        from eventsourcing.postgres import PostgresApplicationRecorder

        assert isinstance(recorder, PostgresApplicationRecorder)
        return PostgresPositions(recorder)
    raise TypeError(f"no position index for {type(recorder).__name__}")
