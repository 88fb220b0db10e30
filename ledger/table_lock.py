"""One process at a time creates tables in a store (PostgreSQL schema or SQLite file).

PostgreSQL runs ``CREATE TABLE IF NOT EXISTS`` (and eventsourcing's ``CREATE TYPE`` and
``CREATE OR REPLACE FUNCTION``) from two sessions at once into errors rather than into a
no-op: duplicate keys in its catalogue, or "tuple concurrently updated". Several API
processes started together on a new schema, or ``scripts/project`` beside them, did that.
Each process therefore holds a PostgreSQL advisory lock, one per schema, while it creates
the store's tables. The second waits, then finds them made.

SQLite files met the same at start-up from several processes: "database is locked" while
one switched the file to WAL, and eventsourcing's tracking table recording its migration
twice. There the lock is an exclusive ``flock`` on a file beside the database,
``<file>.tables-lock`` (not on the database file itself: closing any descriptor of that
file would drop SQLite's own locks of this process). An in-memory database needs none.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

_held = threading.local()  # the lock keys this thread holds: nested uses take no second lock


def lock_key(schema: str) -> int:
    """The advisory lock's key (a signed 64-bit integer) for tables of ``schema``."""
    digest = hashlib.sha256(f"coc-ledger creates tables in {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def creating_tables(datastore: Any) -> Iterator[None]:
    """While it lasts, no other process creates tables in the store of ``datastore`` (an
    eventsourcing datastore) through this lock. Re-entrant within a thread."""
    sqlite = isinstance(datastore, SQLiteDatastore)
    if sqlite and datastore.pool.is_sqlite_memory_mode:
        yield
        return
    key: object = datastore.pool.db_name if sqlite else lock_key(datastore.schema or "")
    held: set[object] = _held.__dict__.setdefault("keys", set())
    if key in held:
        yield
        return
    with _flock(f"{key}.tables-lock") if sqlite else _advisory_lock(datastore, key):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


@contextmanager
def _flock(path: str) -> Iterator[None]:
    with open(path, "ab") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed
        yield


@contextmanager
def _advisory_lock(datastore: Any, key: object) -> Iterator[None]:
    with datastore.get_connection() as connection:  # in autocommit: a session lock
        connection.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
