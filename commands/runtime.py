"""Runs a command: validate, load, decide, save atomically, retry conflicts, honour idempotency."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

import orjson
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import get_topic

from commands.base import Caller, Command, IfMatch, Receipt, WrittenEvent
from ledger.application import Ledger
from ledger.domain.base import EventMeta, LedgerAggregate
from ledger.domain.obligations import IdempotencyRecord
from ledger.domain.organisations import CoC
from ledger.domain.vocabulary import Process
from ledger.eligibility import EligibilityPolicy, NoPolicyAdopted
from ledger.errors import (
    ConcurrencyConflict,
    DuplicateEntity,
    IdempotencyKeyReused,
    InvalidInput,
    LedgerError,
    NotFound,
    VersionMismatch,
)
from ledger.ids import entity_id

A = TypeVar("A", bound=LedgerAggregate)
C = TypeVar("C", bound=Command)
Handler = Callable[[Any, "UnitOfWork"], LedgerAggregate]


class UnitOfWork:
    """The aggregates one command reads and changes, and the metadata of its events."""

    def __init__(self, ledger: Ledger, meta: EventMeta, eligibility: EligibilityPolicy) -> None:
        self.ledger = ledger
        self.meta = meta
        self.eligibility = eligibility
        self._aggregates: dict[UUID, LedgerAggregate] = {}
        # events each aggregate had pending before this command (commands run together
        # share the aggregates an earlier one changed: see commands/group_commit.py)
        self._before: dict[UUID, int] = {}

    def find(self, cls: type[A], *key: str) -> A | None:
        aggregate_id = entity_id(cls.kind, self.meta.coc, *key)
        known = self._aggregates.get(aggregate_id)
        if known is not None:
            assert isinstance(known, cls)
            return known
        aggregate = self.ledger.load(cls, aggregate_id)
        if aggregate is not None:
            self._aggregates[aggregate_id] = aggregate
            self._before[aggregate_id] = len(aggregate.pending_events)
        return aggregate

    def get(self, cls: type[A], *key: str) -> A:
        aggregate = self.find(cls, *key)
        if aggregate is None:
            name = "/".join(key) or self.meta.coc
            raise NotFound(
                f"{cls.kind} {name!r} does not exist in {self.meta.coc}", kind=cls.kind, ref=name
            )
        return aggregate

    def coc(self) -> CoC:
        return self.get(CoC)

    def process(self) -> Process:
        """The process whose hard rules this CoC follows."""
        process = self.ledger.tenant_process(self.meta.coc)
        if process is None:
            raise NotFound(
                f"coc {self.meta.coc!r} is not registered", kind="coc", ref=self.meta.coc
            )
        return process

    def create(self, aggregate: A, *key: str) -> A:
        """Add a new aggregate; refuse it when its natural key is already taken."""
        if self.find(type(aggregate), *key) is not None:
            name = "/".join(key) or self.meta.coc
            raise DuplicateEntity(
                f"{aggregate.kind} {name!r} already exists in {self.meta.coc}",
                kind=aggregate.kind,
                ref=name,
            )
        self._aggregates[aggregate.id] = aggregate
        self._before[aggregate.id] = 0
        return aggregate

    def require_not_future(self, moment: datetime, field: str) -> None:
        """Refuse a time later than now plus the allowed clock skew."""
        require_not_future(self.ledger, self.meta.timestamp, moment, field)

    def changed(self) -> list[LedgerAggregate]:
        return [a for a in self._aggregates.values() if self.new_events(a)]

    def new_events(self, aggregate: LedgerAggregate) -> list[Any]:
        """The events this command added to ``aggregate`` (not yet saved)."""
        return list(aggregate.pending_events[self._before.get(aggregate.id, 0) :])

    def aggregates(self) -> dict[UUID, LedgerAggregate]:
        return dict(self._aggregates)

    def ids(self) -> list[UUID]:
        return list(self._aggregates)


def require_not_future(ledger: Ledger, now: datetime, moment: datetime, field: str) -> None:
    skew = ledger.settings.clock_skew_seconds
    if moment > now + timedelta(seconds=skew):
        raise InvalidInput(
            f"{field} {moment.isoformat()} is in the future (more than {skew}s after now)",
            field=field,
        )


def payload_digest(command: Command) -> str:
    body = command.model_dump(mode="json", exclude={"idempotency_key"})
    try:
        blob = orjson.dumps({"command": command.name, "payload": body}, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as err:
        raise InvalidInput(f"the command cannot be stored as JSON: {err}") from err
    return hashlib.sha256(blob).hexdigest()


def execute(
    ledger: Ledger,
    command: Command,
    caller: Caller,
    handler: Handler,
    *,
    eligibility: EligibilityPolicy | None = None,
    creates_tenant: bool = False,
    if_match: IfMatch | None = None,
) -> Receipt:
    """Run ``handler`` for ``command`` and return its receipt (see module docstring).
    With ``if_match``, the command's entity must be at one of the expected versions before
    it (checked on the state the command decides on, so a concurrent write is caught by the
    store's version check and the retry sees it); a replay of an earlier identical command
    under the same idempotency key returns its receipt whatever the entity's version now."""
    return run_attempt(
        prepare(ledger, command, caller, handler, eligibility, creates_tenant, if_match)
    )


def run_attempt(attempt: Attempt) -> Receipt:
    """Try ``attempt`` until it is written or has failed, retrying collisions."""
    ledger, command = attempt.ledger, attempt.command
    for number in range(ledger.settings.command_retries + 1):
        if number:
            _back_off(number)
        with ledger.exclusive:
            receipt = attempt.run()
        if receipt is not None:
            return receipt
    raise ConcurrencyConflict(
        f"{command.name} kept colliding with concurrent writes "
        f"({ledger.settings.command_retries + 1} attempts); retry later"
    )


def prepare(
    ledger: Ledger,
    command: Command,
    caller: Caller,
    handler: Handler,
    eligibility: EligibilityPolicy | None = None,
    creates_tenant: bool = False,
    if_match: IfMatch | None = None,
) -> Attempt:
    """An attempt at ``command``, stamped now (refused when it is dated in the future)."""
    now = ledger.clock.now()
    effective_at = command.effective_at or now
    require_not_future(ledger, now, effective_at, "effective_at")
    meta = caller.meta(command.coc, effective_at, now)
    return Attempt(
        ledger, command, meta, eligibility or NoPolicyAdopted(), handler, creates_tenant, if_match
    )


class Decision(NamedTuple):
    """What one command decided: its entity, the aggregates to save, its own new events."""

    subject: LedgerAggregate
    aggregates: list[LedgerAggregate]
    events: list[Any]


class Attempt:
    """One try at a command: decide on fresh state, then save everything atomically."""

    def __init__(
        self,
        ledger: Ledger,
        command: Command,
        meta: EventMeta,
        policy: EligibilityPolicy,
        handler: Handler,
        creates_tenant: bool,
        if_match: IfMatch | None = None,
    ) -> None:
        self.ledger = ledger
        self.command = command
        self.meta = meta
        self.policy = policy
        self.handler = handler
        self.creates_tenant = creates_tenant
        self.if_match = if_match
        self.digest = payload_digest(command) if command.idempotency_key else ""

    def run(self) -> Receipt | None:
        """The receipt, or None when a concurrent write got there first (try again)."""
        uow = self.unit_of_work()
        try:
            decision = self.decide(uow)
        except LedgerError:
            replay = self._after_failure(uow)
            if replay is not None:
                return replay
            raise
        try:
            recordings = self.ledger.save_all(decision.aggregates)
        except IntegrityError:
            return self._after_failure(uow)
        return self.receipt(decision, recordings)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.ledger, self.meta, self.policy)

    def decide(self, uow: UnitOfWork) -> Decision:
        """Run the handler on ``uow``: the events it decided on and what to save."""
        command = self.command
        if not self.creates_tenant:
            uow.process()
        subject = self.handler(command, uow)
        if self.if_match is not None:
            _check_version(subject, len(uow.new_events(subject)), self.if_match)
        aggregates = uow.changed()
        events = [e for a in aggregates for e in uow.new_events(a)]
        if command.idempotency_key:
            record = IdempotencyRecord.record(
                command.idempotency_key,
                command.name,
                self.digest,
                subject.kind,
                str(subject.id),
                [(str(e.originator_id), e.originator_version, get_topic(type(e))) for e in events],
                self.meta,
            )
            aggregates.append(record)
            events.extend(record.pending_events)
        return Decision(subject, aggregates, events)

    def receipt(self, decision: Decision, recordings: Sequence[Recording[UUID]]) -> Receipt:
        """The receipt of ``decision`` from the recordings of a save that included it."""
        own = {(e.originator_id, e.originator_version) for e in decision.events}
        mine = [
            r
            for r in recordings
            if (r.domain_event.originator_id, r.domain_event.originator_version) in own
        ]
        subject = decision.subject
        return Receipt(
            command=self.command.name,
            coc=self.command.coc,
            entity_kind=subject.kind,
            entity_id=subject.id,
            idempotency_key=self.command.idempotency_key,
            events=[
                WrittenEvent(
                    entity_id=r.domain_event.originator_id,
                    version=r.domain_event.originator_version,
                    topic=r.notification.topic,
                    position=r.notification.id,
                )
                for r in mine
                if not isinstance(r.domain_event, IdempotencyRecord.Event)
            ],
            position=max(r.notification.id for r in mine),
        )

    def replay(self) -> Receipt | None:
        """The receipt of an earlier identical command under the same key, if any."""
        return _replay(self.ledger, self.command, self.digest)

    def _after_failure(self, uow: UnitOfWork) -> Receipt | None:
        """Drop the attempt's cached entities; the earlier receipt if the key was used."""
        self.ledger.forget(uow.ids())
        return _replay(self.ledger, self.command, self.digest)


