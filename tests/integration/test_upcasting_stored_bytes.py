"""Old event bytes written to the real store are read back upcast, on every backend."""

from __future__ import annotations

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from ledger.application import Ledger
from ledger.ids import entity_id
from tests.unit.test_mapper import Widget, v1_bytes


def test_version_one_bytes_in_the_store_decode_as_the_current_version(ledger: Ledger) -> None:
    originator_id = entity_id("widget", "MO-606", "W1")
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=originator_id,
                originator_version=2,
                topic=get_topic(Widget.Counted),
                state=v1_bytes(originator_id),
            )
        ]
    )

    [entry] = ledger.history(originator_id)

    assert isinstance(entry.event, Widget.Counted)
    assert (entry.event.quantity, entry.event.unit) == (7, "each")
    assert entry.position == 1
