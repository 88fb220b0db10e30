"""Reads of a PostgreSQL store through connections of their own, one per thread
(``ledger/thread_reads.py``).

Through eventsourcing's pool, a read of one row took three round trips to the server
(``BEGIN``, the query, ``ROLLBACK``) and the pool's hand-out: about 310 µs here, against 70 µs
for the same query on a connection of its own in autocommit mode. These connections open
every transaction read-only (``default_transaction_read_only``), so they cannot write; psycopg
prepares a statement on the server once it has run a few times.
"""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
)

from ledger.thread_reads import ThreadReads

READ_ONLY = "-c default_transaction_read_only=on"

# For the rest of a transaction, plan without parallel workers: for reads of a few thousand
# rows found by a key, on a small machine whose cores a rebuild keeps busy, starting workers
# for each read (the planner's choice where a table's statistics are missing or it is large)
# cost more than it saved.
SERIAL_PLANS = "SET LOCAL max_parallel_workers_per_gather = 0"


class PostgresReads(ThreadReads[psycopg.Connection[Any]]):
    """Read-only queries on the server ``connection`` describes (psycopg's ``connect``
    keyword arguments: host, port, dbname, user, password, connect_timeout)."""

    # as eventsourcing's PostgresDatastore translates them
    errors = (
        (psycopg.InterfaceError, InterfaceError),
        (psycopg.OperationalError, OperationalError),
        (psycopg.DataError, DataError),
        (psycopg.IntegrityError, IntegrityError),
        (psycopg.InternalError, InternalError),
        (psycopg.ProgrammingError, ProgrammingError),
        (psycopg.NotSupportedError, NotSupportedError),
        (psycopg.DatabaseError, DatabaseError),
        (psycopg.Error, PersistenceError),
    )

    def __init__(self, connection: dict[str, Any]) -> None:
        super().__init__()
        self.connection = {k: v for k, v in connection.items() if k != "row_factory"}

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(**self.connection, autocommit=True, options=READ_ONLY)

    def _is_broken(self, connection: psycopg.Connection[Any]) -> bool:
        return connection.broken or connection.closed
