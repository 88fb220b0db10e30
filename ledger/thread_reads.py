"""Read-only queries on connections of our own, one per thread, outside eventsourcing's
connection pool (``ledger/sqlite_reads.py``, ``ledger/postgres_reads.py``).

For a read of a row or a page, the pool costs more than the query: its connection hand-out
and the ``BEGIN`` and ``ROLLBACK`` around each query (on PostgreSQL two more round trips
to the server). Each statement here runs on its own (autocommit) and is read to the end, so
none keeps a transaction open. Errors are raised as eventsourcing's, as from the pool; a
connection the driver reports broken is dropped and the thread's next read opens another.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from eventsourcing.persistence import InterfaceError, PersistenceError


class Connection(Protocol):
    """What sqlite3's and psycopg's connections both offer."""

    def execute(self, statement: Any, params: Any, /) -> Any: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Connection)


class ThreadReads(Generic[C]):
    """Each thread's read connection, opened on its first read and closed by ``close``."""

    # (driver error, eventsourcing error), most specific first
    errors: tuple[tuple[type[Exception], type[PersistenceError]], ...] = ()

    def __init__(self) -> None:
        self._local = threading.local()
        self._opened: list[C] = []
        self._lock = threading.Lock()
        self._closed = False

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement, as tuples."""
        connection = None
        try:
            connection = self._connection()
            rows: list[tuple[Any, ...]] = connection.execute(statement, tuple(params)).fetchall()
            return rows
        except Exception as error:
            ours = next((o for theirs, o in self.errors if isinstance(error, theirs)), None)
            if ours is None:
                raise
            if connection is not None and self._is_broken(connection):
                self._drop(connection)
            raise ours(error) from error

    def close(self) -> None:
        """Close every thread's connection; reads after this raise ``InterfaceError``."""
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()

    # --- what each backend does ----------------------------------------------------------

    def _connect(self) -> C:
        raise NotImplementedError

    def _is_broken(self, connection: C) -> bool:
        return False

    # --- bookkeeping ---------------------------------------------------------------------

    def _connection(self) -> C:
        if self._closed:
            raise InterfaceError("the store's read connections are closed")
        connection: C | None = getattr(self._local, "connection", None)
        if connection is None:
            with self._lock:
                connection = self._connect()
                self._opened.append(connection)
            self._local.connection = connection
        return connection

    def _drop(self, connection: C) -> None:
        with self._lock:
            if connection in self._opened:
                self._opened.remove(connection)
        if getattr(self._local, "connection", None) is connection:
            del self._local.connection
        connection.close()
