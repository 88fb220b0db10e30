"""Benchmark: commands/s through the command layer vs raw eventsourcing saves/s, per backend.

Usage: .venv/bin/python scripts/bench_ingest.py [--commands N] [--backend sqlite|postgres|both]
       [--postgres-url URL] [--seed S]

Runs, in process and in one thread, N commands of a realistic mix (mostly appends to existing
users: course enrolments and completions, forms, access requests, log-in summaries, a few
registrations and agency events; every command with an idempotency key) on a fresh store,
and, in alternating rounds on a second fresh store of the same backend, N raw eventsourcing
saves of one new ``Aggregate`` with one event each. The last line is one JSON object:
``value`` and ``ratio`` are the lowest commands/s ÷ raw saves/s over the backends measured.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from commands import end_users as eu
from commands import organisations as org
from commands.base import Caller, Command
from commands.registry import run
from ledger.application import Ledger
from ledger.domain.base import Source
from ledger.domain.vocabulary import FormKind
from ledger.settings import Settings

COC = "WI-500"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


class Tick(Aggregate):
    """The raw baseline: a new aggregate whose one creation event is saved on its own."""

    def __init__(self, n: int) -> None:
        self.n = n


def workload(n_commands: int, seed: int) -> Iterator[Command]:
    """A deterministic realistic mix of commands for one CoC."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    yield org.RegisterCoc(coc=COC, coc_name="Bench Balance of State", process="wi-bos")
    agencies = [f"AG{i}" for i in range(20)]
    for ref in agencies:
        yield org.RegisterAgency(coc=COC, agency_ref=ref, agency_name=f"Agency {ref}")
    users: list[str] = []
    produced = 1 + len(agencies)
    while produced < n_commands:
        produced += 1
        roll = rng.random()
        if roll < 0.12 or not users:
            ref = f"U{len(users)}"
            users.append(ref)
            yield eu.RegisterEndUser(
                coc=COC, user_ref=ref, agency_ref=rng.choice(agencies), idempotency_key=f"reg-{ref}"
            )
            continue
        user = rng.choice(users)
        key = f"k{produced}"
        when = now - timedelta(days=rng.randint(1, 300))
        if roll < 0.35:
            yield eu.EnrolInCourse(
                coc=COC,
                user_ref=user,
                course_code=f"WI-CE-{rng.randint(1, 6)}",
                provider="lms",
                idempotency_key=key,
            )
        elif roll < 0.65:
            yield eu.RecordCourseCompletion(
                coc=COC,
                user_ref=user,
                course_code=f"WI-CE-{rng.randint(1, 6)}",
                provider="lms",
                certificate_id=f"CERT-{produced}",
                score=float(rng.randint(70, 100)),
                source_record_id=f"ach-{produced}",
                effective_at=when,
                idempotency_key=key,
            )
        elif roll < 0.75:
            yield eu.SignForm(
                coc=COC,
                user_ref=user,
                form=rng.choice(list(FormKind)),
                revision=f"rev-{produced}",
                idempotency_key=key,
            )
        elif roll < 0.85:
            yield eu.RecordLoginActivity(
                coc=COC,
                user_ref=user,
                period_start=when - timedelta(days=7),
                period_end=when,
                login_count=0,
                idempotency_key=key,
            )
        elif roll < 0.93:
            yield eu.RequestRole(coc=COC, user_ref=user, role="ce-assessor", idempotency_key=key)
        else:
            yield eu.SubmitAccessRequest(
                coc=COC,
                user_ref=user,
                request_ref=f"UAR-{produced}",
                projects=["Shelter A"],
                submitted_by="AR-1",
                idempotency_key=key,
            )


@contextmanager
def fresh_settings(backend: str, postgres_url: str) -> Iterator[Settings]:
    """Settings for an empty store, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield Settings(
                sqlite_path=Path(folder) / "bench.sqlite3", load_demo_data=False, log_format="json"
            )
        return
    schema = f"bench_{uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Settings(database_url=f"{postgres_url}?schema={schema}", load_demo_data=False)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def progress(label: str, done: int, total: int, started: float) -> None:
    if sys.stderr.isatty() or done == total:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(
            f"\r{label}: {done}/{total} ({rate:,.0f}/s)",
            end="\n" if done == total else "",
            file=sys.stderr,
            flush=True,
        )


def bench_backend(backend: str, n: int, seed: int, postgres_url: str) -> dict[str, float]:
    """Raw saves and commands in alternating rounds on two fresh stores, so that drift in
    the machine's speed (disk flushes, other load) affects both sides alike."""
    commands = list(workload(n, seed))
    caller = Caller(actor="bench", source=Source.IMPORT, request_id="bench")
    rounds = 10
    chunk = -(-n // rounds)
    raw_seconds = command_seconds = 0.0
    with (
        fresh_settings(backend, postgres_url) as raw_settings,
        fresh_settings(backend, postgres_url) as ledger_settings,
    ):
        raw_env = raw_settings.eventsourcing_env() | {"AGGREGATE_CACHE_MAXSIZE": ""}
        raw_app: Application[Any] = Application(env=raw_env)
        ledger = Ledger(ledger_settings)
        started = time.perf_counter()
        try:
            for first in range(0, n, chunk):
                last = min(first + chunk, n)
                t0 = time.perf_counter()
                for i in range(first, last):
                    raw_app.save(Tick(i))
                t1 = time.perf_counter()
                for command in commands[first:last]:
                    run(ledger, command, caller)
                t2 = time.perf_counter()
                raw_seconds += t1 - t0
                command_seconds += t2 - t1
                progress(f"{backend} raw saves + commands", last, n, started)
        finally:
            raw_app.close()
            ledger.close()
    raw, rate = n / raw_seconds, n / command_seconds
    return {
        "commands_per_s": round(rate, 1),
        "raw_saves_per_s": round(raw, 1),
        "ratio": round(rate / raw, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=5000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.commands < 100:
        parser.error("--commands must be at least 100")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    try:
        results = {
            b: bench_backend(b, args.commands, args.seed, args.postgres_url) for b in backends
        }
    except psycopg.OperationalError as err:
        print(f"PostgreSQL is unreachable at {args.postgres_url}: {err}", file=sys.stderr)
        return 2
    worst = min(results, key=lambda b: results[b]["ratio"])
    print(
        orjson.dumps(
            {
                "metric": "ingest_commands_vs_raw_saves",
                "value": results[worst]["ratio"],
                "unit": "ratio",
                "ratio": results[worst]["ratio"],
                "baseline": results[worst]["raw_saves_per_s"],
                "worst_backend": worst,
                "commands": args.commands,
                "backends": results,
            }
        ).decode()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
