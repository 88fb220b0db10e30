"""The synthetic generator: deterministic, realistic, evaluable logs; and its command line."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import orjson
import psycopg
import pytest

from commands.synthetic import WINDOW_END, generate
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import LedgerAggregate, LedgerEvent
from ledger.domain.end_users import EndUser
from ledger.errors import InvalidInput
from ledger.settings import Settings
from projections.compliance.results import Overall
from projections.compliance.service import ComplianceService
from tests.script_modules import load_script as load_script_module

Store = Callable[[], Ledger]


@pytest.fixture
def another_store(settings: Settings, clock: FixedClock, tmp_path: Path) -> Iterator[Store]:
    """Makes more fresh stores on the backend of ``settings`` (closed and dropped after)."""
    made: list[tuple[Ledger, str | None]] = []

    def make() -> Ledger:
        if settings.database_url is None:
            path = tmp_path / f"another-{len(made)}.sqlite3"
            other, schema = Settings(sqlite_path=path, load_demo_data=False), None
        else:
            base = settings.database_url.split("?")[0]
            schema = f"t_{uuid4().hex[:16]}"
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            other = Settings(database_url=f"{base}?schema={schema}", load_demo_data=False)
        ledger = Ledger(other, clock=clock)
        made.append((ledger, schema))
        return ledger

    yield make
    for ledger, schema in made:
        ledger.close()
        if schema is not None and settings.database_url is not None:
            with psycopg.connect(settings.database_url.split("?")[0], autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def stored(ledger: Ledger) -> list[tuple[str, bytes]]:
    return [(n.topic, n.state) for n in ledger.recorder.select_notifications(1, 10**6)]


def events(ledger: Ledger) -> list[LedgerEvent]:
    found = []
    for notification in ledger.recorder.select_notifications(1, 10**6):
        event = ledger.mapper.to_domain_event(notification)
        assert isinstance(event, LedgerEvent)
        found.append(event)
    return found


def test_same_seed_gives_byte_identical_stored_events(ledger: Ledger, another_store: Store) -> None:
    generate(ledger, tier="sample", seed=7)
    again = another_store()
    generate(again, tier="sample", seed=7)
    assert stored(ledger) == stored(again)
    assert len(stored(ledger)) > 1_000


def test_a_different_seed_gives_different_events(ledger: Ledger, another_store: Store) -> None:
    generate(ledger, tier="small", seed=1)
    other = another_store()
    generate(other, tier="small", seed=2)
    assert stored(ledger) != stored(other)


def test_small_tier_is_one_coc_of_about_a_hundred_users_and_ten_agencies(
    ledger: Ledger,
) -> None:
    report = generate(ledger, tier="small")
    assert (report.cocs, report.agencies) == (1, 10)
    assert 100 <= report.users <= 200  # ~100 active, plus those who replace leavers
    assert 1_500 <= report.events <= 4_000
    written = events(ledger)
    assert len(written) == report.events == ledger.head()
    registered = [e for e in written if isinstance(e, EndUser.Registered)]
    assert len(registered) == report.users
    assert all(e.email and e.email.endswith(".example.org") for e in registered)


def test_log_is_in_recorded_time_order_within_the_window_and_never_in_the_future(
    ledger: Ledger, clock: FixedClock
) -> None:
    generate(ledger, tier="sample")
    written = events(ledger)
    stamps = [e.timestamp for e in written]
    assert stamps == sorted(stamps)
    assert stamps[-1] <= WINDOW_END <= clock.now()
    assert all(e.effective_at <= e.timestamp for e in written)
    # interleaved: consecutive events mostly belong to different entities
    switches = sum(a.originator_id != b.originator_id for a, b in itertools.pairwise(written))
    assert switches > len(written) / 2


def test_log_holds_duplicates_backdated_events_and_corrections(ledger: Ledger) -> None:
    report = generate(ledger, tier="sample", seed=3)
    written = events(ledger)
    completions = Counter(
        (e.originator_id, e.course_code, e.effective_at)
        for e in written
        if isinstance(e, EndUser.CourseCompleted)
    )
    duplicates = sum(1 for n in completions.values() if n > 1)
    backdated = [e for e in written if e.timestamp - e.effective_at > timedelta(days=5)]
    retracted = [e for e in written if isinstance(e, LedgerAggregate.EventRetracted)]
    amended = [e for e in written if isinstance(e, LedgerAggregate.EventAmended)]
    assert duplicates == report.duplicates > 0
    assert len(backdated) == report.backdated > 0
    assert any(e.timestamp - e.effective_at > timedelta(days=14) for e in backdated)
    assert len(retracted) + len(amended) == report.corrections > 0
    assert retracted
    assert amended


def test_generated_users_evaluate_and_most_current_ones_are_compliant(ledger: Ledger) -> None:
    generate(ledger, tier="sample", seed=11)
    service = ComplianceService(ledger)
    overall: dict[str, Counter[Overall]] = {}
    for event in events(ledger):
        if not isinstance(event, EndUser.Registered):
            continue
        if service.user(event.coc, event.ref).agency_ref is None:
            continue  # left their agency
        evaluation = service.evaluate_user(event.coc, event.ref, WINDOW_END)
        overall.setdefault(event.coc, Counter())[evaluation.overall] += 1
    assert sorted(overall) == ["CA-600", "IL-510", "MO-606", "WI-500"]
    total = sum(overall.values(), Counter())
    assert total[Overall.COMPLIANT] >= 0.6 * sum(total.values())
    assert all(c[Overall.COMPLIANT] > 0 for c in overall.values())
    assert total[Overall.NON_COMPLIANT] + total[Overall.BLOCKED] > 0  # some stalled


def test_generation_is_refused_when_the_ledger_clock_is_before_the_window_end(
    settings: Settings,
) -> None:
    early = Ledger(settings, clock=FixedClock(datetime(2026, 2, 1, tzinfo=UTC)))
    try:
        with pytest.raises(InvalidInput):
            generate(early, tier="small")
        assert early.head() == 0
    finally:
        early.close()


def test_a_tier_or_a_number_of_events_but_not_both(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput):
        generate(ledger, tier="small", events=5_000)
    with pytest.raises(InvalidInput):
        generate(ledger, tier="galactic")
    assert ledger.head() == 0


def test_events_target_is_met_roughly(ledger: Ledger) -> None:
    report = generate(ledger, events=5_000)
    assert 3_500 <= report.events <= 6_500
    assert report.cocs == 4


# --- the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> ModuleType:
    return load_script_module("generate")


def store_args(settings: Settings) -> list[str]:
    if settings.database_url is None:
        return ["--sqlite-path", str(settings.sqlite_path)]
    return ["--database-url", settings.database_url]


def test_cli_writes_a_tier_and_ends_with_a_json_summary(
    cli: Any, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--tier", "small", "--seed", "4", *store_args(settings)]) == 0
    summary = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["users"] >= 100
    assert summary["cocs"] == 1
    assert summary["events"] > 1_000
    assert {"entities", "agencies", "seconds", "events_per_second"} <= set(summary)


def test_cli_refuses_a_non_empty_store_without_append(
    cli: Any, ledger: Ledger, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(ledger, tier="small", seed=1)
    head = ledger.head()
    assert cli.main(["--tier", "small", "--seed", "1", *store_args(settings)]) == 2
    assert "--append" in capsys.readouterr().err
    assert cli.main(["--tier", "small", "--seed", "2", "--append", *store_args(settings)]) == 0
    assert (ledger.recorder.max_notification_id() or 0) > head


@pytest.mark.parametrize(
    "argv",
    [[], ["--tier", "huge"], ["--events", "10"], ["--tier", "small", "--events", "5000"],
     ["--tier", "small", "--seed", "x"], ["--tier", "small", "--database-url", "mysql://db"]],
)  # fmt: skip
def test_cli_exits_2_on_bad_arguments(cli: Any, argv: list[str]) -> None:
    assert cli.main(argv) == 2
