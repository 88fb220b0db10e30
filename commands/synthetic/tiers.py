"""Scale tiers of synthetic data (DOMAIN.md section 7) and the plan of CoCs each one makes."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.domain.vocabulary import Process
from ledger.errors import InvalidInput

# The generated log ends here (recorded time). Fixed, so that a seed gives the same bytes on
# any day; it lies after the 2026 policy versions take effect, so the users evaluate under them.
WINDOW_END = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)

SEED_COCS: dict[str, Process] = {
    "MO-606": Process.MISSOURI_BOS,
    "CA-600": Process.LAHSA,
    "IL-510": Process.CHICAGO,
    "WI-500": Process.WISCONSIN_BOS,
}
# Relative sizes of the four seed CoCs (users), Los Angeles the largest (DOMAIN.md section 7).
SEED_WEIGHTS = {"MO-606": 0.6, "CA-600": 1.9, "IL-510": 1.5, "WI-500": 0.7}
# Events a user produces per year of a run, measured on generated logs (onboarding, renewals,
# monthly log-in summaries, departures), used to size a run for a target number of events.
EVENTS_PER_USER_YEAR = 16.4


@dataclass(frozen=True)
class CocPlan:
    """One CoC to generate: its code, the process it follows, and its size."""

    code: str
    process: Process
    users: int  # active users at any time (turnover replaces those who leave)
    agencies: int
    programs_per_agency: float = 2.65  # Los Angeles: 576 programs of 217 agencies

    @property
    def template(self) -> str:
        """The seed CoC whose policy pack this CoC follows."""
        return next(code for code, process in SEED_COCS.items() if process is self.process)


@dataclass(frozen=True)
class Plan:
    """What a run generates: CoCs, and how many years of history up to ``end``."""

    tier: str
    cocs: tuple[CocPlan, ...]
    years: float
    end: datetime = WINDOW_END

    @property
    def users(self) -> int:
        return sum(c.users for c in self.cocs)

    @property
    def agencies(self) -> int:
        return sum(c.agencies for c in self.cocs)

    @property
    def expected_events(self) -> int:
        """A rough estimate, for progress bars."""
        return int(self.users * self.years * EVENTS_PER_USER_YEAR + self.agencies * 10)


def synthetic_code(index: int) -> str:
    """A CoC code that no real CoC has ("XA-101", ...): X is no US state or territory."""
    return f"X{chr(ord('A') + index // 900)}-{100 + index % 900:03d}"


def _seed_cocs(users: int, agencies_per_user: float) -> tuple[CocPlan, ...]:
    total = sum(SEED_WEIGHTS.values())
    plans = []
    for code, process in SEED_COCS.items():
        n = max(4, round(users * SEED_WEIGHTS[code] / total))
        plans.append(CocPlan(code, process, n, max(2, round(n * agencies_per_user))))
    return tuple(plans)


def _many_cocs(count: int, users: int, agencies: int, seed: int) -> tuple[CocPlan, ...]:
    """The four seed CoCs plus synthetic ones, sizes skewed as real CoCs are (a few large)."""
    rng = random.Random(f"sizes-{seed}-{count}")  # noqa: S311 (not a secret)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(count)]
    rng.shuffle(weights)
    # Los Angeles keeps its published size; the others share the rest by weight
    la_users, la_agencies = 1_900, 217
    scale = (users - la_users) / sum(weights[1:])
    processes = list(SEED_COCS.values())
    plans = [CocPlan("CA-600", Process.LAHSA, la_users, la_agencies)]
    per_agency = (agencies - la_agencies) / (users - la_users)
    for index in range(1, count):
        n = max(20, round(weights[index] * scale))
        seed_code = ("MO-606", "IL-510", "WI-500")[index - 1] if index <= 3 else None
        code = seed_code or synthetic_code(index - 4)
        process = SEED_COCS[seed_code] if seed_code else processes[rng.randrange(4)]
        plans.append(CocPlan(code, process, n, max(2, round(n * per_agency))))
    return tuple(plans)


TIERS = ("sample", "small", "metro", "state", "national")


def plan(tier: str | None = None, events: int | None = None, seed: int = 0) -> Plan:
    """The plan of a named tier, or of about ``events`` events over the four seed CoCs."""
    if (tier is None) == (events is None):
        raise InvalidInput("give exactly one of a tier or a number of events")
    if events is not None:
        if events < 1_000:
            raise InvalidInput("a run of fewer than 1,000 events is not sized; use a tier")
        years = 3.0
        users = max(16, math.ceil(events / (EVENTS_PER_USER_YEAR * years)))
        return Plan(f"events-{events}", _seed_cocs(users, 0.12), years)
    if tier == "sample":  # the four seed processes, small: for tests and demonstrations
        return Plan(tier, _seed_cocs(100, 0.16), 1.0)
    if tier == "small":  # one small CoC (DOMAIN.md section 7: about 100 users)
        return Plan(tier, (CocPlan("MO-606", Process.MISSOURI_BOS, 100, 10),), 1.0)
    if tier == "metro":  # Los Angeles 2016: 1,900 users, 217 agencies, 576 programs
        return Plan(tier, (CocPlan("CA-600", Process.LAHSA, 1_900, 217),), 4.0)
    if tier == "state":  # a state's worth of CoCs
        return Plan(tier, _many_cocs(8, 12_000, 1_800, seed), 5.0)
    if tier == "national":  # 388 CoCs, ~100,000 active users, ~15,000 agencies, 5 years
        return Plan(tier, _many_cocs(388, 100_000, 15_000, seed), 5.0)
    raise InvalidInput(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
