"""Log positions of stored events, looked up by entity (receipts of retried commands, history).

eventsourcing gives positions when events are written and when the log is read in order,
but not for one entity's events; this reads the recorder's own table for that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

if TYPE_CHECKING:  # imported only when PostgreSQL is configured
    from eventsourcing.postgres import PostgresApplicationRecorder


class PositionIndex(Protocol):
    def of_entity(self, aggregate_id: UUID) -> dict[int, int]:
        """Version -> log position of every event of one entity."""
        ...


class SQLitePositions:
    def __init__(self, recorder: SQLiteApplicationRecorder) -> None:
        self._recorder = recorder
        self._statement = (
            f"SELECT originator_version, rowid FROM {recorder.events_table_name} "  # noqa: S608
            "WHERE originator_id = ?"
        )

    def of_entity(self, aggregate_id: UUID) -> dict[int, int]:
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._statement, (aggregate_id.hex,))
            return {row[0]: row[1] for row in cursor.fetchall()}


class PostgresPositions:
    def __init__(self, recorder: PostgresApplicationRecorder) -> None:
        from psycopg.sql import SQL, Identifier

        self._recorder = recorder
        self._statement = SQL(
            "SELECT originator_version, notification_id FROM {schema}.{table} "
            "WHERE originator_id = %s"
        ).format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name),
        )

    def of_entity(self, aggregate_id: UUID) -> dict[int, int]:
        with self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._statement, (aggregate_id,))
            return {row["originator_version"]: row["notification_id"] for row in cursor.fetchall()}


def position_index(recorder: ApplicationRecorder) -> PositionIndex:
    if isinstance(recorder, SQLiteApplicationRecorder):
        return SQLitePositions(recorder)
    if type(recorder).__module__ == "eventsourcing.postgres":
        from eventsourcing.postgres import PostgresApplicationRecorder

        assert isinstance(recorder, PostgresApplicationRecorder)
        return PostgresPositions(recorder)
    raise TypeError(f"no position index for {type(recorder).__name__}")
