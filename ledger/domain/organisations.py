"""The CoC (tenant) and its agencies: regions, leads, CES roles, programs, contacts, staff."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from ledger.domain.base import EventMeta, LedgerAggregate
from ledger.domain.vocabulary import ContactRole, OrgCesRole, Process, ProgramType
from ledger.errors import InvalidInput, NotFound, RuleViolation
from ledger.ids import entity_id


class CoC(LedgerAggregate):
    """A Continuum of Care: the tenant every other entity belongs to."""

    kind = "coc"

    class Registered(LedgerAggregate.Created):
        amendable = frozenset({"name"})

        code: str
        name: str
        process: Process

    class RegionAdded(LedgerAggregate.Event):
        amendable = frozenset({"name", "counties"})

        region: str
        name: str
        counties: list[str] = Field(default_factory=list)

    class LeadAgencyDesignated(LedgerAggregate.Event):
        agency_ref: str

    class HmisLeadDesignated(LedgerAggregate.Event):
        amendable = frozenset({"organisation"})

        organisation: str

    class PolicyAdopted(LedgerAggregate.Event):
        """A version of the CoC's policy pack applies from ``effective_from`` (by its hash)."""

        version: str
        effective_from: date
        content_sha256: str
        title: str

    class RegionalCeLeadAssigned(LedgerAggregate.Event):
        region: str
        agency_ref: str

    @classmethod
    def register(cls, code: str, name: str, process: Process, meta: EventMeta) -> CoC:
        return cls._create(
            cls.Registered,
            id=entity_id(cls.kind, code),
            code=code,
            name=name,
            process=process,
            **meta.fields(),
        )

    @property
    def process(self) -> Process:
        registered = self.last(CoC.Registered)
        assert registered is not None
        return registered.process

    def regions(self) -> dict[str, str]:
        return {r.region: r.name for r in self.facts(CoC.RegionAdded)}

    def require_region(self, region: str) -> None:
        if region not in self.regions():
            raise NotFound(f"region {region!r} is not a region of {self.coc}", region=region)

    @property
    def lead_agency(self) -> str | None:
        fact = self.last(CoC.LeadAgencyDesignated)
        return fact.agency_ref if fact else None

    def regional_ce_lead(self, region: str) -> str | None:
        lead = None
        for fact in self.facts(CoC.RegionalCeLeadAssigned):
            if fact.region == region:
                lead = fact.agency_ref
        return lead

    def adoptions(self) -> list[CoC.PolicyAdopted]:
        return list(self.facts(CoC.PolicyAdopted))

    def policy_in_force(self, on: date) -> CoC.PolicyAdopted | None:
        """The adopted version with the latest ``effective_from`` not after ``on``."""
        candidates = [a for a in self.facts(CoC.PolicyAdopted) if a.effective_from <= on]
        return max(candidates, key=lambda a: a.effective_from, default=None)

    def adopt_policy(
        self, version: str, effective_from: date, content_sha256: str, title: str, meta: EventMeta
    ) -> None:
        if any(a.version == version for a in self.adoptions()):
            raise RuleViolation(
                "policy/adopt-version-once", f"policy version {version!r} is already adopted"
            )
        self.trigger_event(
            self.PolicyAdopted,
            version=version,
            effective_from=effective_from,
            content_sha256=content_sha256,
            title=title,
            **meta.fields(),
        )

    def add_region(self, region: str, name: str, counties: list[str], meta: EventMeta) -> None:
        if region in self.regions():
            raise RuleViolation("coc/region-unique", f"region {region!r} already exists")
        self.trigger_event(
            self.RegionAdded, region=region, name=name, counties=counties, **meta.fields()
        )

    def designate_lead_agency(self, agency_ref: str, meta: EventMeta) -> None:
        self.trigger_event(self.LeadAgencyDesignated, agency_ref=agency_ref, **meta.fields())

    def designate_hmis_lead(self, organisation: str, meta: EventMeta) -> None:
        self.trigger_event(self.HmisLeadDesignated, organisation=organisation, **meta.fields())

    def assign_regional_ce_lead(self, region: str, agency_ref: str, meta: EventMeta) -> None:
        self.require_region(region)
        self.trigger_event(
            self.RegionalCeLeadAssigned, region=region, agency_ref=agency_ref, **meta.fields()
        )


