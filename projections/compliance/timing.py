"""Time arithmetic of the rules: validity of a completion, months, and the next change."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from ledger.policy.model import Validity
from projections.compliance.results import ClauseStatus, State


def at_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, or the month's last day if it is shorter."""
    if months % 12 == 0 and (moment.day < 29 or moment.month != 2):
        return moment.replace(year=moment.year + months // 12)  # whole years: the same day
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    last = _DAYS_IN_MONTH[month - 1]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        last = 29
    return moment.replace(year=year, month=month, day=min(moment.day, last))


def valid_until(validity: Validity | None, completed: datetime) -> datetime | None:
    """When a completion stops counting (None: never)."""
    if validity is None:
        return None
    if validity.rolling_days is not None:
        return completed + timedelta(days=validity.rolling_days)
    if validity.rolling_months is not None:
        return add_months(completed, validity.rolling_months)
    window = validity.annual_window
    assert window is not None
    (sm, sd), (em, ed) = (map(int, window.start.split("-")), map(int, window.end.split("-")))
    day = completed.date()
    for year in (day.year, day.year + 1):
        start = date(year, sm, sd)
        if start > day:
            end = date(year + (1 if (em, ed) < (sm, sd) else 0), em, ed)
            return at_midnight(end + timedelta(days=1))
    raise AssertionError("a window starts within two years")  # pragma: no cover


def next_change(
    statuses: Iterable[ClauseStatus], as_of: datetime, next_policy_from: date | None
) -> datetime | None:
    """The earliest moment after ``as_of`` at which some clause changes state by itself."""
    moments = []
    for status in statuses:
        if status.valid_until is not None and status.valid_until > as_of:
            moments.append(status.valid_until)
        if status.deadline is not None and status.state is State.PENDING:
            moments.append(at_midnight(status.deadline + timedelta(days=1)))
    if next_policy_from is not None and at_midnight(next_policy_from) > as_of:
        moments.append(at_midnight(next_policy_from))
    return min(moments, default=None)
