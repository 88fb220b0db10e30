"""Corrections: retract or amend any recorded event with a reason; nothing is ever edited."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError

from commands.base import Command
from commands.runtime import UnitOfWork
from ledger.domain.agreements import Agreement
from ledger.domain.base import LedgerAggregate
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake, FollowUp
from ledger.domain.organisations import Agency, CoC
from ledger.domain.vocabulary import AgreementRef, Reason
from ledger.errors import InvalidInput

_MOMENT: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
CORRECTABLE: dict[str, type[LedgerAggregate]] = {
    cls.kind: cls for cls in (CoC, Agency, Agreement, EndUser, DataPartnerIntake, FollowUp)
}
EntityKind = Literal["coc", "agency", "agreement", "user", "intake", "follow-up"]


class RetractEvent(Command):
    name = "retract-event"
    entity_kind: EntityKind
    entity_ref: AgreementRef | Literal[""] = Field(
        default="", description="the entity's ref (empty for the CoC)"
    )
    event_id: UUID
    reason: Reason


def _entity(kind: str, ref: str, uow: UnitOfWork) -> LedgerAggregate:
    cls = CORRECTABLE[kind]
    return uow.get(cls, *((ref,) if ref else ()))


def retract_event(cmd: RetractEvent, uow: UnitOfWork) -> LedgerAggregate:
    entity = _entity(cmd.entity_kind, cmd.entity_ref, uow)
    entity.retract(cmd.event_id, cmd.reason, uow.meta)
    return entity


class AmendEvent(Command):
    name = "amend-event"
    entity_kind: EntityKind
    entity_ref: AgreementRef | Literal[""] = ""
    event_id: UUID
    reason: Reason
    changes: dict[str, Any] = Field(min_length=1, description="field -> corrected value")


def amend_event(cmd: AmendEvent, uow: UnitOfWork) -> LedgerAggregate:
    entity = _entity(cmd.entity_kind, cmd.entity_ref, uow)
    if "effective_at" in cmd.changes:
        try:
            moment = _MOMENT.validate_python(cmd.changes["effective_at"])
        except ValidationError as err:
            raise InvalidInput(f"changes.effective_at is not a time with a zone: {err}") from err
        uow.require_not_future(moment, "changes.effective_at")
    entity.amend(cmd.event_id, cmd.reason, cmd.changes, uow.meta)
    return entity
