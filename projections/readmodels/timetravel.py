"""Time travel on both clocks: "as of effective date D" (what was true on D, with all we know
now) and "as known at recorded time K" (what the ledger said at K, from facts recorded by
then). Both can be combined: what the ledger, at K, said was true on D."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from ledger.application import Ledger, mutate_all
from ledger.domain.base import LedgerAggregate, LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency
from ledger.errors import NotFound
from ledger.ids import entity_id
from projections.compliance.results import Evaluation
from projections.compliance.service import ComplianceService
from projections.readmodels import rows

A = TypeVar("A", bound=LedgerAggregate)


def known_at(ledger: Ledger, moment: datetime) -> Callable[[type[A], UUID], A | None]:
    """A loader giving each entity as the ledger knew it at ``moment`` (recorded time): built
    only from its events recorded by then; None for an entity not yet known. Each entity is
    built once per loader (one answer): a page of a CoC's users asks for their CoC, agency
    and its agreements again for every user, and an agency's history grows with the log."""
    built: dict[UUID, object] = {}

    def load(cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id not in built:
            built[aggregate_id] = _as_known(ledger, aggregate_id, moment)
        aggregate = built[aggregate_id]
        return aggregate if isinstance(aggregate, cls) else None

    return load


def _as_known(ledger: Ledger, aggregate_id: UUID, moment: datetime) -> object:
    events = list(ledger.events.get(aggregate_id))  # in version order, read once
    version = 0
    for event in events:
        if isinstance(event, LedgerEvent) and event.timestamp <= moment:
            version = max(version, event.originator_version)
    if not version:
        return None
    return mutate_all(None, (event for event in events if event.originator_version <= version))


class TimeTravel:
    """Answers about one entity or a whole CoC at an effective time, optionally as known at
    a recorded time."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def _service(self, known: datetime | None) -> ComplianceService:
        if known is None:
            return ComplianceService(self.ledger)
        return ComplianceService(self.ledger, load=known_at(self.ledger, known))

    def user(
        self, coc: str, ref: str, as_of: datetime, known: datetime | None = None
    ) -> Evaluation:
        return self._service(known).evaluate_user(coc, ref, as_of)

    def agency(
        self, coc: str, ref: str, as_of: datetime, known: datetime | None = None
    ) -> dict[str, Any]:
        service = self._service(known)
        agency = service.get(Agency, entity_id(Agency.kind, coc, ref))
        if agency is None:
            raise NotFound(f"agency {ref!r} is not known in {coc}" + _at(known))
        agreements = list(service.agreements(service.tenant(coc), ref))
        return rows.agency_summary(agency, agreements, as_of)

    def coc(
        self, coc: str, user_refs: list[str], as_of: datetime, known: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The status of each of ``user_refs`` (those known at ``known``) on ``as_of``."""
        service = self._service(known)
        tenant = service.tenant(coc)
        in_force = tenant.policy_in_force(as_of.date())
        answers: list[dict[str, Any]] = []
        for ref in user_refs:
            user = service.get(EndUser, entity_id(EndUser.kind, coc, ref))
            if user is None or user.created.effective_at > as_of:
                continue
            if in_force is None:
                answers.append(
                    {
                        "ref": ref,
                        "agency_ref": user.agency_ref,
                        "overall": rows.NO_POLICY,
                        "hmis_role": None,
                        "unmet": [],
                    }
                )
                continue
            evaluation = service.evaluate_user(coc, ref, as_of)
            answers.append(
                {
                    "ref": ref,
                    "agency_ref": user.agency_ref,
                    "overall": str(evaluation.overall),
                    "hmis_role": evaluation.access.hmis_role if evaluation.access else None,
                    "unmet": evaluation.unmet(),
                }
            )
        return answers


def _at(known: datetime | None) -> str:
    return "" if known is None else f" as known at {known.isoformat()}"
