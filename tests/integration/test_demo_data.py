"""The demo data set loads on every backend, covers the four CoCs, and loads again harmlessly."""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from commands.demo import load_demo
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.agreements import Agreement
from ledger.domain.base import LedgerAggregate, Source
from ledger.domain.end_users import EndUser
from ledger.domain.obligations import DataPartnerIntake, FollowUp
from ledger.domain.organisations import Agency, CoC
from ledger.domain.vocabulary import CredentialState, FollowUpRecord, Process
from ledger.ids import entity_id
from projections.compliance.service import ComplianceService

A = TypeVar("A", bound=LedgerAggregate)

DEMO_COCS = {
    "MO-606": Process.MISSOURI_BOS,
    "CA-600": Process.LAHSA,
    "IL-510": Process.CHICAGO,
    "WI-500": Process.WISCONSIN_BOS,
}


def _get(ledger: Ledger, cls: type[A], coc: str, *key: str) -> A:
    found = ledger.load(cls, entity_id(cls.kind, coc, *key))
    assert found is not None, f"{cls.kind} {key} missing in {coc}"
    return found


def test_demo_data_covers_the_four_cocs_with_their_processes(ledger: Ledger) -> None:
    assert load_demo(ledger) > 0

    for code, process in DEMO_COCS.items():
        assert _get(ledger, CoC, code).process is process


def test_demo_data_has_a_fully_executed_mou_and_an_entered_intake(ledger: Ledger) -> None:
    load_demo(ledger)

    assert _get(ledger, Agreement, "MO-606", "ce-mou.MO-CFS.R1").fully_executed
    assert _get(ledger, Agreement, "MO-606", "data-moa.MO-LOP.MO-CFS").fully_executed
    assert _get(ledger, DataPartnerIntake, "MO-606", "MO-IN-0001").entered is not None


def test_demo_data_gives_credentials_in_la_and_chicago_and_records_wi_follow_ups(
    ledger: Ledger,
) -> None:
    load_demo(ledger)

    assert _get(ledger, Agency, "CA-600", "CA-SCH").program_setup_confirmed()
    for coc, user_ref in (
        ("CA-600", "ca-u1"),
        ("CA-600", "ca-u2"),
        ("IL-510", "il-u1"),
        ("MO-606", "mo-u1"),
    ):
        assert _get(ledger, EndUser, coc, user_ref).credentials is CredentialState.ACTIVE
    assert _get(ledger, FollowUp, "WI-500", "FU-0001").records() == set(FollowUpRecord)
    assert _get(ledger, FollowUp, "WI-500", "FU-0002").records() == {FollowUpRecord.CE_NOTE}


def test_demo_data_holds_one_correction_and_only_past_dates(ledger: Ledger) -> None:
    load_demo(ledger)

    user = _get(ledger, EndUser, "WI-500", "wi-u1")
    [amendment] = [
        h.event
        for h in ledger.history(user.id)
        if isinstance(h.event, LedgerAggregate.EventAmended)
    ]
    [corrected] = user.completed("WI-CE-CORE")
    assert corrected.event_id == amendment.corrects
    assert corrected.effective_at < user.recorded_event(amendment.corrects).effective_at
    now = ledger.clock.now()
    for code in DEMO_COCS:
        for entry in ledger.history(entity_id("coc", code)):
            assert entry.event.effective_at < now
            assert (entry.event.actor, entry.event.source) == ("demo-loader", Source.DEMO)


def test_loading_the_demo_data_again_days_later_writes_nothing(
    ledger: Ledger, clock: FixedClock
) -> None:
    count = load_demo(ledger)
    head = ledger.head()
    clock.advance(timedelta(days=3))

    assert load_demo(ledger) == count
    assert ledger.head() == head


def test_demo_cocs_adopt_their_policy_packs_and_users_can_be_evaluated(
    ledger: Ledger,
) -> None:
    load_demo(ledger)
    service = ComplianceService(ledger)

    evaluation = service.evaluate_user("CA-600", "ca-u1", ledger.clock.now())

    assert evaluation.policy.version == "2026.1"
    assert evaluation.access is not None
    assert evaluation.access.hmis_role in ("CES_Assessments", "CES_Housing_Provider")
