"""What an evaluation says: a state per clause with its reasons, overall, access, findings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID


class State(StrEnum):
    SATISFIED = "satisfied"
    MISSING = "missing"
    EXPIRED = "expired"
    BLOCKED = "blocked"
    PENDING = "pending"
    OVERDUE = "overdue"


class Overall(StrEnum):
    COMPLIANT = "compliant"
    PENDING = "pending"
    NON_COMPLIANT = "non-compliant"
    BLOCKED = "blocked"


class Evidence(NamedTuple):
    event_id: UUID
    effective_at: datetime
    what: str


class ClauseStatus(NamedTuple):
    """One clause's state and why (a named tuple: cheap to make, immutable)."""

    clause: str
    state: State
    reason: str
    evidence: tuple[Evidence, ...] = ()
    valid_until: datetime | None = None
    expired_since: datetime | None = None
    blocked_by: tuple[str, ...] = ()
    deadline: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "clause": self.clause,
            "state": str(self.state),
            "reason": self.reason,
            "evidence": [
                {
                    "event_id": str(e.event_id),
                    "effective_at": _iso(e.effective_at),
                    "what": e.what,
                }
                for e in self.evidence
            ],
            "valid_until": _iso(self.valid_until),
            "expired_since": _iso(self.expired_since),
            "blocked_by": list(self.blocked_by),
            "deadline": _iso(self.deadline),
        }


@dataclass(frozen=True, slots=True)
class Access:
    role: str
    hmis_role: str
    permissions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    detail: str
    event_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class PolicyRef:
    coc: str
    version: str
    sha256: str
    what_if: bool = False


class Evaluation(NamedTuple):
    """The answer for one user at one moment under one policy version (immutable)."""

    subject: str
    as_of: datetime
    policy: PolicyRef
    roles: tuple[str, ...]
    overall: Overall
    clauses: tuple[ClauseStatus, ...]
    access: Access | None = None
    next_change: datetime | None = None
    findings: tuple[Finding, ...] = ()

    def state_of(self, clause_id: str) -> State:
        return self.status(clause_id).state

    def status(self, clause_id: str) -> ClauseStatus:
        for status in self.clauses:
            if status.clause == clause_id:
                return status
        raise KeyError(clause_id)

    def unmet(self) -> list[str]:
        """Clause ids not satisfied (deadlines of the HMIS lead and inactivity left out)."""
        return [
            c.clause
            for c in self.clauses
            if c.state is not State.SATISFIED
            and ":" in c.clause
            and not c.clause.startswith(("deadline:", "inactivity:"))
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "as_of": _iso(self.as_of),
            "policy": {
                "coc": self.policy.coc,
                "version": self.policy.version,
                "sha256": self.policy.sha256,
                "what_if": self.policy.what_if,
            },
            "roles": list(self.roles),
            "overall": str(self.overall),
            "clauses": [c.as_dict() for c in self.clauses],
            "access": None
            if self.access is None
            else {
                "role": self.access.role,
                "hmis_role": self.access.hmis_role,
                "permissions": list(self.access.permissions),
            },
            "next_change": _iso(self.next_change),
            "findings": [
                {
                    "kind": f.kind,
                    "detail": f.detail,
                    "event_id": None if f.event_id is None else str(f.event_id),
                }
                for f in self.findings
            ],
        }


def _iso(value: date | None) -> str | None:
    """A date, or a time as the API's answer models render it (UTC as ``Z``)."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
