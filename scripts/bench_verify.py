"""Benchmark: verifying a whole stored log against its sealed tree and signed checkpoint (the
self-check), next to the raw rate of hashing the same stored bytes in a chain, measured in
the same run.

Usage: scripts/bench_verify [--events N] [--sqlite-path FILE] [--backend sqlite|postgres|both]
                            [--rounds R] [--seed S] [--postgres-url URL]

The log: ``--sqlite-path FILE`` reuses a log generated once with ``scripts/generate --events N
--sqlite-path FILE`` (generation takes minutes; sealing adds the integrity tables to the
file, so later runs reuse them too); without it, about N events (default 500,000) are
generated into a temporary file. PostgreSQL gets a byte-for-byte copy of the same stored
events, at the same positions (COPY into a new schema, dropped at the end). Each store is
sealed and a checkpoint signed with a throw-away key (both timed, reported beside).

Then, R rounds (default 2; the machine is shared) alternating, for each store:

- **raw**: every stored event read in log order, in pages, with the same query as the
  self-check, and hashed in a chain ``h = SHA-256(h || position || version || id || topic ||
  state)``: the least any check of every stored byte costs;
- **verify**: ``ledger.integrity.selfcheck`` over the whole log: leaf hashes compared with
  the sealed leaves, the tree recomputed (stored nodes compared, the root checked against the
  signed checkpoint), the checkpoint's signature verified.

The best round of each is kept. The last line of stdout is one JSON object: ``value`` is
verified events/s on the last backend run, ``baseline`` that backend's raw chain rate,
``ratio`` = verify / raw, the worst over the backends (goal >= 0.5); per-backend figures and
every round beside.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson

from commands.base import Caller
from commands.signing_keys import init_key
from commands.synthetic import generate
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import Source
from ledger.integrity.scan import PAGE
from ledger.integrity.service import Integrity
from ledger.integrity.store import IntegrityStore
from ledger.settings import Settings

OPERATOR = Caller(actor="bench", source=Source.CLI, request_id="bench-verify")
CLOCK = FixedClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))  # after the generated log ends


def raw_chain(store: IntegrityStore) -> tuple[int, bytes]:
    """Read every stored event in log order and hash the rows in a chain."""
    pack = struct.Struct(">qq").pack
    chained, count, after = b"", 0, None
    while True:
        rows = store.row_tuples_after(after, PAGE)
        for position, originator_id, version, topic, state in rows:
            chained = sha256(
                chained + pack(position, version) + originator_id.encode() + topic.encode() + state
            ).digest()
        count += len(rows)
        if len(rows) < PAGE:
            return count, chained
        after = rows[-1][0]


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def prepare(settings: Settings, key_file: Path) -> dict[str, Any]:
    """Seal the store and sign a checkpoint (a no-op on a store sealed before)."""
    ledger = Ledger(settings, clock=CLOCK)
    try:
        init_key(ledger, key_file, OPERATOR)
        integrity = Integrity(ledger, settings.model_copy(update={"signing_key_path": key_file}))
        seconds, sealed = timed(integrity.seal)
        key = integrity.signing_key()
        assert key is not None
        checkpoint = integrity.fresh_checkpoint(key)
        return {
            "tree_size": checkpoint.tree_size,
            "sealed_now": sealed,
            "seal_events_per_second": round(sealed / seconds) if sealed else None,
        }
    finally:
        ledger.close()


def measure(settings: Settings, rounds: int) -> dict[str, Any]:
    ledger = Ledger(settings, clock=CLOCK)
    try:
        integrity = Integrity(ledger, settings)
        raw_runs, verify_runs = [], []
        events = 0
        for _ in range(rounds):
            seconds, (events, _) = timed(lambda: raw_chain(integrity.store))
            raw_runs.append(events / seconds)
            seconds, report = timed(integrity.selfcheck)
            if not report.ok:
                raise SystemExit(f"bench_verify: the log does not verify: {report.as_json()}")
            verify_runs.append(report.events_checked / seconds)
        raw, verify = max(raw_runs), max(verify_runs)
        return {
            "events": events,
            "raw_events_per_second": round(raw),
            "verify_events_per_second": round(verify),
            "ratio": round(verify / raw, 3),
            "raw_rounds": [round(r) for r in raw_runs],
            "verify_rounds": [round(r) for r in verify_runs],
        }
    finally:
        ledger.close()


def copy_to_postgres(source: Path, url: str, schema: str) -> Settings:
    """A new schema holding the same stored events at the same positions."""
    import psycopg

    settings = Settings(database_url=f"{url}?schema={schema}", load_demo_data=False)
    target = Ledger(settings)  # creates the events table
    table = IntegrityStore(target).events
    target.close()
    with psycopg.connect(url, autocommit=True) as conn:
        columns = "(notification_id, originator_id, originator_version, topic, state)"
        reader = Ledger(Settings.for_store(sqlite_path=source))
        with conn.cursor().copy(f"COPY {table} {columns} FROM STDIN") as copy:
            read = IntegrityStore(reader)
            after = None
            while rows := read.row_tuples_after(after, PAGE):
                for position, originator_id, version, topic, state in rows:
                    copy.write_row((position, UUID(originator_id), version, topic, state))
                after = rows[-1][0]
        reader.close()
        conn.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), "
            f"(SELECT MAX(notification_id) FROM {table}))",
            (table,),
        )
        conn.execute(f"ANALYZE {table}")
    return settings


def report_line(name: str, figures: dict[str, Any]) -> None:
    print(
        f"{name}: {figures['events']:,} events; raw chain {figures['raw_events_per_second']:,}/s "
        f"{figures['raw_rounds']}, verify {figures['verify_events_per_second']:,}/s "
        f"{figures['verify_rounds']}, ratio {figures['ratio']}",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_verify", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--sqlite-path", type=Path, help="a log generated before (reused)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        source = args.sqlite_path or Path(folder) / "bench.sqlite3"
        sqlite = Settings.for_store(sqlite_path=source)
        if args.sqlite_path is None:
            ledger = Ledger(sqlite, clock=CLOCK)
            print(f"bench_verify: generating about {args.events:,} events", file=sys.stderr)
            generate(ledger, events=args.events, seed=args.seed)
            ledger.close()
        # kept beside a reused log: its key is the one the log records as in force
        key_file = source.with_name(source.name + ".bench-key.pem")
        if args.backend in ("sqlite", "both"):
            sealing = prepare(sqlite, key_file)
            figures = {"backend": "sqlite", **sealing, **measure(sqlite, args.rounds)}
            report_line("sqlite", figures)
            results.append(figures)
        if args.backend in ("postgres", "both"):
            results.append(bench_postgres(source, args, key_file))
    last = results[-1]
    print(
        orjson.dumps(
            {
                "metric": "verify_events_per_second",
                "value": last["verify_events_per_second"],
                "unit": "events/s",
                "baseline": last["raw_events_per_second"],
                "ratio": min(r["ratio"] for r in results),
                "goal_ratio": 0.5,
                "backends": results,
            }
        ).decode()
    )
    return 0


def bench_postgres(source: Path, args: argparse.Namespace, key_file: Path) -> dict[str, Any]:
    import psycopg

    schema = f"bench_{uuid4().hex[:12]}"
    with psycopg.connect(args.postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        print("bench_verify: copying the log into PostgreSQL", file=sys.stderr)
        settings = copy_to_postgres(source, args.postgres_url, schema)
        sealing = prepare(settings, key_file)  # the same log: the same key may be in force
        figures = {"backend": "postgres", **sealing, **measure(settings, args.rounds)}
        report_line("postgres", figures)
        return figures
    finally:
        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    sys.exit(main())
