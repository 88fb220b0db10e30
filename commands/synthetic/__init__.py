"""Deterministic synthetic event logs at the scale tiers of DOMAIN.md section 7.

``generate(ledger, tier="small", seed=0)`` walks CoCs, agencies and users through their CoC's
process with the aggregates' own event methods (not the command layer, which would be too slow
for millions of events) and saves them with ``Ledger.save_all`` in batches, in recorded-time
order across all entities. Recorded times come from a fixed synthetic clock ending at
``WINDOW_END``, event ids from the seeded random generator: the same seed and tier give
byte-identical stored events. Every name and e-mail address is invented (``example.org``).
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from commands.synthetic.organisations import coc_script, open_coc
from commands.synthetic.tiers import TIERS, WINDOW_END, CocPlan, Plan, plan
from commands.synthetic.users import new_user
from commands.synthetic.world import Progress, World
from ledger.application import Ledger
from ledger.errors import InvalidInput

__all__ = ["TIERS", "WINDOW_END", "CocPlan", "GenerationReport", "Plan", "generate", "plan"]


@dataclass(frozen=True)
class GenerationReport:
    """What a run wrote."""

    tier: str
    seed: int
    events: int
    entities: int
    users: int
    agencies: int
    cocs: int
    cocs_without_policy: list[str]
    duplicates: int
    backdated: int
    corrections: int
    first_recorded: str
    last_recorded: str
    seconds: float
    events_per_second: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def generate(
    ledger: Ledger,
    *,
    tier: str | None = None,
    events: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    batch_events: int = 2_000,
) -> GenerationReport:
    """Generate a tier's log (or about ``events`` events) into ``ledger``; see the module."""
    run = plan(tier, events, seed)
    if run.end > ledger.clock.now():
        raise InvalidInput(
            f"the generated log is recorded up to {run.end.isoformat()}, after the ledger's "
            f"clock ({ledger.clock.now().isoformat()}); recorded times may not lie in the future"
        )
    start = run.end - timedelta(days=365.25 * run.years)
    world = World(
        ledger,
        random.Random(seed),  # noqa: S311 (reproducible data, not secrets)
        run.end,
        batch_events=batch_events,
        expected=run.expected_events,
        progress=progress,
    )
    for coc_plan in run.cocs:
        state = open_coc(world, coc_plan, start)
        world.spawn(coc_script(world, state, seed, new_user))
    world.run()
    seconds = time.perf_counter() - world.started
    count = world.count
    return GenerationReport(
        tier=run.tier,
        seed=seed,
        events=count.events,
        entities=count.entities,
        users=count.users,
        agencies=count.agencies,
        cocs=len(run.cocs),
        cocs_without_policy=[c.code for c in run.cocs if not ledger.packs.versions(c.code)],
        duplicates=count.duplicates,
        backdated=count.backdated,
        corrections=count.corrections,
        first_recorded=_iso(start),
        last_recorded=_iso(world.now),
        seconds=round(seconds, 3),
        events_per_second=round(count.events / seconds, 1) if seconds else 0.0,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
