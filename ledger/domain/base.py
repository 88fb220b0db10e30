"""Base of every aggregate and event: metadata on both clocks, facts, and corrections.

An aggregate keeps the events it was built from as its *facts*. A correction never edits a
fact: ``EventRetracted`` hides it and ``EventAmended`` supersedes some of its fields, and the
aggregate's queries read :meth:`LedgerAggregate.facts`, which applies the corrections.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ledger.errors import InvalidInput, NotFound, RuleViolation


class Source(StrEnum):
    """Where a fact entered the ledger."""

    API = "api"
    IMPORT = "import"
    CLI = "cli"
    LMS = "lms"
    DEMO = "demo"
    SYSTEM = "system"


class EventMeta(BaseModel):
    """Who recorded a fact, from where, and on which clocks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    coc: str
    actor: str
    source: Source
    request_id: str
    effective_at: AwareDatetime
    timestamp: AwareDatetime = Field(description="recorded time")

    @cached_property
    def _fields(self) -> dict[str, Any]:
        return dict(self)

    def fields(self) -> dict[str, Any]:
        """The metadata as keyword arguments of an event."""
        return self._fields


META_FIELDS = frozenset(EventMeta.model_fields) | {
    "originator_id",
    "originator_version",
    "originator_topic",
    "event_id",
}


class LedgerEvent(BaseModel):
    """Fields every stored event carries. ``timestamp`` is the recorded time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: ClassVar[int] = 1

    originator_id: UUID
    originator_version: int
    timestamp: AwareDatetime
    event_id: UUID = Field(default_factory=uuid4)
    coc: str
    actor: str
    source: Source
    request_id: str
    effective_at: AwareDatetime

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> LedgerEvent:
        """Events are immutable: copies of an aggregate share them (keeps cached reads cheap)."""
        return self

    @property
    def recorded_at(self) -> datetime:
        return self.timestamp

    def payload(self) -> dict[str, Any]:
        """The event's own fields, without the common metadata."""
        return {k: v for k, v in self if k not in META_FIELDS}


E = TypeVar("E", bound=LedgerEvent)


