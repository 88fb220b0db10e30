"""Benchmark: the HTTP API under a bounded load on loopback, next to a bare aiohttp endpoint.

Usage: scripts/bench_api [--seconds S] [--connections N] [--users N] [--backend sqlite|postgres]
                         [--postgres-url URL] [--event-loop auto|uvloop|asyncio]

Seeds a fresh store (the demo CoCs, then ``--users`` users of WI-500, an admin token), starts
the real service (``python -m api``) as a process, and a bare aiohttp endpoint returning a
small JSON body as another, both on the event loop ``--event-loop`` names (as
``COC_LEDGER_EVENT_LOOP``; by default uvloop where installed). The load comes from this
process (aiohttp client on asyncio's loop, ``--connections`` concurrent connections, each mix
for ``--seconds``, after one second of warm-up):

- bare: ``GET /`` of the bare endpoint (measured before and after the rest; the faster run is
  the baseline);
- writes: a mix of commands (course completions 40%, enrolments 25%, forms 15%, log-in
  summaries 15%, role requests 5%) for random seeded users, each with its own Idempotency-Key;
- reads: a mix of read-model answers (one user 60%, a page of users 20%, an agency 10%,
  the calendar 10%).

Every answer's status is checked (writes 201, reads 200); other answers are counted as errors.
The last line is one JSON object: ``value`` = reads/s, ``baseline`` = bare requests/s,
``ratio`` = their quotient (goal >= 0.4, with read p99 < 20 ms), and the writes' rate and
latencies beside (goal >= 1,000 writes/s with p99 < 50 ms on SQLite). Each phase also says
what CPU it took (``cpu``): the loaded server's user and kernel microseconds per request, and
the share of a core this client used (near 1.0: the client, not the server, set the rate).
All traffic stays on 127.0.0.1 and every phase stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
import orjson

from commands.base import Caller
from commands.demo import load_demo
from commands.end_users import RegisterEndUser
from commands.registry import run
from commands.tokens import TokenRequest, issue_token
from ledger.application import Ledger
from ledger.domain.base import Source
from ledger.domain.tokens import Role
from ledger.errors import InvalidInput
from ledger.event_loop import ASYNCIO, UVLOOP, resolve
from ledger.settings import Settings

COC, AGENCY = "WI-500", "WI-NWH"
OPERATOR = Caller(actor="bench", source=Source.CLI, request_id="bench-api")
# on the service's event loop (argv[2]: its name, as ledger/event_loop.py resolved it), so
# that the two differ only by what the service does
BARE_SERVER = """
import sys
from aiohttp import web
from ledger.event_loop import new_event_loop
async def hello(_):
    return web.json_response({"status": "ok", "service": "bare"})
app = web.Application()
app.router.add_get("/", hello)
loop = new_event_loop(sys.argv[2])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=loop)
"""

Request = tuple[str, str, bytes | None]  # method, path, body


def bare_command(port: int, event_loop: str) -> list[str]:
    """The command that starts the bare endpoint on ``port``, on loop ``event_loop``."""
    return [sys.executable, "-c", BARE_SERVER, str(port), event_loop]


def event_loop_option(parser: argparse.ArgumentParser) -> None:
    """``--event-loop``: the loop of the service and of the bare endpoint, as ``resolve``
    names it on this machine."""

    def loop_here(choice: str) -> str:
        if choice not in ("auto", UVLOOP, ASYNCIO):
            raise argparse.ArgumentTypeError(f"{choice!r}: auto, {UVLOOP} or {ASYNCIO}")
        try:
            return resolve(choice)
        except InvalidInput as err:
            raise argparse.ArgumentTypeError(err.message) from None

    parser.add_argument(
        "--event-loop",
        type=loop_here,
        default="auto",
        help="auto (the default: uvloop where installed), uvloop or asyncio "
        "(COC_LEDGER_EVENT_LOOP)",
    )


_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(stat: str) -> tuple[float, float]:
    """User and kernel CPU seconds of a process, from the text of its ``/proc/<pid>/stat``
    (the fields after the command name, which may hold spaces and parentheses)."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


