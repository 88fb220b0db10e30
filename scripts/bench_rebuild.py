"""Benchmark: a full rebuild of every read model from a generated log, next to the raw rate
of reading and decoding the same log with eventsourcing, measured in the same run.

Usage: scripts/bench_rebuild [--events N] [--backend sqlite|postgres|both] [--seed S]
                             [--workers N] [--postgres-url URL]

For each backend: generates a deterministic synthetic log of about N events (default
500,000) into a fresh store (a temporary SQLite file; a new schema in PostgreSQL, dropped at
the end), then, each in a fresh child process: reads and decodes the whole log
(``recorder.select_notifications`` + the application's mapper: the raw rate), rebuilds all
read models into a new generation as ``scripts/rebuild`` does (``Follower.catch_up``:
entities, audit trail, agencies, regions, calendar, and user compliance evaluated meanwhile
in ``--workers`` processes, one per core by default), and reads and decodes again. The
baseline is the faster of the two raw runs. ``applying_seconds``: until the last batch of the
log was applied. Memory: the rebuilding child samples its resident set size
(/proc/self/status VmRSS) when it passes each quarter of the log and at every progress report
(``rss_mib_sampled_max``), and reports its peak (``VmHWM``) and its workers' (``ru_maxrss``,
an upper bound); flat quarters mean memory does not grow with the log's length.
CPU: ``main_cpu_seconds`` (the rebuilding process), ``workers_cpu_seconds`` (its workers) and
``machine_cpu_seconds`` (every process, PostgreSQL's too, from /proc/stat) over the rebuild;
near ``cores`` x ``rebuild_seconds``, the rebuild is bound by the machine's cores.
The last line is one JSON object: ``value`` is rebuild events/s on the last backend run,
``ratio`` = rebuild events/s / raw decode events/s (goal >= 0.4); per-backend figures beside.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson

from commands.synthetic import generate
from ledger.application import Ledger
from ledger.settings import Settings
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb
from projections.readmodels.follower import REBUILD_BATCH, Follower, Step

BATCH = REBUILD_BATCH


def rss_mib(field: str = "VmRSS") -> float:
    """Resident memory now, or at its highest (``VmHWM``) since this program started (not
    ``ru_maxrss``: Linux carries that over from the parent a child was forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(who: int) -> float:
    """User and system CPU of this process (``RUSAGE_SELF``) or of its waited-for children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds(proc_stat: str | None = None) -> float:
    """CPU time every core of the machine has spent busy since it started, from the first
    line of /proc/stat (or the text ``proc_stat``): user, nice, system, irq and softirq ticks
    (not idle, I/O wait or time stolen by the hypervisor)."""
    text = Path("/proc/stat").read_text() if proc_stat is None else proc_stat
    fields = text.split("\n", 1)[0].split()[1:]
    busy = [int(fields[i]) for i in (0, 1, 2, 5, 6)]
    return sum(busy) / os.sysconf("SC_CLK_TCK")


def raw_decode(settings: Settings) -> dict[str, Any]:
    ledger = Ledger(settings)
    started = time.perf_counter()
    count, position = 0, 0
    while True:
        notifications = ledger.recorder.select_notifications(start=position + 1, limit=BATCH)
        for notification in notifications:
            ledger.mapper.to_domain_event(notification)
        count += len(notifications)
        if len(notifications) < BATCH:
            break
        position = notifications[-1].id
    seconds = time.perf_counter() - started
    ledger.close()
    return {"events": count, "seconds": seconds, "events_per_second": count / seconds}


def rebuild(settings: Settings, workers: int) -> dict[str, Any]:
    ledger = Ledger(settings)
    db = ReadModelDb(ledger)
    head = ledger.head()
    number = generations.begin(db, ledger.clock.now(), "bench")
    quarters: list[float] = []
    sampled: list[float] = [0.0]
    applied_at: list[float] = []

    def progress(step: Step) -> None:
        while len(quarters) < 4 and step.position >= head * (len(quarters) + 1) / 4:
            quarters.append(round(rss_mib(), 1))
        sampled[0] = max(sampled[0], rss_mib())
        if step.pending < 0:  # a batch of the log applied (users are evaluated meanwhile)
            applied_at[:] = [time.perf_counter()]

    own_before, machine_before = cpu_seconds(resource.RUSAGE_SELF), machine_cpu_seconds()
    started = time.perf_counter()
    follower = Follower(ledger, db, number, ledger.clock, batch_size=BATCH, workers=workers)
    step = follower.catch_up(progress)
    seconds = time.perf_counter() - started
    own, machine = cpu_seconds(resource.RUSAGE_SELF) - own_before, machine_cpu_seconds()
    while multiprocessing.active_children():  # workers exit after the rebuild returns: their
        time.sleep(0.05)  # peak memory and CPU count once they are waited for
    users = db.fetchall(f"SELECT COUNT(*) FROM {db.table(db.prefix(number) + 'users')}")[0][0]
    ledger.close()
    return {
        "events": step.applied,
        "users": users,
        "seconds": seconds,
        "applying_seconds": round((applied_at or [time.perf_counter()])[0] - started, 2),
        "events_per_second": step.applied / seconds,
        "workers": workers,
        # where the time went: this process (reading the log, writing every row), its
        # workers (this child has no other children), and every process of the machine
        # (PostgreSQL's servers too) over the rebuild, against the cores it has
        "main_cpu_seconds": round(own, 2),
        "workers_cpu_seconds": round(cpu_seconds(resource.RUSAGE_CHILDREN), 2),
        "machine_cpu_seconds": round(machine - machine_before, 2),
        "cores": os.cpu_count(),
        "rss_mib_at_quarters": quarters,
        "rss_mib_sampled_max": round(sampled[0], 1),
        "peak_rss_mib": round(rss_mib("VmHWM"), 1),
        # an upper bound: the workers were forked from this process at its size then
        "worker_peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
    }


def in_child(function: Any, *args: Any) -> dict[str, Any]:
    """Run in a fresh process (not a daemon: the rebuild starts worker processes itself)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        result: dict[str, Any] = pool.submit(function, *args).result()
    return result


def bench(settings: Settings, events: int, seed: int, name: str, workers: int) -> dict[str, Any]:
    ledger = Ledger(settings)
    print(f"{name}: generating about {events} events ...", file=sys.stderr, flush=True)
    report = generate(ledger, events=events, seed=seed)
    ledger.close()
    print(
        f"{name}: {report.events} events in {report.seconds} s; decoding and rebuilding ...",
        file=sys.stderr,
        flush=True,
    )
    raw = [in_child(raw_decode, settings)]
    rebuilt = in_child(rebuild, settings, workers)
    raw.append(in_child(raw_decode, settings))
    baseline = max(r["events_per_second"] for r in raw)
    result = {
        "backend": name,
        "events": report.events,
        "users": rebuilt["users"],
        "raw_events_per_second": [round(r["events_per_second"]) for r in raw],
        "baseline": round(baseline),
        "rebuild_events_per_second": round(rebuilt["events_per_second"]),
        "rebuild_seconds": round(rebuilt["seconds"], 2),
        "applying_seconds": rebuilt["applying_seconds"],
        "ratio": round(rebuilt["events_per_second"] / baseline, 3),
        "workers": workers,
        "main_cpu_seconds": rebuilt["main_cpu_seconds"],
        "workers_cpu_seconds": rebuilt["workers_cpu_seconds"],
        "machine_cpu_seconds": rebuilt["machine_cpu_seconds"],
        "cores": rebuilt["cores"],
        "rss_mib_at_quarters": rebuilt["rss_mib_at_quarters"],
        "rss_mib_sampled_max": rebuilt["rss_mib_sampled_max"],
        "peak_rss_mib": rebuilt["peak_rss_mib"],
        "worker_peak_rss_mib": rebuilt["worker_peak_rss_mib"],
    }
    print(orjson.dumps(result).decode(), file=sys.stderr, flush=True)
    return result


def postgres(url: str, events: int, seed: int, workers: int) -> dict[str, Any]:
    import psycopg

    schema = f"bench_{uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        settings = Settings(database_url=f"{url}?schema={schema}", load_demo_data=False)
        return bench(settings, events, seed, "postgres", workers)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench_rebuild")
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="as scripts/rebuild --workers"
    )
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    results = []
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(sqlite_path=Path(folder) / "bench.sqlite3", load_demo_data=False)
            results.append(bench(settings, args.events, args.seed, "sqlite", args.workers))
    if args.backend in ("postgres", "both"):
        results.append(postgres(args.postgres_url, args.events, args.seed, args.workers))
    last = results[-1]
    print(
        orjson.dumps(
            {
                "metric": "rebuild_events_per_second",
                "value": last["rebuild_events_per_second"],
                "unit": "events/s",
                "baseline": last["baseline"],
                "ratio": min(r["ratio"] for r in results),
                "goal_ratio": 0.4,
                "backends": results,
            }
        ).decode()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