class LedgerAggregate(BaseAggregate[UUID]):
    """An aggregate whose state is its corrected list of facts."""

    kind: ClassVar[str] = "entity"

    class Event(LedgerEvent, CanMutateAggregate[UUID]):
        # Fields an amendment may change, besides effective_at. Anything a rule checks is
        # left out: such a mistake is retracted and recorded again, so the rules run again.
        amendable: ClassVar[frozenset[str]] = frozenset()
        # False where the fact is mirrored on another entity (a correction would split them).
        retractable: ClassVar[bool] = True
        # A field whose values index facts of this class (see LedgerAggregate.keyed).
        index_key: ClassVar[str | None] = None

        def apply(self, aggregate: Any) -> None:
            aggregate._facts.append(self)
            cls = type(self)
            aggregate._by_type.setdefault(cls, []).append(self)
            if cls.index_key is not None:
                keyed = aggregate._by_key.setdefault(cls, {})
                keyed.setdefault(getattr(self, cls.index_key), []).append(self)
            if self.effective_at > aggregate.latest_effective:
                aggregate.latest_effective = self.effective_at

    class Created(Event, CanInitAggregate[UUID]):
        originator_topic: str

        def apply(self, aggregate: Any) -> None:
            aggregate._facts = []
            aggregate._by_type = {}
            aggregate._by_key = {}
            aggregate.latest_effective = self.effective_at
            aggregate._corrections = {}
            aggregate.coc = self.coc
            super().apply(aggregate)

    class EventRetracted(Event):
        """A recorded fact was wrong and is withdrawn."""

        corrects: UUID
        reason: str = Field(min_length=3, max_length=2000)

        def apply(self, aggregate: Any) -> None:
            aggregate._corrections.setdefault(self.corrects, []).append(self)
            super().apply(aggregate)

    class EventAmended(Event):
        """Some fields of a recorded fact were wrong; ``changes`` holds their right values."""

        corrects: UUID
        reason: str = Field(min_length=3, max_length=2000)
        changes: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate._corrections.setdefault(self.corrects, []).append(self)
            super().apply(aggregate)

    if TYPE_CHECKING:  # set by Created.apply; not dataclass fields of the aggregate
        _facts: list[LedgerEvent]
        _by_type: dict[type[LedgerEvent], list[LedgerEvent]]
        _by_key: dict[type[LedgerEvent], dict[Any, list[LedgerEvent]]]
        latest_effective: datetime  # the latest effective time of any fact
        _corrections: dict[UUID, list[LedgerEvent]]
        coc: str

    def __deepcopy__(self, memo: dict[int, Any]) -> LedgerAggregate:
        """A copy that can take new events without touching the original (facts are shared:
        events are immutable)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._facts = list(self._facts)
        clone._by_type = {k: list(v) for k, v in self._by_type.items()}
        clone._by_key = {
            cls: {key: list(facts) for key, facts in keyed.items()}
            for cls, keyed in self._by_key.items()
        }
        clone._corrections = {k: list(v) for k, v in self._corrections.items()}
        clone.__dict__["_pending_events"] = list(self.pending_events)
        return clone

    # --- reading facts -------------------------------------------------------------------

    def facts(self, *kinds: type[E]) -> Iterator[E]:
        """Facts in recorded order (optionally only of ``kinds``), corrections applied."""
        correction_types = (LedgerAggregate.EventRetracted, LedgerAggregate.EventAmended)
        corrections = self._corrections
        for fact in self._facts:
            if kinds and not isinstance(fact, kinds):
                continue
            if not corrections:  # the common case: nothing was ever corrected
                yield fact  # type: ignore[misc]
                continue
            if isinstance(fact, correction_types):
                continue
            corrected = self._corrected(fact)
            if corrected is not None:
                yield corrected  # type: ignore[misc]

    def facts_by_type(self) -> dict[type[LedgerEvent], list[LedgerEvent]]:
        """Facts grouped by their exact event class, in recorded order, corrections applied
        (the index kept as events are applied, unless something was corrected)."""
        if not self._corrections:
            return self._by_type
        grouped: dict[type[LedgerEvent], list[LedgerEvent]] = {}
        fact: LedgerEvent
        for fact in self.facts():
            grouped.setdefault(type(fact), []).append(fact)
        return grouped

    def keyed(self, kind: type[E]) -> dict[Any, list[E]] | None:
        """Facts of ``kind`` grouped by its ``index_key`` field, kept as events are applied;
        None when something was corrected (then group ``facts(kind)`` yourself)."""
        if self._corrections:
            return None
        return self._by_key.get(kind, {})  # type: ignore[return-value]

    def may_postdate(self, moment: datetime) -> bool:
        """Could some fact have an effective time after ``moment``? (False lets a reader of
        "as of ``moment``" skip filtering.)"""
        return bool(self._corrections) or self.latest_effective > moment

    def all_facts(self) -> Sequence[LedgerEvent]:
        """Every fact, corrections applied (without copying when nothing was corrected)."""
        return self._facts if not self._corrections else list(self.facts())

    @property
    def created(self) -> LedgerEvent:
        """The event that created the entity (its natural-key fields are never amended)."""
        return self._facts[0]

    def _corrected(self, fact: LedgerEvent) -> LedgerEvent | None:
        for correction in self._corrections.get(fact.event_id, ()):
            if isinstance(correction, LedgerAggregate.EventRetracted):
                return None
            if isinstance(correction, LedgerAggregate.EventAmended):
                fact = apply_changes(fact, correction.changes)
        return fact

    def last(self, kind: type[E]) -> E | None:
        found = None
        for fact in self.facts(kind):
            found = fact
        return found

    def recorded_event(self, event_id: UUID) -> LedgerEvent:
        for fact in self._facts:
            if fact.event_id == event_id:
                return fact
        raise NotFound(
            f"event {event_id} is not part of {self.kind} {self.id}", event_id=str(event_id)
        )

    def is_retracted(self, event_id: UUID) -> bool:
        corrections = self._corrections.get(event_id, ())
        return any(isinstance(c, LedgerAggregate.EventRetracted) for c in corrections)

    # --- corrections ---------------------------------------------------------------------

    def retract(self, event_id: UUID, reason: str, meta: EventMeta) -> None:
        target = self._correctable(event_id)
        if isinstance(target, LedgerAggregate.Created):
            raise RuleViolation(
                "correction/creation-not-retractable",
                "the event that created an entity cannot be retracted; amend it instead",
            )
        if not getattr(type(target), "retractable", True):
            raise RuleViolation(
                "correction/mirrored-fact-not-retractable",
                f"{type(target).__qualname__} is mirrored on another entity and cannot be "
                "retracted; record the opposite fact instead (e.g. a transfer or departure)",
            )
        self.trigger_event(self.EventRetracted, corrects=event_id, reason=reason, **meta.fields())

    def amend(self, event_id: UUID, reason: str, changes: dict[str, Any], meta: EventMeta) -> None:
        target = self._correctable(event_id)
        current = self._corrected(target)
        assert current is not None
        allowed = getattr(type(target), "amendable", frozenset()) | {"effective_at"}
        unknown = set(changes) - allowed
        if not changes or unknown:
            raise InvalidInput(
                f"an amendment of {type(target).__qualname__} may change only "
                f"{sorted(allowed)}; got {sorted(changes)}. To correct another field, retract "
                "the event and record it again, so that the rules apply again.",
                field="changes",
            )
        amended = apply_changes(current, changes)
        stored_changes = amended.model_dump(mode="json", include=set(changes))
        self.trigger_event(
            self.EventAmended,
            corrects=event_id,
            reason=reason,
            changes=stored_changes,
            **meta.fields(),
        )

    def _correctable(self, event_id: UUID) -> LedgerEvent:
        target = self.recorded_event(event_id)
        if isinstance(target, LedgerAggregate.EventRetracted | LedgerAggregate.EventAmended):
            raise RuleViolation(
                "correction/no-correction-of-corrections",
                "a correction cannot itself be corrected; record a new correction of the original",
            )
        if self.is_retracted(event_id):
            raise RuleViolation(
                "correction/already-retracted", f"event {event_id} is already retracted"
            )
        return target


def apply_changes(fact: E, changes: dict[str, Any]) -> E:
    """A copy of ``fact`` with ``changes`` validated against its own schema."""
    try:
        return type(fact).model_validate(fact.model_dump() | changes)
    except ValidationError as err:
        problems = err.errors(include_url=False)
        raise InvalidInput(f"amended values are not valid: {problems}") from err