def cpu_used(
    server: tuple[float, float],
    server_after: tuple[float, float],
    client_seconds: float,
    wall_seconds: float,
    requests: int,
) -> dict[str, float]:
    """What a phase cost: the server's user and kernel µs per request (warm-up included, as
    its requests are), and the share of one core the client used."""
    per_request = 1e6 / max(requests, 1)
    return {
        "server_user_us_per_request": round((server_after[0] - server[0]) * per_request, 1),
        "server_kernel_us_per_request": round((server_after[1] - server[1]) * per_request, 1),
        "client_core_share": round(client_seconds / wall_seconds, 2) if wall_seconds else 0.0,
    }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(settings: Settings, users: int) -> tuple[list[str], str]:
    """The demo CoCs, ``users`` more users of WI-500, and an admin token's secret."""
    ledger = Ledger(settings)
    try:
        load_demo(ledger)
        refs = [f"bench-{i}" for i in range(users)]
        for ref in refs:
            run(
                ledger,
                RegisterEndUser(
                    coc=COC,
                    user_ref=ref,
                    agency_ref=AGENCY,
                    person_name="Synthetic Person",
                    email=f"{ref}@example.org",
                ),
                OPERATOR,
            )
        request = TokenRequest(coc=COC, subject="bench", role=Role.ADMIN, days=1)
        return refs, issue_token(ledger, request, OPERATOR).secret
    finally:
        ledger.close()


