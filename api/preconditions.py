"""Entity versions over HTTP: an entity read carries ``ETag: "<version>"`` (and answers 304 to
a matching ``If-None-Match``); a write may carry ``If-Match`` with the versions it expects its
entity at, and gets 409 ``version_mismatch`` with the current version (and its ETag) when the
entity is elsewhere. If-Match is optional: a write without it is not refused (no 428)."""

from __future__ import annotations

from aiohttp import web

from api.problems import ApiProblem
from commands.base import IfMatch, Receipt
from ledger.errors import VersionMismatch

ANY = "*"


def etag(version: int) -> str:
    """The strong entity tag of an entity version."""
    return f'"{version}"'


def if_match(request: web.Request) -> IfMatch | None:
    """The expectation of ``If-Match`` (None without the header): ``*`` or strong tags of
    versions as ETag gives them, e.g. ``"7"`` or ``"7", "8"``."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    tags = request.if_match or ()
    if raw.strip() == ANY:
        return IfMatch()
    if not tags or any(t.is_weak or not t.value.isdigit() for t in tags):
        raise ApiProblem(
            400,
            "invalid_header",
            'If-Match must be * or entity versions as ETag gives them, e.g. "7" (quoted, not weak)',
        )
    return IfMatch(versions=frozenset(int(t.value) for t in tags))


def mismatch_problem(err: VersionMismatch) -> ApiProblem:
    """409 with the entity's current version, also as its ETag."""
    details = {k: v for k, v in err.details.items() if k != "current_version"}
    return ApiProblem(
        409,
        err.code,
        err.message,
        headers={"ETag": etag(err.current_version)} if err.current_version else {},
        current_version=err.current_version,
        **details,
    )


def written_etag(receipt: Receipt) -> dict[str, str]:
    """The ETag of the receipt's entity after a fresh write (none for a replay, whose
    versions are those of the original write)."""
    versions = [e.version for e in receipt.events if e.entity_id == receipt.entity_id]
    if receipt.replayed or not versions:
        return {}
    return {"ETag": etag(max(versions))}


def not_modified(request: web.Request, version: int) -> bool:
    """Whether ``If-None-Match`` names the entity's current version (or ``*``)."""
    tags = request.if_none_match
    if not tags:
        return False
    return any(t.value in (ANY, str(version)) for t in tags)
