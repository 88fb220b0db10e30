"""JSON responses rendered with orjson (pydantic models as JSON, anything unknown as its str)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

JSON = "application/json"


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json", by_alias=True)
    return str(obj)


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default)


def json_response(
    data: Any,
    *,
    status: int = 200,
    content_type: str = JSON,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.Response(body=dumps(data), status=status, content_type=content_type, headers=headers)


def model_response(
    answer: BaseModel, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``answer`` (an answer model, so the body is what the OpenAPI document says) as JSON."""
    return web.Response(
        body=answer.model_dump_json(by_alias=True),
        status=status,
        content_type=JSON,
        headers=headers,
    )


def projected_response(answer: Mapping[str, Any] | orjson.Fragment) -> web.Response:
    """A read model's answer as the read model holds it, rendered without validating it
    against the route's answer model again: its rows were made in that shape when they were
    projected (tests/api/test_readmodel_routes.py checks that each such answer is what its
    model would render), and validating a page of users with their evaluations cost more
    than the rest of the request."""
    return json_response(answer)
