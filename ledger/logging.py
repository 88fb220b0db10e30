"""structlog set-up: JSON (orjson) in production, console on a terminal, request ids bound."""

from __future__ import annotations

import logging
import sys
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


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def configure_logging(settings: Settings) -> None:
    """Configure structlog once per process from the settings."""
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
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_personal_data,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
