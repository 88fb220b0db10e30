"""Reads of a SQLite file on connections of their own (ledger/sqlite_reads.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from eventsourcing.persistence import InterfaceError, OperationalError

from ledger.sqlite_reads import SqliteReads


@pytest.fixture
def path(tmp_path: Path) -> str:
    file = tmp_path / "reads.sqlite3"
    with sqlite3.connect(file) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        connection.execute("INSERT INTO t VALUES (1, 'one')")
    return str(file)


def test_each_thread_reads_committed_rows_on_a_connection_of_its_own(path: str) -> None:
    reads = SqliteReads(path)
    assert reads.fetchall("SELECT k, v FROM t WHERE k = ?", (1,)) == [(1, "one")]
    with sqlite3.connect(path) as writer:  # a commit elsewhere is seen by the next read
        writer.execute("INSERT INTO t VALUES (2, 'two')")
    assert reads.fetchall("SELECT k FROM t ORDER BY k") == [(1,), (2,)]
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(reads.fetchall("SELECT COUNT(*) FROM t")))
    thread.start()
    thread.join()
    assert other == [[(2,)]]
    assert len(reads._opened) == 2  # one connection per thread
    reads.close()


def test_errors_are_eventsourcing_errors_and_nothing_can_be_written(path: str) -> None:
    reads = SqliteReads(path)
    with pytest.raises(OperationalError, match="no such table"):
        reads.fetchall("SELECT * FROM missing")
    with pytest.raises(OperationalError, match="readonly"):
        reads.fetchall("INSERT INTO t VALUES (3, 'three')")
    assert reads.fetchall("SELECT COUNT(*) FROM t") == [(1,)]
    reads.close()
    with pytest.raises(InterfaceError):
        reads.fetchall("SELECT 1")
