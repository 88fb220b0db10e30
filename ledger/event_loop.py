"""The event loop the service runs on: uvloop (libuv) where it is installed, else asyncio's.

uvloop does the loop's own work (sockets, transports, timers, callbacks) in C: counted by
scripts/bench_api_instructions, a read costs the service about a tenth fewer instructions on
it than on asyncio's loop (499k against 553k for the read mix), a write about 6% fewer.
``COC_LEDGER_EVENT_LOOP`` chooses: ``auto`` (the default: uvloop if importable), ``uvloop``
(an error if it is not installed, e.g. on Windows, where it has no wheel) or ``asyncio``.
"""

from __future__ import annotations

import asyncio
import importlib.util

from ledger.errors import InvalidInput

UVLOOP, ASYNCIO = "uvloop", "asyncio"


def resolve(choice: str) -> str:
    """The loop ``choice`` (auto, uvloop or asyncio) stands for on this machine."""
    installed = importlib.util.find_spec(UVLOOP) is not None
    if choice == UVLOOP and not installed:
        raise InvalidInput(
            "COC_LEDGER_EVENT_LOOP=uvloop, but uvloop is not installed here; install it "
            "(pip install uvloop) or choose asyncio"
        )
    if choice == "auto":
        return UVLOOP if installed else ASYNCIO
    return choice


def new_event_loop(name: str) -> asyncio.AbstractEventLoop:
    """A new loop of the kind ``resolve`` named."""
    if name == UVLOOP:
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()
