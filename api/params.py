"""Query and path parameters as pydantic models: one model both validates a request's query
string and describes its parameters in the OpenAPI document."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar, get_origin

from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import ErrorDetails

from api.consistency import WAIT_PARAMETER
from api.keys import LEDGER
from api.problems import ApiProblem
from ledger.domain.vocabulary import CocCode, Ref
from ledger.domain.vocabulary import Moment as TextMoment
from ledger.errors import NotFound

Q = TypeVar("Q", bound=BaseModel)
# Read by a middleware on every GET (api/consistency.py), not by the route itself.
SERVICE_PARAMETERS = frozenset({WAIT_PARAMETER})

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _in_range(moment: datetime) -> datetime:
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year}")
    return moment.astimezone(UTC)


Moment = Annotated[
    TextMoment,
    AfterValidator(_in_range),
    Field(description="an RFC 3339 time with a zone, e.g. 2026-07-01T00:00:00Z"),
]


class QueryModel(BaseModel):
    """Base of query-string models: unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Clocks(QueryModel):
    """Time travel on both clocks."""

    as_of: Moment | None = Field(
        default=None,
        description="effective time: what was true then (default: `known_at`, else now)",
    )
    known_at: Moment | None = Field(
        default=None,
        description="recorded time: only facts the ledger had recorded by then",
    )

    def moments(self, request: web.Request) -> tuple[datetime, datetime | None]:
        """(as_of, known_at): as_of defaults to known_at, or now."""
        return self.as_of or self.known_at or request.app[LEDGER].clock.now(), self.known_at


class CocPath(BaseModel):
    coc: CocCode = Field(description="the CoC (tenant) code", examples=["MO-606"])


class RefPath(CocPath):
    ref: Ref = Field(
        description="the caller-chosen reference of the entity", examples=["mo-u1", "MO-CFS"]
    )


def _is_repeatable(annotation: Any) -> bool:
    """A repeatable parameter: a tuple in a query model (whose instances are shared)."""
    return get_origin(annotation) is tuple


def _described(errors: list[ErrorDetails]) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)


def parse_query(request: web.Request, model: type[Q]) -> Q:
    """``model`` from the query string (a list field takes every value of its parameter);
    422 ``invalid_input`` with the fields' errors when it does not fit, or when it names a
    parameter the model does not have (a misspelt ``as_of`` must not pass for "now")."""
    try:
        parsed: Q = _parsed_query(model, tuple(request.query.items()))
    except ValidationError as err:
        errors = err.errors(include_url=False, include_input=False, include_context=False)
        raise ApiProblem(
            422,
            "invalid_input",
            f"the query parameters do not fit: {_described(errors)}",
            field=".".join(map(str, errors[0]["loc"])) if errors else None,
            errors=[{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors],
        ) from err
    return parsed


@functools.lru_cache(maxsize=4096)
def _parsed_query(model: type[Q], parameters: tuple[tuple[str, str], ...]) -> Q:
    """The query model of a query string's parameters, in their order. Remembered for the
    query strings asked most, as path parameters are (``_check_path``): the models are
    frozen, so one instance serves every request that sent the same parameters; a query
    string that does not fit raises, and is not remembered."""
    fields = model.model_fields
    unknown = sorted({name for name, _ in parameters} - fields.keys() - SERVICE_PARAMETERS)
    if unknown:
        raise ApiProblem(
            422,
            "invalid_input",
            f"unknown query parameter(s): {', '.join(unknown)[:200]}; "
            f"known: {', '.join(fields) or 'none'}",
            field=unknown[0][:100],
        )
    data: dict[str, Any] = {}
    for name, field in fields.items():
        values = [value for key, value in parameters if key == name]
        if values:
            data[name] = values if _is_repeatable(field.annotation) else values[0]
    return model.model_validate(data)


@functools.lru_cache(maxsize=4096)
def _check_path(model: type[BaseModel], parameters: tuple[tuple[str, str], ...]) -> None:
    """Validation of path parameters, remembered for the paths asked most (a path that does
    not fit raises, and is not remembered)."""
    model.model_validate(dict(parameters))


def check_path(request: web.Request, model: type[BaseModel]) -> None:
    """404 when the path's parameters do not fit ``model``: nothing can be there."""
    try:
        _check_path(model, tuple(request.match_info.items()))
    except ValidationError as err:
        errors = err.errors(include_url=False, include_input=False, include_context=False)
        raise NotFound(f"nothing at this path: {_described(errors)}") from None
