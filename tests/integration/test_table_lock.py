"""Several processes starting together on a new store: one makes the tables, the others
wait and find them (ledger/table_lock.py)."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime
from typing import Any

from ledger.application import Ledger
from ledger.integrity.store import IntegrityStore
from ledger.settings import Settings
from ledger.table_lock import creating_tables
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb

PROCESSES = 6
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def start_on_the_store(settings: dict[str, Any], barrier: Any, answers: Any) -> None:
    """What a service process does to its store at start-up, all at the barrier's signal."""
    barrier.wait()
    try:
        ledger = Ledger(Settings(**settings))
        try:
            db = ReadModelDb(ledger)
            IntegrityStore(ledger)
            answers.put(("ok", generations.ensure_current(db, NOW)))
            db.close()
        finally:
            ledger.close()
    except Exception as error:  # reported to the test, which shows it
        answers.put(("failed", f"{type(error).__name__}: {error}"))


def test_processes_starting_together_on_a_new_store_all_start_with_one_generation(
    settings: Settings,
) -> None:
    context = multiprocessing.get_context("spawn")
    given = settings.model_dump(include={"database_url", "sqlite_path", "load_demo_data"})
    for _ in range(2):  # without the lock, about four starts in five failed on PostgreSQL
        barrier, answers = context.Barrier(PROCESSES), context.Queue()
        processes = [
            context.Process(target=start_on_the_store, args=(given, barrier, answers))
            for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        results = [answers.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=60)

        assert [outcome for outcome, _ in results] == ["ok"] * PROCESSES, results
        assert {generation for _, generation in results} == {1}
        ledger = Ledger(settings)
        try:
            assert [g.number for g in generations.generations(ReadModelDb(ledger))] == [1]
        finally:
            ledger.close()


def test_the_lock_is_reentrant_in_a_thread_and_keeps_other_sessions_waiting(
    ledger: Ledger,
) -> None:
    """Another thread's ``creating_tables`` (another PostgreSQL session, another descriptor
    of the SQLite lock file) waits while one holds it; nested uses in one thread take no
    second lock."""
    entered = threading.Event()
    with ledger.creating_tables(), ledger.creating_tables():
        other = threading.Thread(target=lambda: _enter(ledger, entered))
        other.start()
        waited = not entered.wait(0.5)
    other.join(timeout=10)

    assert waited
    assert entered.is_set()


def _enter(ledger: Ledger, entered: threading.Event) -> None:
    with creating_tables(ledger.recorder.datastore):  # type: ignore[attr-defined]
        entered.set()
