"""The event feed of one CoC (its audit-trail rows after a log position, in log order, each
event decoded by the ledger's mapper) and how far the current generation has got.

The feed reads the audit table rather than the log: the log has no tenant column (a CoC's
page would mean decoding every other tenant's events to drop them, and scanning without
bound for a small CoC), and its events do not name their entity's ref. The audit table has
the CoC and the entity's kind and ref, indexed by CoC and position (each line joined to the
log's row at its position for the event as stored), and its rows commit with the
generation's position: the feed is complete up to that position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from ledger.domain import agreements, end_users, obligations, organisations
from ledger.domain.base import LedgerEvent
from ledger.errors import NotFound
from projections.readmodels import generations
from projections.readmodels.db import ReadModelDb

# imported so that every event class exists when the topics are listed
_EVENT_MODULES = (agreements, end_users, obligations, organisations)


class Progress(NamedTuple):
    """How far the current generation has got: the last log position it applied, and
    whether everything its events made stale has been derived again and every user they
    touched evaluated (``settled``: both queues empty)."""

    generation: int | None
    position: int
    settled: bool


@dataclass(frozen=True)
class FeedPage:
    """Events of one CoC after ``after``; every event of the CoC up to ``complete_to`` is in
    this page or before it. ``next`` is the ``after`` of the following page (the last event's
    position while ``has_more``, else ``complete_to``: the CoC has nothing more up to it)."""

    after: int
    items: list[dict[str, Any]]
    complete_to: int
    has_more: bool

    @property
    def next(self) -> int:
        if self.has_more:
            return int(self.items[-1]["position"])
        return max(self.after, self.complete_to)


@cache
def _topics() -> dict[str, str]:
    """Stored topic of every event class by its qualified name (as the audit table names
    them; unique across the domain's modules)."""
    found: dict[str, str] = {}
    seen: set[type[LedgerEvent]] = set()
    stack: list[type[LedgerEvent]] = [LedgerEvent]
    while stack:
        cls: type[LedgerEvent]
        for cls in stack.pop().__subclasses__():
            if cls not in seen:  # a class may derive from several event classes
                seen.add(cls)
                found.setdefault(cls.__qualname__, f"{cls.__module__}:{cls.__qualname__}")
                stack.append(cls)
    return found


def progress(db: ReadModelDb) -> Progress:
    """The current generation's position, then whether its queues are empty: read in this
    order, empty queues mean everything touched up to the position is up to date."""
    number = generations.current(db)
    if number is None:
        return Progress(None, 0, False)
    position = db.position(number)
    queues = [db.table(db.prefix(number) + name) for name in ("derive", "pending")]
    # one statement, one snapshot: deriving an agency moves it off one queue and its users
    # onto the other in one transaction
    [(to_derive, to_evaluate)] = db.fetchall(
        f"SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM {queues[0]} LIMIT 1) d) AS to_derive, "
        f"(SELECT COUNT(*) FROM (SELECT 1 FROM {queues[1]} LIMIT 1) p) AS to_evaluate"
    )
    return Progress(number, position, not to_derive and not to_evaluate)


def index_current(db: ReadModelDb) -> None:
    """Give the current generation the feed's index (CoC, position) if it was built before
    the feed had one (newer generations are created with it)."""
    number = generations.current(db)
    if number is not None:
        db.add_missing_indexes(number)


class EventFeed:
    """Pages of one CoC's events from the current generation's audit table."""

    def __init__(self, ledger: Ledger, db: ReadModelDb) -> None:
        self.ledger = ledger
        self.db = db

    def page(self, coc: str, after: int, limit: int) -> FeedPage:
        number = generations.current(self.db)
        if number is None:
            raise NotFound("the read models have not been built yet")
        reached = self.db.position(number)  # first: every row up to it has committed
        audit = self.db.table(self.db.prefix(number) + "audit")
        found = self.db.fetchall(
            "SELECT a.position, a.entity_id, a.version, a.kind, a.ref, a.type, "
            f"a.corrects_version, log.state FROM {audit} a {self.db.log_join('a')} "
            "WHERE a.coc = ? AND a.position > ? AND a.position <= ? ORDER BY a.position LIMIT ?",
            (coc, after, reached, limit),
        )
        items = [self._item(*row) for row in found]
        return FeedPage(after, items, reached, has_more=len(items) == limit)

    def _item(
        self,
        position: int,
        entity_hex: str,
        version: int,
        kind: str,
        ref: str,
        type_name: str,
        corrects_version: int | None,
        stored: bytes,
    ) -> dict[str, Any]:
        entity = UUID(hex=entity_hex)
        event = self.ledger.mapper.to_domain_event(
            StoredEvent(
                originator_id=entity,
                originator_version=version,
                topic=_topics()[type_name],
                state=stored,
            )
        )
        assert isinstance(event, LedgerEvent)
        return {
            "position": position,
            "entity": {"kind": kind, "ref": ref, "id": entity, "version": version},
            "type": type_name,
            "event_id": event.event_id,
            "effective_at": event.effective_at,
            "recorded_at": event.recorded_at,
            "actor": event.actor,
            "source": event.source,
            "request_id": event.request_id,
            "corrects_version": corrects_version,
            "payload": event.payload(),
        }
