"""Group commit: commands that arrive together are decided one after another and their
events written in one transaction (one commit, one fsync, for all of them).

Each command decides on the state the earlier ones of its group left (``Ledger.sharing``:
its loads, and its eligibility check's, return the group's unsaved aggregates), and its
events follow theirs in the log, so the log reads as if the commands had run one by one.
A command that fails is left out with its error, unless it had already changed an entity
that an earlier command of the group changed too: then nothing of the group is written and
every command runs on its own instead (``runtime.execute``), as it does when the group's
write collides with another writer's. Two commands with the same idempotency key never
share a group: the later runs on its own after the group and gets the first one's receipt.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.base import Caller, Command, IfMatch, Receipt
from commands.registry import spec_for
from commands.runtime import Attempt, Decision, prepare, run_attempt
from ledger.application import Ledger, StoreUnavailable
from ledger.domain.base import LedgerAggregate
from ledger.domain.obligations import IdempotencyRecord
from ledger.eligibility import EligibilityPolicy
from ledger.errors import LedgerError
from ledger.ids import entity_id

Outcome = Receipt | Exception
GROUP_MAX = 64  # commands decided and written together at most


@dataclass(frozen=True)
class Submission:
    """One command to run, with who issues it and its conditions."""

    command: Command
    caller: Caller
    eligibility: EligibilityPolicy | None = None
    if_match: IfMatch | None = None

    def attempt(self, ledger: Ledger) -> Attempt:
        spec = spec_for(self.command.name)
        return prepare(
            ledger,
            self.command,
            self.caller,
            spec.handler,
            self.eligibility,
            spec.creates_tenant,
            self.if_match,
        )

    def alone(self, ledger: Ledger) -> Outcome:
        """Run on its own (with the usual retries): its receipt or its error."""
        try:
            return run_attempt(self.attempt(ledger))
        except Exception as err:  # handed to the command's caller
            return err


def execute_together(ledger: Ledger, submissions: Sequence[Submission]) -> list[Outcome]:
    """Run ``submissions`` as one group (see the module docstring); an outcome each."""
    with ledger.exclusive:
        group = _Group(ledger, len(submissions))
        written = group.run(submissions)
    if written is None:
        return [s.alone(ledger) for s in submissions]
    for index in group.later:
        written[index] = submissions[index].alone(ledger)
    return written


class _Group:
    def __init__(self, ledger: Ledger, size: int) -> None:
        self.ledger = ledger
        self.shared: dict[UUID, LedgerAggregate] = {}
        self.outcomes: list[Outcome | None] = [None] * size
        self.decided: list[tuple[int, Attempt, Decision]] = []
        self.keys: set[UUID] = set()
        self.later: list[int] = []

    def run(self, submissions: Sequence[Submission]) -> list[Outcome] | None:
        """The outcomes (None where a command runs later), or None when the group cannot
        be written as one and every command must run on its own."""
        with self.ledger.sharing(self.shared):
            for index, submission in enumerate(submissions):
                if not self._decide(index, submission):
                    return None
        if not self.decided:
            return self._done()
        order = {
            (e.originator_id, e.originator_version): place
            for place, (_, _, decision) in enumerate(self.decided)
            for e in decision.events
        }
        try:
            recordings = self.ledger.save_all(
                self.shared.values(), order=lambda e: order[(e.originator_id, e.originator_version)]
            )
        except IntegrityError:  # another writer got there first: each on its own
            self.ledger.forget(self.shared)
            return None
        except StoreUnavailable as err:
            for index, _, _ in self.decided:
                self.outcomes[index] = err
            return self._done()
        for index, attempt, decision in self.decided:
            self.outcomes[index] = attempt.receipt(decision, recordings)
        return self._done()

    def _decide(self, index: int, submission: Submission) -> bool:
        """Decide one command on the group's state; False when that state is spoilt."""
        key = submission.command.idempotency_key
        if key is not None:
            record_id = entity_id(IdempotencyRecord.kind, submission.command.coc, key)
            if record_id in self.keys:
                self.later.append(index)
                return True
            self.keys.add(record_id)
        try:
            attempt = submission.attempt(self.ledger)
        except LedgerError as err:
            self.outcomes[index] = err
            return True
        uow = attempt.unit_of_work()
        try:
            decision = attempt.decide(uow)
        except Exception as err:  # the command's own outcome
            touched = uow.aggregates()
            if any(a.id in self.shared and uow.new_events(a) for a in touched.values()):
                return False  # it half-changed an entity of the group
            self.outcomes[index] = _failure(attempt, err)
            return True
        self.shared.update(uow.aggregates())
        for aggregate in decision.aggregates:
            self.shared[aggregate.id] = aggregate
        self.decided.append((index, attempt, decision))
        return True

    def _done(self) -> list[Outcome]:
        return [o if o is not None else _NOT_RUN for o in self.outcomes]


_NOT_RUN = LedgerError("the command did not run")  # replaced by execute_together


def _failure(attempt: Attempt, err: Exception) -> Outcome:
    """A failed command's outcome: an earlier identical command's receipt if its key was
    used before (as ``runtime.execute`` does), else the error."""
    if not isinstance(err, LedgerError):
        return err
    try:
        return attempt.replay() or err
    except LedgerError as refused:
        return refused


class GroupCommitter:
    """A thread that runs the commands handed to it in groups of what has arrived meanwhile:
    while one group commits, the next gathers."""

    def __init__(self, ledger: Ledger, group_max: int = GROUP_MAX) -> None:
        self.ledger = ledger
        self.group_max = group_max
        self._queue: queue.SimpleQueue[tuple[Submission, Future[Receipt]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="commands", daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish what was handed in, then end the thread."""
        self._stopped = True
        self._queue.put(None)
        self._thread.join()

    def submit(self, submission: Submission) -> Future[Receipt]:
        future: Future[Receipt] = Future()
        if self._stopped:
            future.set_exception(StoreUnavailable("the service is shutting down"))
        else:
            self._queue.put((submission, future))
        return future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < self.group_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._settle(group)
            if stop:
                return

    def _settle(self, group: list[tuple[Submission, Future[Receipt]]]) -> None:
        try:
            outcomes = execute_together(self.ledger, [s for s, _ in group])
        except Exception as err:  # a fault of the group goes to each caller
            outcomes = [err] * len(group)
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
