"""The OpenAPI 3.1 document, generated from the routes of the application: each handler carries
an ``Operation`` (attached with ``@describe``) naming the pydantic models of its parameters,
body and answer; ``GET /v1/openapi.json`` serves the document and ``GET /docs`` a page made
from it.

To put a route in the document, decorate its handler where the route is defined::

    @describe(Operation("One agency", response=AgencySummary, path=RefPath, errors=(404,)))
    async def agency(request: web.Request) -> web.StreamResponse: ...

Routes whose handler has no ``Operation`` are left out (a test lists them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.consistency import MAX_POSITION, WAIT_PARAMETER
from api.docs_page import render
from api.models import Problem
from api.params import check_path
from api.problems import PROBLEM_JSON
from api.responses import JSON, dumps

OPENAPI_PATH = "/v1/openapi.json"
DOCS_PATH = "/docs"
SCHEMAS = "#/components/schemas/"
_ATTRIBUTE = "__openapi_operation__"

Location = Literal["header", "query", "path"]

# status -> (component name, description) of the problems an operation may answer
_PROBLEMS = {
    400: ("BadRequest", "malformed JSON or a bad request line"),
    401: ("Unauthorized", "no or no valid credentials"),
    403: ("Forbidden", "the credentials do not allow this"),
    404: ("NotFound", "nothing of that name in this CoC"),
    409: ("Conflict", "collides with what is recorded (duplicate, concurrent change, key reuse)"),
    413: ("PayloadTooLarge", "the body exceeds the service's limit"),
    422: ("Unprocessable", "the input does not fit (validation_failed, invalid_input, ...)"),
    500: ("InternalError", "an unexpected error; quote the request id when reporting it"),
    503: ("ServiceUnavailable", "the event store does not answer; retry after Retry-After"),
}
_REQUEST_ID = {
    "X-Request-ID": {
        "description": "the request id (the caller's, if it sent a printable one)",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    }
}


@dataclass(frozen=True)
class Header:
    """A request header an operation reads."""

    name: str
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says about one route.

    ``response`` is the model of the success body (None with ``media_type``, and any
    ``other_media_types`` the route negotiates, for a body that is not JSON); ``path`` and
    ``query`` are models whose fields are the parameters; ``body`` the request body's
    model; ``versioned`` an entity read with ``ETag`` (304 to a current ``If-None-Match``);
    ``errors`` the problem statuses beyond the ones
    every operation may answer (500, 503; 401/403 unless ``public``; 404 with a path model;
    422 with a query; 400/413/422 with a body).
    """

    summary: str
    response: type[BaseModel] | None = None
    statuses: tuple[int, ...] = (200,)
    path: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    headers: tuple[Header, ...] = ()
    response_headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    tag: str = "service"
    public: bool = False
    media_type: str = JSON
    other_media_types: tuple[str, ...] = ()
    versioned: bool = False
    description: str = ""

    def problem_statuses(self) -> list[int]:
        statuses = {500, 503, *self.errors}
        if not self.public:
            statuses |= {401, 403}
        if self.path is not None:
            statuses.add(404)
        if self.query is not None:
            statuses.add(422)
        if self.body is not None:
            statuses |= {400, 413, 422}
        return sorted(statuses)


def describe(operation: Operation) -> Callable[[Handler], Handler]:
    """Attach ``operation`` to a route handler, for the OpenAPI document; with a ``path``
    model, the handler first checks the path against it (404 when it does not fit), so a
    route accepts the paths its document describes."""

    def attach(handler: Handler) -> Handler:
        path = operation.path
        if path is not None:
            inner = handler

            @functools.wraps(inner)
            async def checked(request: web.Request) -> web.StreamResponse:
                check_path(request, path)
                return await inner(request)

            handler = checked
        handler.__dict__[_ATTRIBUTE] = operation
        return handler

    return attach


def operation_of(handler: Callable[..., Any]) -> Operation | None:
    found = getattr(handler, "__dict__", {}).get(_ATTRIBUTE)
    return found if isinstance(found, Operation) else None


