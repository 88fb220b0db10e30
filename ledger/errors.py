"""The error tree of CoC Ledger, each error with a stable machine code.

LedgerError                    base; ``code`` is stable, ``message`` is for people
├── InvalidInput               the request itself is malformed or out of range
├── NotFound                   the named entity does not exist (in this CoC)
├── Conflict                   the request collides with what is recorded
│   ├── DuplicateEntity        an entity with this natural key already exists
│   ├── ConcurrencyConflict    another writer changed the entity first (after retries)
│   ├── IdempotencyKeyReused   same idempotency key, different payload
│   └── VersionMismatch        the entity is not at the version the caller expected
├── RuleViolation              a hard rule of the CoC's process refuses the command
└── VerificationFailed         a stored record does not verify
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base class: every error the ledger raises on purpose."""

    code = "ledger_error"
    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(LedgerError):
    code = "invalid_input"
    status = 422


class NotFound(LedgerError):
    code = "not_found"
    status = 404


class Conflict(LedgerError):
    code = "conflict"
    status = 409


class DuplicateEntity(Conflict):
    code = "duplicate_entity"


class ConcurrencyConflict(Conflict):
    code = "concurrency_conflict"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class VersionMismatch(Conflict):
    """The command's entity is not at a version the caller expected (HTTP ``If-Match``);
    ``current_version`` is where it is (0: it did not exist)."""

    code = "version_mismatch"

    def __init__(self, message: str, *, current_version: int, **details: Any) -> None:
        super().__init__(message, current_version=current_version, **details)
        self.current_version = current_version


class RuleViolation(LedgerError):
    """A hard rule refused the command; ``rule`` names the clause."""

    code = "rule_violation"
    status = 422

    def __init__(self, rule: str, message: str, **details: Any) -> None:
        super().__init__(f"[{rule}] {message}", rule=rule, **details)
        self.rule = rule


class VerificationFailed(LedgerError):
    code = "verification_failed"
    status = 409
