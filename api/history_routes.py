"""Read endpoints: every event of one entity of a CoC, in order, by kind and ref or by id."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from aiohttp import web
from eventsourcing.utils import resolve_topic

from api.keys import LEDGER
from api.preconditions import etag, not_modified
from api.responses import json_response
from commands.corrections import CORRECTABLE
from ledger.application import HistoryEntry
from ledger.domain.base import LedgerAggregate
from ledger.errors import NotFound
from ledger.ids import entity_id

ENTITIES_PATH = "/v1/cocs/{coc}/entities"
COC_REF = "-"
KINDS = CORRECTABLE  # the kinds of entity a caller names: coc, agency, agreement, user, ...


def _entity_id(coc: str, kind: str, ref: str) -> UUID:
    if kind not in KINDS:
        raise NotFound(f"there is no entity kind {kind!r}; kinds: {', '.join(KINDS)}")
    if kind == "coc":
        if ref != COC_REF:
            raise NotFound(f"the CoC itself is addressed as coc/{COC_REF}")
        return entity_id(kind, coc)
    return entity_id(kind, coc, ref)


def _kind_of(entries: list[HistoryEntry]) -> str | None:
    """The kind of entity whose history this is (None for internal records)."""
    created = entries[0].event
    if not isinstance(created, LedgerAggregate.Created):
        return None
    cls = resolve_topic(created.originator_topic)
    return cls.kind if cls in KINDS.values() else None


def _view(aggregate_id: UUID, kind: str, entries: list[HistoryEntry]) -> dict[str, Any]:
    return {
        "entity_id": aggregate_id,
        "kind": kind,
        "events": [
            {
                "position": entry.position,
                "event_id": entry.event.event_id,
                "type": type(entry.event).__qualname__,
                "version": entry.event.originator_version,
                "effective_at": entry.event.effective_at,
                "recorded_at": entry.event.recorded_at,
                "actor": entry.event.actor,
                "source": entry.event.source,
                "request_id": entry.event.request_id,
                "payload": entry.event.payload(),
            }
            for entry in entries
        ],
    }


async def _history(request: web.Request, aggregate_id: UUID) -> list[HistoryEntry]:
    return await asyncio.to_thread(request.app[LEDGER].history, aggregate_id)


def _answer(
    request: web.Request, aggregate_id: UUID, kind: str, entries: list[HistoryEntry]
) -> web.StreamResponse:
    """The history with the entity's version as its ETag (304 when the caller has it)."""
    version = entries[-1].event.originator_version
    headers = {"ETag": etag(version)}
    if not_modified(request, version):
        return web.Response(status=304, headers=headers)
    return json_response(_view(aggregate_id, kind, entries), headers=headers)


async def history_by_ref(request: web.Request) -> web.StreamResponse:
    coc, kind = request.match_info["coc"], request.match_info["kind"]
    aggregate_id = _entity_id(coc, kind, request.match_info["ref"])
    entries = await _history(request, aggregate_id)
    return _answer(request, aggregate_id, kind, entries)


async def history_by_id(request: web.Request) -> web.StreamResponse:
    coc, raw_id = request.match_info["coc"], request.match_info["entity_id"]
    missing = NotFound(f"no entity with id {raw_id} in {coc}")
    try:
        aggregate_id = UUID(raw_id)
    except ValueError:
        raise missing from None
    try:
        entries = await _history(request, aggregate_id)
    except NotFound:
        raise missing from None
    kind = _kind_of(entries)
    if kind is None or entries[0].event.coc != coc:
        raise missing
    return _answer(request, aggregate_id, kind, entries)


def history_routes() -> list[web.RouteDef]:
    return [
        web.get(
            f"{ENTITIES_PATH}/by-id/{{entity_id}}/history", history_by_id, name="history-by-id"
        ),
        web.get(f"{ENTITIES_PATH}/{{kind}}/{{ref}}/history", history_by_ref, name="history"),
    ]
