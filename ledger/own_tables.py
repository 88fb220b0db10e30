"""Tables of our own beside the log, in the ledger's store (its SQLite file or PostgreSQL
schema), whose progress through the log is an eventsourcing tracking record written in the
same transaction as the rows it covers (read models, the integrity tree)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import TrackingRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteTrackingRecorder

from ledger.application import Ledger


class OwnTables:
    """The store's datastore and dialect, and a tracking recorder (``tracking_table`` on
    PostgreSQL; SQLite's tracking recorder has one table, ``tracking``). A subclass creates
    its tables inside ``creating_tables``, as this does the tracking table."""

    def __init__(self, ledger: Ledger, tracking_table: str) -> None:
        self.creating_tables = ledger.creating_tables
        recorder = ledger.recorder
        self.datastore: Any = recorder.datastore  # type: ignore[attr-defined]
        self.postgres = not isinstance(recorder, SQLiteApplicationRecorder)
        self.tracking: TrackingRecorder
        if self.postgres:
            from eventsourcing.postgres import PostgresTrackingRecorder

            self.schema: str = self.datastore.schema or ""
            self.tracking = PostgresTrackingRecorder(
                self.datastore, tracking_table_name=tracking_table
            )
        else:
            self.schema = ""
            self.tracking = SQLiteTrackingRecorder(self.datastore)
        with self.creating_tables():
            self.tracking.create_table()

    def table(self, name: str) -> str:
        """``name`` qualified with the store's PostgreSQL schema, if it has one."""
        return f'"{self.schema}"."{name}"' if self.schema else name

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor
