"""Corrections: a retraction hides a fact, an amendment supersedes some of its fields, and the
original stored event always stays in the history unchanged."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from commands.agreements import SignAgreement
from commands.corrections import AmendEvent, RetractEvent
from commands.end_users import SubmitAccessRequest
from commands.obligations import RecordDataPartnerIntake, RecordIntakeEntered
from commands.organisations import AddRegion
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import LedgerAggregate
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake
from ledger.domain.organisations import CoC
from ledger.domain.vocabulary import Party
from ledger.errors import InvalidInput, NotFound
from ledger.settings import Settings
from tests.integration.builders import (
    Do,
    Wisconsin,
    coc,
    complete_course,
    happy_path,
    load,
    missouri,
    mo_assessor_trained,
    mo_moa_executed,
    mo_mou_drafted,
    refused,
    rejected,
    user,
    wisconsin,
)


def completion_id(ledger: Ledger, w: Wisconsin) -> UUID:
    completion = user(ledger, w.coc, w.user).last(EndUser.CourseCompleted)
    assert completion is not None
    return completion.event_id


def with_completion(do: Do) -> Wisconsin:
    w = wisconsin(do)
    complete_course(do, w.coc, w.user, "WI-CE-101", certificate_id="CERT-OLD")
    return w


def retract(
    w: Wisconsin, event_id: UUID, reason: str = "entered for the wrong user"
) -> RetractEvent:
    return RetractEvent(
        coc=w.coc, entity_kind="user", entity_ref=w.user, event_id=event_id, reason=reason
    )


def amend(w: Wisconsin, event_id: UUID, **changes: object) -> AmendEvent:
    return AmendEvent(
        coc=w.coc,
        entity_kind="user",
        entity_ref=w.user,
        event_id=event_id,
        reason="typo in the LMS export",
        changes=changes,
    )


def stored_event(ledger: Ledger, entity_id: UUID, event_id: UUID) -> LedgerAggregate.Event:
    [entry] = [h for h in ledger.history(entity_id) if h.event.event_id == event_id]
    assert isinstance(entry.event, LedgerAggregate.Event)
    return entry.event


# --- retractions -----------------------------------------------------------------------------


@happy_path(RetractEvent)
def test_retract_event_hides_the_fact_but_keeps_it_in_history(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)
    wrong = completion_id(ledger, w)

    do(retract(w, wrong))

    subject = user(ledger, w.coc, w.user)
    assert subject.completed("WI-CE-101") == []
    assert subject.is_retracted(wrong)
    history = [h.event for h in ledger.history(subject.id)]
    assert wrong in [e.event_id for e in history]
    retraction = history[-1]
    assert isinstance(retraction, LedgerAggregate.EventRetracted)
    assert (retraction.corrects, retraction.reason) == (wrong, "entered for the wrong user")


def test_retracting_the_only_assessor_completion_blocks_the_mou_again(
    ledger: Ledger, do: Do
) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)
    mo_mou_drafted(do, w)
    completion = user(ledger, w.coc, w.user).last(EndUser.CourseCompleted)
    assert completion is not None

    do(
        RetractEvent(
            coc=w.coc,
            entity_kind="user",
            entity_ref=w.user,
            event_id=completion.event_id,
            reason="certificate belongs to someone else",
        )
    )

    refused(
        ledger,
        do,
        SignAgreement(
            coc=w.coc, agreement_ref=w.mou, party=Party.AGENCY, signatory="mo-exec-director"
        ),
        "MO-606/ce-mou/after-assessor-training",
    )


def test_retracting_the_assessor_completion_blocks_the_uar_again(ledger: Ledger, do: Do) -> None:
    w = missouri(do)
    mo_assessor_trained(do, w)
    completion = user(ledger, w.coc, w.user).last(EndUser.CourseCompleted)
    assert completion is not None

    do(
        RetractEvent(
            coc=w.coc,
            entity_kind="user",
            entity_ref=w.user,
            event_id=completion.event_id,
            reason="course was not finished",
        )
    )

    refused(
        ledger,
        do,
        SubmitAccessRequest(
            coc=w.coc,
            user_ref=w.user,
            request_ref="uar-1",
            projects=["Synthetic Shelter Project"],
            submitted_by="mo-auth-rep",
        ),
        "MO-606/uar/litmos-certificate",
    )


def test_a_retracted_lms_completion_may_be_recorded_again(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    complete_course(do, w.coc, w.user, "WI-CE-101", source_record_id="ach-5")
    do(retract(w, completion_id(ledger, w)))

    complete_course(do, w.coc, w.user, "WI-CE-101", source_record_id="ach-5")

    assert len(user(ledger, w.coc, w.user).completed("WI-CE-101")) == 1


def test_a_coc_fact_is_retracted_with_an_empty_entity_ref(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    do(AddRegion(coc=w.coc, region="r1", region_name="Region Won"))
    added = coc(ledger, w.coc).last(CoC.RegionAdded)
    assert added is not None

    do(
        RetractEvent(
            coc=w.coc, entity_kind="coc", event_id=added.event_id, reason="region added by mistake"
        )
    )

    assert coc(ledger, w.coc).regions() == {}


def test_the_creation_of_an_entity_is_not_retractable(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    registered = user(ledger, w.coc, w.user).last(EndUser.Registered)
    assert registered is not None

    refused(ledger, do, retract(w, registered.event_id), "correction/creation-not-retractable")


def test_a_fact_is_retracted_only_once(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)
    wrong = completion_id(ledger, w)
    do(retract(w, wrong))

    refused(ledger, do, retract(w, wrong, "entered twice"), "correction/already-retracted")


def test_a_retracted_fact_cannot_be_amended(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)
    wrong = completion_id(ledger, w)
    do(retract(w, wrong))

    refused(ledger, do, amend(w, wrong, certificate_id="CERT-NEW"), "correction/already-retracted")


def test_a_retraction_cannot_itself_be_retracted(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)
    receipt = do(retract(w, completion_id(ledger, w)))
    retraction = ledger.history(receipt.entity_id)[-1].event

    refused(
        ledger,
        do,
        retract(w, retraction.event_id, "retracted by mistake"),
        "correction/no-correction-of-corrections",
    )


def test_an_amendment_cannot_itself_be_amended(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)
    receipt = do(amend(w, completion_id(ledger, w), certificate_id="CERT-NEW"))
    amendment = ledger.history(receipt.entity_id)[-1].event

    refused(
        ledger,
        do,
        AmendEvent(
            coc=w.coc,
            entity_kind="user",
            entity_ref=w.user,
            event_id=amendment.event_id,
            reason="wrong reason",
            changes={"reason": "another reason"},
        ),
        "correction/no-correction-of-corrections",
    )


def test_retracting_an_event_of_another_entity_is_not_found(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)

    rejected(
        ledger,
        do,
        RetractEvent(
            coc=w.coc,
            entity_kind="agency",
            entity_ref=w.agency,
            event_id=completion_id(ledger, w),
            reason="wrong entity",
        ),
        NotFound,
    )


def test_retracting_an_unknown_event_is_not_found(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    rejected(ledger, do, retract(w, uuid4()), NotFound)


def test_correcting_an_unknown_entity_is_not_found(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)

    rejected(
        ledger,
        do,
        RetractEvent(
            coc=w.coc,
            entity_kind="user",
            entity_ref="wi-nobody",
            event_id=uuid4(),
            reason="no such user",
        ),
        NotFound,
    )


# --- amendments ------------------------------------------------------------------------------


@happy_path(AmendEvent)
def test_amend_event_changes_a_field_and_keeps_the_stored_original(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)
    original = completion_id(ledger, w)

    do(amend(w, original, certificate_id="CERT-NEW"))

    subject = user(ledger, w.coc, w.user)
    [completion] = subject.completed("WI-CE-101")
    assert completion.certificate_id == "CERT-NEW"
    assert completion.event_id == original
    stored = stored_event(ledger, subject.id, original)
    assert isinstance(stored, EndUser.CourseCompleted)
    assert stored.certificate_id == "CERT-OLD"
    amendment = ledger.history(subject.id)[-1].event
    assert isinstance(amendment, LedgerAggregate.EventAmended)
    assert (amendment.corrects, amendment.changes) == (original, {"certificate_id": "CERT-NEW"})


def test_amending_effective_at_moves_the_fact_in_world_time_only(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = with_completion(do)
    original = completion_id(ledger, w)
    recorded_at = clock.now()
    really_completed = clock.now() - timedelta(days=40)
    clock.advance(timedelta(days=1))

    do(amend(w, original, effective_at=really_completed.isoformat()))

    [completion] = user(ledger, w.coc, w.user).completed("WI-CE-101")
    assert completion.effective_at == really_completed
    assert completion.recorded_at == recorded_at
    stored = stored_event(ledger, user(ledger, w.coc, w.user).id, original)
    assert stored.effective_at == recorded_at


def test_later_amendments_build_on_earlier_ones(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)
    original = completion_id(ledger, w)

    do(amend(w, original, certificate_id="CERT-NEW"))
    do(amend(w, original, score=88.0))

    [completion] = user(ledger, w.coc, w.user).completed("WI-CE-101")
    assert (completion.certificate_id, completion.score) == ("CERT-NEW", 88.0)


def test_an_amended_fact_can_still_be_retracted(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)
    original = completion_id(ledger, w)
    do(amend(w, original, certificate_id="CERT-NEW"))

    do(retract(w, original))

    assert user(ledger, w.coc, w.user).completed("WI-CE-101") == []


def test_the_creation_of_an_entity_may_be_amended(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    registered = user(ledger, w.coc, w.user).last(EndUser.Registered)
    assert registered is not None

    do(amend(w, registered.event_id, email="corrected@example.org"))

    amended = user(ledger, w.coc, w.user).last(EndUser.Registered)
    assert amended is not None
    assert amended.email == "corrected@example.org"


def test_amending_when_an_intake_was_received_moves_the_entry_rule(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = missouri(do)
    mo_moa_executed(do, w)
    do(
        RecordDataPartnerIntake(
            coc=w.coc,
            intake_ref="intake-1",
            client_ref="client-1c",
            collecting_agency_ref=w.non_hmis_agency,
            partner_agency_ref=w.agency,
            effective_at=clock.now() - timedelta(days=3),
        )
    )
    received = load(ledger, DataPartnerIntake, w.coc, "intake-1").received
    clock.advance(timedelta(days=1))
    do(
        AmendEvent(
            coc=w.coc,
            entity_kind="intake",
            entity_ref="intake-1",
            event_id=received.event_id,
            reason="received later than typed",
            changes={"effective_at": (clock.now() - timedelta(hours=2)).isoformat()},
        )
    )

    refused(
        ledger,
        do,
        RecordIntakeEntered(
            coc=w.coc,
            intake_ref="intake-1",
            entered_by="mo-user-1",
            effective_at=clock.now() - timedelta(days=2),
        ),
        "MO-606/data-partner/entry-after-intake",
    )


def test_an_amendment_of_an_unknown_field_is_invalid(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)

    rejected(ledger, do, amend(w, completion_id(ledger, w), grade="A"), InvalidInput)


def test_an_amendment_of_who_recorded_the_fact_is_invalid(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)

    rejected(ledger, do, amend(w, completion_id(ledger, w), actor="someone-else"), InvalidInput)


def test_an_amendment_with_an_invalid_value_is_invalid(ledger: Ledger, do: Do) -> None:
    w = with_completion(do)

    rejected(
        ledger, do, amend(w, completion_id(ledger, w), effective_at="last tuesday"), InvalidInput
    )


def test_corrections_hold_after_reading_from_a_fresh_ledger(
    ledger: Ledger, do: Do, settings: Settings, clock: FixedClock
) -> None:
    w = wisconsin(do)
    complete_course(do, w.coc, w.user, "WI-CE-101", certificate_id="CERT-OLD")
    complete_course(do, w.coc, w.user, "WI-CE-102")
    first, second = (c.event_id for c in user(ledger, w.coc, w.user).facts(EndUser.CourseCompleted))
    do(amend(w, first, certificate_id="CERT-NEW"))
    do(retract(w, second))

    fresh = Ledger(settings, clock=clock)
    try:
        reloaded = user(fresh, w.coc, w.user)
    finally:
        fresh.close()

    assert [(c.course_code, c.certificate_id) for c in reloaded.facts(EndUser.CourseCompleted)] == [
        ("WI-CE-101", "CERT-NEW")
    ]


def test_an_amendment_cannot_move_a_fact_into_the_future(
    ledger: Ledger, do: Do, clock: FixedClock
) -> None:
    w = with_completion(do)
    tomorrow = clock.now() + timedelta(days=1)

    rejected(
        ledger,
        do,
        amend(w, completion_id(ledger, w), effective_at=tomorrow.isoformat()),
        InvalidInput,
    )


def test_an_amendment_cannot_change_a_natural_key(ledger: Ledger, do: Do) -> None:
    w = wisconsin(do)
    registered = user(ledger, w.coc, w.user).last(EndUser.Registered)
    assert registered is not None

    rejected(ledger, do, amend(w, registered.event_id, ref="SOMEONE-ELSE"), InvalidInput)