def _check_version(subject: LedgerAggregate, added: int, if_match: IfMatch) -> None:
    """Refuse the command when its entity was not at an expected version before it (it has
    added ``added`` events)."""
    before = subject.version - added
    if if_match.accepts(before):
        return
    expected = ", ".join(map(str, sorted(if_match.versions))) or "any existing version"
    state = f"is at version {before}" if before else "did not exist"
    raise VersionMismatch(
        f"{subject.kind} {subject.id} {state}, not {expected} as expected; "
        "read it again and decide on its current state",
        current_version=before,
        entity_kind=subject.kind,
        entity_id=str(subject.id),
    )


def _replay(ledger: Ledger, command: Command, digest: str) -> Receipt | None:
    """The original receipt of an earlier command with the same key, if there is one."""
    key = command.idempotency_key
    if not key:
        return None
    record = ledger.load(IdempotencyRecord, entity_id(IdempotencyRecord.kind, command.coc, key))
    if record is None:
        return None
    recorded = record.recorded
    if recorded.command != command.name or recorded.payload_sha256 != digest:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was used for a different {recorded.command} request; "
            "use a new key for a new request",
            key=key,
        )
    positions = {
        oid: ledger.positions.of_entity(UUID(oid))
        for oid in {oid for oid, _, _ in recorded.events} | {str(record.id)}
    }
    return Receipt(
        command=command.name,
        coc=command.coc,
        entity_kind=recorded.entity_kind,
        entity_id=UUID(recorded.entity_id),
        idempotency_key=key,
        replayed=True,
        events=[
            WrittenEvent(
                entity_id=UUID(oid),
                version=version,
                topic=topic,
                position=positions[oid].get(version),
            )
            for oid, version, topic in recorded.events
        ],
        position=positions[str(record.id)][1],
    )


def _back_off(attempt: int) -> None:
    """Sleep a random while, growing with each attempt, so colliding writers drift apart."""
    time.sleep(random.uniform(0, 0.002 * 2**attempt))  # noqa: S311 - jitter, not security
