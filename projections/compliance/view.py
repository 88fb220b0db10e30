"""What the engine reads of a user: their facts as of a moment, indexed for the clauses."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from ledger.domain.base import LedgerEvent
from ledger.domain.end_users import EndUser

_GRANTING = (EndUser.CredentialsIssued, EndUser.CredentialsReactivated)
Change = (
    EndUser.CredentialsIssued
    | EndUser.HmisRoleGranted
    | EndUser.CredentialsReactivated
    | EndUser.CredentialsSuspended
    | EndUser.CredentialsRevoked
)
_CREDENTIAL_CHANGES: tuple[type[Change], ...] = (
    EndUser.CredentialsIssued,
    EndUser.HmisRoleGranted,
    EndUser.CredentialsReactivated,
    EndUser.CredentialsSuspended,
    EndUser.CredentialsRevoked,
)
_NOTHING: list[LedgerEvent] = []
E = TypeVar("E", bound=LedgerEvent)


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
    completions: dict[str, list[EndUser.CourseCompleted]]
    forms: dict[str, list[EndUser.FormSigned]]

    def __init__(self, user: EndUser, as_of: datetime) -> None:
        self.as_of = as_of
        # Read only the kinds of fact the clauses use, from the aggregate's index by event
        # class; skip the time filter when every fact is older than ``as_of``.
        self.index = user.facts_by_type()
        self.every = every = not user.may_postdate(as_of)
        courses = forms = None
        if every:
            courses = user.keyed(EndUser.CourseCompleted)
            forms = user.keyed(EndUser.FormSigned)
        if courses is not None and forms is not None:
            # with every fact older than as_of, the index itself is the answer (read-only)
            self.completions = courses
            self.forms = forms
        else:
            self.completions = {}
            self.forms = {}
            for done in self.facts(EndUser.CourseCompleted):
                self.completions.setdefault(done.course_code, []).append(done)
            for signed in self.facts(EndUser.FormSigned):
                self.forms.setdefault(signed.form, []).append(signed)
        self.credentials: LedgerEvent | None = None
        self.overrides: list[EndUser.CredentialsIssued | EndUser.HmisRoleGranted] = []
        self.last_active: datetime | None = None
        self._read_credentials()

    def facts(self, kind: type[E]) -> list[E]:
        """Facts of exactly ``kind`` as of the view's moment, in recorded order (read-only)."""
        found: list[E] = self.index.get(kind, _NOTHING)  # type: ignore[assignment]
        if self.every or not found:
            return found
        as_of = self.as_of
        return [f for f in found if f.effective_at <= as_of]

    def role_requests(self) -> list[str]:
        return [r.role for r in self.facts(EndUser.RoleRequested)]

    def _read_credentials(self) -> None:
        """Live credentials, overrides recorded at issue, and the last activity."""
        index = self.index
        changes: list[Change] = []
        for kind in _CREDENTIAL_CHANGES:
            if kind in index:
                changes += self.facts(kind)
        if len(changes) > 1:
            changes.sort(key=_version)
        last = None
        for change in changes:
            # exact types: isinstance misses on pydantic classes are slow
            if type(change) is EndUser.HmisRoleGranted:
                if change.override_reason:
                    self.overrides.append(change)
                continue
            granting = type(change) in _GRANTING
            self.credentials = change if granting else None
            if granting and (last is None or change.effective_at > last):
                last = change.effective_at
            if type(change) is EndUser.CredentialsIssued and change.override_reason:
                self.overrides.append(change)
        if EndUser.LoginActivitySummarised in index:
            for summary in self.facts(EndUser.LoginActivitySummarised):
                login = summary.last_login_at
                if login is not None and (last is None or login > last):
                    last = login
        self.last_active = last
