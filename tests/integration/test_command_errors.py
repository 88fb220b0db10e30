"""Errors every command shares: unknown CoC or entity, duplicate creation, effective time in
the future beyond the allowed clock skew. None of them writes anything."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commands.base import Caller
from commands.end_users import RecordCourseCompletion
from commands.organisations import DesignateHmisLead, RegisterAgency, RegisterCoc
from commands.registry import COMMANDS, run, spec_for
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import Source
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import Process
from ledger.errors import DuplicateEntity, InvalidInput, NotFound
from ledger.ids import entity_id
from ledger.settings import Settings
from tests.integration.builders import (
    Do,
    agency,
    register_agency,
    register_coc,
    rejected,
    user,
    wisconsin,
)

ADMIN = Caller(actor="hmis-admin", source=Source.API, request_id="req-admin")

# --- unknown CoC and entities --------------------------------------------------------------


def test_a_command_for_an_unknown_coc_is_not_found(ledger: Ledger, do: Do) -> None:
    wisconsin(do)

    error = rejected(
        ledger,
        do,
        RegisterAgency(coc="XX-999", agency_ref="ag-1", agency_name="Synthetic Agency"),
        NotFound,
    )

    assert error.details["kind"] == "coc"


def test_a_command_naming_an_unknown_user_is_not_found(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    error = rejected(
        ledger,
        do,
        RecordCourseCompletion(
            coc=w.coc, user_ref="wi-nobody", course_code="WI-CE-101", provider="Synthetic LMS"
        ),
        NotFound,
    )

    assert (error.details["kind"], error.details["ref"]) == ("user", "wi-nobody")


def test_entities_of_one_coc_are_not_found_from_another(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    register_coc(do, "MO-606", Process.MISSOURI_BOS)

    rejected(
        ledger,
        do,
        RecordCourseCompletion(
            coc="MO-606", user_ref=w.user, course_code="WI-CE-101", provider="Synthetic LMS"
        ),
        NotFound,
    )


def test_the_same_agency_ref_in_two_cocs_names_two_agencies(ledger: Ledger, do: Do) -> None:
    register_coc(do, "WI-500", Process.WISCONSIN_BOS)
    register_coc(do, "MO-606", Process.MISSOURI_BOS)

    first = register_agency(do, "WI-500", "shared-ref")
    second = register_agency(do, "MO-606", "shared-ref")

    assert first.entity_id != second.entity_id
    assert agency(ledger, "WI-500", "shared-ref").coc == "WI-500"
    assert agency(ledger, "MO-606", "shared-ref").coc == "MO-606"


def test_history_of_an_unknown_entity_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        ledger.history(entity_id(EndUser.kind, "WI-500", "wi-nobody"))


def test_an_unknown_command_name_is_not_found() -> None:
    with pytest.raises(NotFound):
        spec_for("grant-everything")
    assert spec_for("register-coc") is COMMANDS["register-coc"]


# --- duplicates ------------------------------------------------------------------------------


def test_a_coc_is_registered_only_once(ledger: Ledger, do: Do) -> None:
    register_coc(do, "WI-500", Process.WISCONSIN_BOS)

    rejected(
        ledger,
        do,
        RegisterCoc(coc="WI-500", coc_name="Second Synthetic CoC", process=Process.GENERIC),
        DuplicateEntity,
    )


def test_an_agency_ref_is_registered_only_once_per_coc(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    error = rejected(
        ledger,
        do,
        RegisterAgency(coc=w.coc, agency_ref=w.agency, agency_name="Another Name"),
        DuplicateEntity,
    )

    assert (error.details["kind"], error.details["ref"]) == ("agency", w.agency)
    registered = agency(ledger, w.coc, w.agency).last(Agency.Registered)
    assert registered is not None
    assert registered.name != "Another Name"


# --- effective time and the clock skew -------------------------------------------------------


def test_effective_time_beyond_the_clock_skew_is_invalid(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = wisconsin(do)
    too_late = clock.now() + timedelta(seconds=ledger.settings.clock_skew_seconds + 1)

    error = rejected(
        ledger,
        do,
        DesignateHmisLead(coc=w.coc, organisation="Synthetic Lead", effective_at=too_late),
        InvalidInput,
    )

    assert error.details["field"] == "effective_at"


def test_effective_time_within_the_clock_skew_is_accepted(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = wisconsin(do)
    slightly_ahead = clock.now() + timedelta(seconds=ledger.settings.clock_skew_seconds)

    do(
        RecordCourseCompletion(
            coc=w.coc,
            user_ref=w.user,
            course_code="WI-CE-101",
            provider="Synthetic LMS",
            effective_at=slightly_ahead,
        )
    )

    [completion] = user(ledger, w.coc, w.user).completed("WI-CE-101")
    assert completion.effective_at == slightly_ahead
    assert completion.recorded_at == clock.now()


def test_a_ledger_without_skew_refuses_any_future_effective_time(
    ledger: Ledger, do: Do, settings: Settings, clock: FixedClock
) -> None:
    w = wisconsin(do)
    strict = Ledger(settings.model_copy(update={"clock_skew_seconds": 0}), clock=clock)
    try:
        head = strict.head()
        with pytest.raises(InvalidInput):
            run(
                strict,
                DesignateHmisLead(
                    coc=w.coc,
                    organisation="Synthetic Lead",
                    effective_at=clock.now() + timedelta(seconds=1),
                ),
                ADMIN,
            )
        assert strict.head() == head
    finally:
        strict.close()


def test_a_past_effective_time_is_kept_apart_from_the_recorded_time(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = wisconsin(do)
    completed_on = clock.now() - timedelta(days=17)

    do(
        RecordCourseCompletion(
            coc=w.coc,
            user_ref=w.user,
            course_code="WI-CE-101",
            provider="Synthetic LMS",
            effective_at=completed_on,
        )
    )

    [completion] = user(ledger, w.coc, w.user).completed("WI-CE-101")
    assert (completion.effective_at, completion.recorded_at) == (completed_on, clock.now())
