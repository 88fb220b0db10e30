"""Tamper-evident history over HTTP: the tree's state, checkpoints, signing keys, inclusion
and consistency proofs, and export bundles. Every proof and bundle is a document that
``scripts/verify.py`` checks offline."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from api.keys import EXPORTS, INTEGRITY
from api.responses import JSON, dumps, json_response
from ledger.errors import InvalidInput, NotFound
from ledger.integrity import documents
from ledger.integrity.selection import COC_REF, Subject, SubjectKind
from ledger.integrity.service import Integrity, parse_size

EXPORT_KINDS: dict[str, SubjectKind] = {"coc": "coc", "agency": "agency", "user": "user"}


def _integrity(request: web.Request) -> Integrity:
    return request.app[INTEGRITY]


async def status(request: web.Request) -> web.StreamResponse:
    """The sealed tree, the log head, the latest checkpoint, this process's last self-check."""
    return json_response(await asyncio.to_thread(_integrity(request).status))


async def signing_keys(request: web.Request) -> web.StreamResponse:
    """Every key ever in force (public half), with the position of the event that put it so."""
    keys = await asyncio.to_thread(_integrity(request).key_records)
    return json_response({"keys": [documents.key_json(k) for k in keys]})


async def checkpoint(request: web.Request) -> web.StreamResponse:
    """One checkpoint by tree size, or ``latest``, with its key."""
    raw = request.match_info["tree_size"]
    if raw != "latest" and not raw.isdigit():
        raise NotFound(f"a checkpoint is named by its tree size or 'latest', not {raw!r}")
    size = parse_size(raw, "tree_size")
    integrity = _integrity(request)

    def read() -> dict[str, Any]:
        found = integrity.checkpoint(size)
        return {**found.as_json(), "key": documents.key_json(integrity.key_of(found))}

    return json_response(await asyncio.to_thread(read))


async def consistency(request: web.Request) -> web.StreamResponse:
    """``?first=N&second=M`` (tree sizes of checkpoints, or ``latest``; second defaults to
    the latest): the proof that nothing in the first tree changed."""
    if "first" not in request.query:
        raise InvalidInput("give first=<tree size of a checkpoint>", field="first")
    first = parse_size(request.query["first"], "first")
    second = parse_size(request.query.get("second"), "second")
    document = await asyncio.to_thread(_integrity(request).consistency, first, second)
    return json_response(document)


async def inclusion(request: web.Request) -> web.StreamResponse:
    """The proof that the event at ``position`` (one of the CoC's) is in a checkpoint
    (``?tree_size=``, default the latest)."""
    coc, raw = request.match_info["coc"], request.match_info["position"]
    if not raw.isdigit() or int(raw) >= 2**63:
        raise NotFound(f"no event of {coc} at position {raw}")
    tree_size = parse_size(request.query.get("tree_size"), "tree_size")
    document = await asyncio.to_thread(_integrity(request).inclusion, coc, int(raw), tree_size)
    return json_response(document)


async def export(request: web.Request) -> web.StreamResponse:
    """A CoC's (``coc/-``), an agency's or a user's history as one bundle, under a
    checkpoint signed now."""
    coc, kind, ref = (request.match_info[k] for k in ("coc", "kind", "ref"))
    if kind not in EXPORT_KINDS:
        raise NotFound(f"there is no export of {kind!r}; kinds: {', '.join(EXPORT_KINDS)}")
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
