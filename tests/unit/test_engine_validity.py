"""How long a completion counts (``valid_until``) and when an evaluation changes by itself
(``next_change``), tested on the engine's pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ledger.policy.model import AnnualWindow, Validity
from projections.compliance.results import ClauseStatus, State
from projections.compliance.timing import next_change, valid_until


def at(year: int, month: int, day: int, hour: int = 15) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=UTC)


def midnight(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


SEPTEMBER = Validity(annual_window=AnnualWindow(start="09-01", end="09-30"))
WINTER = Validity(annual_window=AnnualWindow(start="12-01", end="01-31"))  # spans New Year


# --- valid_until -------------------------------------------------------------------------------


def test_a_completion_without_validity_never_expires() -> None:
    assert valid_until(None, at(2026, 3, 2)) is None


def test_rolling_days_count_from_the_moment_of_completion() -> None:
    assert valid_until(Validity(rolling_days=30), at(2026, 3, 2)) == at(2026, 4, 1)
    assert valid_until(Validity(rolling_days=365), at(2027, 3, 1)) == at(2028, 2, 29)


@pytest.mark.parametrize(
    ("completed", "months", "until"),
    [
        (at(2026, 3, 2), 12, at(2027, 3, 2)),
        (at(2026, 1, 31), 1, at(2026, 2, 28)),  # clamped to the end of February
        (at(2028, 1, 31), 1, at(2028, 2, 29)),  # a leap year's February
        (at(2026, 8, 31), 6, at(2027, 2, 28)),  # across the year end, clamped
        (at(2026, 3, 31), 1, at(2026, 4, 30)),  # a 30-day month
        (at(2024, 2, 29), 12, at(2025, 2, 28)),  # a leap day, a year on
        (at(2026, 11, 15), 24, at(2028, 11, 15)),
    ],
)
def test_rolling_months_keep_the_day_of_month_or_clamp_to_the_month_end(
    completed: datetime, months: int, until: datetime
) -> None:
    assert valid_until(Validity(rolling_months=months), completed) == until


def test_a_completion_before_this_years_window_lasts_to_the_end_of_that_window() -> None:
    assert valid_until(SEPTEMBER, at(2026, 3, 2)) == midnight(2026, 10, 1)


def test_a_completion_inside_the_window_lasts_to_the_end_of_next_years_window() -> None:
    assert valid_until(SEPTEMBER, at(2026, 9, 15)) == midnight(2027, 10, 1)
    assert valid_until(SEPTEMBER, midnight(2026, 9, 1)) == midnight(2027, 10, 1)  # first day
    assert valid_until(SEPTEMBER, at(2026, 9, 30, 23)) == midnight(2027, 10, 1)  # last day


def test_a_completion_after_this_years_window_lasts_to_the_end_of_next_years_window() -> None:
    assert valid_until(SEPTEMBER, at(2026, 11, 1)) == midnight(2027, 10, 1)


def test_a_window_spanning_the_new_year_ends_in_the_following_january() -> None:
    assert valid_until(WINTER, at(2026, 11, 15)) == midnight(2027, 2, 1)  # before the window
    assert valid_until(WINTER, at(2026, 12, 10)) == midnight(2028, 2, 1)  # inside, December
    assert valid_until(WINTER, at(2027, 1, 15)) == midnight(2028, 2, 1)  # inside, January


# --- next_change -------------------------------------------------------------------------------

AS_OF = at(2026, 3, 2)


def status(
    clause: str,
    state: State,
    *,
    valid: datetime | None = None,
    deadline: date | None = None,
) -> ClauseStatus:
    return ClauseStatus(clause, state, "synthetic", valid_until=valid, deadline=deadline)


def test_nothing_changes_by_itself_without_expiries_deadlines_or_a_later_version() -> None:
    statuses = [status("training:a", State.SATISFIED), status("form:b", State.MISSING)]

    assert next_change(statuses, AS_OF, None) is None


def test_the_next_change_is_the_earliest_expiry() -> None:
    statuses = [
        status("training:a", State.SATISFIED, valid=at(2026, 9, 1)),
        status("training:b", State.SATISFIED, valid=at(2026, 5, 1)),
        status("training:c", State.SATISFIED, valid=at(2027, 1, 1)),
    ]

    assert next_change(statuses, AS_OF, None) == at(2026, 5, 1)


def test_a_pending_deadline_changes_the_status_the_day_after_it() -> None:
    statuses = [
        status("training:a", State.SATISFIED, valid=at(2026, 9, 1)),
        status("deadline:provisioning", State.PENDING, deadline=date(2026, 3, 5)),
    ]

    assert next_change(statuses, AS_OF, None) == midnight(2026, 3, 6)


def test_past_expiries_and_overdue_deadlines_are_not_next_changes() -> None:
    statuses = [
        status("training:a", State.EXPIRED, valid=at(2026, 1, 1)),
        status("deadline:provisioning", State.OVERDUE, deadline=date(2026, 2, 20)),
        status("training:b", State.SATISFIED, valid=at(2026, 4, 1)),
    ]

    assert next_change(statuses, AS_OF, None) == at(2026, 4, 1)


def test_a_later_policy_version_is_a_next_change_when_it_comes_first() -> None:
    statuses = [status("training:a", State.SATISFIED, valid=at(2026, 9, 1))]

    assert next_change(statuses, AS_OF, date(2026, 7, 1)) == midnight(2026, 7, 1)
    assert next_change(statuses, AS_OF, date(2026, 12, 1)) == at(2026, 9, 1)
    assert next_change([], AS_OF, date(2026, 7, 1)) == midnight(2026, 7, 1)


def test_an_expiry_at_the_as_of_moment_is_no_longer_ahead() -> None:
    statuses = [status("training:a", State.EXPIRED, valid=AS_OF)]

    assert next_change(statuses, AS_OF, None) is None
    assert next_change(statuses, AS_OF - timedelta(seconds=1), None) == AS_OF
