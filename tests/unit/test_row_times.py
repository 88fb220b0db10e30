"""Times as the read-model tables hold them: ISO 8601 in UTC, so text order is time order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from projections.readmodels.rows import iso


class SummerTime(tzinfo):
    """A zone one hour ahead of UTC from April to September, at UTC otherwise."""

    def utcoffset(self, moment: datetime | None) -> timedelta:
        return timedelta(hours=1 if moment is not None and 4 <= moment.month <= 9 else 0)

    def dst(self, moment: datetime | None) -> timedelta:
        return self.utcoffset(moment)

    def tzname(self, moment: datetime | None) -> str:
        return "ST"


def test_times_are_written_in_utc_whatever_their_zone() -> None:
    assert iso(datetime(2026, 11, 22, 3, 19, 12, 827716, tzinfo=UTC)) == (
        "2026-11-22T03:19:12.827716+00:00"
    )
    assert iso(datetime(2026, 11, 22, 5, 19, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-11-22T03:19:00+00:00"
    )
    assert iso(datetime(2026, 11, 22, 3, 19)) == "2026-11-22T03:19:00+00:00"  # naive: UTC
    assert iso(date(2026, 11, 22)) == "2026-11-22"
    assert iso(None) is None


def test_a_zone_whose_offset_changes_is_asked_for_each_time() -> None:
    zone = SummerTime()
    winter = datetime(2026, 1, 10, 12, 0, tzinfo=zone)  # first seen at offset 0
    summer = datetime(2026, 7, 10, 12, 0, tzinfo=zone)
    assert iso(winter) == "2026-01-10T12:00:00+00:00"
    assert iso(summer) == "2026-07-10T11:00:00+00:00"
    assert iso(summer) < iso(datetime(2026, 7, 10, 11, 30, tzinfo=UTC))  # type: ignore[operator]
