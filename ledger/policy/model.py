"""The rule vocabulary of a policy pack. Every clause has a stable id (``kind:name``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ledger.domain.vocabulary import AgreementKind, FollowUpRecord, FormKind, PaymentMethod

ClauseId = Annotated[str, StringConstraints(pattern=r"^[a-z]+:[a-z0-9][a-z0-9._-]{0,63}$")]
MonthDay = Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AnnualWindow(Strict):
    """Everyone renews in the same window each year (e.g. 09-01 to 09-30)."""

    start: MonthDay
    end: MonthDay

    @model_validator(mode="after")
    def _real_days(self) -> AnnualWindow:
        for field in ("start", "end"):
            month, day = map(int, getattr(self, field).split("-"))
            try:
                date(2025, month, day)  # a common year: 02-29 would move every fourth year
            except ValueError:
                raise ValueError(
                    f"{field} {getattr(self, field)} is not a day of every year"
                ) from None
        return self


class Validity(Strict):
    """How long a completion counts: rolling days or months, or a fixed annual window."""

    rolling_days: int | None = Field(default=None, ge=1, le=3650)
    rolling_months: int | None = Field(default=None, ge=1, le=120)
    annual_window: AnnualWindow | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Validity:
        given = [self.rolling_days, self.rolling_months, self.annual_window]
        if sum(v is not None for v in given) != 1:
            raise ValueError("give exactly one of rolling_days, rolling_months, annual_window")
        return self


class Clause(Strict):
    id: ClauseId
    title: str = Field(min_length=1, max_length=200)
    after: list[ClauseId] = Field(
        default_factory=list,
        description="clauses that must be satisfied first; this one's evidence must be later",
    )


class TrainingClause(Clause):
    kind: Literal["training"]
    courses: list[str] = Field(min_length=1, description="any one of these course codes")
    validity: Validity | None = Field(default=None, description="omitted: never expires")
    min_score: float | None = Field(default=None, ge=0, le=100)


class FormClause(Clause):
    kind: Literal["form"]
    form: FormKind
    revision: str = Field(min_length=1, description="the revision in force; older ones lapse")


class MilestoneClause(Clause):
    kind: Literal["milestone"]
    milestone: Literal[
        "training-requested", "access-request-approved", "proctored-passed", "role-requested"
    ]


class GateClause(Clause):
    """An organisation-level condition; its lapse blocks every user of the agency."""

    kind: Literal["gate"]
    gate: Literal["agreement", "program-setup-confirmed"]
    agreement_kind: AgreementKind | None = None

    @model_validator(mode="after")
    def _agreement_needs_kind(self) -> GateClause:
        if (self.gate == "agreement") != (self.agreement_kind is not None):
            raise ValueError("agreement_kind is given exactly when gate = 'agreement'")
        return self


AnyClause = Annotated[
    TrainingClause | FormClause | MilestoneClause | GateClause, Field(discriminator="kind")
]


class Role(Strict):
    """A user role: the clauses it needs and the HMIS role and permissions it grants."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    hmis_role: str = Field(min_length=1, max_length=64)
    rank: int = Field(ge=0, le=100, description="higher is more access")
    requires: list[ClauseId]
    permissions: list[str] = Field(default_factory=list)


class InactivityRung(Strict):
    after_days: int = Field(ge=1, le=3650)
    action: Literal["warn", "lock", "refresher", "retrain", "delete"]


class Deadlines(Strict):
    provisioning_business_days: int | None = Field(default=None, ge=1, le=60)
    data_partner_entry_business_days: int | None = Field(default=None, ge=1, le=60)


class FollowUpRules(Strict):
    reached: list[FollowUpRecord]
    not_reached: list[FollowUpRecord]


class Fees(Strict):
    course_prefix: str = Field(min_length=1)
    fee_cents: int = Field(ge=0, le=1_000_000)
    payment_methods: list[PaymentMethod] = Field(min_length=1)


class PolicyPack(Strict):
    """One version of one CoC's rules, in force from ``effective_from``."""

    coc: str = Field(pattern=r"^[A-Z]{2}-[0-9]{3}$")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
    effective_from: date
    title: str = Field(min_length=1, max_length=200)
    base: list[ClauseId] = Field(default_factory=list, description="clauses every user needs")
    clauses: list[AnyClause]
    roles: list[Role] = Field(default_factory=list)
    deadlines: Deadlines = Field(default_factory=Deadlines)
    inactivity: list[InactivityRung] = Field(default_factory=list)
    follow_up: FollowUpRules | None = None
    fees: Fees | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> PolicyPack:
        ids = [c.id for c in self.clauses]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"clause ids must be unique: {duplicates}")
        known = set(ids)
        for where, refs in (
            [("base", self.base)]
            + [(f"clause {c.id}.after", c.after) for c in self.clauses]
            + [(f"role {r.id}.requires", r.requires) for r in self.roles]
        ):
            unknown = sorted(set(refs) - known)
            if unknown:
                raise ValueError(f"{where} names unknown clauses {unknown}")
        _no_cycles({c.id: c.after for c in self.clauses})
        rungs = [r.after_days for r in self.inactivity]
        if rungs != sorted(set(rungs)):
            raise ValueError("inactivity rungs must have increasing after_days")
        return self

    def clause(self, clause_id: str) -> TrainingClause | FormClause | MilestoneClause | GateClause:
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise KeyError(clause_id)


def _no_cycles(graph: dict[str, list[str]]) -> None:
    """Refuse an ``after`` graph in which a clause (indirectly) precedes itself."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise ValueError(f"'after' forms a cycle: {' -> '.join([*path, node])}")
        state[node] = 1
        for nxt in graph.get(node, []):
            visit(nxt, [*path, node])
        state[node] = 2

    for node in graph:
        visit(node, [])
