"""The same ledger behaviour on every backend: a command is stored and read back in order."""

from __future__ import annotations

from collections.abc import Callable

from commands.base import Command, Receipt
from commands.organisations import RegisterAgency, RegisterCoc
from ledger.application import Ledger
from ledger.domain.organisations import Agency


def test_command_is_in_entity_history_with_both_clocks_and_actor(
    ledger: Ledger, do: Callable[[Command], Receipt]
) -> None:
    do(RegisterCoc(coc="MO-606", coc_name="Demo BoS", process="mo-bos"))
    receipt = do(RegisterAgency(coc="MO-606", agency_ref="AG1", agency_name="Agency One"))

    history = ledger.history(receipt.entity_id)

    assert [type(h.event) for h in history] == [Agency.Registered]
    assert history[0].position == receipt.position
    assert history[0].event.actor == "tester"
    assert history[0].event.recorded_at == ledger.clock.now()
    assert history[0].event.effective_at == ledger.clock.now()