@contextmanager
def process(
    args: list[str],
    env: dict[str, str],
    log: Path,
    port: int,
    *,
    start_seconds: float = 60.0,
    stop_seconds: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, waited for (``start_seconds``) until it answers on ``port``, stopped
    at the end (killed if it has not stopped ``stop_seconds`` after being told to)."""
    with log.open("wb") as out:
        server = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace").splitlines()[-20:]
                    raise RuntimeError(
                        f"{args[1:]} did not start within {start_seconds:g} s; its output "
                        "ends:\n" + "\n".join(tail)
                    ) from None
                time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=stop_seconds)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def write_mix(refs: list[str], rng: random.Random) -> Callable[[], Request]:
    now = datetime.now(UTC)
    counter = iter(range(10**9))

    def next_request() -> Request:
        n = next(counter)
        user, roll = rng.choice(refs), rng.random()
        moment = now - timedelta(days=rng.randint(1, 300))
        when = moment.isoformat()
        body: dict[str, Any] = {"coc": COC, "user_ref": user, "idempotency_key": f"w{n}"}
        if roll < 0.40:
            name = "record-course-completion"
            course = f"WI-CE-{rng.randint(1, 6)}"
            body |= {"course_code": course, "provider": "lms", "effective_at": when}
        elif roll < 0.65:
            name = "enrol-in-course"
            body |= {"course_code": f"WI-CE-{rng.randint(1, 6)}", "provider": "lms"}
        elif roll < 0.80:
            name = "sign-form"
            body |= {"form": "user-agreement", "revision": f"rev-{n}"}
        elif roll < 0.95:
            name = "record-login-activity"
            start = (moment - timedelta(days=7)).isoformat()
            body |= {"period_start": start, "period_end": when, "login_count": 0}
        else:
            name = "request-role"
            body |= {"role": "ce-assessor"}
        return "POST", f"/v1/commands/{name}", orjson.dumps(body)

    return next_request


def read_mix(refs: list[str], rng: random.Random) -> Callable[[], Request]:
    def next_request() -> Request:
        roll = rng.random()
        if roll < 0.60:
            return "GET", f"/v1/cocs/{COC}/users/{rng.choice(refs)}", None
        if roll < 0.80:
            return "GET", f"/v1/cocs/{COC}/users?limit=20&agency={AGENCY}", None
        if roll < 0.90:
            return "GET", f"/v1/cocs/{COC}/agencies/{AGENCY}", None
        return "GET", f"/v1/cocs/{COC}/calendar?days=30", None

    return next_request


async def load(
    base: str,
    next_request: Callable[[], Request],
    *,
    expect: int,
    seconds: float,
    connections: int,
    headers: dict[str, str],
) -> dict[str, Any]:
    """``connections`` clients sending requests back to back for ``seconds``."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(base, connector=connector, headers=headers) as session:

        async def client(deadline: float) -> None:
            while time.perf_counter() < deadline:
                method, path, body = next_request()
                started = time.perf_counter()
                async with session.request(method, path, data=body) as response:
                    await response.read()
                    if response.status != expect:
                        errors[str(response.status)] = errors.get(str(response.status), 0) + 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(client(time.perf_counter() + 1.0) for _ in range(connections)))
        warm_up = len(latencies)
        latencies.clear()
        errors.clear()
        started = time.perf_counter()
        await asyncio.gather(*(client(started + seconds) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    count = len(latencies)
    return {
        "requests": count,
        "requests_total": warm_up + count,  # with the warm-up's
        "requests_per_second": round(count / elapsed, 1),
        "p50_ms": round(latencies[count // 2] * 1000, 2) if count else None,
        "p99_ms": round(latencies[min(count - 1, int(count * 0.99))] * 1000, 2) if count else None,
        "errors": errors,
    }


async def caught_up(base: str, headers: dict[str, str], seconds: float = 120.0) -> None:
    """Wait until the read models have applied the whole log and evaluated what it queued."""
    async with aiohttp.ClientSession(base, headers=headers) as session:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            async with session.get("/v1/readmodels") as response:
                head = (await response.json())["head"]
            query = f"/v1/readmodels?wait_for_position={head}"
            async with session.get(query) as response:
                if response.status == 200:
                    return
    raise RuntimeError(f"the read models did not catch up within {seconds} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench_api", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    event_loop_option(parser)
    args = parser.parse_args(argv)
    if not (1 <= args.seconds <= 300 and 1 <= args.connections <= 1024 and args.users >= 1):
        parser.error("--seconds 1..300, --connections 1..1024, --users >= 1")
    with tempfile.TemporaryDirectory() as folder:
        return bench(args, Path(folder))


def bench(args: argparse.Namespace, folder: Path) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COC_LEDGER_")}
    env |= {"COC_LEDGER_LOAD_DEMO_DATA": "false", "COC_LEDGER_LOG_FORMAT": "json"}
    event_loop = args.event_loop
    env["COC_LEDGER_EVENT_LOOP"] = event_loop
    schema = None
    if args.backend == "postgres":
        import psycopg

        schema = f"bench_{uuid4().hex[:12]}"
        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{args.postgres_url}?schema={schema}"
        settings = Settings(database_url=url, load_demo_data=False)
        env["COC_LEDGER_DATABASE_URL"] = url
    else:
        settings = Settings(sqlite_path=folder / "bench.sqlite3", load_demo_data=False)
        env["COC_LEDGER_SQLITE_PATH"] = str(settings.sqlite_path)
    try:
        print(f"seeding {args.users} users ...", file=sys.stderr, flush=True)
        refs, secret = seed(settings, args.users)
        api_port, bare_port = free_port(), free_port()
        env["COC_LEDGER_PORT"] = str(api_port)
        api = [sys.executable, "-m", "api"]
        bare = bare_command(bare_port, event_loop)
        options = {"seconds": args.seconds, "connections": args.connections}
        auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        rng = random.Random(1)
        results: dict[str, Any] = {}
        with (
            process(api, env, folder / "api.log", api_port) as api_server,
            process(bare, env, folder / "bare.log", bare_port) as bare_server,
        ):
            for name, base, server, mix, expect, headers in [
                ("bare", bare_port, bare_server, lambda: ("GET", "/", None), 200, {}),
                ("writes", api_port, api_server, write_mix(refs, rng), 201, auth),
                ("reads", api_port, api_server, read_mix(refs, rng), 200, auth),
                ("bare_again", bare_port, bare_server, lambda: ("GET", "/", None), 200, {}),
            ]:
                if name == "reads":  # let the read models finish what the writes queued
                    asyncio.run(caught_up(f"http://127.0.0.1:{api_port}", auth))
                print(f"{name} for {args.seconds} s ...", file=sys.stderr, flush=True)
                stat = Path(f"/proc/{server.pid}/stat")
                server_before, client_before = process_cpu(stat.read_text()), _own_cpu()
                begun = time.perf_counter()
                results[name] = asyncio.run(
                    load(
                        f"http://127.0.0.1:{base}",
                        mix,  # type: ignore[arg-type]
                        expect=expect,
                        headers=headers,
                        **options,
                    )
                )
                results[name]["cpu"] = cpu_used(
                    server_before,
                    process_cpu(stat.read_text()),
                    _own_cpu() - client_before,
                    time.perf_counter() - begun,
                    results[name]["requests_total"],
                )
                print(orjson.dumps(results[name]).decode(), file=sys.stderr, flush=True)
    finally:
        if schema is not None:
            import psycopg

            with psycopg.connect(args.postgres_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    baseline = max(
        results["bare"]["requests_per_second"], results["bare_again"]["requests_per_second"]
    )
    reads, writes = results["reads"], results["writes"]
    print(
        orjson.dumps(
            {
                "metric": "api_reads_per_second",
                "value": reads["requests_per_second"],
                "unit": "requests/s",
                "baseline": baseline,
                "ratio": round(reads["requests_per_second"] / baseline, 3),
                "backend": args.backend,
                "event_loop": event_loop,
                "connections": args.connections,
                "reads": reads,
                "writes": writes,
                "bare": [results["bare"], results["bare_again"]],
                "goals": {
                    "reads_ratio": 0.4,
                    "reads_p99_ms": 20,
                    "writes_per_second": 1000,
                    "writes_p99_ms": 50,
                },
            }
        ).decode()
    )
    errors = sum(sum(r["errors"].values()) for r in results.values())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
