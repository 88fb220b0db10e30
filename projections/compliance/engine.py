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
from ledger.domain.vocabulary import AgreementKind
from ledger.policy.calendar import add_business_days
from ledger.policy.model import (
    FormClause,
    GateClause,
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
from projections.compliance.timing import at_midnight, next_change, valid_until
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


@dataclass(frozen=True)
class Plan:
    evaluate: list[AnyClause]
    report: list[str]


class CompiledPack:
    """A pack with its clauses in prerequisite order and its roles indexed."""

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
        self._plans: dict[tuple[str, ...], Plan] = {}
        self._labels: dict[tuple[str, ...], str] = {}
        self.courses = {
            c.id: frozenset(c.courses) for c in self.pack.clauses if isinstance(c, TrainingClause)
        }
        self.validity = {
            c.id: c.validity for c in self.pack.clauses if isinstance(c, TrainingClause)
        }
        self.rungs = [(timedelta(days=r.after_days), r) for r in self.pack.inactivity]
        self._refs = {
            flag: PolicyRef(self.pack.coc, self.pack.version, self.sha256, flag)
            for flag in (False, True)
        }

    def plan(self, role_ids: tuple[str, ...]) -> Plan:
        """What to evaluate for these roles: the base and role clauses, everything they come
        after (in prerequisite order), and which of them to report."""
        found = self._plans.get(role_ids)
        if found is None:
            wanted = set(self.pack.base).union(*(self.roles[r].requires for r in role_ids))
            closure: set[str] = set()
            pending = list(wanted)
            while pending:
                clause_id = pending.pop()
                if clause_id not in closure:
                    closure.add(clause_id)
                    pending.extend(self._by_id[clause_id].after)
            found = self._plans[role_ids] = Plan(
                [c for c in self.order if c.id in closure],
                [c.id for c in self.order if c.id in wanted],
            )
        return found

    def roles_granting(self, hmis_role: str) -> list[Role]:
        return [r for r in self.pack.roles if hmis_role in (r.hmis_role, r.id)]

    def label(self, *key: str) -> str:
        """The evidence label of a clause's proof ("signed FORM revision R", "completed C")."""
        text = self._labels.get(key)
        if text is None:
            text = self._labels[key] = (
                f"signed {key[1]} revision {key[2]}" if len(key) == 3 else f"completed {key[1]}"
            )
        return text

    def ref(self, what_if: bool = False) -> PolicyRef:
        return self._refs[what_if]


class Evaluator:
    """One evaluation; its methods are the clause kinds."""

    __slots__ = ("as_of", "compiled", "first_done", "org", "results", "user", "view")

    def __init__(
        self, user: EndUser, org: Organisation, compiled: CompiledPack, as_of: datetime
    ) -> None:
        self.user = user
        self.org = org
        self.compiled = compiled
        self.as_of = as_of
        self.view = UserView(user, as_of)
        self.results: dict[str, ClauseStatus] = {}
        # the earliest evidence of each clause: what ordering ("after") is checked against
        self.first_done: dict[str, datetime] = {}

    def run(self, plan: Plan) -> list[ClauseStatus]:
        results = self.results
        for clause in plan.evaluate:
            results[clause.id] = self.evaluate(clause)
        return [results[c] for c in plan.report]

    def evaluate(self, clause: AnyClause) -> ClauseStatus:
        # dispatch on the discriminator: isinstance on pydantic classes that do not match
        # goes through ABC machinery and costs several times more
        kind = clause.kind
        if kind == "gate":
            assert isinstance(clause, GateClause)
            key = (clause.id, self.as_of)
            known = self.org.gates.get(key)
            if known is None:
                known = self.org.gates[key] = self.gate(clause)
            return known
        if kind == "training":
            assert isinstance(clause, TrainingClause)
            found = self.training_evidence(clause)
            status = self.prerequisites(clause, found)
            if status is not None:
                return status
            assert found is not None
            until = valid_until(self.compiled.validity[clause.id], found.effective_at)
            label = self.compiled.label(clause.id, found.course_code)
            evidence = (Evidence(found.event_id, found.effective_at, label),)
            if until is not None and self.as_of >= until:
                return ClauseStatus(
                    clause.id,
                    State.EXPIRED,
                    f"{clause.title} expired on {until.date()}; complete it again",
                    evidence,
                    expired_since=until,
                )
            return ClauseStatus(
                clause.id, State.SATISFIED, clause.title, evidence, valid_until=until
            )
        if kind == "form":
            assert isinstance(clause, FormClause)
            return self.form(clause)
        assert isinstance(clause, MilestoneClause)
        return self.milestone(clause)

    def training_evidence(self, clause: TrainingClause) -> EndUser.CourseCompleted | None:
        """The latest qualifying completion (and note the earliest, for ordering)."""
        best: EndUser.CourseCompleted | None = None
        first: datetime | None = None
        accepted = self.compiled.courses[clause.id]
        completions = self.view.completions
        # walk whichever is shorter: the clause's alternatives or the user's courses
        codes = accepted if len(accepted) < len(completions) else completions
        for course in codes:
            if course not in accepted:
                continue
            for done in completions.get(course, ()):
                if clause.min_score is not None and (done.score or 0) < clause.min_score:
                    continue
                if best is None or done.effective_at > best.effective_at:
                    best = done
                if first is None or done.effective_at < first:
                    first = done.effective_at
        if first is not None:
            self.first_done[clause.id] = first
        return best

    def prerequisites(self, clause: AnyClause, found: LedgerEvent | None) -> ClauseStatus | None:
        """A missing or out-of-order status, or None when the clause may count its evidence."""
        if found is None:
            what = (
                f"complete one of {', '.join(clause.courses)}"
                if isinstance(clause, TrainingClause)
                else clause.title
            )
            waits = [p for p in clause.after if self.results[p].state is not State.SATISFIED]
            suffix = f" (after {', '.join(waits)})" if waits else ""
            return ClauseStatus(clause.id, State.MISSING, f"missing: {what}{suffix}")
        for before in clause.after:
            first = self.first_done.get(before)
            if first is None:
                return ClauseStatus(
                    clause.id, State.MISSING, f"{clause.title} needs {before} first"
                )
            if first > found.effective_at:
                return ClauseStatus(
                    clause.id,
                    State.MISSING,
                    f"out of order: {clause.title} on {found.effective_at.date()} came before "
                    f"{before} on {first.date()}; do it again after",
                    (Evidence(found.event_id, found.effective_at, "too early"),),
                )
        return None

    def form(self, clause: FormClause) -> ClauseStatus:
        signed = self.view.forms.get(clause.form, [])
        current: EndUser.FormSigned | None = None
        for form in signed:  # the latest signing of the revision in force, and the first
            if form.revision == clause.revision:
                if current is None:
                    self.first_done[clause.id] = form.effective_at
                current = form
        if current is not None:
            status = self.prerequisites(clause, current)
            if status is not None:
                return status
            label = self.compiled.label(clause.id, clause.form, clause.revision)
            evidence = (Evidence(current.event_id, current.effective_at, label),)
            return ClauseStatus(clause.id, State.SATISFIED, clause.title, evidence)
        if signed:
            # when the revision in force took over (this version's start, at the latest),
            # but never before the user's own signing
            since = max(at_midnight(self.compiled.pack.effective_from), signed[-1].effective_at)
            return ClauseStatus(
                clause.id,
                State.EXPIRED,
                f"signed revision {signed[-1].revision} of {clause.form}; revision "
                f"{clause.revision} requires signing again",
                expired_since=since,
            )
        return ClauseStatus(
            clause.id, State.MISSING, f"missing: sign {clause.form} revision {clause.revision}"
        )

    def milestone(self, clause: MilestoneClause) -> ClauseStatus:
        found = self.view.milestones.get(clause.milestone)
        if found is not None:
            self.first_done[clause.id] = found.effective_at
        status = self.prerequisites(clause, found)
        if status is not None:
            return status
        assert found is not None
        return ClauseStatus(
            clause.id,
            State.SATISFIED,
            clause.title,
            (Evidence(found.event_id, found.effective_at, clause.milestone),),
        )

    def gate(self, clause: GateClause) -> ClauseStatus:
        agency = self.org.agency
        if agency is None:
            return ClauseStatus(
                clause.id, State.BLOCKED, "the user belongs to no agency", blocked_by=(clause.id,)
            )
        if clause.gate == "program-setup-confirmed":
            confirmed = agency.setup_confirmation(self.as_of)
            if confirmed is None:
                return ClauseStatus(
                    clause.id,
                    State.BLOCKED,
                    f"agency {agency.ref}: program set-up not confirmed",
                    blocked_by=(clause.id,),
                )
            return ClauseStatus(
                clause.id,
                State.SATISFIED,
                clause.title,
                (Evidence(confirmed.event_id, confirmed.effective_at, "program set-up confirmed"),),
            )
        kind = clause.agreement_kind
        mine = [a for a in self.org.agreements if a.drafted.agreement_kind == kind]
        if kind is AgreementKind.CE_MOU:
            regions = sorted(agency.active_regions(self.as_of))
            if not regions:
                return ClauseStatus(
                    clause.id,
                    State.BLOCKED,
                    f"agency {agency.ref} is active in no region",
                    blocked_by=(clause.id,),
                )
            evidence = []
            for region in regions:
                done = next(
                    (
                        e
                        for a in mine
                        if a.drafted.region == region
                        if (e := a.execution(self.as_of))
                    ),
                    None,
                )
                if done is None:
                    return ClauseStatus(
                        clause.id,
                        State.BLOCKED,
                        f"agency {agency.ref} has no fully executed CE MOU for region {region}",
                        blocked_by=(clause.id,),
                    )
                evidence.append(
                    Evidence(done.event_id, done.effective_at, f"CE MOU region {region} executed")
                )
            return ClauseStatus(clause.id, State.SATISFIED, clause.title, tuple(evidence))
        done = next((e for a in mine if (e := a.execution(self.as_of))), None)
        if done is None:
            return ClauseStatus(
                clause.id,
                State.BLOCKED,
                f"agency {agency.ref} has no fully executed {kind}",
                blocked_by=(clause.id,),
            )
        return ClauseStatus(
            clause.id,
            State.SATISFIED,
            clause.title,
            (Evidence(done.event_id, done.effective_at, f"{kind} executed"),),
        )


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
    pack = compiled.pack
    ev = Evaluator(user, org, compiled, as_of)
    wanted = dict.fromkeys(roles if roles is not None else ev.view.role_requests)
    known_roles = [compiled.roles[r] for r in wanted if r in compiled.roles]
    role_ids = tuple([r.id for r in known_roles])
    statuses = ev.run(compiled.plan(role_ids))
    unknown = tuple([r for r in wanted if r not in compiled.roles])
    for role_id in unknown:
        statuses.append(
            ClauseStatus(
                f"role:{role_id}",
                State.MISSING,
                f"role {role_id!r} is not defined in policy {pack.version}",
            )
        )
    access = highest_access(known_roles, ev.results, pack.base)
    days = pack.deadlines.provisioning_business_days
    # due once every clause asked for is met (all requested roles, not just the one giving
    # access so far), counted from the last of their evidence
    if known_roles and days and all(s.state is State.SATISFIED for s in statuses):
        statuses.append(provisioning(ev, statuses, days))
    if pack.inactivity and ev.view.last_active is not None:
        statuses.append(inactivity(ev))
    overall = overall_of(statuses)
    return Evaluation(
        subject=user.ref,
        as_of=as_of,
        policy=compiled.ref(what_if),
        roles=role_ids + unknown,
        overall=overall,
        clauses=tuple(statuses),
        access=access,
        next_change=next_change(statuses, as_of, next_policy_from),
        findings=findings(ev, overall) if ev.view.credentials or ev.view.overrides else (),
    )


def findings(ev: Evaluator, overall: Overall) -> tuple[Finding, ...]:
    """Overrides recorded at issue time, and live credentials of a user not compliant."""
    found = [
        Finding(
            "override",
            f"credentials issued despite missing "
            f"{', '.join(o.missing_at_issue) or 'nothing'}: {o.override_reason}",
            o.event_id,
        )
        for o in ev.view.overrides
    ]
    if ev.view.credentials is not None and overall in (Overall.NON_COMPLIANT, Overall.BLOCKED):
        found.append(
            Finding(
                "credentials-while-not-compliant",
                f"live credentials while {overall}",
                ev.view.credentials.event_id,
            )
        )
    return tuple(found)


def highest_access(
    roles: Iterable[Role], results: dict[str, ClauseStatus], base: Iterable[str]
) -> Access | None:
    """Of the roles whose clauses (and the base clauses) are all satisfied, the one with the
    most access: a user with several roles gets the highest appropriate access."""
    satisfied = State.SATISFIED
    for clause_id in base:
        if results[clause_id].state is not satisfied:
            return None
    best: Role | None = None
    for role in roles:
        if best is not None and role.rank <= best.rank:
            continue
        for clause_id in role.requires:
            if results[clause_id].state is not satisfied:
                break
        else:
            best = role
    return None if best is None else Access(best.id, best.hmis_role, tuple(best.permissions))


def provisioning(ev: Evaluator, statuses: list[ClauseStatus], days: int) -> ClauseStatus:
    """Access follows within ``days`` business days of the last training or form."""
    if ev.view.credentials is not None:
        issued = ev.view.credentials
        return ClauseStatus(
            DEADLINE_PROVISIONING,
            State.SATISFIED,
            "credentials issued",
            (Evidence(issued.event_id, issued.effective_at, "credentials"),),
        )
    ready = max((e.effective_at for s in statuses for e in s.evidence), default=ev.as_of)
    deadline = add_business_days(ready.date(), days)
    state = State.OVERDUE if ev.as_of.date() > deadline else State.PENDING
    return ClauseStatus(
        DEADLINE_PROVISIONING,
        state,
        f"access due within {days} business days of {ready.date()}",
        deadline=deadline,
    )


def inactivity(ev: Evaluator) -> ClauseStatus:
    """Where the user stands on the inactivity ladder since their last activity."""
    assert ev.view.last_active is not None
    last = ev.view.last_active
    idle = ev.as_of - last
    reached = None
    following_after: timedelta | None = None
    for after, rung in ev.compiled.rungs:
        if idle >= after:
            reached = rung
        elif following_after is None:
            following_after = after
    next_at = None if following_after is None else last + following_after
    if reached is None:
        return ClauseStatus(INACTIVITY, State.SATISFIED, "active", valid_until=next_at)
    since = last + timedelta(days=reached.after_days)
    reason = f"inactive since {last.date()}: {reached.action} (from {since.date()})"
    if reached.action == "warn":
        return ClauseStatus(
            INACTIVITY,
            State.PENDING,
            reason,
            valid_until=next_at,
            deadline=None if next_at is None else next_at.date(),
        )
    return ClauseStatus(INACTIVITY, State.EXPIRED, reason, expired_since=since, valid_until=next_at)


def overall_of(statuses: Iterable[ClauseStatus]) -> Overall:
    states = set()
    for status in statuses:
        states.add(status.state)
    if State.BLOCKED in states:
        return Overall.BLOCKED
    if states & {State.MISSING, State.EXPIRED, State.OVERDUE}:
        return Overall.NON_COMPLIANT
    if State.PENDING in states:
        return Overall.PENDING
    return Overall.COMPLIANT
