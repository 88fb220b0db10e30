"""What the engine reads of a user: their facts as of a moment, indexed for the clauses."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from ledger.domain.base import LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import ProctoredOutcome

_MILESTONES: dict[type[LedgerEvent], str] = {
    EndUser.TrainingRequested: "training-requested",
    EndUser.AccessRequestApproved: "access-request-approved",
    EndUser.RoleRequested: "role-requested",
}
_GRANTING = (EndUser.CredentialsIssued, EndUser.CredentialsReactivated)
_CREDENTIAL_CHANGES: tuple[type[LedgerEvent], ...] = (
    EndUser.CredentialsIssued,
    EndUser.HmisRoleGranted,
    EndUser.CredentialsReactivated,
    EndUser.CredentialsSuspended,
    EndUser.CredentialsRevoked,
)


def _version(event: LedgerEvent) -> int:
    return event.originator_version


_WITHDRAWING = (EndUser.CredentialsSuspended, EndUser.CredentialsRevoked)


class UserView:
    """The user's facts that were true at ``as_of``, indexed for the clauses."""

    __slots__ = (
        "completions",
        "credentials",
        "forms",
        "last_active",
        "milestones",
        "overrides",
        "role_requests",
    )

    def __init__(self, user: EndUser, as_of: datetime) -> None:
        self.completions: dict[str, list[EndUser.CourseCompleted]] = {}
        self.forms: dict[str, list[EndUser.FormSigned]] = {}
        self.milestones: dict[str, LedgerEvent] = {}
        self.role_requests: list[str] = []
        self.credentials: LedgerEvent | None = None
        self.overrides: list[EndUser.CredentialsIssued | EndUser.HmisRoleGranted] = []
        self.last_active: datetime | None = None
        # Read only the kinds of fact the clauses use, from the aggregate's index by event
        # class; skip the time filter when every fact is older than ``as_of``.
        index = user.facts_by_type()
        every = not user.may_postdate(as_of)
        nothing: list[LedgerEvent] = []

        def upto(kind: type[LedgerEvent]) -> list[LedgerEvent]:
            return [f for f in index.get(kind, nothing) if f.effective_at <= as_of]

        # with every fact older than as_of, the index itself is the answer (C-level lookups)
        pick = (lambda kind: index.get(kind, nothing)) if every else upto
        courses = user.keyed(EndUser.CourseCompleted)
        forms = user.keyed(EndUser.FormSigned)
        if every and courses is not None and forms is not None:
            self.completions, self.forms = courses, forms  # read-only views of the index
        else:
            for done in cast(list[EndUser.CourseCompleted], pick(EndUser.CourseCompleted)):
                self.completions.setdefault(done.course_code, []).append(done)
            for signed in cast(list[EndUser.FormSigned], pick(EndUser.FormSigned)):
                self.forms.setdefault(signed.form, []).append(signed)
        for kind, milestone in _MILESTONES.items():
            found = pick(kind)
            if found:
                self.milestones[milestone] = found[0]
        requests = cast(list[EndUser.RoleRequested], pick(EndUser.RoleRequested))
        self.role_requests = [r.role for r in requests]
        sessions = cast(
            list[EndUser.ProctoredSessionRecorded], pick(EndUser.ProctoredSessionRecorded)
        )
        if sessions and sessions[-1].outcome is ProctoredOutcome.PASSED:
            self.milestones["proctored-passed"] = sessions[-1]
        changes: list[LedgerEvent] = []
        for kind in _CREDENTIAL_CHANGES:
            changes += pick(kind)
        if len(changes) > 1:
            changes.sort(key=_version)
        for change in changes:
            self._credential_change(change)
        for summary in cast(
            list[EndUser.LoginActivitySummarised], pick(EndUser.LoginActivitySummarised)
        ):
            if summary.last_login_at is not None:
                self._active(summary.last_login_at)

    def _credential_change(self, change: LedgerEvent) -> None:
        kind = type(change)  # exact types: isinstance misses on pydantic classes are slow
        if kind is EndUser.HmisRoleGranted:
            granted = cast(EndUser.HmisRoleGranted, change)
            if granted.override_reason:
                self.overrides.append(granted)
            return
        granting = kind in _GRANTING
        self.credentials = change if granting else None
        if granting:
            self._active(change.effective_at)
        issued = cast(EndUser.CredentialsIssued, change)
        if kind is EndUser.CredentialsIssued and issued.override_reason:
            self.overrides.append(issued)

    def _active(self, moment: datetime) -> None:
        if self.last_active is None or moment > self.last_active:
            self.last_active = moment
