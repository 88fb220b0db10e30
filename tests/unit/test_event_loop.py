"""The service's event loop (ledger/event_loop.py): uvloop where installed, asyncio's when told or
where uvloop is missing, and a clear refusal when uvloop is asked for but missing. An aiohttp
application answers on each loop."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
import uvloop
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ledger import event_loop
from ledger.errors import InvalidInput


@pytest.fixture
def uvloop_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "uvloop" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(event_loop.importlib.util, "find_spec", find_spec)


def test_auto_is_uvloop_where_it_is_installed() -> None:
    assert event_loop.resolve("auto") == "uvloop"
    assert event_loop.resolve("uvloop") == "uvloop"
    assert event_loop.resolve("asyncio") == "asyncio"


@pytest.mark.usefixtures("uvloop_missing")
def test_auto_is_asyncio_where_uvloop_is_missing() -> None:
    assert event_loop.resolve("auto") == "asyncio"
    assert event_loop.resolve("asyncio") == "asyncio"


@pytest.mark.usefixtures("uvloop_missing")
def test_uvloop_asked_for_but_missing_is_refused_with_what_to_do() -> None:
    with pytest.raises(InvalidInput) as refused:
        event_loop.resolve("uvloop")
    assert "pip install uvloop" in refused.value.message
    assert "asyncio" in refused.value.message


async def _hello(_: web.Request) -> web.Response:
    return web.json_response({"loop": type(asyncio.get_running_loop()).__module__})


async def _served_body() -> dict[str, str]:
    app = web.Application()
    app.router.add_get("/", _hello)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/")
        assert response.status == 200
        body: dict[str, str] = await response.json()
        return body


@pytest.mark.parametrize(
    ("name", "kind", "module"),
    [("uvloop", uvloop.Loop, "uvloop"), ("asyncio", asyncio.BaseEventLoop, "asyncio")],
)
def test_an_application_answers_on_each_loop(name: str, kind: type, module: str) -> None:
    loop = event_loop.new_event_loop(name)
    try:
        assert isinstance(loop, kind)
        assert loop.run_until_complete(_served_body())["loop"].startswith(module)
    finally:
        loop.close()
