"""The read models' cache of entities is bounded by the events its entities hold, not only by
how many it holds: an agency's history grows with the log."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from projections.readmodels.entities import Cache


def entity(version: int) -> Any:
    return SimpleNamespace(version=version)


def kept(cache: Cache) -> set[UUID]:
    return set(cache.cache)


def test_the_least_recently_used_entities_go_once_their_events_pass_the_bound() -> None:
    cache = Cache(maxsize=100, max_events=10)
    a, b, c = uuid4(), uuid4(), uuid4()
    cache.put(a, entity(4))
    cache.put(b, entity(4))
    cache.get(a)  # b is now the least recently used
    cache.put(c, entity(4))
    assert kept(cache) == {a, c}
    assert cache.events == 8


def test_an_entity_put_again_counts_its_events_once_at_its_new_version() -> None:
    cache = Cache(maxsize=100, max_events=10)
    a, b = uuid4(), uuid4()
    cache.put(a, entity(3))
    cache.put(b, entity(3))
    cache.put(a, entity(6))
    assert kept(cache) == {a, b}
    assert cache.events == 9
    cache.put(a, entity(8))  # 11 > 10: b, used least recently, goes
    assert kept(cache) == {a}
    assert cache.events == 8


def test_one_entity_larger_than_the_bound_is_still_kept() -> None:
    cache = Cache(maxsize=100, max_events=10)
    a, b = uuid4(), uuid4()
    cache.put(a, entity(2))
    cache.put(b, entity(50))
    assert kept(cache) == {b}
    assert cache.events == 50


def test_the_bound_on_how_many_still_holds() -> None:
    cache = Cache(maxsize=2, max_events=1000)
    ids = [uuid4() for _ in range(3)]
    for i in ids:
        cache.put(i, entity(1))
    assert kept(cache) == set(ids[1:])
    assert cache.events == 2
