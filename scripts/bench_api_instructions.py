"""Benchmark: CPU instructions per HTTP request of the API, counted with valgrind's callgrind,
next to a bare aiohttp endpoint counted the same way.

Usage: scripts/bench_api_instructions [--requests N] [--warmup N] [--warmup-writes N]
                                      [--users N] [--idle-seconds S]
                                      [--event-loop auto|uvloop|asyncio]

Wall-clock rates (``scripts/bench_api``) scatter by about 30% on a shared machine; the number
of instructions a request executes does not depend on the machine's speed or load, so a
change to the service can be measured by it (but see the pollers below). Bare instructions /
service instructions compares the two servers' own costs. It need not agree with bench_api's
reads/s / bare requests/s: there the service is CPU-bound on its core, but the bare endpoint's
rate is set by the client (its phases' ``client_core_share`` is about 0.98).

Seeds a fresh SQLite store as bench_api does (the demo CoCs, ``--users`` users of WI-500, an
admin token; the same environment), then starts the real service (``python -m api``) and the
bare endpoint of bench_api, both on the event loop ``--event-loop`` names (as bench_api's),
each under ``valgrind --tool=callgrind --instr-atstart=no``: they run uninstrumented until
told otherwise. The load comes from this process (aiohttp client,
32 connections, each request list fixed up front from a seeded random generator):

- bare: ``GET /``;
- the service: ``--warmup-writes`` writes of bench_api's write mix, then, once the read models
  have caught up, for each mix: ``user``, ``page``, ``agency``, ``calendar`` (the four kinds of
  bench_api's read mix, told apart by their paths), ``reads`` (the whole read mix) and
  ``writes`` (the write mix; the read models catch up before and after, uninstrumented).

For each: ``--warmup`` requests uninstrumented, then ``callgrind_control -z`` and ``-i on``,
exactly ``--requests`` requests, ``-i off`` and ``-d`` (a dump); the dump's ``totals:``
divided by the number of requests is the figure. Everything the server process does
meanwhile is counted (its event loop, logging, its threads), nothing of other processes.

The service's threads also poll on a timer whatever the requests (the read models' follower
every 0.2 s, the sealer every 0.5 s): that work grows with the seconds a mix takes, which
depend on the machine's load. So the service is also counted answering nothing for
``--idle-seconds`` (after the warm-up writes), and each mix has beside its figure a
``net_instructions_per_request``: its instructions less the idle rate times its seconds, per
request (for writes, only the part of the follower's work for them done while they were
sent is in: the rest is done after, uncounted). The bare endpoint has no timers.

Every answer's status is checked (reads 200, writes 201); any other fails the run. The last
line is one JSON object: ``value`` = instructions per request of the read mix, ``baseline`` =
the bare endpoint's, ``ratio`` = baseline / value (goal >= 0.4, as bench_api's), each mix's
figures and the idle rate beside. Needs valgrind (``apt-get install valgrind``); all traffic
stays on 127.0.0.1 and every wait is bounded. Takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from ledger.settings import Settings

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:  # there when run as a script; not when a test loads this file
    sys.path.append(str(SCRIPTS))

from bench_api import (  # noqa: E402
    AGENCY,
    COC,
    Request,
    bare_command,
    caught_up,
    event_loop_option,
    free_port,
    process,
    read_mix,
    seed,
    write_mix,
)

CONNECTIONS = 32
START_SECONDS = 180.0  # valgrind takes tens of seconds to start Python and import the service
REQUEST_SECONDS = 120.0
CATCH_UP_SECONDS = 600.0
CONTROL_SECONDS = 120.0
DUMP_SECONDS = 60.0
READ_KINDS = ("user", "page", "agency", "calendar")
MIXES = (*READ_KINDS, "reads", "writes")
GOAL_RATIO = 0.4


def kind_of(path: str) -> str:
    """Which part of bench_api's read mix a path belongs to."""
    if "/users?" in path:
        return "page"
    if "/users/" in path:
        return "user"
    if "/agencies/" in path:
        return "agency"
    if "/calendar" in path:
        return "calendar"
    raise ValueError(f"not a path of the read mix: {path}")


def requests_of(mix: str, next_read: Callable[[], Request], count: int) -> list[Request]:
    """``count`` requests of the read mix (``reads``) or of one of its kinds, in order drawn."""
    if mix != "reads" and mix not in READ_KINDS:
        raise ValueError(f"not a read mix: {mix}")
    chosen: list[Request] = []
    draws = 0
    while len(chosen) < count:
        draws += 1
        if draws > 100 * (count + 10):  # each kind is 10% of the mix or more
            raise RuntimeError(f"the read mix gave {len(chosen)} {mix} requests in {draws} draws")
        request = next_read()
        if mix == "reads" or kind_of(request[1]) == mix:
            chosen.append(request)
    return chosen


