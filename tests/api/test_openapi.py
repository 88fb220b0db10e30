"""The OpenAPI document: valid OpenAPI 3.1, generated from the routes (every route and command
in it), served with a self-contained documentation page."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from api.app import create_app
from api.middleware import request_context
from api.observability import METRICS, Metrics
from api.openapi import (
    Operation,
    describe,
    openapi_document,
    openapi_routes,
    undescribed_routes,
)
from api.params import CocPath, QueryModel, parse_query
from api.responses import model_response
from commands.registry import COMMANDS
from ledger.settings import Settings
from tests.api.support import Client, problem

PUBLIC = {"healthz", "readyz", "metrics", "openapi", "docs"}


async def _document(client: Client) -> dict[str, Any]:
    response = await client.get("/v1/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document: dict[str, Any] = await response.json()
    return document


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        op["operationId"]: op | {"path": path, "method": method}
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    }


async def test_the_served_document_is_valid_openapi_3_1(lone_client: Client) -> None:
    document = await _document(lone_client)

    validate(document)  # raises on any violation of the OpenAPI 3.1 schema

    assert document["openapi"] == "3.1.0"


def test_every_route_of_the_service_is_in_the_document(sqlite_settings: Settings) -> None:
    app = create_app(sqlite_settings)
    document = openapi_document(app.router)
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }

    assert undescribed_routes(app.router) == []
    assert routes == {
        (method, path) for path, methods in document["paths"].items() for method in methods
    }


async def test_every_command_takes_its_model_as_the_body(lone_client: Client) -> None:
    document = await _document(lone_client)
    schemas = document["components"]["schemas"]

    for name, spec in COMMANDS.items():
        operation = document["paths"][f"/v1/commands/{name}"]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = schemas[ref.removeprefix("#/components/schemas/")]
        assert set(body["properties"]) == set(spec.model.model_fields), name
        assert body["additionalProperties"] is False
        assert {"201", "200", "400", "404", "409", "413", "422"} <= operation["responses"].keys()
        assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Receipt"
        }


async def test_errors_are_problem_documents_with_the_request_id(lone_client: Client) -> None:
    document = await _document(lone_client)
    shared = document["components"]["responses"]

    for op in _operations(document).values():
        for status, response in op["responses"].items():
            if int(status) >= 400:
                name = response["$ref"].removeprefix("#/components/responses/")
                content = shared[name]["content"]
                assert list(content) == ["application/problem+json"]
                assert shared[name]["headers"]["X-Request-ID"]["required"] is True
    problem_schema = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "request_id"} <= set(
        problem_schema["required"]
    )


async def test_bearer_auth_covers_every_route_but_the_public_ones(lone_client: Client) -> None:
    document = await _document(lone_client)

    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API token created by an operator",
    }
    assert document["security"] == [{"bearerAuth": []}]
    for name, op in _operations(document).items():
        if name in PUBLIC:
            assert op["security"] == [], name
        else:
            assert "security" not in op, name  # the document-wide requirement applies
            assert {"401", "403"} <= op["responses"].keys(), name


async def test_time_travel_and_paging_parameters_are_described(lone_client: Client) -> None:
    operations = _operations(await _document(lone_client))

    def parameters(name: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in operations[name].get("parameters", [])}

    statuses = parameters("statuses")
    assert statuses["as_of"]["schema"] == {"format": "date-time", "type": "string"}
    assert statuses["known_at"]["in"] == "query"
    assert {"cursor", "limit"} <= statuses.keys()
    assert parameters("calendar")["days"]["schema"]["maximum"] == 366
    assert parameters("compliance")["role"]["explode"] is True
    assert parameters("audit_trail")["kind"]["schema"]["enum"][0] == "coc"
    assert parameters("users")["wait_for_position"]["schema"]["minimum"] == 0
    assert "wait_for_position" not in parameters("healthz")
    history = operations["history"]
    assert {"If-None-Match"} <= parameters("history").keys()
    assert history["responses"]["200"]["headers"]["ETag"]["required"] is True
    assert "content" not in history["responses"]["304"]
    command = operations["command_register_agency"]
    assert {"Idempotency-Key", "If-Match"} <= {p["name"] for p in command["parameters"]}
    lists = ("users", "agencies", "history", "history-by-id", "audit_trail", "calendar", "region")
    for name in lists:
        assert {"cursor", "limit"} <= parameters(name).keys(), name


async def test_the_documentation_page_is_self_contained_html(lone_client: Client) -> None:
    document = await _document(lone_client)
    response = await lone_client.get("/docs")
    page = await response.text()

    assert response.status == 200
    assert response.content_type == "text/html"
    assert "<script" not in page
    assert re.findall(r"""(?:src|href)=["'](?!#|/v1/openapi\.json)""", page) == []
    for name in _operations(document):
        assert f'id="op-{name}"' in page
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page


class _ThingQuery(QueryModel):
    size: int = Field(default=1, ge=1, le=9, description="how big")


class _Thing(BaseModel):
    coc: str
    size: int


async def test_a_described_route_of_any_module_enters_the_document() -> None:
    @describe(Operation("A thing", _Thing, path=CocPath, query=_ThingQuery, tag="things"))
    async def thing(request: web.Request) -> web.StreamResponse:
        query = parse_query(request, _ThingQuery)
        return model_response(_Thing(coc=request.match_info["coc"], size=query.size))

    app = web.Application()
    app.add_routes([web.get("/v1/cocs/{coc}/thing", thing, name="thing")])
    operation = openapi_document(app.router)["paths"]["/v1/cocs/{coc}/thing"]["get"]

    assert operation["operationId"] == "thing"
    assert [p["name"] for p in operation["parameters"]] == ["coc", "size", "wait_for_position"]
    assert {"200", "404", "422"} <= operation["responses"].keys()

    served = web.Application(middlewares=[request_context])
    served[METRICS] = Metrics()  # the request middleware counts what it answers
    served.add_routes([web.get("/v1/cocs/{coc}/thing", thing, name="thing"), *openapi_routes()])
    async with TestClient(TestServer(served)) as client:
        assert (await (await client.get("/v1/cocs/MO-606/thing?size=3")).json())["size"] == 3
        await problem(await client.get("/v1/cocs/not-a-coc/thing"), 404, "not_found")
        await problem(await client.get("/v1/cocs/MO-606/thing?size=10"), 422, "invalid_input")
        await problem(await client.get("/v1/cocs/MO-606/thing?sise=3"), 422, "invalid_input")
        spec = await (await client.get("/v1/openapi.json")).json()
        assert "/v1/cocs/{coc}/thing" in spec["paths"]
