"""What the read models need to know of a stored event's class: which entity kind it belongs
to, its name in the audit trail, and whether it creates or corrects. Found once per topic."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from ledger.domain.agreements import Agreement
from ledger.domain.base import LedgerAggregate, LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.lms import LmsAccount, LmsCompletion, LmsCourse, LmsInbox
from ledger.domain.obligations import DataPartnerIntake, FollowUp, IdempotencyRecord
from ledger.domain.organisations import Agency, CoC
from ledger.domain.signing_keys import SigningKeys
from ledger.domain.tokens import ApiToken
from ledger.mapper import PydanticMapper


@dataclass(frozen=True, slots=True)
class EventClass:
    cls: type[LedgerEvent]
    aggregate: type[LedgerAggregate]
    name: str  # the class's qualified name, as the audit trail shows it
    creates: bool
    corrects: bool
    of_user: bool

    @property
    def kind(self) -> str:
        return self.aggregate.kind

    def ref_when_created(self, state: dict[str, object], entity: str) -> str:
        """The entity's natural key, from the fields of the event that created it (the same
        as ``entities.ref_of`` on the aggregate)."""
        key = "code" if self.kind == "coc" else "ref"
        return str(state[key]) if key in state else entity

    def agency_when_created(self, state: dict[str, object]) -> str | None:
        """The agency the entity belongs to, from the fields of the event that created it:
        ``entities.agency_of``, which changes over time for a user only (None for a user)."""
        key = AGENCY_KEYS.get(self.aggregate)
        return None if key is None else str(state[key])


AGGREGATES: tuple[type[LedgerAggregate], ...] = (
    CoC,
    Agency,
    Agreement,
    EndUser,
    DataPartnerIntake,
    FollowUp,
    IdempotencyRecord,
    ApiToken,
    SigningKeys,
    LmsCompletion,
    LmsAccount,
    LmsCourse,
    LmsInbox,
)
# idempotency records are bookkeeping of the command layer, not facts anyone asks about;
# API tokens carry the hash of their secret and are served by no route; the operator's
# signing keys belong to no tenant (GET /v1/integrity/keys serves them)
NOT_PROJECTED = frozenset({IdempotencyRecord, ApiToken, SigningKeys})
# the field of its creating event that names the agency an entity belongs to
AGENCY_KEYS: dict[type[LedgerAggregate], str] = {
    Agency: "ref",
    Agreement: "agency_ref",
    DataPartnerIntake: "partner_agency_ref",
}


@cache
def _catalogue() -> dict[type[LedgerEvent], type[LedgerAggregate]]:
    """Each event class of each aggregate class (eventsourcing gives every aggregate class its
    own subclass of the base events, e.g. ``EndUser.EventRetracted``)."""
    found: dict[type[LedgerEvent], type[LedgerAggregate]] = {}
    for aggregate in AGGREGATES:
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, LedgerEvent):
                found[value] = aggregate
    return found


@cache
def event_class(topic: str) -> EventClass | None:
    """What a stored event's topic is, or None for events the read models do not show."""
    cls = resolve_topic(topic)
    aggregate = _catalogue().get(cls)
    if aggregate is None:
        raise LookupError(f"{topic} is not an event of a ledger aggregate")
    if aggregate in NOT_PROJECTED:
        return None
    return EventClass(
        cls=cls,
        aggregate=aggregate,
        name=cls.__qualname__,
        creates=issubclass(cls, LedgerAggregate.Created),
        corrects=issubclass(cls, LedgerAggregate.EventRetracted | LedgerAggregate.EventAmended),
        of_user=issubclass(aggregate, EndUser),
    )


def creating_topics(aggregate: type[LedgerAggregate]) -> list[str]:
    """The topics of the events that create an entity of class ``aggregate``."""
    return sorted(
        get_topic(cls)
        for cls, owner in _catalogue().items()
        if owner is aggregate and issubclass(cls, LedgerAggregate.Created)
    )


@cache
def topic_named(name: str) -> str:
    """The topic of the event class the audit trail names ``name``."""
    found = [get_topic(cls) for cls in _catalogue() if cls.__qualname__ == name]
    if len(found) != 1:
        raise LookupError(f"{len(found)} event classes are named {name!r}")
    return found[0]


def line_event(
    mapper: PydanticMapper, entity_hex: str, version: int, topic: str, stored: bytes
) -> dict[str, Any]:
    """The stored fields of an audit line's event (the log's row joined to the line, see
    ``db.log_join``), decoded by the ledger's mapper: older stored shapes are upcast."""
    return mapper.to_state(StoredEvent(UUID(hex=entity_hex), version, topic, bytes(stored)))[1]
