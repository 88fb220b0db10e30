"""What the engine reads of a user: their facts as of a moment, indexed for the clauses."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from ledger.domain.base import LedgerEvent
from ledger.domain.end_users import EndUser

_GRANTING = (EndUser.CredentialsIssued, EndUser.CredentialsReactivated)
_CREDENTIAL_CHANGES: tuple[type[LedgerEvent], ...] = (
    EndUser.CredentialsIssued,
    EndUser.HmisRoleGranted,
    EndUser.CredentialsReactivated,
    EndUser.CredentialsSuspended,
    EndUser.CredentialsRevoked,
)
_NOTHING: list[LedgerEvent] = []


def _version(event: LedgerEvent) -> int:
    return event.originator_version


class UserView:
    """The user's facts that were true at ``as_of``, indexed for the clauses."""

    __slots__ = (
        "as_of",
        "completions",
        "credentials",
        "every",
        "forms",
        "index",
        "last_active",
        "overrides",
    )

    def __init__(self, user: EndUser, as_of: datetime) -> None:
        self.as_of = as_of
        # Read only the kinds of fact the clauses use, from the aggregate's index by event
        # class; skip the time filter when every fact is older than ``as_of``.
        self.index = user.facts_by_type()
        self.every = every = not user.may_postdate(as_of)
        courses = user.keyed(EndUser.CourseCompleted) if every else None
        forms = user.keyed(EndUser.FormSigned) if every else None
        if courses is not None and forms is not None:
            # with every fact older than as_of, the index itself is the answer (read-only)
            self.completions = cast(dict[str, list[EndUser.CourseCompleted]], courses)
            self.forms = cast(dict[str, list[EndUser.FormSigned]], forms)
        else:
            self.completions = {}
            self.forms = {}
            for done in cast(list[EndUser.CourseCompleted], self.facts(EndUser.CourseCompleted)):
                self.completions.setdefault(done.course_code, []).append(done)
            for signed in cast(list[EndUser.FormSigned], self.facts(EndUser.FormSigned)):
                self.forms.setdefault(signed.form, []).append(signed)
        self.credentials: LedgerEvent | None = None
        self.overrides: list[EndUser.CredentialsIssued | EndUser.HmisRoleGranted] = []
        self.last_active: datetime | None = None
        self._read_credentials()

    def facts(self, kind: type[LedgerEvent]) -> list[LedgerEvent]:
        """Facts of exactly ``kind`` as of the view's moment, in recorded order (read-only)."""
        found = self.index.get(kind, _NOTHING)
        if self.every or not found:
            return found
        as_of = self.as_of
        return [f for f in found if f.effective_at <= as_of]

    def role_requests(self) -> list[str]:
        return [cast(EndUser.RoleRequested, r).role for r in self.facts(EndUser.RoleRequested)]

    def _read_credentials(self) -> None:
        """Live credentials, overrides recorded at issue, and the last activity."""
        changes: list[LedgerEvent] = []
        for kind in _CREDENTIAL_CHANGES:
            if kind in self.index:
                changes += self.facts(kind)
        if len(changes) > 1:
            changes.sort(key=_version)
        last = None
        for change in changes:
            kind = type(change)  # exact types: isinstance misses on pydantic classes are slow
            if kind is EndUser.HmisRoleGranted:
                if cast(EndUser.HmisRoleGranted, change).override_reason:
                    self.overrides.append(cast(EndUser.HmisRoleGranted, change))
                continue
            if kind in _GRANTING:
                self.credentials = change
                if last is None or change.effective_at > last:
                    last = change.effective_at
            else:
                self.credentials = None
            if kind is EndUser.CredentialsIssued:
                issued = cast(EndUser.CredentialsIssued, change)
                if issued.override_reason:
                    self.overrides.append(issued)
        for summary in self.facts(EndUser.LoginActivitySummarised):
            login = cast(EndUser.LoginActivitySummarised, summary).last_login_at
            if login is not None and (last is None or login > last):
                last = login
        self.last_active = last
