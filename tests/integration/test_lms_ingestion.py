"""LMS completions: recorded once under the source's id, matched through linked accounts and
courses, held (never dropped) when they do not match, and released by a link or a retry."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from commands.base import Caller
from commands.hard_rules import IL_INTRO_COURSE, MO_ASSESSOR_COURSE
from commands.lms import Ingested, LmsCompletionIn, ingest, preview, unmatched
from commands.lms_links import LinkLmsAccount, LinkLmsCourse, RematchLmsCompletions
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import Source
from ledger.domain.end_users import EndUser
from ledger.domain.lms import HoldReason, LmsCompletion, LmsProvider, Outcome
from ledger.errors import InvalidInput, NotFound
from ledger.ids import entity_id
from ledger.settings import Settings
from tests.conftest import START
from tests.integration.builders import (
    Do,
    chicago,
    happy_path,
    il_training_request,
    missouri,
    refused,
    register_user,
    rejected,
    user,
)

LMS = Caller(actor="litmos-webhook", source=Source.LMS, request_id="req-lms")
COMPLETED = START - timedelta(days=3)


def achievement(
    source_id: str = "368800", *, coc: str = "MO-606", **changes: Any
) -> LmsCompletionIn:
    fields: dict[str, Any] = {
        "coc": coc,
        "provider": LmsProvider.LITMOS,
        "source_id": source_id,
        "effective_at": COMPLETED,
        "lms_user_id": "yj-nr8PhW8o1",
        "lms_login": "learner.one@example.org",
        "lms_course_id": "nAcqwEA8jUo1",
        "course_code": MO_ASSESSOR_COURSE,
        "course_title": "CE Assessor Training",
        "certificate_id": "biZrK8ab0LE1",
        "result": "Completed",
    }
    return LmsCompletionIn(**(fields | changes))


def completions(ledger: Ledger, coc: str, user_ref: str) -> list[EndUser.CourseCompleted]:
    return list(user(ledger, coc, user_ref).facts(EndUser.CourseCompleted))


def link(do: Do, user_ref: str = "mo-user-1", **keys: str) -> None:
    do(
        LinkLmsAccount(
            coc="MO-606",
            user_ref=user_ref,
            provider=LmsProvider.LITMOS,
            **(keys or {"lms_user_id": "yj-nr8PhW8o1"}),
        )
    )


# --- duplicates --------------------------------------------------------------------------------


def test_a_completion_delivered_three_times_is_recorded_once(ledger: Ledger, do: Do) -> None:
    missouri(do)
    link(do)

    first = ingest(ledger, achievement(), LMS)
    head = ledger.head()
    again = [ingest(ledger, achievement(), LMS) for _ in range(2)]

    assert first.outcome is Outcome.RECORDED
    assert not first.duplicate
    assert [a.duplicate for a in again] == [True, True]
    assert {a.record_id for a in again} == {first.record_id}
    assert {a.position for a in again} == {first.position}
    assert ledger.head() == head
    [completion] = completions(ledger, "MO-606", "mo-user-1")
    assert completion.source_record_id == "litmos:368800"
    assert completion.course_code == MO_ASSESSOR_COURSE
    assert completion.effective_at == COMPLETED


def test_an_unmatched_completion_delivered_again_is_held_once(ledger: Ledger, do: Do) -> None:
    missouri(do)

    results = [ingest(ledger, achievement(), LMS) for _ in range(3)]

    assert [r.outcome for r in results] == [Outcome.UNMATCHED] * 3
    assert [r.duplicate for r in results] == [False, True, True]
    assert len(unmatched(ledger, "MO-606")) == 1


def test_concurrent_deliveries_of_one_completion_from_two_processes_write_it_once(
    settings: Settings, ledger: Ledger, do: Do
) -> None:
    missouri(do)
    link(do)
    other = Ledger(settings, clock=FixedClock(START))
    barrier = threading.Barrier(6)

    def deliver(app: Ledger) -> Ingested:
        barrier.wait()
        return ingest(app, achievement(), LMS)

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(deliver, [ledger, other] * 3))
    finally:
        other.close()

    assert sorted(r.duplicate for r in results) == [False] + [True] * 5
    assert {r.record_id for r in results} == {results[0].record_id}
    fresh = Ledger(settings, clock=FixedClock(START))  # the store, not a process's cache
    try:
        stored = fresh.repository.get(entity_id("user", "MO-606", "mo-user-1"))
        record_events = list(fresh.events.get(results[0].record_id))
    finally:
        fresh.close()
    assert isinstance(stored, EndUser)
    assert len(list(stored.facts(EndUser.CourseCompleted))) == 1
    assert len(record_events) == 1


def test_concurrent_unmatched_deliveries_from_two_processes_are_all_held(
    settings: Settings, ledger: Ledger, do: Do
) -> None:
    missouri(do)
    other = Ledger(settings, clock=FixedClock(START))
    barrier = threading.Barrier(6)

    def deliver(n: int) -> Ingested:
        barrier.wait()
        return ingest([ledger, other][n % 2], achievement(f"a-{n}", lms_user_id=f"s-{n}"), LMS)

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(deliver, range(6)))
    finally:
        other.close()

    assert [r.outcome for r in results] == [Outcome.UNMATCHED] * 6
    fresh = Ledger(settings, clock=FixedClock(START))
    try:
        held = unmatched(fresh, "MO-606")
    finally:
        fresh.close()
    assert sorted(h["lms_user_id"] for h in held) == [f"s-{n}" for n in range(6)]


def test_a_duplicate_with_other_content_is_reported_as_conflicting_and_not_written(
    ledger: Ledger, do: Do
) -> None:
    missouri(do)
    ingest(ledger, achievement(), LMS)
    head = ledger.head()

    again = ingest(ledger, achievement(certificate_id="another-certificate"), LMS)

    assert again.duplicate
    assert again.conflicting
    assert ledger.head() == head


# --- unmatched ---------------------------------------------------------------------------------


def test_a_completion_of_an_unknown_user_is_held_listed_and_kept_in_the_ledger(
    ledger: Ledger, do: Do
) -> None:
    missouri(do)

    result = ingest(ledger, achievement(), LMS)

    assert result.outcome is Outcome.UNMATCHED
    assert result.reason is HoldReason.UNKNOWN_USER
    assert result.user_ref is None
    [held] = unmatched(ledger, "MO-606")
    assert held["record_id"] == result.record_id
    assert held["source_record_id"] == "litmos:368800"
    assert held["reason"] is HoldReason.UNKNOWN_USER
    assert held["lms_user_id"] == "yj-nr8PhW8o1"
    assert held["completed_at"] == COMPLETED
    record = ledger.load(LmsCompletion, result.record_id)
    assert record is not None
    assert record.received.course_code == MO_ASSESSOR_COURSE
    assert completions(ledger, "MO-606", "mo-user-1") == []


def test_linking_the_account_records_the_held_completion_at_its_completion_time(
    ledger: Ledger, do: Do
) -> None:
    missouri(do)
    held = ingest(ledger, achievement(), LMS)

    link(do, lms_login="Learner.One@Example.org")

    assert unmatched(ledger, "MO-606") == []
    [completion] = completions(ledger, "MO-606", "mo-user-1")
    assert completion.effective_at == COMPLETED
    assert completion.source_record_id == "litmos:368800"
    again = ingest(ledger, achievement(), LMS)
    assert again.duplicate
    assert again.outcome is Outcome.RECORDED
    assert again.user_ref == "mo-user-1"
    assert again.record_id == held.record_id


def test_an_account_linked_by_login_matches_without_regard_to_case(ledger: Ledger, do: Do) -> None:
    missouri(do)
    link(do, lms_login="LEARNER.ONE@example.org")

    result = ingest(ledger, achievement(lms_user_id="other-id"), LMS)

    assert result.outcome is Outcome.RECORDED
    assert result.user_ref == "mo-user-1"


def test_a_course_no_policy_pack_names_is_held_until_the_course_is_linked(
    ledger: Ledger, do: Do
) -> None:
    missouri(do)
    link(do)
    result = ingest(ledger, achievement(course_code=None), LMS)
    assert result.reason is HoldReason.UNKNOWN_COURSE

    do(
        LinkLmsCourse(
            coc="MO-606",
            provider=LmsProvider.LITMOS,
            lms_course_id="nAcqwEA8jUo1",
            course_code=MO_ASSESSOR_COURSE,
        )
    )

    assert unmatched(ledger, "MO-606") == []
    [completion] = completions(ledger, "MO-606", "mo-user-1")
    assert completion.course_code == MO_ASSESSOR_COURSE


def test_a_completion_a_hard_rule_refuses_is_held_and_a_rematch_records_it_later(
    ledger: Ledger, do: Do
) -> None:
    w = chicago(do)
    do(
        LinkLmsAccount(
            coc=w.coc, user_ref=w.user, provider=LmsProvider.TALENT_LMS, lms_user_id="42"
        )
    )
    intro = achievement(
        "42:7:2026-02-27",
        coc=w.coc,
        provider=LmsProvider.TALENT_LMS,
        lms_user_id="42",
        course_code=IL_INTRO_COURSE,
    )
    result = ingest(ledger, intro, LMS)
    [held] = unmatched(ledger, w.coc)
    assert result.reason is HoldReason.REFUSED
    assert "IL-510/step-1/training-request-first" in held["detail"]

    il_training_request(do, w)
    receipt = do(RematchLmsCompletions(coc=w.coc))

    assert unmatched(ledger, w.coc) == []
    assert [c.course_code for c in completions(ledger, w.coc, w.user)] == [IL_INTRO_COURSE]
    assert len(receipt.events) == 4  # the completion, the match, the release, the run


def test_an_achievement_that_is_no_course_completion_is_kept_but_not_held(
    ledger: Ledger, do: Do
) -> None:
    missouri(do)
    link(do)

    result = ingest(ledger, achievement(is_course_completion=False), LMS)

    assert result.outcome is Outcome.IGNORED
    assert ledger.load(LmsCompletion, result.record_id) is not None
    assert unmatched(ledger, "MO-606") == []
    assert completions(ledger, "MO-606", "mo-user-1") == []


def test_a_completion_in_the_future_is_refused(ledger: Ledger, do: Do) -> None:
    missouri(do)
    head = ledger.head()

    with pytest.raises(InvalidInput):
        ingest(ledger, achievement(effective_at=START + timedelta(days=1)), LMS)

    assert ledger.head() == head


def test_preview_says_what_would_happen_and_writes_nothing(ledger: Ledger, do: Do) -> None:
    missouri(do)
    link(do)
    head = ledger.head()

    result = preview(ledger, achievement(), LMS)

    assert result.outcome is Outcome.RECORDED
    assert result.position is None
    assert ledger.head() == head
    assert completions(ledger, "MO-606", "mo-user-1") == []
    assert not ingest(ledger, achievement(), LMS).duplicate


def test_the_unmatched_list_pages_with_a_cursor(ledger: Ledger, do: Do) -> None:
    missouri(do)
    for n in range(3):
        ingest(ledger, achievement(f"a-{n}"), LMS)

    first = unmatched(ledger, "MO-606", limit=2)
    rest = unmatched(ledger, "MO-606", after=first[-1]["cursor"], limit=2)

    assert [i["source_record_id"] for i in first + rest] == [f"litmos:a-{n}" for n in range(3)]


def test_the_unmatched_list_of_an_unknown_coc_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        unmatched(ledger, "ZZ-999")


# --- the link commands -------------------------------------------------------------------------


@happy_path(LinkLmsAccount)
def test_link_lms_account_links_both_keys_to_the_user(ledger: Ledger, do: Do) -> None:
    missouri(do)

    receipt = do(
        LinkLmsAccount(
            coc="MO-606",
            user_ref="mo-user-1",
            provider=LmsProvider.LITMOS,
            lms_user_id="yj-nr8PhW8o1",
            lms_login="learner.one@example.org",
        )
    )

    assert len(receipt.events) == 2
    by_id = ingest(ledger, achievement("a-1", lms_login=None), LMS)
    by_login = ingest(ledger, achievement("a-2", lms_user_id="unknown"), LMS)
    assert by_id.user_ref == by_login.user_ref == "mo-user-1"


def test_linking_an_account_to_another_user_relinks_it(ledger: Ledger, do: Do) -> None:
    missouri(do)
    do(
        LinkLmsAccount(
            coc="MO-606", user_ref="mo-user-1", provider=LmsProvider.LITMOS, lms_user_id="x"
        )
    )
    register_user(do, "MO-606", "mo-user-2", "mo-harbor")

    link(do, "mo-user-2", lms_user_id="x")

    assert ingest(ledger, achievement(lms_user_id="x", lms_login=None), LMS).user_ref == (
        "mo-user-2"
    )


def test_linking_an_account_again_to_the_same_user_is_refused(ledger: Ledger, do: Do) -> None:
    missouri(do)
    link(do)

    refused(
        ledger,
        do,
        LinkLmsAccount(
            coc="MO-606",
            user_ref="mo-user-1",
            provider=LmsProvider.LITMOS,
            lms_user_id="yj-nr8PhW8o1",
        ),
        "lms/link-changes",
    )


def test_linking_an_account_to_an_unregistered_user_is_not_found(ledger: Ledger, do: Do) -> None:
    missouri(do)

    rejected(
        ledger,
        do,
        LinkLmsAccount(coc="MO-606", user_ref="nobody", provider="litmos", lms_user_id="x"),
        NotFound,
    )


def test_a_link_needs_an_lms_user_id_or_login() -> None:
    with pytest.raises(ValueError, match="lms_user_id, lms_login"):
        LinkLmsAccount(coc="MO-606", user_ref="mo-user-1", provider="litmos")


@happy_path(LinkLmsCourse)
def test_link_lms_course_maps_the_lms_course_id_to_a_course_code(ledger: Ledger, do: Do) -> None:
    missouri(do)
    link(do)

    do(
        LinkLmsCourse(
            coc="MO-606",
            provider=LmsProvider.LITMOS,
            lms_course_id="course-77",
            course_code=MO_ASSESSOR_COURSE,
        )
    )

    result = ingest(ledger, achievement(lms_course_id="course-77", course_code=None), LMS)
    assert result.course_code == MO_ASSESSOR_COURSE


def test_a_course_link_to_a_code_no_policy_pack_names_is_refused(ledger: Ledger, do: Do) -> None:
    missouri(do)

    refused(
        ledger,
        do,
        LinkLmsCourse(
            coc="MO-606", provider="litmos", lms_course_id="c-1", course_code="NOT-A-COURSE"
        ),
        "lms/course-in-policy",
    )


@happy_path(RematchLmsCompletions)
def test_rematch_records_what_matches_now_and_counts_what_is_still_held(
    ledger: Ledger, do: Do
) -> None:
    missouri(do)
    ingest(ledger, achievement("a-1"), LMS)
    ingest(ledger, achievement("a-2", lms_user_id="someone-else", lms_login=None), LMS)
    do(
        LinkLmsAccount(
            coc="MO-606",
            user_ref="mo-user-1",
            provider=LmsProvider.TALENT_LMS,  # another LMS: releases nothing held from Litmos
            lms_user_id="yj-nr8PhW8o1",
        )
    )
    assert len(unmatched(ledger, "MO-606")) == 2

    receipt = do(RematchLmsCompletions(coc="MO-606"))

    assert len(unmatched(ledger, "MO-606")) == 2
    assert [e.topic.rsplit(".", 1)[-1] for e in receipt.events] == ["RematchRun"]


def test_rematch_without_any_held_completion_is_not_found(ledger: Ledger, do: Do) -> None:
    missouri(do)

    rejected(ledger, do, RematchLmsCompletions(coc="MO-606"), NotFound)


def test_a_retry_that_finds_another_reason_holds_it_for_that_reason(ledger: Ledger, do: Do) -> None:
    missouri(do)
    ingest(ledger, achievement(course_code="NOT-IN-ANY-PACK"), LMS)
    assert unmatched(ledger, "MO-606")[0]["reason"] is HoldReason.UNKNOWN_USER

    link(do)

    [held] = unmatched(ledger, "MO-606")
    assert held["reason"] is HoldReason.UNKNOWN_COURSE


def test_linking_one_account_releases_only_the_completions_it_names(ledger: Ledger, do: Do) -> None:
    missouri(do)
    ingest(ledger, achievement("a-1"), LMS)
    ingest(ledger, achievement("a-2", lms_user_id="other", lms_login="other@example.org"), LMS)

    link(do)

    assert [h["source_record_id"] for h in unmatched(ledger, "MO-606")] == ["litmos:a-2"]


def test_an_account_linked_by_e_mail_releases_a_completion_that_carried_it(
    ledger: Ledger, do: Do
) -> None:
    missouri(do)
    ingest(ledger, achievement(lms_login=None, lms_email="Learner.One@example.org"), LMS)

    link(do, lms_login="learner.one@example.org")

    assert unmatched(ledger, "MO-606") == []
    assert len(completions(ledger, "MO-606", "mo-user-1")) == 1
