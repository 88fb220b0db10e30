"""What every command carries, who issues it, and the receipt it returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ledger.domain.base import EventMeta, Source
from ledger.domain.vocabulary import CocCode, Moment


class Command(BaseModel):
    """Base of every command. ``name`` is its stable kebab-case identifier."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: ClassVar[str]

    coc: CocCode = Field(description="the CoC (tenant) code", examples=["MO-606"])
    effective_at: Moment | None = Field(
        default=None,
        description="when it happened in the world; defaults to now; never in the future "
        "beyond the allowed clock skew",
    )
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"
    )


COMMON_FIELDS = frozenset(Command.model_fields)


def payload(command: Command, *skip: str) -> dict[str, Any]:
    """The command's own fields (not coc, effective_at or idempotency_key), minus ``skip``;
    for commands whose fields are the event's fields."""
    left_out = COMMON_FIELDS.union(skip)
    return {
        name: getattr(command, name) for name in type(command).model_fields if name not in left_out
    }


class Caller(BaseModel):
    """Who issues a command, from where (recorded on every event, never taken from payloads)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str = Field(min_length=1, max_length=200)
    source: Source
    request_id: str = Field(min_length=1, max_length=200)

    def meta(self, coc: str, effective_at: datetime, recorded_at: datetime) -> EventMeta:
        """What every event this caller records in ``coc`` carries."""
        return EventMeta(
            coc=coc,
            actor=self.actor,
            source=self.source,
            request_id=self.request_id,
            effective_at=effective_at,
            timestamp=recorded_at,
        )


class IfMatch(BaseModel):
    """The versions the caller expects the command's entity (its receipt's entity) to be at
    before the command; no versions means any version of an existing entity (``*``)."""

    model_config = ConfigDict(frozen=True)

    versions: frozenset[int] = frozenset()

    def accepts(self, version: int) -> bool:
        """Whether an entity at ``version`` (0: it does not exist) meets the expectation."""
        return version in self.versions if self.versions else version > 0


class WrittenEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    entity_id: UUID
    version: int
    topic: str
    position: int | None


class Receipt(BaseModel):
    """Proof that a command was accepted: the events it wrote and the log position reached."""

    model_config = ConfigDict(frozen=True)

    command: str
    coc: str
    entity_kind: str
    entity_id: UUID
    events: list[WrittenEvent]
    position: int = Field(
        description="log position of the write; read models that reached it reflect the command"
    )
    idempotency_key: str | None = None
    replayed: bool = Field(
        default=False,
        description="true when an earlier identical "
        "command's receipt is returned and nothing was written",
    )