def totals(dump: str) -> int | None:
    """The first event (Ir, instructions) of a callgrind dump's ``totals:`` line; ``None``
    while the line is not written yet."""
    for line in dump.splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    return None


def per_request(
    instructions: int, requests: int, seconds: float, idle_per_second: float | None = None
) -> dict[str, Any]:
    """One mix's figures; with the server's idle rate, also net of what it would have done
    idle in the same ``seconds`` (its pollers, counted whatever the requests)."""
    figures: dict[str, Any] = {
        "instructions_per_request": round(instructions / requests),
        "instructions": instructions,
        "requests": requests,
        "seconds": round(seconds, 2),
    }
    if idle_per_second is not None:
        net = (instructions - idle_per_second * seconds) / requests
        figures["net_instructions_per_request"] = round(net)
    return figures


def result(mixes: dict[str, dict[str, Any]], bare: dict[str, Any], **beside: Any) -> dict[str, Any]:
    """The last line: the read mix's instructions per request next to the bare endpoint's."""
    value = mixes["reads"]["instructions_per_request"]
    baseline = bare["instructions_per_request"]
    return {
        "metric": "api_read_instructions_per_request",
        "value": value,
        "unit": "instructions/request",
        "baseline": baseline,
        "ratio": round(baseline / value, 3),
        "mixes": mixes,
        "bare": bare,
        **beside,
        "goals": {"ratio": GOAL_RATIO},
    }


@dataclass
class Counted:
    """A server under callgrind: switches its instrumentation and reads its dumps (numbered
    ``<prefix>.<pid>.1``, ``.2``, ...; the one without a number is written at exit)."""

    pid: int
    prefix: Path
    read: set[Path] = field(default_factory=set)

    def control(self, *options: str) -> None:
        command = ["callgrind_control", *options, str(self.pid)]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CONTROL_SECONDS, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        self.control("-z")  # only the requests to come are counted
        self.control("-i", "on")

    def stop(self) -> int:
        """Instructions counted since ``start``: the sum over the dumps made by ``-d``."""
        self.control("-i", "off")
        self.control("-d")
        deadline = time.monotonic() + DUMP_SECONDS
        while True:
            dumps = set(self.prefix.parent.glob(f"{self.prefix.name}.{self.pid}.*")) - self.read
            counts = [totals(dump.read_text()) for dump in sorted(dumps)]
            if dumps and None not in counts:
                self.read |= dumps
                return sum(c for c in counts if c is not None)
            if time.monotonic() > deadline:
                raise RuntimeError(f"no complete callgrind dump of {self.pid} in {DUMP_SECONDS} s")
            time.sleep(0.2)


@contextmanager
def callgrind(
    args: list[str], env: dict[str, str], folder: Path, name: str, port: int
) -> Iterator[Counted]:
    """A server process under callgrind, uninstrumented, waited for until it answers on
    ``port`` (valgrind takes long to start), stopped at the end (bench_api's ``process``)."""
    prefix = folder / name
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={prefix}.%p",
        *args,
    ]
    log = folder / f"{name}.log"
    with process(command, env, log, port, start_seconds=START_SECONDS, stop_seconds=60) as server:
        yield Counted(server.pid, prefix)


async def send(base: str, requests: list[Request], *, expect: int, headers: dict[str, str]) -> None:
    """Every request once, over ``CONNECTIONS`` connections; fails if any answer is not
    ``expect``."""
    todo = list(requests)
    failures: list[str] = []
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=REQUEST_SECONDS)
    async with aiohttp.ClientSession(
        base, connector=connector, headers=headers, timeout=timeout
    ) as session:

        async def worker() -> None:
            while todo:
                method, path, body = todo.pop()
                async with session.request(method, path, data=body) as response:
                    answer = await response.read()
                    if response.status != expect:
                        failures.append(f"{method} {path}: {response.status} {answer[:300]!r}")

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {len(requests)} answers were not {expect}; the first: "
            + failures[0]
        )


def measure(
    counted: Counted, base: str, requests: list[Request], expect: int, headers: dict[str, str]
) -> tuple[int, float]:
    """Instructions of the server while it answers ``requests``, and the seconds it took."""
    counted.start()
    begun = time.monotonic()
    asyncio.run(send(base, requests, expect=expect, headers=headers))
    seconds = time.monotonic() - begun
    return counted.stop(), seconds


