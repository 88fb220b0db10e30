"""Which stored events make up a CoC's, an agency's or a user's history (for exports).

Always whole entities, every event of each up to the checkpoint, so a verifier can check that
each entity's versions run without a gap:

- a **user**: the user entity;
- an **agency**: the agency, every entity created naming it in an ``*agency_ref`` field
  (agreements as agency or partner, data-partner intakes as collecting or partner agency,
  users registered with it), every user who ever joined it, and the follow-ups attempted by
  those users;
- a **CoC**: every entity of the CoC.

Records that are not facts about the tenant are never exported: API tokens (they carry the
hash of their secret), idempotency records (command bookkeeping). The operator's signing keys
are added to every export as the keys' own evidence.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import orjson
from eventsourcing.utils import get_topic

import ledger.domain
from ledger.domain.base import LedgerAggregate, LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import FollowUp, IdempotencyRecord
from ledger.domain.signing_keys import SigningKeys
from ledger.domain.tokens import ApiToken
from ledger.errors import NotFound
from ledger.ids import entity_id
from ledger.integrity.leaves import StoredRow
from ledger.integrity.store import IntegrityStore

NOT_EXPORTED = frozenset({ApiToken, IdempotencyRecord, SigningKeys})
SubjectKind = Literal["coc", "agency", "user"]
COC_REF = "-"


@dataclass(frozen=True)
class Subject:
    """Whose history: a CoC (ref ``-``), an agency or a user of a CoC."""

    kind: SubjectKind
    coc: str
    ref: str = COC_REF

    def describe(self) -> str:
        return f"{self.kind} {self.coc}" + ("" if self.kind == "coc" else f" {self.ref}")

    def file_stem(self) -> str:
        return "-".join(p for p in (self.coc, self.kind, self.ref) if p != COC_REF)


def _aggregates() -> list[type[LedgerAggregate]]:
    for module in pkgutil.iter_modules(ledger.domain.__path__, prefix="ledger.domain."):
        importlib.import_module(module.name)
    found: list[type[LedgerAggregate]] = []
    pending = list(LedgerAggregate.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _event_classes() -> list[type[LedgerEvent]]:
    return [
        value
        for aggregate in _aggregates()
        if aggregate not in NOT_EXPORTED
        for value in vars(aggregate).values()
        if isinstance(value, type) and issubclass(value, LedgerEvent)
    ]


@cache
def exportable_topics() -> frozenset[str]:
    """The topics of every event an export (or an inclusion proof) may show."""
    return frozenset(get_topic(cls) for cls in _event_classes())


@cache
def creation_topics() -> frozenset[str]:
    """The topics of the events that create an exportable entity."""
    return frozenset(
        get_topic(cls) for cls in _event_classes() if issubclass(cls, LedgerAggregate.Created)
    )


JOINED = get_topic(EndUser.JoinedAgency)
FOLLOW_UP_ATTEMPTED = get_topic(FollowUp.Attempted)


def entity_ids(store: IntegrityStore, subject: Subject, last_position: int) -> set[str]:
    """The ids (hex) of the entities whose events make up ``subject``'s history."""
    if subject.kind == "user":
        found = {entity_id(EndUser.kind, subject.coc, subject.ref).hex}
        if not _exists(store, found, last_position):
            raise NotFound(f"no user {subject.ref} in {subject.coc} (as of the checkpoint)")
        return found
    topics = sorted(creation_topics() | {JOINED})
    created: list[tuple[StoredRow, dict[str, Any]]] = []
    for row in store.rows_with_topics(topics, last_position):
        state = orjson.loads(row.state)
        if state.get("coc") == subject.coc:
            created.append((row, state))
    if subject.kind == "coc":
        found = {row.originator_id for row, _ in created if row.topic != JOINED}
        if not found:
            raise NotFound(f"nothing recorded of {subject.coc} (as of the checkpoint)")
        return found
    return _of_agency(subject, created)


def _of_agency(subject: Subject, created: list[tuple[StoredRow, dict[str, Any]]]) -> set[str]:
    agency = entity_id("agency", subject.coc, subject.ref).hex
    if not any(row.originator_id == agency for row, _ in created):
        raise NotFound(f"no agency {subject.ref} in {subject.coc} (as of the checkpoint)")
    found = {agency}
    for row, state in created:  # creations naming the agency, and users joining it
        if any(k.endswith("agency_ref") and v == subject.ref for k, v in state.items()):
            found.add(row.originator_id)
    registered = get_topic(EndUser.Registered)
    user_refs = {
        state["ref"]
        for row, state in created
        if row.topic == registered and row.originator_id in found
    }
    found |= {
        row.originator_id
        for row, state in created
        if row.topic == FOLLOW_UP_ATTEMPTED and state.get("user_ref") in user_refs
    }
    return found


def _exists(store: IntegrityStore, ids: set[str], last_position: int) -> bool:
    return any(row.position <= last_position for row in store.rows_of(ids))


def key_ids() -> set[str]:
    return {SigningKeys.ring_id().hex}
