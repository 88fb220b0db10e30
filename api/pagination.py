"""Cursor pagination: every list answers ``{"items": [...], "next": cursor | null}`` and takes
``?cursor=<the previous page's next>&limit=``; a cursor is opaque (base64url of the sort key
of the last item given)."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ledger.errors import InvalidInput

T = TypeVar("T")
Key = tuple[str | int, ...]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR_LENGTH = 400


class PageQuery(BaseModel):
    """The query parameters of every list."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the `next` of the previous page; absent for the first page",
    )
    limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="most items on this page"
    )


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next`` is null on the last page."""

    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    items: list[T]
    next: str | None = Field(
        description="pass as `cursor` to get the following page; null when there is none"
    )


def encode_cursor(key: Key) -> str:
    """The cursor that continues after the item whose sort key is ``key``."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, shape: tuple[type, ...]) -> Key | None:
    """The sort key in ``cursor`` (None for the first page); a cursor this list did not
    give out is refused as invalid input."""
    if cursor is None:
        return None
    refused = InvalidInput("cursor is not one this list gave out", field="cursor")
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise refused from None
    if not isinstance(key, list) or len(key) != len(shape):
        raise refused
    if not all(type(part) is kind for part, kind in zip(key, shape, strict=True)):
        raise refused
    return tuple(key)


def next_cursor(key: Key | None, full: bool) -> str | None:
    """The cursor after ``key`` when the page is ``full`` (more may follow), else None."""
    return encode_cursor(key) if full and key is not None else None


def cut_page(
    found: list[dict[str, Any]], limit: int, *key: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The page of a list read with ``limit + 1`` rows, and its ``next`` cursor: the sort
    key (the item fields ``key``) of its last item when a row beyond the page was found."""
    page = found[:limit]
    last = tuple(page[-1][field] for field in key) if page else None
    return page, next_cursor(last, len(found) > len(page))