class Agency(LedgerAggregate):
    """A provider organisation of one CoC."""

    kind = "agency"

    class Registered(LedgerAggregate.Created):
        amendable = frozenset({"name"})

        ref: str
        name: str
        hmis_participating: bool

    class RegionJoined(LedgerAggregate.Event):
        region: str

    class RegionLeft(LedgerAggregate.Event):
        region: str

    class CesRolesDeclared(LedgerAggregate.Event):
        roles: list[OrgCesRole]

    class ProgramSetUp(LedgerAggregate.Event):
        amendable = frozenset({"name"})

        program_ref: str
        program_type: ProgramType
        name: str
        change: str  # "created" or "modified"

    class ProgramSetUpConfirmed(LedgerAggregate.Event):
        amendable = frozenset({"confirmed_by"})

        confirmed_by: str

    class ContactDesignated(LedgerAggregate.Event):
        role: ContactRole
        user_ref: str

    class TrainingCreditsGranted(LedgerAggregate.Event):
        """Course credits the HMIS lead gives the agency (Chicago: 4 for member agencies)."""

        amendable = frozenset({"reason"})

        credits: int = Field(ge=1, le=1000)
        reason: str

    class StaffMemberJoined(LedgerAggregate.Event):
        retractable = False

        user_ref: str

    class StaffMemberLeft(LedgerAggregate.Event):
        retractable = False

        user_ref: str

    @classmethod
    def register(cls, ref: str, name: str, hmis_participating: bool, meta: EventMeta) -> Agency:
        return cls._create(
            cls.Registered,
            id=entity_id(cls.kind, meta.coc, ref),
            ref=ref,
            name=name,
            hmis_participating=hmis_participating,
            **meta.fields(),
        )

    @property
    def ref(self) -> str:
        registered = self.created
        assert isinstance(registered, Agency.Registered)
        return registered.ref

    @property
    def hmis_participating(self) -> bool:
        registered = self.last(Agency.Registered)
        return bool(registered and registered.hmis_participating)

    def active_regions(self, as_of: datetime | None = None) -> set[str]:
        """Regions the agency is active in (as of an effective time, if given)."""
        regions: set[str] = set()
        for fact in self.facts(Agency.RegionJoined, Agency.RegionLeft):
            if as_of is not None and fact.effective_at > as_of:
                continue
            if isinstance(fact, Agency.RegionJoined):
                regions.add(fact.region)
            elif isinstance(fact, Agency.RegionLeft):
                regions.discard(fact.region)
        return regions

    def ces_roles(self) -> list[OrgCesRole]:
        fact = self.last(Agency.CesRolesDeclared)
        return list(fact.roles) if fact else []

    def programs(self) -> dict[str, Agency.ProgramSetUp]:
        return {p.program_ref: p for p in self.facts(Agency.ProgramSetUp)}

    def program_setup_confirmed(self) -> bool:
        """True when the lead confirmed the set-up after the last program change."""
        return self.setup_confirmation() is not None

    def setup_confirmation(
        self, as_of: datetime | None = None
    ) -> Agency.ProgramSetUpConfirmed | None:
        """The confirmation that followed the last program change (as of a time, if given)."""
        confirmed = None
        for fact in self.facts(Agency.ProgramSetUp, Agency.ProgramSetUpConfirmed):
            if as_of is None or fact.effective_at <= as_of:
                confirmed = fact if isinstance(fact, Agency.ProgramSetUpConfirmed) else None
        return confirmed

    def staff(self) -> set[str]:
        members: set[str] = set()
        for fact in self.facts(Agency.StaffMemberJoined, Agency.StaffMemberLeft):
            if isinstance(fact, Agency.StaffMemberJoined):
                members.add(fact.user_ref)
            elif isinstance(fact, Agency.StaffMemberLeft):
                members.discard(fact.user_ref)
        return members

    def contacts(self) -> dict[ContactRole, str]:
        return {c.role: c.user_ref for c in self.facts(Agency.ContactDesignated)}

    def join_region(self, region: str, meta: EventMeta) -> None:
        if region in self.active_regions():
            raise RuleViolation("agency/region-once", f"agency is already active in {region!r}")
        self.trigger_event(self.RegionJoined, region=region, **meta.fields())

    def leave_region(self, region: str, meta: EventMeta) -> None:
        if region not in self.active_regions():
            raise RuleViolation(
                "agency/region-left-only-if-active", f"agency is not active in {region!r}"
            )
        self.trigger_event(self.RegionLeft, region=region, **meta.fields())

    def declare_ces_roles(self, roles: list[OrgCesRole], meta: EventMeta) -> None:
        if not roles:
            raise InvalidInput("declare at least one CES role", field="roles")
        self.trigger_event(self.CesRolesDeclared, roles=sorted(set(roles)), **meta.fields())

    def set_up_program(
        self, program_ref: str, program_type: ProgramType, name: str, meta: EventMeta
    ) -> None:
        change = "modified" if program_ref in self.programs() else "created"
        self.trigger_event(
            self.ProgramSetUp,
            program_ref=program_ref,
            program_type=program_type,
            name=name,
            change=change,
            **meta.fields(),
        )

    def confirm_program_setup(self, confirmed_by: str, meta: EventMeta) -> None:
        if not self.programs():
            raise RuleViolation(
                "agency/program-setup-needs-programs", "there is no program set-up to confirm"
            )
        if not self.ces_roles():
            raise RuleViolation(
                "CA-600/step-2/ces-roles-first",
                "declare the organisation's CES roles before confirming set-up",
            )
        self.trigger_event(self.ProgramSetUpConfirmed, confirmed_by=confirmed_by, **meta.fields())

    def designate_contact(self, role: ContactRole, user_ref: str, meta: EventMeta) -> None:
        self.trigger_event(self.ContactDesignated, role=role, user_ref=user_ref, **meta.fields())

    def grant_training_credits(self, credits: int, reason: str, meta: EventMeta) -> None:
        self.trigger_event(
            self.TrainingCreditsGranted, credits=credits, reason=reason, **meta.fields()
        )

    def add_staff(self, user_ref: str, meta: EventMeta) -> None:
        self.trigger_event(self.StaffMemberJoined, user_ref=user_ref, **meta.fields())

    def remove_staff(self, user_ref: str, meta: EventMeta) -> None:
        self.trigger_event(self.StaffMemberLeft, user_ref=user_ref, **meta.fields())
