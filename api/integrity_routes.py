"""Tamper-evident history over HTTP: the tree's state, checkpoints, signing keys, inclusion
and consistency proofs, and export bundles. Every proof and bundle is a document that
``scripts/verify.py`` checks offline."""

from __future__ import annotations

import asyncio

from aiohttp import web

from api.integrity_models import (
    Bundle,
    CheckpointPath,
    CheckpointWithKey,
    ConsistencyDocument,
    ConsistencyQuery,
    EventPath,
    ExportPath,
    InclusionDocument,
    InclusionQuery,
    IntegrityStatus,
    KeyList,
)
from api.keys import EXPORTS, INTEGRITY
from api.openapi import Operation, describe
from api.params import parse_query
from api.responses import JSON, dumps, model_response
from ledger.errors import NotFound
from ledger.integrity import documents
from ledger.integrity.selection import COC_REF, Subject, SubjectKind
from ledger.integrity.service import Integrity, parse_size

EXPORT_KINDS: dict[str, SubjectKind] = {"coc": "coc", "agency": "agency", "user": "user"}
TAG = "integrity"


def _integrity(request: web.Request) -> Integrity:
    return request.app[INTEGRITY]


@describe(
    Operation(
        "The sealed tree: its size, the log head, the latest checkpoint, this process's last "
        "self-check",
        IntegrityStatus,
        tag=TAG,
    )
)
async def status(request: web.Request) -> web.StreamResponse:
    found = await asyncio.to_thread(_integrity(request).status)
    return model_response(IntegrityStatus.model_validate(found))


@describe(Operation("Every signing key ever in force (public keys)", KeyList, tag=TAG))
async def signing_keys(request: web.Request) -> web.StreamResponse:
    keys = await asyncio.to_thread(_integrity(request).key_records)
    return model_response(KeyList.model_validate({"keys": [documents.key_json(k) for k in keys]}))


@describe(
    Operation(
        "One signed checkpoint, by tree size or `latest`, with its key",
        CheckpointWithKey,
        path=CheckpointPath,
        tag=TAG,
    )
)
async def checkpoint(request: web.Request) -> web.StreamResponse:
    size = parse_size(request.match_info["tree_size"], "tree_size")
    integrity = _integrity(request)

    def read() -> CheckpointWithKey:
        found = integrity.checkpoint(size)
        key = documents.key_json(integrity.key_of(found))
        return CheckpointWithKey.model_validate({**found.as_json(), "key": key})

    return model_response(await asyncio.to_thread(read))


@describe(
    Operation(
        "The proof that nothing in an older checkpoint's tree changed in a newer one's",
        ConsistencyDocument,
        query=ConsistencyQuery,
        errors=(404, 409),
        tag=TAG,
        description="A `coc-ledger-consistency v1` document: both checkpoints, their keys and "
        "the RFC 9162 proof; `scripts/verify.py` checks it offline.",
    )
)
async def consistency(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, ConsistencyQuery)
    first, second = parse_size(query.first, "first"), parse_size(query.second, "second")
    document = await asyncio.to_thread(_integrity(request).consistency, first, second)
    return model_response(ConsistencyDocument.model_validate(document))


@describe(
    Operation(
        "The proof that one of the CoC's events is in a checkpoint",
        InclusionDocument,
        path=EventPath,
        query=InclusionQuery,
        errors=(409,),
        tag=TAG,
        description="A `coc-ledger-inclusion v1` document: the event as stored, its audit "
        "path and the checkpoint with its key; `scripts/verify.py` checks it offline. An "
        "event of another CoC answers as a position with no event.",
    )
)
async def inclusion(request: web.Request) -> web.StreamResponse:
    coc, position = request.match_info["coc"], int(request.match_info["position"])
    query = parse_query(request, InclusionQuery)
    tree_size = parse_size(query.tree_size, "tree_size")
    document = await asyncio.to_thread(_integrity(request).inclusion, coc, position, tree_size)
    return model_response(InclusionDocument.model_validate(document))


@describe(
    Operation(
        "A CoC's (`coc/-`), an agency's or a user's history as one bundle",
        Bundle,
        path=ExportPath,
        errors=(409,),
        tag=TAG,
        response_headers={
            "Content-Disposition": {
                "description": "attachment; filename=...",
                "required": True,
                "schema": {"type": "string"},
            }
        },
        description="A `coc-ledger-bundle v1` document under a checkpoint signed now: every "
        "event as stored with its proof, the checkpoint, the keys and a signed statement of "
        "the positions it holds; `scripts/verify.py` checks it offline. 503 "
        "`signing_unavailable` when this process holds no signing key in force. Exports run "
        "one at a time per process.",
    )
)
async def export(request: web.Request) -> web.StreamResponse:
    coc, kind, ref = (request.match_info[k] for k in ("coc", "kind", "ref"))
    if (kind == "coc") != (ref == COC_REF):
        raise NotFound(f"the CoC itself is exported as coc/{COC_REF}; agencies and users by ref")
    subject = Subject(EXPORT_KINDS[kind], coc, ref)
    integrity = _integrity(request)

    def build() -> tuple[bytes, int]:  # rendered in the worker thread too: it can be large
        bundle = integrity.export(subject)
        return dumps(bundle), bundle["checkpoint"]["tree_size"]

    async with request.app[EXPORTS]:  # one at a time: others wait their turn
        body, tree_size = await asyncio.to_thread(build)
    name = f"coc-ledger-{subject.file_stem()}-{tree_size}.json"
    return web.Response(
        body=body,
        content_type=JSON,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def integrity_routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/integrity", status, name="integrity"),
        web.get("/v1/integrity/keys", signing_keys, name="integrity_keys"),
        web.get("/v1/integrity/checkpoints/{tree_size}", checkpoint, name="integrity_checkpoint"),
        web.get("/v1/integrity/consistency", consistency, name="integrity_consistency"),
        web.get(
            "/v1/cocs/{coc}/integrity/events/{position}/proof",
            inclusion,
            name="integrity_inclusion",
        ),
        web.get("/v1/cocs/{coc}/integrity/export/{kind}/{ref}", export, name="integrity_export"),
    ]
