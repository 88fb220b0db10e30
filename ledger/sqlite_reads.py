"""Reads of a SQLite file through connections of their own, one per thread, outside
eventsourcing's connection pool.

Why not the pool: for a single query, the pool's connection hand-out, ``BEGIN`` and
``ROLLBACK`` cost several times the query itself (about 23 µs against 3 µs for ``SELECT 1``
here), and its reader-writer interlock makes every reader wait behind a writer that waits for
a connection. In WAL mode (eventsourcing puts the file in it) a reader never blocks a writer
nor waits for one, and each statement reads one committed snapshot. These connections only
read (``PRAGMA query_only``); each statement runs in autocommit mode and is read to the end,
so none keeps a read transaction open. Errors are raised as eventsourcing's, as from the pool.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    PersistenceError,
)

LOCK_TIMEOUT_SECONDS = 5.0  # as eventsourcing's pool waits for a lock
_ERRORS: tuple[tuple[type[sqlite3.Error], type[PersistenceError]], ...] = (
    (sqlite3.OperationalError, OperationalError),
    (sqlite3.InterfaceError, InterfaceError),
    (sqlite3.DatabaseError, DatabaseError),
    (sqlite3.Error, PersistenceError),
)


class SqliteReads:
    """Read-only queries on the SQLite file ``path``, each thread on a connection of its own."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement, as tuples."""
        try:
            rows: list[tuple[Any, ...]] = (
                self._connection().execute(statement, tuple(params)).fetchall()
            )
        except sqlite3.Error as error:
            raise next(ours for theirs, ours in _ERRORS if isinstance(error, theirs))(
                error
            ) from error
        return rows

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise InterfaceError("the store's read connections are closed")
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            with self._lock:
                connection = sqlite3.connect(
                    self.path,
                    timeout=LOCK_TIMEOUT_SECONDS,
                    isolation_level=None,  # autocommit: each statement its own snapshot
                    check_same_thread=False,  # closed by close(), from another thread
                    cached_statements=256,
                )
                connection.execute("PRAGMA query_only = ON")
                self._opened.append(connection)
            self._local.connection = connection
        return connection

    def close(self) -> None:
        """Close every thread's connection; reads after this raise ``InterfaceError``."""
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
