"""Reads of a PostgreSQL store on connections of their own (ledger/postgres_reads.py)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from eventsourcing.persistence import (
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
)

from ledger.postgres_reads import PostgresReads

pytestmark = pytest.mark.postgres


@pytest.fixture
def table(postgres_schema_url: str) -> tuple[str, dict[str, Any]]:
    """A table ``"schema".t`` with one row, and psycopg's keyword arguments for the server."""
    url = urlsplit(postgres_schema_url)
    schema = url.query.removeprefix("schema=")
    server = {
        "host": url.hostname,
        "port": url.port or 5432,
        "dbname": url.path.strip("/"),
        "user": url.username,
        "password": url.password or "",
        "connect_timeout": 5,
    }
    with psycopg.connect(**server, autocommit=True) as connection:
        connection.execute(f'CREATE TABLE "{schema}".t (k INTEGER PRIMARY KEY, v TEXT)')
        connection.execute(f"INSERT INTO \"{schema}\".t VALUES (1, 'one')")
    return f'"{schema}".t', server


def test_postgres_reads_each_thread_reads_committed_rows_on_a_connection_of_its_own(
    table: tuple[str, dict[str, Any]],
) -> None:
    name, server = table
    reads = PostgresReads(server)
    assert reads.fetchall(f"SELECT k, v FROM {name} WHERE k = %s", (1,)) == [(1, "one")]
    with psycopg.connect(**server, autocommit=True) as writer:  # seen by the next read
        writer.execute(f"INSERT INTO {name} VALUES (2, 'two')")
    assert reads.fetchall(f"SELECT k FROM {name} ORDER BY k") == [(1,), (2,)]
    other: list[object] = []
    thread = threading.Thread(
        target=lambda: other.append(reads.fetchall(f"SELECT COUNT(*) FROM {name}"))
    )
    thread.start()
    thread.join()
    assert other == [[(2,)]]
    assert len(reads._opened) == 2  # one connection per thread
    reads.close()
    with pytest.raises(InterfaceError):
        reads.fetchall("SELECT 1")


def test_postgres_reads_errors_are_eventsourcing_errors_and_nothing_can_be_written(
    table: tuple[str, dict[str, Any]],
) -> None:
    name, server = table
    reads = PostgresReads(server)
    with pytest.raises(ProgrammingError, match="does not exist"):
        reads.fetchall("SELECT * FROM missing_table")
    with pytest.raises(InternalError, match="read-only"):
        reads.fetchall(f"INSERT INTO {name} VALUES (3, 'three')")
    assert reads.fetchall(f"SELECT COUNT(*) FROM {name}") == [(1,)]
    assert len(reads._opened) == 1  # errors of the statement keep the connection
    reads.close()


def test_postgres_reads_replace_a_connection_the_server_dropped(
    table: tuple[str, dict[str, Any]],
) -> None:
    name, server = table
    reads = PostgresReads(server)
    [(first,)] = reads.fetchall("SELECT pg_backend_pid()")
    with psycopg.connect(**server, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    with pytest.raises(OperationalError):
        reads.fetchall(f"SELECT COUNT(*) FROM {name}")
    assert reads.fetchall(f"SELECT COUNT(*) FROM {name}") == [(1,)]
    [(second,)] = reads.fetchall("SELECT pg_backend_pid()")
    assert second != first
    assert len(reads._opened) == 1
    reads.close()
