"""Feeds the engine: loads a user's facts, their agency's agreements and the policy version
in force (or a what-if version), and answers the command layer's eligibility question."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TypeVar
from uuid import UUID

from ledger.application import Ledger
from ledger.domain.agreements import Agreement, agreement_ref
from ledger.domain.base import LedgerAggregate
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency, CoC
from ledger.domain.vocabulary import AgreementKind
from ledger.errors import NotFound
from ledger.ids import entity_id
from projections.compliance.engine import CompiledPack, Organisation, evaluate_user
from projections.compliance.results import Evaluation

A = TypeVar("A", bound=LedgerAggregate)
Loader = Callable[[type[A], UUID], A | None]


class ComplianceService:
    """Evaluations over the ledger; also the ``EligibilityPolicy`` given to commands.

    ``load`` reads an entity; by default its latest state in the store. Read models pass
    one that gives the state as of their own log position, time travel one that gives the
    state known at a recorded time."""

    def __init__(self, ledger: Ledger, load: Loader[LedgerAggregate] | None = None) -> None:
        self.ledger = ledger
        self.load: Loader[LedgerAggregate] = load or ledger.load
        self._compiled: dict[str, CompiledPack] = {}

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        found = self.load(cls, aggregate_id)
        return found if isinstance(found, cls) else None

    # --- policy versions -----------------------------------------------------------------

    def tenant(self, coc: str) -> CoC:
        tenant = self.get(CoC, entity_id(CoC.kind, coc))
        if tenant is None:
            raise NotFound(f"coc {coc!r} is not registered")
        return tenant

    def compiled(self, coc: str, version: str, sha256: str | None = None) -> CompiledPack:
        loaded = self.ledger.packs.get(coc, version, sha256)
        compiled = self._compiled.get(loaded.sha256)
        if compiled is None:
            compiled = self._compiled[loaded.sha256] = CompiledPack(loaded)
        return compiled

    def policy_at(
        self, tenant: CoC, on: date, version: str | None = None
    ) -> tuple[CompiledPack, bool, date | None]:
        """(pack, is it a what-if, when the next adopted version takes over)."""
        later = [a.effective_from for a in tenant.adoptions() if a.effective_from > on]
        if version is not None:
            adopted = next((a for a in tenant.adoptions() if a.version == version), None)
            sha = adopted.content_sha256 if adopted else None
            in_force = tenant.policy_in_force(on)
            what_if = in_force is None or in_force.version != version
            return self.compiled(tenant.coc, version, sha), what_if, None
        adoption = tenant.policy_in_force(on)
        if adoption is None:
            raise NotFound(f"{tenant.coc} has no policy version in force on {on}")
        return (
            self.compiled(tenant.coc, adoption.version, adoption.content_sha256),
            False,
            min(later, default=None),
        )

    # --- facts ---------------------------------------------------------------------------

    def organisation(self, user: EndUser, tenant: CoC) -> Organisation:
        agency_ref = user.agency_ref
        if agency_ref is None:
            return Organisation(None)
        agency = self.get(Agency, entity_id(Agency.kind, tenant.coc, agency_ref))
        return Organisation(agency, self.agreements(tenant, agency_ref))

    def agreements(self, tenant: CoC, agency_ref: str) -> tuple[Agreement, ...]:
        """The agency's organisation agreement and its CE MOUs, those that exist."""
        return tuple(
            a
            for agreement_id in self._agreement_ids(tenant, agency_ref)
            if (a := self.get(Agreement, agreement_id))
        )

    def organisation_ids(self, tenant: CoC, agency_ref: str) -> list[UUID]:
        """The entities ``organisation`` reads for a user of this agency: the agency and the
        agreements it may have (those that do not exist are read too, and not found)."""
        agency = entity_id(Agency.kind, tenant.coc, agency_ref)
        return [agency, *self._agreement_ids(tenant, agency_ref)]

    @staticmethod
    def _agreement_ids(tenant: CoC, agency_ref: str) -> list[UUID]:
        refs = [agreement_ref(AgreementKind.ORGANIZATION_AGREEMENT, agency_ref)]
        refs += [
            agreement_ref(AgreementKind.CE_MOU, agency_ref, region) for region in tenant.regions()
        ]
        return [entity_id(Agreement.kind, tenant.coc, ref) for ref in refs]

    def user(self, coc: str, user_ref: str) -> EndUser:
        user = self.get(EndUser, entity_id(EndUser.kind, coc, user_ref))
        if user is None:
            raise NotFound(f"user {user_ref!r} does not exist in {coc}")
        return user

    # --- answers -------------------------------------------------------------------------

    def evaluate_user(
        self,
        coc: str,
        user_ref: str,
        as_of: datetime,
        *,
        version: str | None = None,
        roles: Sequence[str] | None = None,
    ) -> Evaluation:
        """The user's status at ``as_of`` under the version in force then, or ``version``."""
        tenant = self.tenant(coc)
        user = self.user(coc, user_ref)
        compiled, what_if, next_from = self.policy_at(tenant, as_of.date(), version)
        return evaluate_user(
            user,
            self.organisation(user, tenant),
            compiled,
            as_of,
            roles=roles,
            what_if=what_if,
            next_policy_from=next_from,
        )

    def missing_for(self, user: EndUser, hmis_role: str, as_of: datetime) -> list[str]:
        """Clauses the user lacks for ``hmis_role`` (none while no policy is adopted)."""
        tenant = self.tenant(user.coc)
        if tenant.policy_in_force(as_of.date()) is None:
            return []
        compiled, _, _ = self.policy_at(tenant, as_of.date())
        roles = compiled.roles_granting(hmis_role)
        if not roles:
            return [f"role:{hmis_role} (not granted by policy {compiled.pack.version})"]
        org = self.organisation(user, tenant)
        best: list[str] | None = None
        for role in roles:
            unmet = evaluate_user(user, org, compiled, as_of, roles=[role.id]).unmet()
            if best is None or len(unmet) < len(best):
                best = unmet
        return best or []
