"""Fewer garbage collections inside a follower's catch-up, and the thresholds restored."""

from __future__ import annotations

import gc
import threading

from projections.readmodels.gc_tuning import BULK_THRESHOLDS, fewer_collections


def test_thresholds_are_raised_inside_nested_blocks_and_restored_after_the_last() -> None:
    before = gc.get_threshold()
    assert before != BULK_THRESHOLDS
    with fewer_collections():
        assert gc.get_threshold() == BULK_THRESHOLDS
        with fewer_collections():
            assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_threshold() == BULK_THRESHOLDS  # the outer block still runs
    assert gc.get_threshold() == before


def test_a_block_in_another_thread_keeps_them_raised_until_it_ends() -> None:
    before = gc.get_threshold()
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with fewer_collections():
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(10)
    with fewer_collections():
        pass
    assert gc.get_threshold() == BULK_THRESHOLDS  # the other thread's block is open
    leave.set()
    thread.join()
    assert gc.get_threshold() == before


def test_thresholds_are_restored_when_the_block_raises() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise KeyError("boom")
    except KeyError:
        pass
    assert gc.get_threshold() == before
