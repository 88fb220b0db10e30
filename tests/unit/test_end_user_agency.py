"""A user's agency is worked out once per version of the user, and anew after each change."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime

from ledger.domain.base import EventMeta, Source
from ledger.domain.end_users import EndUser

MOMENT = datetime(2026, 1, 5, 9, tzinfo=UTC)


def meta() -> EventMeta:
    return EventMeta(
        coc="WI-500",
        actor="hmis-admin",
        source=Source.API,
        request_id="req-1",
        effective_at=MOMENT,
        timestamp=MOMENT,
    )


def test_a_user_s_agency_follows_each_departure_and_joining_on_the_same_object() -> None:
    subject = EndUser.register("wi-user-1", "wi-agency-1", meta())
    assert subject.agency_ref == "wi-agency-1"
    assert subject.agency_ref == "wi-agency-1"  # asked again at the same version

    subject.depart("moved away", meta())
    assert subject.agency_ref is None

    subject.join_agency("wi-agency-2", meta())
    assert subject.agency_ref == "wi-agency-2"


def test_a_copy_s_agency_changes_without_changing_the_original_s() -> None:
    original = EndUser.register("wi-user-1", "wi-agency-1", meta())
    assert original.agency_ref == "wi-agency-1"
    copy = deepcopy(original)

    copy.depart(None, meta())

    assert copy.agency_ref is None
    assert original.agency_ref == "wi-agency-1"
