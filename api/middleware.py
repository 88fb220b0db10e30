"""Per-request middleware: request id, problem responses for every error, one log line, and
the request counted and timed in the metrics."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
import traceback
from typing import Any
from uuid import uuid4

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth import PRINCIPAL, Principal
from api.keys import REQUEST_ID
from api.observability import METRICS, canonical_route
from api.problems import ApiProblem, problem_for, problem_response
from ledger.logging import CURRENT_REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and ._:- only (UUIDs, trace ids, ULIDs): an id is logged and recorded on
# events, so nothing shaped like an e-mail address gets in that way.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_CLIENT_CLOSED = 499

MAX_ACCESS_LOGGERS = 4096


class AccessLog:
    """The loggers of the request lines, each bound to what many lines share: the method, the
    route and the caller (token id and role), so a line passes only what is its own.

    Where structlog caches loggers (``cached``: the service configures logging so, once,
    before it starts) each such logger is made once and kept (up to ``MAX_ACCESS_LOGGERS``,
    then made afresh); a line then cost about a third fewer instructions than one logger
    given every field (scripts/bench_api_instructions). Elsewhere (tests configure logging
    again and again) one is made for each line, from the configuration of the moment."""

    def __init__(self, *, cached: bool) -> None:
        self._logger = structlog.get_logger("api")
        self._cached = cached
        self._bound: dict[tuple[str, str, tuple[tuple[str, str], ...]], Any] = {}

    def of(self, method: str, route: str, principal: Principal | None) -> Any:
        caller = principal.log_fields if principal is not None else ()
        key = (method, route, caller)
        found = self._bound.get(key)
        if found is None:
            found = self._logger.bind(method=method, route=route, **dict(caller))
            if self._cached:
                if len(self._bound) >= MAX_ACCESS_LOGGERS:
                    self._bound.clear()
                self._bound[key] = found
        return found


ACCESS_LOG = web.AppKey("access_log", AccessLog)
_UNCACHED = AccessLog(cached=False)  # for an application made without one


# fresh ids: this process's random prefix and a counter (unique without a system call each)
_FRESH_PREFIX = uuid4().hex[:16]
_fresh_ids = itertools.count(1)


def _request_id(request: web.Request) -> str:
    """The caller's ``X-Request-ID`` when it is a safe id, else a fresh one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    if given and _VALID_REQUEST_ID.match(given):
        return given
    return f"{_FRESH_PREFIX}{next(_fresh_ids):016x}"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind the request id, turn every exception into a problem, log the outcome once, and
    count and time the request by method, canonical route and the status answered.

    Nothing of the request's body or personal headers reaches the log line; for an
    unexpected exception it carries the exception type and stack frames, not the message
    (messages of validation and database errors can quote personal data).
    """
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    route = canonical_route(request)
    fields: dict[str, object] = {}
    status = 500
    bound = CURRENT_REQUEST_ID.set(request_id)
    try:
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            status = _CLIENT_CLOSED
            _log(request, request_id, route, status, started, fields)
            raise
        except Exception as exc:
            if isinstance(exc, web.HTTPException) and exc.status < 400:
                status = exc.status  # a redirect, answered by aiohttp
                raise
            problem = problem_for(exc, request)
            fields["code"] = problem.code
            if problem.status >= 500 and not isinstance(exc, ApiProblem):
                fields["error"] = type(exc).__name__
                if exc.__cause__ is not None:
                    fields["cause"] = type(exc.__cause__).__name__
                if problem.status == 500:
                    fields["stack"] = "".join(traceback.format_tb(exc.__traceback__))
            response = problem_response(problem, request_id)
        response.headers[REQUEST_ID_HEADER] = request_id
        status = response.status
        _log(request, request_id, route, status, started, fields)
        return response
    finally:
        CURRENT_REQUEST_ID.reset(bound)
        request.app[METRICS].observe_request(
            request.method, route, status, time.perf_counter() - started
        )


def _log(
    request: web.Request,
    request_id: str,
    route: str,
    status: int,
    started: float,
    fields: dict[str, object],
) -> None:
    level = logging.WARNING if status == 503 else logging.ERROR if status >= 500 else logging.INFO
    access = request.app.get(ACCESS_LOG, _UNCACHED)
    access.of(request.method, route, request.get(PRINCIPAL)).log(
        level,
        "request",
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        request_id=request_id,
        **fields,
    )
