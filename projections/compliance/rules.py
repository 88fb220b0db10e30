"""A pack's clauses compiled once into plain slotted rules, their constant texts made ahead.

The per-user loop then reads no pydantic attribute of a clause, dispatches on no class and
formats only the texts that carry a user's dates. Statuses are built with ``tuple.__new__``
from all eight fields: a named tuple's own ``__new__`` parses keywords and costs twice as much.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from ledger.domain.base import LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import AgreementKind, ProctoredOutcome
from ledger.policy.model import FormClause, GateClause, MilestoneClause, TrainingClause, Validity
from projections.compliance.results import ClauseStatus, Evidence, State
from projections.compliance.timing import add_months, valid_until
from projections.compliance.view import UserView

if TYPE_CHECKING:
    from projections.compliance.engine import Organisation

_new = tuple.__new__
SATISFIED = State.SATISFIED
MISSING = State.MISSING
EXPIRED = State.EXPIRED
BLOCKED = State.BLOCKED
_MILESTONES: dict[str, type[LedgerEvent]] = {
    "training-requested": EndUser.TrainingRequested,
    "access-request-approved": EndUser.AccessRequestApproved,
    "role-requested": EndUser.RoleRequested,
    "proctored-passed": EndUser.ProctoredSessionRecorded,
}


def status(
    clause: str,
    state: State,
    reason: str,
    evidence: tuple[Evidence, ...] = (),
    blocked_by: tuple[str, ...] = (),
) -> ClauseStatus:
    """A status with no validity, expiry or deadline (for texts made once)."""
    return ClauseStatus(clause, state, reason, evidence, blocked_by=blocked_by)


class Context(UserView):
    """One evaluation in progress: the user's facts as of a moment, their organisation, and
    the results so far."""

    __slots__ = ("first_done", "org", "results")

    def __init__(self, user: EndUser, org: Organisation, as_of: datetime) -> None:
        super().__init__(user, as_of)
        self.org = org
        self.results: dict[str, ClauseStatus] = {}
        # the earliest evidence of each clause: what ordering ("after") is checked against
        self.first_done: dict[str, datetime] = {}


class Rule:
    """A clause compiled: its id, title, prerequisites and the statuses that never vary."""

    __slots__ = ("_missing", "_needs", "after", "id", "missing_what", "title")

    def __init__(self, clause: TrainingClause | FormClause | MilestoneClause | GateClause) -> None:
        self.id = clause.id
        self.title = clause.title
        self.after = tuple(clause.after)
        self.missing_what = clause.title
        self._needs = {
            b: status(self.id, MISSING, f"{self.title} needs {b} first") for b in self.after
        }
        self._missing: dict[tuple[str, ...], ClauseStatus] = {}

    def check(self, ev: Context) -> ClauseStatus:
        raise NotImplementedError

    def missing(self, results: dict[str, ClauseStatus]) -> ClauseStatus:
        """No evidence: what is missing, and which prerequisites it still waits for."""
        waits = tuple([p for p in self.after if results[p][1] is not SATISFIED])
        found = self._missing.get(waits)
        if found is None:
            suffix = f" (after {', '.join(waits)})" if waits else ""
            found = self._missing[waits] = status(
                self.id, MISSING, f"missing: {self.missing_what}{suffix}"
            )
        return found

    def out_of_order(self, ev: Context, found: LedgerEvent, at: datetime) -> ClauseStatus | None:
        """A missing status when a prerequisite has no evidence or later evidence, or None."""
        first_done = ev.first_done
        for before in self.after:
            first = first_done.get(before)
            if first is None:
                return self._needs[before]
            if first > at:
                evidence = (_new(Evidence, (found.event_id, at, "too early")),)
                reason = (
                    f"out of order: {self.title} on {at.date()} came before "
                    f"{before} on {first.date()}; do it again after"
                )
                return _new(
                    ClauseStatus, (self.id, MISSING, reason, evidence, None, None, (), None)
                )
        return None


def expiry(validity: Validity | None) -> Callable[[datetime], datetime] | None:
    """When a completion at a moment stops counting, as a function (None: it never does)."""
    if validity is None:
        return None
    if validity.rolling_days is not None:
        period = timedelta(days=validity.rolling_days)
        return lambda completed: completed + period
    if validity.rolling_months is not None:
        months = validity.rolling_months
        return lambda completed: add_months(completed, months)
    return lambda completed: cast(datetime, valid_until(validity, completed))


class TrainingRule(Rule):
    """Any one of some courses, completed (with a minimum score) and not expired."""

    __slots__ = ("_expired", "accepted", "course", "expires", "labels", "min_score")

    def __init__(self, clause: TrainingClause) -> None:
        super().__init__(clause)
        self.missing_what = f"complete one of {', '.join(clause.courses)}"
        self.accepted = frozenset(clause.courses)
        # the usual clause: one course, no minimum score
        self.course = clause.courses[0] if len(self.accepted) == 1 else None
        self.min_score = clause.min_score
        self.expires = expiry(clause.validity)
        self.labels = {c: f"completed {c}" for c in clause.courses}
        self._expired = f"{clause.title} expired on "

    def check(self, ev: Context) -> ClauseStatus:
        if self.course is not None:
            done = ev.completions.get(self.course)
            if not done:
                return self.missing(ev.results)
            if len(done) == 1 and self.min_score is None:
                found = done[0]
                at = first = found.effective_at
            else:
                evidence = self.evidence(ev.completions)
                if evidence is None:
                    return self.missing(ev.results)
                found, first, at = evidence
        else:
            evidence = self.evidence(ev.completions)
            if evidence is None:
                return self.missing(ev.results)
            found, first, at = evidence
        ev.first_done[self.id] = first
        if self.after:
            wrong = self.out_of_order(ev, found, at)
            if wrong is not None:
                return wrong
        until = None if self.expires is None else self.expires(at)
        proof = (_new(Evidence, (found.event_id, at, self.labels[found.course_code])),)
        if until is not None and ev.as_of >= until:
            reason = f"{self._expired}{until.date().isoformat()}; complete it again"
            return _new(ClauseStatus, (self.id, EXPIRED, reason, proof, None, until, (), None))
        return _new(ClauseStatus, (self.id, SATISFIED, self.title, proof, until, None, (), None))

    def evidence(
        self, completions: dict[str, list[EndUser.CourseCompleted]]
    ) -> tuple[EndUser.CourseCompleted, datetime, datetime] | None:
        """The latest qualifying completion, the earliest one's time and the latest's time."""
        best: EndUser.CourseCompleted | None = None
        first: datetime
        at: datetime
        accepted = self.accepted
        min_score = self.min_score
        # walk whichever is shorter: the clause's alternatives or the user's courses
        codes = accepted if len(accepted) < len(completions) else completions
        for course in codes:
            if course not in accepted:
                continue
            for done in completions.get(course, ()):
                if min_score is not None and (done.score or 0) < min_score:
                    continue
                moment = done.effective_at
                if best is None:
                    best, at, first = done, moment, moment
                    continue
                if moment > at:
                    best, at = done, moment
                if moment < first:
                    first = moment
        return None if best is None else (best, first, at)


class FormRule(Rule):
    """The revision in force of a form, signed."""

    __slots__ = ("_absent", "_expired", "form", "label", "revision", "since")

    def __init__(self, clause: FormClause, effective_from: datetime) -> None:
        super().__init__(clause)
        self.form = clause.form
        self.revision = clause.revision
        self.label = f"signed {clause.form} revision {clause.revision}"
        # when the revision in force took over: this version's start, at the latest
        self.since = effective_from
        self._absent = status(
            self.id, MISSING, f"missing: sign {clause.form} revision {clause.revision}"
        )
        self._expired = f" of {clause.form}; revision {clause.revision} requires signing again"

    def check(self, ev: Context) -> ClauseStatus:
        signed = ev.forms.get(self.form)
        if not signed:
            return self._absent
        current: EndUser.FormSigned | None = None
        revision = self.revision
        for form in signed:  # the latest signing of the revision in force, and the first
            if form.revision == revision:
                if current is None:
                    ev.first_done[self.id] = form.effective_at
                current = form
        if current is None:
            last = signed[-1]
            # never before the user's own signing
            since = max(self.since, last.effective_at)
            reason = f"signed revision {last.revision}{self._expired}"
            return _new(ClauseStatus, (self.id, EXPIRED, reason, (), None, since, (), None))
        at = current.effective_at
        if self.after:
            wrong = self.out_of_order(ev, current, at)
            if wrong is not None:
                return wrong
        evidence = (_new(Evidence, (current.event_id, at, self.label)),)
        return _new(ClauseStatus, (self.id, SATISFIED, self.title, evidence, None, None, (), None))


class MilestoneRule(Rule):
    """A step of the process recorded for the user (the first one; a proctored review's last
    outcome)."""

    __slots__ = ("kind", "label", "last_passed")

    def __init__(self, clause: MilestoneClause) -> None:
        super().__init__(clause)
        self.kind = _MILESTONES[clause.milestone]
        self.label = clause.milestone
        self.last_passed = clause.milestone == "proctored-passed"

    def check(self, ev: Context) -> ClauseStatus:
        facts = ev.facts(self.kind)
        found: LedgerEvent | None = None
        if facts:
            if not self.last_passed:
                found = facts[0]
            elif cast(EndUser.ProctoredSessionRecorded, facts[-1]).outcome is (
                ProctoredOutcome.PASSED
            ):
                found = facts[-1]
        if found is None:
            return self.missing(ev.results)
        at = found.effective_at
        ev.first_done[self.id] = at
        if self.after:
            wrong = self.out_of_order(ev, found, at)
            if wrong is not None:
                return wrong
        evidence = (_new(Evidence, (found.event_id, at, self.label)),)
        return _new(ClauseStatus, (self.id, SATISFIED, self.title, evidence, None, None, (), None))


class GateRule(Rule):
    """An organisation-level condition: worked out once per organisation and moment."""

    __slots__ = ("agreement_kind", "setup")

    def __init__(self, clause: GateClause) -> None:
        super().__init__(clause)
        self.setup = clause.gate == "program-setup-confirmed"
        self.agreement_kind = clause.agreement_kind

    def check(self, ev: Context) -> ClauseStatus:
        gates = ev.org.gates
        key = (self.id, ev.as_of)
        known = gates.get(key)
        if known is None:
            known = gates[key] = self.gate(ev.org, ev.as_of)
        return known

    def blocked(self, reason: str) -> ClauseStatus:
        return status(self.id, BLOCKED, reason, blocked_by=(self.id,))

    def gate(self, org: Organisation, as_of: datetime) -> ClauseStatus:
        agency = org.agency
        if agency is None:
            return self.blocked("the user belongs to no agency")
        if self.setup:
            confirmed = agency.setup_confirmation(as_of)
            if confirmed is None:
                return self.blocked(f"agency {agency.ref}: program set-up not confirmed")
            what = "program set-up confirmed"
            return status(
                self.id,
                SATISFIED,
                self.title,
                (Evidence(confirmed.event_id, confirmed.effective_at, what),),
            )
        kind = self.agreement_kind
        mine = [a for a in org.agreements if a.drafted.agreement_kind == kind]
        if kind is AgreementKind.CE_MOU:
            regions = sorted(agency.active_regions(as_of))
            if not regions:
                return self.blocked(f"agency {agency.ref} is active in no region")
            evidence = []
            for region in regions:
                done = next(
                    (e for a in mine if a.drafted.region == region if (e := a.execution(as_of))),
                    None,
                )
                if done is None:
                    return self.blocked(
                        f"agency {agency.ref} has no fully executed CE MOU for region {region}"
                    )
                evidence.append(
                    Evidence(done.event_id, done.effective_at, f"CE MOU region {region} executed")
                )
            return status(self.id, SATISFIED, self.title, tuple(evidence))
        done = next((e for a in mine if (e := a.execution(as_of))), None)
        if done is None:
            return self.blocked(f"agency {agency.ref} has no fully executed {kind}")
        return status(
            self.id,
            SATISFIED,
            self.title,
            (Evidence(done.event_id, done.effective_at, f"{kind} executed"),),
        )


def compile_clause(
    clause: TrainingClause | FormClause | MilestoneClause | GateClause, effective_from: datetime
) -> Rule:
    """The rule of one clause (dispatch on its kind, once per pack)."""
    if isinstance(clause, TrainingClause):
        return TrainingRule(clause)
    if isinstance(clause, FormClause):
        return FormRule(clause, effective_from)
    if isinstance(clause, MilestoneClause):
        return MilestoneRule(clause)
    return GateRule(clause)
