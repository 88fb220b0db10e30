"""The progress watch: one poller serves every waiter, and only while someone waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from api.consistency import ProgressWatch
from ledger.domain.base import LedgerEvent
from projections.readmodels.feed import Progress, _topics


class Positions:
    """A read function whose position a test moves, counting how often it is read."""

    def __init__(self) -> None:
        self.position = 0
        self.settled = True
        self.reads = 0

    def __call__(self) -> Progress:
        self.reads += 1
        return Progress(1, self.position, self.settled)


def at_least(position: int) -> Callable[[Progress], bool]:
    return lambda p: p.position >= position


async def test_every_waiter_wakes_once_the_position_is_reached() -> None:
    read = Positions()
    watch = ProgressWatch(read, interval=0.01)
    waiters = [asyncio.create_task(watch.wait_until(at_least(5), 2)) for _ in range(20)]
    await asyncio.sleep(0.05)
    assert not any(w.done() for w in waiters)

    read.position = 5
    found = await asyncio.wait_for(asyncio.gather(*waiters), 1)

    assert {p.position for p in found if p is not None} == {5}
    assert read.reads < 20 * 2  # one poller for all, not one per waiter


async def test_a_wait_past_its_timeout_raises_timeout_error() -> None:
    watch = ProgressWatch(Positions(), interval=0.01)

    with pytest.raises(TimeoutError):
        await watch.wait_until(at_least(1), 0.1)


async def test_nothing_is_read_while_nobody_waits() -> None:
    read = Positions()
    watch = ProgressWatch(read, interval=0.01)
    await watch.wait_until(at_least(0), 1)
    reads = read.reads

    await asyncio.sleep(0.1)

    assert read.reads == reads


async def test_closing_the_watch_wakes_its_waiters_at_once() -> None:
    watch = ProgressWatch(Positions(), interval=0.01)
    waiter = asyncio.create_task(watch.wait_until(at_least(9), 30))
    await asyncio.sleep(0.05)

    await watch.close()
    found = await asyncio.wait_for(waiter, 1)

    assert found is not None
    assert found.position == 0
    assert watch.closed


async def test_a_failing_read_is_retried_and_the_waiter_wakes_when_it_answers() -> None:
    read = Positions()
    failures = iter([True, True])

    def flaky() -> Progress:
        if next(failures, False):
            raise OSError("store unavailable")
        return read()

    read.position = 3
    watch = ProgressWatch(flaky, interval=0.01)

    found = await watch.wait_until(at_least(3), 1)

    assert found is not None
    assert found.position == 3


def test_every_event_class_has_its_stored_topic_by_qualified_name() -> None:
    topics = _topics()
    stack: list[type[LedgerEvent]] = [LedgerEvent]
    while stack:
        for cls in stack.pop().__subclasses__():
            stack.append(cls)
            assert topics[cls.__qualname__] == f"{cls.__module__}:{cls.__qualname__}"
