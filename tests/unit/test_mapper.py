"""The orjson/pydantic mapper: round trips, schema versions and upcasting of old bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import uuid4

import orjson
import pytest
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

from ledger.domain.base import LedgerAggregate, Source
from ledger.domain.end_users import EndUser
from ledger.mapper import OrjsonTranscoder, PydanticMapper

WHEN = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
META: dict[str, Any] = {
    "timestamp": WHEN,
    "coc": "MO-606",
    "actor": "tester",
    "source": Source.CLI,
    "request_id": "r1",
    "effective_at": WHEN,
}


class Widget(LedgerAggregate):
    """A test aggregate whose event went through two schema changes."""

    class Counted(LedgerAggregate.Event):
        """v1 had `count`; v2 renamed it to `quantity`; v3 added `unit`."""

        schema_version: ClassVar[int] = 3
        quantity: int
        unit: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["quantity"] = state.pop("count")

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["unit"] = "each"


def mapper() -> PydanticMapper:
    return PydanticMapper(transcoder=OrjsonTranscoder())


def v1_bytes(originator_id: Any) -> bytes:
    """Bytes exactly as version 1 of Widget.Counted was stored (no version key)."""
    return orjson.dumps(
        {
            "originator_id": str(originator_id),
            "originator_version": 2,
            "timestamp": "2026-03-02T15:00:00Z",
            "event_id": str(uuid4()),
            "coc": "MO-606",
            "actor": "tester",
            "source": "cli",
            "request_id": "r1",
            "effective_at": "2026-03-02T15:00:00Z",
            "count": 7,
        }
    )


def test_event_round_trips_through_stored_bytes() -> None:
    event = EndUser.CourseCompleted(
        originator_id=uuid4(),
        originator_version=3,
        course_code="MO-CE-ASSESSOR",
        provider="litmos",
        certificate_id="C-1",
        score=97.5,
        **META,
    )

    stored = mapper().to_stored_event(event)
    decoded = mapper().to_domain_event(stored)

    assert decoded == event
    assert orjson.loads(stored.state)["schema_version"] == 1


def test_stored_bytes_of_version_one_are_upcast_to_the_current_version() -> None:
    originator_id = uuid4()
    stored = StoredEvent(
        originator_id=originator_id,
        originator_version=2,
        topic=get_topic(Widget.Counted),
        state=v1_bytes(originator_id),
    )

    decoded = mapper().to_domain_event(stored)

    assert isinstance(decoded, Widget.Counted)
    assert (decoded.quantity, decoded.unit) == (7, "each")


def test_current_version_is_written_with_its_schema_version() -> None:
    event = Widget.Counted(
        originator_id=uuid4(), originator_version=2, quantity=1, unit="box", **META
    )
    assert orjson.loads(mapper().to_stored_event(event).state)["schema_version"] == 3


def test_bytes_from_a_newer_schema_are_refused_clearly() -> None:
    event = EndUser.RoleRequested(
        originator_id=uuid4(), originator_version=2, role="outreach", **META
    )
    stored = mapper().to_stored_event(event)
    state = orjson.loads(stored.state) | {"schema_version": 9}
    newer = StoredEvent(
        originator_id=stored.originator_id,
        originator_version=2,
        topic=stored.topic,
        state=orjson.dumps(state),
    )

    with pytest.raises(MapperDeserialisationError, match="newer"):
        mapper().to_domain_event(newer)


def test_corrupt_bytes_raise_a_deserialisation_error_naming_the_event() -> None:
    stored = StoredEvent(
        originator_id=uuid4(),
        originator_version=4,
        topic=get_topic(EndUser.RoleRequested),
        state=b"{not json",
    )
    with pytest.raises(MapperDeserialisationError, match="v4"):
        mapper().to_domain_event(stored)