@dataclass(frozen=True)
class _Described:
    path: str
    method: str
    name: str
    operation: Operation


def described_routes(router: web.UrlDispatcher) -> Iterator[_Described]:
    """Every route of ``router`` whose handler carries an Operation (HEAD routes aside)."""
    for route in router.routes():
        operation = operation_of(route.handler)
        if operation is None or route.method == "HEAD" or route.resource is None:
            continue
        yield _Described(
            route.resource.canonical, route.method.lower(), route.name or "", operation
        )


def undescribed_routes(router: web.UrlDispatcher) -> list[str]:
    """``METHOD path`` of the routes the document leaves out."""
    return [
        f"{route.method} {route.resource.canonical if route.resource else '?'}"
        for route in router.routes()
        if route.method != "HEAD" and operation_of(route.handler) is None
    ]


class _Schemas:
    """The JSON schemas of every model the operations name, as OpenAPI components."""

    def __init__(self, described: list[_Described]) -> None:
        wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
        for item in described:
            op = item.operation
            wanted += [(m, "validation") for m in (op.path, op.query, op.body) if m is not None]
            if op.response is not None:
                wanted.append((op.response, "serialization"))
        wanted = list(dict.fromkeys(wanted))
        self.refs, top = models_json_schema(wanted, ref_template=SCHEMAS + "{model}")
        self.components: dict[str, Any] = top.get("$defs", {})
        self.inlined: set[str] = set()

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        ref: dict[str, Any] = self.refs[(model, mode)]
        return dict(ref)

    def fields(self, model: type[BaseModel]) -> tuple[dict[str, Any], set[str]]:
        """(properties, required names) of a parameter model."""
        name = self.refs[(model, "validation")]["$ref"].removeprefix(SCHEMAS)
        self.inlined.add(name)
        schema = self.components[name]
        return schema.get("properties", {}), set(schema.get("required", []))

    def finished(self) -> dict[str, Any]:
        """The components, without the parameter models (their fields are inlined)."""
        return {k: v for k, v in self.components.items() if k not in self.inlined}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without the ``null`` branch pydantic gives an optional field."""
    schema = {k: v for k, v in schema.items() if k not in ("default", "title")} | (
        {"default": schema["default"]} if schema.get("default") is not None else {}
    )
    options = [s for s in schema.get("anyOf", []) if s != {"type": "null"}]
    if "anyOf" in schema and len(options) == 1:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        only: dict[str, Any] = options[0]
        return only | rest
    return schema


def _parameters(
    schemas: _Schemas, model: type[BaseModel] | None, where: Location
) -> list[dict[str, Any]]:
    if model is None:
        return []
    properties, required = schemas.fields(model)
    parameters = []
    for name, prop in properties.items():
        schema = _not_null(prop)
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": schema,
        }
        if "description" in schema:
            parameter["description"] = schema.pop("description")
        if schema.get("type") == "array":
            parameter |= {"style": "form", "explode": True}
        parameters.append(parameter)
    return parameters


_WAIT = {
    "name": WAIT_PARAMETER,
    "in": "query",
    "required": False,
    "description": "read your writes: answer once the read models have reached this log "
    "position (a write's receipt gives it); 503 `read_models_behind` after the longest wait",
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_POSITION},
}
_ETAG = {
    "ETag": {
        "description": 'the entity\'s version, e.g. "7"',
        "required": True,
        "schema": {"type": "string"},
    }
}
_IF_NONE_MATCH = Header(
    "If-None-Match", "an ETag of this entity: 304 when it is still current", {"type": "string"}
)


def _operation(item: _Described, schemas: _Schemas) -> dict[str, Any]:
    op = item.operation
    waits = item.method == "get" and not op.public
    headers = op.headers + ((_IF_NONE_MATCH,) if op.versioned else ())
    parameters = (
        _parameters(schemas, op.path, "path")
        + _parameters(schemas, op.query, "query")
        + [
            {
                "name": h.name,
                "in": "header",
                "required": h.required,
                "description": h.description,
                "schema": h.schema,
            }
            for h in headers
        ]
        + ([_WAIT] if waits else [])
    )
    if op.response is not None:
        body = schemas.ref(op.response, "serialization")
    else:
        body = {"type": "object" if op.media_type == JSON else "string"}
    content = {media: {"schema": body} for media in (op.media_type, *op.other_media_types)}
    success_headers = _REQUEST_ID | op.response_headers | (_ETAG if op.versioned else {})
    responses: dict[str, Any] = {
        str(status): {"description": "success", "headers": success_headers, "content": content}
        for status in op.statuses
    }
    if op.versioned:
        responses["304"] = {
            "description": "not modified: the If-None-Match version is current",
            "headers": _REQUEST_ID | _ETAG,
        }
    problems = set(op.problem_statuses()) | ({422} if waits else set())
    for status in sorted(problems):
        responses[str(status)] = {"$ref": f"#/components/responses/{_PROBLEMS[status][0]}"}
    answer: dict[str, Any] = {
        "operationId": item.name or f"{item.method}_{item.path}",
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    if op.description:
        answer["description"] = op.description
    if parameters:
        answer["parameters"] = parameters
    if op.body is not None:
        answer["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": schemas.ref(op.body, "validation")}},
        }
    if op.public:
        answer["security"] = []
    return answer


INTRODUCTION = """\
The HTTP API of CoC Ledger, an event-sourced compliance ledger for the HMIS and Coordinated
Entry systems of Continuums of Care.

