"""structlog set-up: JSON (orjson) in production, console on a terminal, request ids bound."""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog

from ledger.settings import Settings

_SENSITIVE_KEYS = frozenset(
    {"email", "name", "first_name", "last_name", "password", "token", "secret", "authorization"}
)


def _drop_personal_data(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Last line of defence: personal fields never reach a log line."""
    if not _SENSITIVE_KEYS.isdisjoint(event_dict):  # no set made for a line without them
        for key in _SENSITIVE_KEYS & event_dict.keys():
            event_dict[key] = "[redacted]"
    return event_dict


# The id of the request being served (set by api/middleware.py), on every line logged while
# it is served. One context variable read per line: structlog.contextvars.merge_contextvars
# walks the whole context instead, which cost about a fifth of a small request's time.
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("coc_ledger_request_id", default=None)


def _add_request_id(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = CURRENT_REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


class UtcTimestamp:
    """structlog processor: ``timestamp``, the time in ISO 8601 UTC with microseconds
    (``2026-11-22T03:19:12.827716Z``), as structlog's ``TimeStamper(fmt="iso", utc=True)``
    writes it but always with six digits. The date and time of day are formatted once per
    second, not for every line: building a ``datetime`` and its ISO text took about a fifth
    of a log line's time (scripts/bench_api_instructions counts a request's cost)."""

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")  # replaced whole: safe across threads

    def __call__(
        self, _: Any, __: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = time.time_ns()
        second, text = self._second
        if now // 1_000_000_000 != second:
            second = now // 1_000_000_000
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        event_dict["timestamp"] = f"{text}.{now // 1000 % 1_000_000:06d}Z"
        return event_dict


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


class LinesPerLoopTurn:
    """structlog's logger: prints each line to ``file``. A line logged on a thread running an
    asyncio event loop waits for the end of the loop's turn and is written with the others
    of that turn, in one write for all the requests answered in it, not one each (a write
    per request cost about 7% of a small read's time). Elsewhere a line is written at once,
    and at exit whatever waits is. A crash of the process itself (a kill, not an exception)
    loses at most the lines of one turn."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._waiting: list[str] = []
        atexit.register(self.flush)

    def msg(self, message: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._waiting.append(message)
            if loop is not None:
                if len(self._waiting) == 1:
                    loop.call_soon(self.flush)
                return
        self.flush()

    log = debug = info = warn = warning = err = error = critical = exception = msg
    fatal = failure = msg

    def flush(self) -> None:
        with self._lock:
            if not self._waiting:
                return
            text = "\n".join(self._waiting) + "\n"
            self._waiting.clear()
            self._file.write(text)
            self._file.flush()


def configure_logging(settings: Settings, *, per_loop_turn: bool = False) -> None:
    """Configure structlog once per process from the settings. ``per_loop_turn`` (the
    service): lines logged on an event loop are written once per turn of it
    (``LinesPerLoopTurn``), else each at once; and each logger is assembled once, on its first
    use (structlog's cache), instead of for every line: the service configures logging once,
    before it logs. Elsewhere (tests reconfigure it) loggers follow the configuration."""
    level = getattr(logging, settings.log_level.upper())
    use_console = settings.log_format == "console" or (
        settings.log_format == "auto" and sys.stderr.isatty()
    )
    renderer: Any = (
        structlog.dev.ConsoleRenderer()
        if use_console
        else structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    )
    structlog.configure(
        processors=[
            _add_request_id,
            structlog.processors.add_log_level,
            UtcTimestamp(),
            _drop_personal_data,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_one_logger(LinesPerLoopTurn(sys.stderr))
        if per_loop_turn
        else structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=per_loop_turn,
    )


def _one_logger(logger: LinesPerLoopTurn) -> Any:
    """A structlog logger factory that gives the same logger to every caller."""

    def factory(*_: Any) -> LinesPerLoopTurn:
        return logger

    return factory
