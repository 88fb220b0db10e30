"""Read endpoints: every event of one entity of a CoC, in order, by kind and ref or by id."""

from __future__ import annotations

import asyncio
from typing import Annotated
from uuid import UUID

from aiohttp import web
from eventsourcing.utils import resolve_topic
from pydantic import Field, StringConstraints

from api.keys import LEDGER
from api.models import EntityHistory, HistoryEvent
from api.openapi import Operation, describe
from api.pagination import PageQuery, decode_cursor, next_cursor
from api.params import CocPath, parse_query
from api.preconditions import etag, not_modified
from api.responses import model_response
from commands.corrections import CORRECTABLE, EntityKind
from ledger.application import HistoryEntry
from ledger.domain.base import LedgerAggregate
from ledger.errors import NotFound
from ledger.ids import entity_id

ENTITIES_PATH = "/v1/cocs/{coc}/entities"
COC_REF = "-"
KINDS = CORRECTABLE  # the kinds of entity a caller names: coc, agency, agreement, user, ...


class KindRefPath(CocPath):
    kind: EntityKind = Field(description="the kind of entity")
    ref: Annotated[str, StringConstraints(pattern=r"^(-|[A-Za-z0-9][A-Za-z0-9._-]{0,199})$")] = (
        Field(description=f"the entity's ref; `{COC_REF}` for the CoC itself")
    )


class EntityIdPath(CocPath):
    entity_id: UUID = Field(description="the entity's id (as in a receipt)")


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


def _page(
    query: PageQuery, aggregate_id: UUID, kind: str, entries: list[HistoryEntry]
) -> EntityHistory:
    after = decode_cursor(query.cursor, (int,))
    following = [e for e in entries if after is None or e.event.originator_version > int(after[0])]
    page = following[: query.limit]
    return EntityHistory(
        entity_id=aggregate_id,
        kind=kind,
        items=[
            HistoryEvent(
                position=entry.position,
                event_id=entry.event.event_id,
                type=type(entry.event).__qualname__,
                version=entry.event.originator_version,
                effective_at=entry.event.effective_at,
                recorded_at=entry.event.recorded_at,
                actor=entry.event.actor,
                source=entry.event.source,
                request_id=entry.event.request_id,
                payload=entry.event.payload(),
            )
            for entry in page
        ],
        next=next_cursor(
            (page[-1].event.originator_version,) if page else None,
            len(following) > len(page),
        ),
    )


async def _history(request: web.Request, aggregate_id: UUID) -> list[HistoryEntry]:
    return await asyncio.to_thread(request.app[LEDGER].history, aggregate_id)


def _answer(
    request: web.Request,
    query: PageQuery,
    aggregate_id: UUID,
    kind: str,
    entries: list[HistoryEntry],
) -> web.StreamResponse:
    """A page of the history with the entity's version as its ETag (304 when the caller
    has it)."""
    version = entries[-1].event.originator_version
    headers = {"ETag": etag(version)}
    if not_modified(request, version):
        return web.Response(status=304, headers=headers)
    return model_response(_page(query, aggregate_id, kind, entries), headers=headers)


@describe(
    Operation(
        "Every event of one entity, in order",
        EntityHistory,
        path=KindRefPath,
        query=PageQuery,
        errors=(404,),
        versioned=True,
        tag="histories",
        description="With its log position, both clocks, actor, source and request id.",
    )
)
async def history_by_ref(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, PageQuery)
    coc, kind = request.match_info["coc"], request.match_info["kind"]
    aggregate_id = _entity_id(coc, kind, request.match_info["ref"])
    entries = await _history(request, aggregate_id)
    return _answer(request, query, aggregate_id, kind, entries)


@describe(
    Operation(
        "Every event of one entity, by its id",
        EntityHistory,
        path=EntityIdPath,
        query=PageQuery,
        errors=(404,),
        versioned=True,
        tag="histories",
        description="404 unless the entity belongs to the CoC asked about.",
    )
)
async def history_by_id(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, PageQuery)
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
    return _answer(request, query, aggregate_id, kind, entries)


def history_routes() -> list[web.RouteDef]:
    return [
        web.get(
            f"{ENTITIES_PATH}/by-id/{{entity_id}}/history", history_by_id, name="history-by-id"
        ),
        web.get(f"{ENTITIES_PATH}/{{kind}}/{{ref}}/history", history_by_ref, name="history"),
    ]