* **Writes** are commands: `POST /v1/commands/{name}` with the command's JSON. Each may carry
  an `Idempotency-Key`; its receipt names the log position of the write.
* **Lists** are paged: `{"items": [...], "next": cursor | null}`; pass `next` back as
  `?cursor=` (with the same other parameters) for the following page.
* **Time travel**: `as_of` is effective time (what was true then), `known_at` recorded time
  (what the ledger knew then); both are RFC 3339 times with a zone.
* **Errors** are RFC 9457 `application/problem+json` with a stable `code` and the
  `request_id`; every answer carries `X-Request-ID` (yours, if you sent a printable one).
"""


def openapi_document(router: web.UrlDispatcher) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every described route of ``router``."""
    described = sorted(described_routes(router), key=lambda d: (d.operation.tag, d.path))
    schemas = _Schemas(described)
    paths: dict[str, dict[str, Any]] = {}
    for item in described:
        paths.setdefault(item.path, {})[item.method] = _operation(item, schemas)
    problem = schemas.ref(Problem, "serialization")
    components = schemas.finished()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CoC Ledger",
            "version": version("coc-ledger"),
            "description": INTRODUCTION,
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                name: {
                    "description": description,
                    "headers": _REQUEST_ID,
                    "content": {PROBLEM_JSON: {"schema": problem}},
                }
                for name, description in _PROBLEMS.values()
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token created by an operator",
                }
            },
        },
    }


def openapi_routes() -> list[web.RouteDef]:
    """``GET /v1/openapi.json`` and ``GET /docs``, made once from the router on first use
    (after start-up the router no longer changes)."""
    made: dict[str, bytes] = {}

    def document(request: web.Request) -> dict[str, Any]:
        return openapi_document(request.app.router)

    @describe(Operation("This OpenAPI 3.1 document", tag="documentation", public=True, errors=()))
    async def openapi(request: web.Request) -> web.StreamResponse:
        if "json" not in made:
            made["json"] = dumps(document(request))
        return web.Response(body=made["json"], content_type=JSON)

    @describe(
        Operation(
            "The documentation page (HTML, made from the OpenAPI document)",
            tag="documentation",
            public=True,
            media_type="text/html",
        )
    )
    async def docs(request: web.Request) -> web.StreamResponse:
        if "html" not in made:
            made["html"] = render(document(request), OPENAPI_PATH).encode()
        return web.Response(body=made["html"], content_type="text/html", charset="utf-8")

    return [
        web.get(OPENAPI_PATH, openapi, name="openapi"),
        web.get(DOCS_PATH, docs, name="docs"),
    ]
