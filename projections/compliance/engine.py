"""The compliance engine: a pure function of (facts, policy version, as-of time).

``evaluate_user`` reads one user's corrected facts and their agency's agreements as they stood
at ``as_of`` (effective time), and returns a state per clause with evidence and reasons, the
overall state, the highest appropriate access, findings, and the next moment at which the
answer changes by itself. Nothing here reads a store or a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from ledger.domain.agreements import Agreement
from ledger.domain.base import LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency
from ledger.policy.calendar import add_business_days
from ledger.policy.model import (
    FormClause,
    GateClause,
    InactivityRung,
    MilestoneClause,
    PolicyPack,
    Role,
    TrainingClause,
)
from ledger.policy.store import LoadedPack
from projections.compliance.results import (
    Access,
    ClauseStatus,
    Evaluation,
    Evidence,
    Finding,
    Overall,
    PolicyRef,
    State,
)
from projections.compliance.rules import Context, Rule, compile_clause
from projections.compliance.timing import at_midnight, next_change
from projections.compliance.view import UserView

AnyClause = TrainingClause | FormClause | MilestoneClause | GateClause
F = TypeVar("F", bound=LedgerEvent)
DEADLINE_PROVISIONING = "deadline:provisioning"
INACTIVITY = "inactivity:ladder"


@dataclass(frozen=True)
class Organisation:
    """The user's agency and its agreements (all revisions; the engine reads them as of).
    Gate results are kept per (clause, as-of): every user of an agency shares them."""

    agency: Agency | None
    agreements: tuple[Agreement, ...] = ()
    gates: dict[tuple[str, datetime], ClauseStatus] = field(
        default_factory=dict, compare=False, repr=False
    )


class Rung:
    """A rung of the inactivity ladder: when it is reached, and the text it gives."""

    __slots__ = ("after", "text", "warn")

    def __init__(self, rung: InactivityRung) -> None:
        self.after = timedelta(days=rung.after_days)
        self.text = f": {rung.action} (from "
        self.warn = rung.action == "warn"


class Grant:
    """A role compiled: its rank, the clauses it needs and the access it gives."""

    __slots__ = ("access", "rank", "requires")

    def __init__(self, role: Role) -> None:
        self.rank = role.rank
        self.requires = tuple(role.requires)
        self.access = Access(role.id, role.hmis_role, tuple(role.permissions))


class Plan:
    """What one list of requested roles evaluates and reports (made once per pack and list)."""

    __slots__ = ("grants", "provisioning", "report", "role_ids", "rules", "unknown")

    def __init__(
        self,
        rules: list[Rule],
        report: list[str],
        grants: list[Grant],
        role_ids: tuple[str, ...],
        unknown: list[ClauseStatus],
        provisioning: int | None,
    ) -> None:
        self.rules = tuple(rules)
        self.report = tuple(report)
        self.grants = tuple(grants)
        self.role_ids = role_ids
        self.unknown = tuple(unknown)
        self.provisioning = provisioning  # business days, when the roles have that deadline


_PLANS_KEPT = 1024  # distinct requested-role lists remembered per pack


class CompiledPack:
    """A pack with its clauses in prerequisite order, compiled into rules, and its roles
    indexed."""

    def __init__(self, loaded: LoadedPack) -> None:
        self.pack: PolicyPack = loaded.pack
        self.sha256 = loaded.sha256
        by_id = {c.id: c for c in self.pack.clauses}
        order: list[AnyClause] = []
        seen: set[str] = set()

        def place(clause: AnyClause) -> None:
            if clause.id in seen:
                return
            seen.add(clause.id)
            for before in clause.after:
                place(by_id[before])
            order.append(clause)

        for clause in self.pack.clauses:
            place(clause)
        self.order = order
        self.roles = {r.id: r for r in self.pack.roles}
        self._by_id = by_id
        since = at_midnight(self.pack.effective_from)
        self.rules = [compile_clause(c, since) for c in order]
        self.base = tuple(self.pack.base)
        self._grants = {r.id: Grant(r) for r in self.pack.roles}
        self._plans: dict[tuple[str, ...], Plan] = {}
        self.rungs = [Rung(r) for r in self.pack.inactivity]
        self._refs = {
            flag: PolicyRef(self.pack.coc, self.pack.version, self.sha256, flag)
            for flag in (False, True)
        }

    def plan(self, requested: tuple[str, ...]) -> Plan:
        """What to evaluate for these requested roles: the base and role clauses, everything
        they come after (in prerequisite order), which of them to report, and the roles the
        pack does not define."""
        found = self._plans.get(requested)
        if found is None:
            found = self._plan(requested)
            if len(self._plans) < _PLANS_KEPT:
                self._plans[requested] = found
        return found

    def _plan(self, requested: tuple[str, ...]) -> Plan:
        wanted_roles = list(dict.fromkeys(requested))
        known = [r for r in wanted_roles if r in self.roles]
        unknown = [r for r in wanted_roles if r not in self.roles]
        wanted = set(self.pack.base).union(*(self.roles[r].requires for r in known))
        closure: set[str] = set()
        pending = list(wanted)
        while pending:
            clause_id = pending.pop()
            if clause_id not in closure:
                closure.add(clause_id)
                pending.extend(self._by_id[clause_id].after)
        days = self.pack.deadlines.provisioning_business_days
        return Plan(
            [r for r in self.rules if r.id in closure],
            [r.id for r in self.rules if r.id in wanted],
            [self._grants[r] for r in known],
            tuple(known + unknown),
            [
                ClauseStatus(
                    f"role:{role_id}",
                    State.MISSING,
                    f"role {role_id!r} is not defined in policy {self.pack.version}",
                )
                for role_id in unknown
            ],
            days if known and days else None,
        )

    def roles_granting(self, hmis_role: str) -> list[Role]:
        return [r for r in self.pack.roles if hmis_role in (r.hmis_role, r.id)]

    def ref(self, what_if: bool = False) -> PolicyRef:
        return self._refs[what_if]


_new = tuple.__new__  # a named tuple from all its fields, without keyword parsing
_SATISFIED, _MISSING, _EXPIRED = State.SATISFIED, State.MISSING, State.EXPIRED
_BLOCKED, _PENDING, _OVERDUE = State.BLOCKED, State.PENDING, State.OVERDUE
_ONLY_SATISFIED = frozenset([State.SATISFIED])


def evaluate_user(
    user: EndUser,
    org: Organisation,
    compiled: CompiledPack,
    as_of: datetime,
    *,
    roles: Sequence[str] | None = None,
    what_if: bool = False,
    next_policy_from: date | None = None,
) -> Evaluation:
    """Evaluate ``user`` under ``compiled`` at ``as_of``; ``roles`` defaults to the user roles
    the user requested (ids of the pack's roles)."""
    ev = Context(user, org, as_of)
    plan = compiled.plan(tuple(roles if roles is not None else ev.role_requests()))
    results = ev.results
    for rule in plan.rules:
        results[rule.id] = rule.check(ev)
    statuses = [results[c] for c in plan.report]
    if plan.unknown:
        statuses += plan.unknown
    states = {s[1] for s in statuses}
    access = highest_access(plan.grants, results, compiled.base)
    # due once every clause asked for is met (all requested roles, not just the one giving
    # access so far), counted from the last of their evidence
    if plan.provisioning and states <= _ONLY_SATISFIED:
        due = provisioning(ev, statuses, plan.provisioning, as_of)
        statuses.append(due)
        states.add(due[1])
    if compiled.rungs and ev.last_active is not None:
        idle = inactivity(ev.last_active, compiled.rungs, as_of)
        statuses.append(idle)
        states.add(idle[1])
    overall = overall_of(states)
    return _new(
        Evaluation,
        (
            user.ref,
            as_of,
            compiled.ref(what_if),
            plan.role_ids,
            overall,
            tuple(statuses),
            access,
            next_change(statuses, as_of, next_policy_from),
            findings(ev, overall) if ev.credentials or ev.overrides else (),
        ),
    )


_LIVE_CREDENTIALS = {
    overall: f"live credentials while {overall}"
    for overall in (Overall.NON_COMPLIANT, Overall.BLOCKED)
}


def findings(view: UserView, overall: Overall) -> tuple[Finding, ...]:
    """Overrides recorded at issue time, and live credentials of a user not compliant."""
    found = [
        Finding(
            "override",
            f"credentials issued despite missing "
            f"{', '.join(o.missing_at_issue) or 'nothing'}: {o.override_reason}",
            o.event_id,
        )
        for o in view.overrides
    ]
    if view.credentials is not None and overall in _LIVE_CREDENTIALS:
        found.append(
            Finding(
                "credentials-while-not-compliant",
                _LIVE_CREDENTIALS[overall],
                view.credentials.event_id,
            )
        )
    return tuple(found)


def highest_access(
    grants: Iterable[Grant], results: dict[str, ClauseStatus], base: Iterable[str]
) -> Access | None:
    """Of the roles whose clauses (and the base clauses) are all satisfied, the one with the
    most access: a user with several roles gets the highest appropriate access."""
    for clause_id in base:
        if results[clause_id][1] is not _SATISFIED:
            return None
    best: Grant | None = None
    for grant in grants:
        if best is not None and grant.rank <= best.rank:
            continue
        for clause_id in grant.requires:
            if results[clause_id][1] is not _SATISFIED:
                break
        else:
            best = grant
    return None if best is None else best.access


def provisioning(
    view: UserView, statuses: list[ClauseStatus], days: int, as_of: datetime
) -> ClauseStatus:
    """Access follows within ``days`` business days of the last training or form."""
    if view.credentials is not None:
        issued = view.credentials
        return ClauseStatus(
            DEADLINE_PROVISIONING,
            State.SATISFIED,
            "credentials issued",
            (Evidence(issued.event_id, issued.effective_at, "credentials"),),
        )
    ready = max((e.effective_at for s in statuses for e in s.evidence), default=as_of)
    deadline = add_business_days(ready.date(), days)
    state = State.OVERDUE if as_of.date() > deadline else State.PENDING
    return ClauseStatus(
        DEADLINE_PROVISIONING,
        state,
        f"access due within {days} business days of {ready.date()}",
        deadline=deadline,
    )


def inactivity(last: datetime, rungs: list[Rung], as_of: datetime) -> ClauseStatus:
    """Where the user stands on the inactivity ladder since their last activity."""
    idle = as_of - last
    reached: Rung | None = None
    following_after: timedelta | None = None
    for rung in rungs:
        if idle >= rung.after:
            reached = rung
        elif following_after is None:
            following_after = rung.after
    next_at = None if following_after is None else last + following_after
    if reached is None:
        return _new(ClauseStatus, (INACTIVITY, _SATISFIED, "active", (), next_at, None, (), None))
    since = last + reached.after
    reason = f"inactive since {last.date().isoformat()}{reached.text}{since.date().isoformat()})"
    if reached.warn:
        deadline = None if next_at is None else next_at.date()
        return _new(ClauseStatus, (INACTIVITY, _PENDING, reason, (), next_at, None, (), deadline))
    return _new(ClauseStatus, (INACTIVITY, _EXPIRED, reason, (), next_at, since, (), None))


def overall_of(states: set[State]) -> Overall:
    """The overall state of an evaluation whose clauses are in these states."""
    if _BLOCKED in states:
        return Overall.BLOCKED
    if _MISSING in states or _EXPIRED in states or _OVERDUE in states:
        return Overall.NON_COMPLIANT
    if _PENDING in states:
        return Overall.PENDING
    return Overall.COMPLIANT
