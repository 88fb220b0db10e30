"""Every failure as an RFC 9457 problem: ledger, library and HTTP errors mapped to status and code.

ApiProblem              raised by the API layer itself (bad header, malformed body, ...)
LedgerError             its own ``status`` and ``code`` (rule violations add ``rule``)
store unavailable       503 ``store_unavailable`` (StoreUnavailable, or the store's
                        OperationalError / InterfaceError raised while reading)
aiohttp HTTPException   its status (unknown route 404, wrong method 405, body too large 413)
anything else           500 ``internal_error``, without internals
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web
from eventsourcing.persistence import InterfaceError, OperationalError
from pydantic import ValidationError

from api.keys import SETTINGS
from api.responses import json_response
from ledger.application import StoreUnavailable
from ledger.errors import LedgerError

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "tag:coc-ledger,2026:problem:"
RETRY_AFTER_SECONDS = "5"

_TITLES = {
    "invalid_input": "Invalid input",
    "not_found": "Not found",
    "conflict": "Conflict",
    "duplicate_entity": "Entity already exists",
    "concurrency_conflict": "Concurrent change",
    "idempotency_key_reused": "Idempotency key reused",
    "version_mismatch": "Entity version mismatch",
    "rule_violation": "Rule violation",
    "verification_failed": "Verification failed",
    "signing_unavailable": "No signing key in force",
    "validation_failed": "Request body is not valid",
    "malformed_json": "Malformed JSON",
    "unauthenticated": "Token required",
    "invalid_token": "Invalid token",
    "forbidden": "Not allowed for this token",
    "invalid_header": "Invalid header",
    "idempotency_key_mismatch": "Two different idempotency keys",
    "store_unavailable": "Event store unavailable",
    "read_models_behind": "Read models behind",
    "internal_error": "Internal error",
}
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}
_RESERVED = frozenset({"type", "title", "status", "detail", "code", "request_id", "instance"})


class ApiProblem(Exception):
    """A failure the API layer detects itself, already in problem form."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def validation_problem(err: ValidationError, what: str) -> ApiProblem:
    """400 for a body that is not JSON at all, 422 for JSON that does not fit ``what``."""
    errors = err.errors(include_url=False, include_input=False, include_context=False)
    invalid_json = next((e for e in errors if e["type"] == "json_invalid"), None)
    if invalid_json is not None:
        return ApiProblem(
            400, "malformed_json", f"the request body is not valid JSON: {invalid_json['msg']}"
        )
    return ApiProblem(
        422,
        "validation_failed",
        f"the request body does not fit {what}: {len(errors)} error(s), see 'errors'",
        errors=[{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors],
    )


def _from_http(exc: web.HTTPException, request: web.Request) -> ApiProblem:
    status = exc.status
    headers = {}
    if status == 404:
        detail = f"nothing at {request.path}; GET /docs describes every route"
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        detail = f"{request.method} is not allowed here; allowed: {allowed}"
        headers["Allow"] = allowed
    elif status == 413:
        detail = f"the request body exceeds {request.app[SETTINGS].max_body_bytes} bytes"
    else:
        detail = exc.text or HTTPStatus(status).phrase
    return ApiProblem(status, _HTTP_CODES.get(status, f"http_{status}"), detail, headers=headers)


def problem_for(exc: BaseException, request: web.Request) -> ApiProblem:
    """The problem an exception becomes at the HTTP boundary."""
    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, LedgerError):
        extensions = {k: v for k, v in exc.details.items() if k not in _RESERVED}
        return ApiProblem(exc.status, exc.code, exc.message, **extensions)
    if isinstance(exc, StoreUnavailable | OperationalError | InterfaceError):
        return ApiProblem(
            503,
            "store_unavailable",
            "the event store is unavailable; retry later",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        return _from_http(exc, request)
    return ApiProblem(
        500,
        "internal_error",
        "an unexpected error occurred; quote the request id when reporting it",
    )


def problem_response(problem: ApiProblem, request_id: str) -> web.Response:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + problem.code,
        "title": _TITLES.get(problem.code) or HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
        "request_id": request_id,
    }
    body |= {k: v for k, v in problem.extensions.items() if k not in _RESERVED}
    return json_response(
        body, status=problem.status, content_type=PROBLEM_JSON, headers=problem.headers
    )
