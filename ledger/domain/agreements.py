"""Agreements with parties who sign in a set order: CE MOUs, organisation agreements, MOAs."""

from __future__ import annotations

from datetime import datetime

from ledger.domain.base import EventMeta, LedgerAggregate
from ledger.domain.vocabulary import SIGNING_ORDER, AgreementKind, Party
from ledger.errors import RuleViolation
from ledger.ids import entity_id


def agreement_ref(kind: AgreementKind, agency_ref: str, counterpart: str | None = None) -> str:
    """The natural key of an agreement: one per kind, agency and region or partner."""
    return f"{kind}.{agency_ref}" + (f".{counterpart}" if counterpart else "")


class Agreement(LedgerAggregate):
    """One agreement; each revision must be signed by every party, in order."""

    kind = "agreement"

    class Drafted(LedgerAggregate.Created):
        ref: str
        agreement_kind: AgreementKind
        agency_ref: str
        region: str | None = None
        partner_agency_ref: str | None = None
        revision: str
        parties: list[Party]

    class Signed(LedgerAggregate.Event):
        amendable = frozenset({"signatory"})

        party: Party
        revision: str
        signatory: str  # a reference to the person or office that signed, not a name

    class Revised(LedgerAggregate.Event):
        """A new revision: every party signs again, in order (also after a voiding)."""

        amendable = frozenset({"reason"})

        revision: str
        reason: str

    class Voided(LedgerAggregate.Event):
        amendable = frozenset({"reason"})

        reason: str

    @classmethod
    def draft(
        cls,
        kind: AgreementKind,
        agency_ref: str,
        revision: str,
        meta: EventMeta,
        region: str | None = None,
        partner_agency_ref: str | None = None,
    ) -> Agreement:
        ref = agreement_ref(kind, agency_ref, region or partner_agency_ref)
        return cls._create(
            cls.Drafted,
            id=entity_id(cls.kind, meta.coc, ref),
            ref=ref,
            agreement_kind=kind,
            agency_ref=agency_ref,
            region=region,
            partner_agency_ref=partner_agency_ref,
            revision=revision,
            parties=list(SIGNING_ORDER[kind]),
            **meta.fields(),
        )

    @property
    def drafted(self) -> Agreement.Drafted:
        drafted = self.last(Agreement.Drafted)
        assert drafted is not None
        return drafted

    @property
    def revision(self) -> str:
        revised = self.last(Agreement.Revised)
        return revised.revision if revised else self.drafted.revision

    @property
    def voided(self) -> bool:
        """Voided until a later revision restarts it."""
        voided = False
        for fact in self.facts(Agreement.Voided, Agreement.Revised):
            voided = isinstance(fact, Agreement.Voided)
        return voided

    def signatures(self) -> list[Agreement.Signed]:
        """Signatures of the current revision, in the order they were given."""
        current: list[Agreement.Signed] = []
        for fact in self.facts(Agreement.Signed, Agreement.Revised):
            if isinstance(fact, Agreement.Revised):
                current = []
            elif isinstance(fact, Agreement.Signed):
                current.append(fact)
        return current

    def next_party(self) -> Party | None:
        """The first party, in signing order, without a (standing) signature."""
        signed = {s.party for s in self.signatures()}
        return next((p for p in self.drafted.parties if p not in signed), None)

    @property
    def fully_executed(self) -> bool:
        return self.execution() is not None

    def execution(self, as_of: datetime | None = None) -> Agreement.Signed | None:
        """The signature that completed the current revision (as of an effective time, if
        given), or None while a party has not signed or the agreement is voided."""
        signed: dict[Party, Agreement.Signed] = {}
        voided = False
        for fact in self.facts(Agreement.Signed, Agreement.Revised, Agreement.Voided):
            if as_of is not None and fact.effective_at > as_of:
                continue
            if isinstance(fact, Agreement.Signed):
                signed[fact.party] = fact
            else:
                signed, voided = {}, isinstance(fact, Agreement.Voided)
        if voided or any(p not in signed for p in self.drafted.parties):
            return None
        # the last signature to take effect; of signatures effective at the same moment, the
        # one recorded last (it completed the agreement)
        return max(signed.values(), key=lambda e: (e.effective_at, e.originator_version))

    def sign(self, party: Party, signatory: str, meta: EventMeta) -> None:
        self.require_signable(party)
        self.trigger_event(
            self.Signed, party=party, revision=self.revision, signatory=signatory, **meta.fields()
        )

    def require_signable(self, party: Party) -> None:
        """Refuse a signature that is out of order, repeated, or on a voided agreement."""
        rule = f"agreement/{self.drafted.agreement_kind}/signing-order"
        if self.voided:
            raise RuleViolation(
                f"agreement/{self.drafted.agreement_kind}/voided",
                "a voided agreement cannot be signed",
            )
        if party not in self.drafted.parties:
            raise RuleViolation(
                rule,
                f"{party} is not a party to this agreement; parties in "
                f"order: {', '.join(self.drafted.parties)}",
            )
        if any(s.party == party for s in self.signatures()):
            raise RuleViolation(
                f"agreement/{self.drafted.agreement_kind}/sign-once",
                f"{party} has already signed revision {self.revision}",
            )
        expected = self.next_party()
        if party != expected:
            raise RuleViolation(
                rule,
                f"{expected} must sign before {party}; parties in order: "
                f"{', '.join(self.drafted.parties)}",
            )

    def revise(self, revision: str, reason: str, meta: EventMeta) -> None:
        if revision == self.revision:
            raise RuleViolation(
                "agreement/revision-changes",
                f"revision {revision!r} is already the current revision",
            )
        self.trigger_event(self.Revised, revision=revision, reason=reason, **meta.fields())

    def void(self, reason: str, meta: EventMeta) -> None:
        if self.voided:
            raise RuleViolation("agreement/void-once", "the agreement is already voided")
        self.trigger_event(self.Voided, reason=reason, **meta.fields())