def idle(counted: Counted, seconds: float) -> tuple[int, float]:
    """Instructions of the server while it answers nothing for ``seconds``."""
    counted.start()
    begun = time.monotonic()
    time.sleep(seconds)
    waited = time.monotonic() - begun
    return counted.stop(), waited


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_api_instructions", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requests", type=int, default=1000, help="counted, per mix")
    parser.add_argument("--warmup", type=int, default=200, help="uninstrumented, per mix")
    parser.add_argument("--warmup-writes", type=int, default=300, help="before the reads")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument(
        "--idle-seconds", type=float, default=10.0, help="the service counted answering nothing"
    )
    event_loop_option(parser)
    args = parser.parse_args(argv)
    if not (
        1 <= args.requests <= 100_000
        and 0 <= args.warmup <= 100_000
        and 0 <= args.warmup_writes <= 100_000
        and 1 <= args.users <= 1_000_000
        and 1 <= args.idle_seconds <= 300
    ):
        parser.error(
            "--requests 1..100000, --warmup 0..100000, --warmup-writes 0..100000, "
            "--users 1..1000000, --idle-seconds 1..300"
        )
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(
            f"{parser.prog}: needs {' and '.join(missing)} on PATH (apt-get install valgrind)",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory() as folder:
        try:
            return bench(args, Path(folder))
        except RuntimeError as error:
            print(f"{parser.prog}: {error}", file=sys.stderr)
            return 1


def bench(args: argparse.Namespace, folder: Path) -> int:
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COC_LEDGER_")}
    env |= {"COC_LEDGER_LOAD_DEMO_DATA": "false", "COC_LEDGER_LOG_FORMAT": "json"}
    env["COC_LEDGER_EVENT_LOOP"] = args.event_loop
    settings = Settings(sqlite_path=folder / "bench.sqlite3", load_demo_data=False)
    env["COC_LEDGER_SQLITE_PATH"] = str(settings.sqlite_path)
    note(f"seeding {args.users} users ...")
    refs, secret = seed(settings, args.users)
    api_port, bare_port = free_port(), free_port()
    env["COC_LEDGER_PORT"] = str(api_port)
    api_base, bare_base = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    next_read, next_write = read_mix(refs, random.Random(1)), write_mix(refs, random.Random(2))
    writes = 0  # one write mix throughout: its idempotency keys must not repeat

    def write_requests(count: int) -> list[Request]:
        nonlocal writes
        writes += count
        return [next_write() for _ in range(count)]

    mixes: dict[str, dict[str, Any]] = {}
    note("starting the service and the bare endpoint under valgrind ...")
    with (
        callgrind([sys.executable, "-m", "api"], env, folder, "api", api_port) as api,
        callgrind(
            bare_command(bare_port, args.event_loop), env, folder, "bare", bare_port
        ) as bare_server,
    ):
        note(f"both answer after {time.monotonic() - started:.0f} s")
        get_root: list[Request] = [("GET", "/", None)]
        asyncio.run(send(bare_base, get_root * args.warmup, expect=200, headers={}))
        instructions, seconds = measure(bare_server, bare_base, get_root * args.requests, 200, {})
        bare = per_request(instructions, args.requests, seconds)
        note(f"bare: {bare['instructions_per_request']:,} instructions/request")

        note(f"{args.warmup_writes} writes, then the read models catch up ...")
        asyncio.run(send(api_base, write_requests(args.warmup_writes), expect=201, headers=auth))
        asyncio.run(caught_up(api_base, auth, CATCH_UP_SECONDS))
        note(f"the service idle for {args.idle_seconds} s ...")
        instructions, seconds_idle = idle(api, args.idle_seconds)
        idle_per_second = instructions / seconds_idle
        note(f"idle: {idle_per_second:,.0f} instructions/s")
        for mix in MIXES:
            clock = time.monotonic()
            if mix == "writes":
                warm, counted, expect = (
                    write_requests(args.warmup),
                    write_requests(args.requests),
                    201,
                )
            else:
                warm = requests_of(mix, next_read, args.warmup)
                counted, expect = requests_of(mix, next_read, args.requests), 200
            asyncio.run(send(api_base, warm, expect=expect, headers=auth))
            if mix == "writes":  # what the warm-up queued is not counted
                asyncio.run(caught_up(api_base, auth, CATCH_UP_SECONDS))
            instructions, seconds = measure(api, api_base, counted, expect, auth)
            mixes[mix] = per_request(instructions, len(counted), seconds, idle_per_second)
            if mix == "writes":  # and all the counted writes were applied (uncounted)
                asyncio.run(caught_up(api_base, auth, CATCH_UP_SECONDS))
            note(
                f"{mix}: {mixes[mix]['instructions_per_request']:,} instructions/request, "
                f"{mixes[mix]['net_instructions_per_request']:,} net of idle "
                f"({seconds:.1f} s counted, {time.monotonic() - clock:.0f} s in all)"
            )
    line = result(
        mixes,
        bare,
        coc=COC,
        agency=AGENCY,
        users=args.users,
        connections=CONNECTIONS,
        event_loop=args.event_loop,
        warmup=args.warmup,
        warmup_writes=args.warmup_writes,
        writes=writes,
        idle={"seconds": round(seconds_idle, 2), "instructions_per_second": round(idle_per_second)},
        seconds=round(time.monotonic() - started),
    )
    print(orjson.dumps(line).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
