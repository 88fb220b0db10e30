"""The real service as a process: it starts, takes a command over HTTP with a token issued by
``scripts/token`` beside it and keeps the command across a restart (SQLite file), refuses the
token once revoked, and stops cleanly on SIGTERM; it serves on uvloop by default and on
asyncio's own loop when told."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
REQUEST_TIMEOUT = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _call(
    url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class Server:
    """``python -m api`` in a subprocess, its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.base = f"http://127.0.0.1:{env['COC_LEDGER_PORT']}"
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api"],
                cwd=REPO,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited early:\n{self.log.read_text()}"
            try:
                status, body = _call(f"{self.base}/healthz")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
                continue
            assert status == 200, body
            return dict(body)
        raise AssertionError(f"server not healthy in {START_TIMEOUT}s:\n{self.log.read_text()}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


def _token(env: dict[str, str], *args: str) -> tuple[int, str]:
    """``scripts/token ARGS`` on the server's store: (exit status, last line of stdout)."""
    done = subprocess.run(
        [sys.executable, "scripts/tokens.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    return done.returncode, lines[-1] if lines else done.stderr


def test_a_command_posted_to_the_real_server_survives_a_restart(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COC_LEDGER_")} | {
        "COC_LEDGER_SQLITE_PATH": str(tmp_path / "ledger.sqlite3"),
        "COC_LEDGER_PORT": str(_free_port()),
        "COC_LEDGER_LOAD_DEMO_DATA": "false",
        "COC_LEDGER_LOG_FORMAT": "json",
        "COC_LEDGER_TOKEN_CACHE_SECONDS": "0",
    }
    log = tmp_path / "server.log"
    servers: list[Server] = []
    try:
        servers.append(Server(env, log))
        assert servers[-1].wait_healthy() == {"status": "ok", "head": 0}
        # a token issued by the operator command while the service runs works at once
        status, created = _token(
            env, "create", "--coc", "WI-500", "--role", "admin", "--subject", "e2e-tester"
        )
        assert status == 0, created
        token = json.loads(created)
        auth = {"Authorization": f"Bearer {token['secret']}"}
        status, receipt = _call(
            f"{servers[-1].base}/v1/commands/register-coc",
            {"coc": "WI-500", "coc_name": "Demo Wisconsin", "process": "wi-bos"},
            auth | {"X-Request-ID": "e2e-1"},
        )
        assert status == 201, receipt
        assert servers[-1].stop() == 0, log.read_text()

        # restarted on asyncio's own loop: the service serves the same on either
        servers.append(Server(env | {"COC_LEDGER_EVENT_LOOP": "asyncio"}, log))
        assert servers[-1].wait_healthy()["head"] == receipt["position"]
        history_url = f"{servers[-1].base}/v1/cocs/WI-500/entities/coc/-/history"
        status, history = _call(history_url, headers=auth)
        assert status == 200, history
        [event] = history["items"]
        assert (event["type"], event["actor"], event["request_id"]) == (
            "CoC.Registered",
            "e2e-tester",
            "e2e-1",
        )
        # revoked by the operator command in another process: refused (no cache here)
        status, revoked = _token(env, "revoke", token["token_id"], "--reason", "e2e finished")
        assert (status, json.loads(revoked)["state"]) == (0, "revoked")
        status, refused = _call(history_url, headers=auth)
        assert (status, refused["code"]) == (401, "invalid_token")
        assert servers[-1].stop() == 0, log.read_text()
    finally:
        for server in servers:
            server.kill()
    printed = log.read_text()
    assert token["secret"] not in printed
    lines = [json.loads(line) for line in printed.splitlines()]
    uvloop_here = importlib.util.find_spec("uvloop") is not None
    assert [line["event_loop"] for line in lines if line["event"] == "serving"] == [
        "uvloop" if uvloop_here else "asyncio",  # the default: uvloop where installed
        "asyncio",
    ]
    [posted] = [line for line in lines if line.get("route") == "/v1/commands/register-coc"]
    assert {
        "event": "request",
        "method": "POST",
        "status": 201,
        "request_id": "e2e-1",
    }.items() <= posted.items()
