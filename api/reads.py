"""Where a handler runs a read-model query: on the event loop when reads are local, else in
a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from aiohttp import web

from api.keys import READ_MODELS
from projections.readmodels.queries import TABLES_ONLY, NeedsStore

P = ParamSpec("P")
T = TypeVar("T")


async def read_models(
    request: web.Request, query: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``query(*args, **kwargs)``, a query of the read-model tables.

    On a SQLite file it runs on the event loop: such a read takes tens of microseconds on a
    connection of its own (``ledger/sqlite_reads.py``), less than handing it to a thread, and
    under load a thread then waits for the GIL behind the loop (scripts/bench_api's reads about
    tripled). A query that would read the event store as well
    raises ``NeedsStore`` there, and runs again in a thread, as every query does on
    PostgreSQL, so the loop never waits for the store's connection pool.
    """
    if request.app[READ_MODELS].db.reads_are_local:
        token = TABLES_ONLY.set(True)
        try:
            return query(*args, **kwargs)
        except NeedsStore:
            pass
        finally:
            TABLES_ONLY.reset(token)
    return await asyncio.to_thread(query, *args, **kwargs)
