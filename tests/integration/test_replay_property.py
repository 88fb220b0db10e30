"""Property: whatever commands and corrections a user goes through, the state a process holds
in its cache equals the state rebuilt from the stored events by a fresh process."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.base import Command, Receipt
from commands.corrections import AmendEvent, RetractEvent
from commands.end_users import (
    RecordCourseCompletion,
    RegisterEndUser,
    RequestRole,
    SignForm,
)
from commands.organisations import RegisterAgency, RegisterCoc
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import FormKind
from ledger.errors import LedgerError
from ledger.ids import entity_id
from ledger.settings import Settings
from tests.conftest import START

COC = "WI-500"
users = itertools.count()

step = st.one_of(
    st.tuples(
        st.just("complete"), st.sampled_from(["WI-CE-1", "WI-CE-2", "WI-CE-3"]), st.integers(1, 400)
    ),
    st.tuples(st.just("role"), st.sampled_from(["assessor", "navigator"]), st.just(0)),
    st.tuples(st.just("form"), st.sampled_from(list(FormKind)), st.integers(1, 3)),
    st.tuples(st.just("retract"), st.just(""), st.integers(0, 30)),
    st.tuples(st.just("amend"), st.just(""), st.integers(0, 30)),
)


def state(user: EndUser) -> tuple[object, ...]:
    return (
        user.version,
        [
            (c.course_code, c.certificate_id, c.effective_at)
            for c in user.facts(EndUser.CourseCompleted)
        ],
        [r.role for r in user.facts(EndUser.RoleRequested)],
        [(f.form, f.revision) for f in user.facts(EndUser.FormSigned)],
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=1, max_size=15))
def test_cached_state_equals_state_replayed_from_the_store(
    ledger: Ledger,
    do: Callable[[Command], Receipt],
    settings: Settings,
    steps: list[tuple[str, object, int]],
) -> None:
    if ledger.tenant_process(COC) is None:
        do(RegisterCoc(coc=COC, coc_name="Synthetic Balance of State", process="wi-bos"))
        do(RegisterAgency(coc=COC, agency_ref="AG1", agency_name="Northwoods Shelter"))
    ref = f"U{next(users)}"
    do(RegisterEndUser(coc=COC, user_ref=ref, agency_ref="AG1"))
    user_id = entity_id("user", COC, ref)

    for n, (kind, value, number) in enumerate(steps):
        facts = [h.event.event_id for h in ledger.history(user_id)[1:]]
        when = START - timedelta(days=number)
        command: Command
        if kind == "complete":
            command = RecordCourseCompletion(
                coc=COC,
                user_ref=ref,
                course_code=str(value),
                provider="lms",
                certificate_id=f"C{n}",
                effective_at=when,
            )
        elif kind == "role":
            command = RequestRole(coc=COC, user_ref=ref, role=str(value))
        elif kind == "form":
            command = SignForm(coc=COC, user_ref=ref, form=value, revision=f"r{number}")
        elif not facts:
            continue
        elif kind == "retract":
            command = RetractEvent(
                coc=COC,
                entity_kind="user",
                entity_ref=ref,
                event_id=facts[number % len(facts)],
                reason="mistake",
            )
        else:
            command = AmendEvent(
                coc=COC,
                entity_kind="user",
                entity_ref=ref,
                event_id=facts[number % len(facts)],
                reason="wrong date",
                changes={"effective_at": when.isoformat()},
            )
        with contextlib.suppress(LedgerError):  # a refused command writes nothing
            do(command)

    live = ledger.load(EndUser, user_id)
    fresh = Ledger(settings, clock=FixedClock(START))
    try:
        replayed = fresh.load(EndUser, user_id)
    finally:
        fresh.close()
    assert live is not None
    assert replayed is not None
    assert state(live) == state(replayed)
