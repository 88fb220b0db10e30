"""Benchmark: user evaluations per second under each bundled policy pack, on one core.

Usage: .venv/bin/python scripts/bench_policy.py [--users N] [--rounds R] [--seed S]

Builds N synthetic users per pack in memory (no store: the engine is a pure function) with
realistic histories — 10 to 25 facts: course completions over two years, some out of order
or expired, forms of older revisions, access requests, proctored outcomes, one or two
requested roles, credentials and log-in summaries — and their agency with its agreements.
Then evaluates every user once per round, R rounds, in one thread (one core). The last line
is one JSON object: ``value`` is the lowest, over the packs, of the median round's
evaluations per CPU second of this process (``time.process_time``: on a shared virtual
machine the wall clock also counts time other tenants take); the wall-clock median, best and
worst rounds are reported beside it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import orjson

from ledger.domain.agreements import Agreement
from ledger.domain.base import EventMeta, Source
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import (
    SIGNING_ORDER,
    AgreementKind,
    OrgCesRole,
    PaymentMethod,
    ProctoredOutcome,
    ProgramType,
)
from ledger.policy.model import FormClause, GateClause, MilestoneClause, TrainingClause
from ledger.policy.store import PackStore
from projections.compliance.engine import CompiledPack, Organisation, evaluate_user

AS_OF = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def meta(coc: str, when: datetime) -> EventMeta:
    return EventMeta(
        coc=coc,
        actor="bench",
        source=Source.IMPORT,
        request_id="bench",
        effective_at=when,
        timestamp=AS_OF,
    )


def organisation(compiled: CompiledPack, rng: random.Random) -> Organisation:
    """An agency active in one region, with the agreements its gates ask for (mostly done)."""
    coc = compiled.pack.coc
    start = AS_OF - timedelta(days=700)
    agency = Agency.register("AG", "Synthetic Agency", True, meta(coc, start))
    agency.join_region("r1", meta(coc, start))
    agreements = []
    for clause in compiled.pack.clauses:
        if not isinstance(clause, GateClause):
            continue
        if clause.gate == "program-setup-confirmed":
            agency.declare_ces_roles([OrgCesRole.ASSESSMENT_ONLY], meta(coc, start))
            agency.set_up_program("P1", ProgramType.ASSESSMENT_ONLY, "Program", meta(coc, start))
            agency.confirm_program_setup("lead", meta(coc, start))
        elif clause.agreement_kind is not None:
            kind = clause.agreement_kind
            region = "r1" if kind is AgreementKind.CE_MOU else None
            agreement = Agreement.draft(kind, "AG", "2026-1", meta(coc, start), region=region)
            for party in SIGNING_ORDER[kind]:
                agreement.sign(party, "signer", meta(coc, start + timedelta(days=3)))
            agreements.append(agreement)
    return Organisation(agency, tuple(agreements))


def synthetic_user(compiled: CompiledPack, n: int, rng: random.Random) -> EndUser:
    pack = compiled.pack
    coc = pack.coc
    day = AS_OF - timedelta(days=rng.randint(200, 730))
    user = EndUser.register(f"U{n}", "AG", meta(coc, day))

    def later() -> datetime:
        nonlocal day
        day += timedelta(days=rng.randint(1, 40))
        return min(day, AS_OF - timedelta(hours=1))

    roles = rng.sample([r.id for r in pack.roles], k=min(len(pack.roles), rng.randint(1, 2)))
    for role in roles:
        user.request_role(role, meta(coc, later()))
    for clause in compiled.order:
        if rng.random() < 0.1:
            continue  # something missing for about one user in ten per clause
        if isinstance(clause, TrainingClause):
            course = rng.choice(clause.courses)
            user.enrol(
                meta(coc, later()),
                course_code=course,
                provider="lms",
                payment=PaymentMethod.NOT_CHARGED,
                fee_cents=0,
            )
            user.complete_course(
                meta(coc, later()),
                course_code=course,
                provider="lms",
                score=float(rng.randint(70, 100)),
                source_record_id=f"{n}-{clause.id}",
            )
        elif isinstance(clause, FormClause):
            revision = clause.revision if rng.random() < 0.85 else "old"
            user.sign_form(clause.form, revision, meta(coc, later()))
        elif isinstance(clause, MilestoneClause):
            milestone_facts(user, clause, n, meta(coc, later()))
    if rng.random() < 0.7:
        user.issue_credentials(
            pack.roles[0].hmis_role if pack.roles else "user", None, [], meta(coc, later())
        )
        for week in range(rng.randint(1, 6)):
            end = later()
            user.summarise_logins(
                meta(coc, end),
                period_start=end - timedelta(days=7),
                period_end=end,
                login_count=week + 1,
                last_login_at=end,
            )
    return user


def milestone_facts(user: EndUser, clause: MilestoneClause, n: int, m: EventMeta) -> None:
    if clause.milestone == "training-requested":
        user.request_training(
            m,
            ticket_ref=f"T{n}",
            name="Synthetic Person",
            agency_email="person@example.org",
            lms_username=f"lms{n}",
            expected_responsibilities=["data entry"],
            projects=["P1"],
            requested_by="ata",
        )
    elif clause.milestone == "access-request-approved":
        user.submit_access_request(
            m,
            request_ref=f"R{n}",
            request_type="new-user",
            projects=["P1"],
            submitted_by="ar",
            certificate_id=None,
        )
        user.approve_access_request(f"R{n}", m)
    elif clause.milestone == "proctored-passed":
        user.record_proctored_session(f"S{n}", ProctoredOutcome.PASSED, None, m)
    elif clause.milestone == "role-requested":
        user.request_role("any", m)


def bench_pack(compiled: CompiledPack, users: int, rounds: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    org = organisation(compiled, rng)
    population = [synthetic_user(compiled, n, rng) for n in range(users)]
    states: dict[str, int] = {}
    for user in population:  # warm up, and count outcomes so the work is not optimised away
        overall = str(evaluate_user(user, org, compiled, AS_OF).overall)
        states[overall] = states.get(overall, 0) + 1
    rates, cpu_rates = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for user in population:
            evaluate_user(user, org, compiled, AS_OF)
        cpu_rates.append(users / (time.process_time() - cpu))
        rates.append(users / (time.perf_counter() - wall))
    facts = sum(len(list(u.facts())) for u in population) / users
    return {
        "evaluations_per_cpu_s": round(statistics.median(cpu_rates), 1),
        "evaluations_per_s": round(statistics.median(rates), 1),
        "best_round_per_s": round(max(rates), 1),
        "worst_round_per_s": round(min(rates), 1),
        "facts_per_user": round(facts, 1),
        "outcomes": states,  # type: ignore[dict-item]
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if args.users < 10 or args.rounds < 1:
        parser.error("--users must be at least 10 and --rounds at least 1")
    store = PackStore()
    results: dict[str, dict[str, float]] = {}
    for coc in ("MO-606", "CA-600", "IL-510", "WI-500"):
        loaded = store.versions(coc)[-1]
        label = f"{coc}/{loaded.pack.version}"
        results[label] = bench_pack(CompiledPack(loaded), args.users, args.rounds, args.seed)
        print(
            f"{label}: {results[label]['evaluations_per_cpu_s']:,.0f} evaluations per CPU "
            f"second ({results[label]['evaluations_per_s']:,.0f} per wall-clock second)",
            file=sys.stderr,
        )
    worst = min(results, key=lambda k: results[k]["evaluations_per_cpu_s"])
    print(
        orjson.dumps(
            {
                "metric": "policy_user_evaluations_per_second",
                "value": results[worst]["evaluations_per_cpu_s"],
                "unit": "evaluations per CPU second",
                "goal": 20000,
                "worst_pack": worst,
                "users_per_pack": args.users,
                "rounds": args.rounds,
                "packs": results,
            }
        ).decode()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
