"""What the scripts share: CoC, agency and user state, synthetic names, and recording helpers
that add the realistic noise (duplicate completions, late entries, corrections)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from commands.synthetic.tiers import CocPlan
from commands.synthetic.world import Script, World
from ledger.domain.base import Source
from ledger.domain.end_users import EndUser
from ledger.domain.organisations import Agency, CoC
from ledger.domain.vocabulary import FormKind, Process

# Invented on purpose: placeholder surnames no one is mistaken for a real person by.
FIRST = (
    "Alex", "Bailey", "Casey", "Devon", "Emery", "Finley", "Gray", "Harper", "Indy", "Jamie",
    "Kai", "Lane", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Taylor",
)  # fmt: skip
LAST = (
    "Example", "Sample", "Placeholder", "Testcase", "Fixture", "Specimen", "Mockup", "Stubbs",
    "Draftwell", "Templeton", "Dummyford", "Prototype", "Samplewood", "Fakely", "Synthia",
)  # fmt: skip
AGENCY_WORDS = (
    "Cedar", "Harbor", "Lantern", "Meadow", "Prairie", "Riverbend", "Summit", "Willow",
    "Northwind", "Bluestone", "Hearth", "Kindle", "Open Door", "Bridgeway", "Maple",
)  # fmt: skip
AGENCY_KINDS = ("Shelter", "Housing Services", "Family Center", "Outreach", "Community Services")

STALL_SHARE = 0.12  # new users who stop part way through their CoC's process
DUPLICATE_SHARE = 0.025  # completions entered a second time by hand
AMEND_SHARE = 0.006  # completions corrected later (wrong date or certificate number)


@dataclass
class CocState:
    plan: CocPlan
    aggregate: CoC
    start: datetime
    regions: list[str] = field(default_factory=list)
    regional_leads: dict[str, str] = field(default_factory=dict)
    lead_agency: str | None = None
    hmis_agencies: list[str] = field(default_factory=list)
    next_user: int = 0

    @property
    def code(self) -> str:
        return self.plan.code


@dataclass
class AgencyState:
    coc: CocState
    ref: str
    aggregate: Agency
    headcount: int
    hmis: bool = True
    regions: list[str] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    ready: datetime | None = None  # effective time users may be given access from
    ata: str | None = None
    mou_started: bool = False
    open_gates: int = 0  # agreements being signed or set-ups awaiting confirmation

    def may_grant(self) -> bool:
        """May the agency's users get access now (its gates are met)?"""
        gates_met = self.open_gates == 0 and self.ready is not None
        if self.coc.plan.process is Process.MISSOURI_BOS:
            return gates_met and self.mou_started
        return gates_met


@dataclass
class UserState:
    agency: AgencyState
    ref: str
    aggregate: EndUser
    eff: datetime  # effective-time cursor of the user's walk
    leave_at: datetime  # recorded time of the departure
    stall_at: int | None
    step: int = 0
    prev_eff: datetime | None = None  # where the walk was before its latest step
    credentials: datetime | None = None
    left: bool = False
    renew: dict[str, datetime] = field(default_factory=dict)  # course -> last completion


def name_of(world: World, n: int) -> tuple[str, str]:
    first, last = world.rng.choice(FIRST), world.rng.choice(LAST)
    return f"{first} {last}", f"{first}.{last}.{n}".lower()


def agency_name(world: World) -> str:
    return f"{world.rng.choice(AGENCY_WORDS)} {world.rng.choice(AGENCY_KINDS)}"


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(moment: datetime) -> datetime:
    start = month_start(moment)
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def revision_for(form: FormKind, on: datetime) -> str:
    """The revision of a form in force on a date (the packs ask for the 2024/2025 ones)."""
    current = "2024" if form is FormKind.USER_POLICY_RESPONSIBILITIES else "2025"
    return current if on.year >= int(current) else "2021"


def step(
    world: World, u: UserState, low: float, high: float, *, lms: bool = False
) -> Generator[datetime, None, bool]:
    """Advance the user's walk by ``low``..``high`` days and wait until the fact is recorded;
    False when the user stalls here or leaves first."""
    u.step += 1
    if u.step == u.stall_at or u.left:
        return False
    u.prev_eff = u.eff
    u.eff = max(u.eff + world.days(low, high), world.now - timedelta(days=1))
    at = u.eff + world.lag(lms=lms)
    if at >= u.leave_at:
        return False
    yield at
    return not u.left


def complete(
    world: World,
    u: UserState,
    course: str,
    provider: str,
    *,
    lms: bool,
    **extra: object,
) -> EndUser.CourseCompleted:
    """Record a completion at the user's effective time; some get a duplicate or a correction
    (an amended date stays after the step before it)."""
    code = u.agency.coc.code
    source, actor = (Source.LMS, f"lms.{code}") if lms else (Source.API, f"admin.{code}")
    record_id = f"ach-{world.rng.getrandbits(48):012x}" if lms else None
    user = u.aggregate
    user.complete_course(
        world.meta(code, u.eff, actor, source),
        course_code=course,
        provider=provider,
        source_record_id=record_id,
        **extra,
    )
    world.touch(user)
    done = user.pending_events[-1]
    assert isinstance(done, EndUser.CourseCompleted)
    u.renew[course] = u.eff
    roll = world.rng.random()
    if roll < DUPLICATE_SHARE:
        world.spawn(_entered_twice(world, u, done))
    elif roll < DUPLICATE_SHARE + AMEND_SHARE:
        world.spawn(_amended(world, u, done, u.prev_eff))
    return done


def _entered_twice(world: World, u: UserState, done: EndUser.CourseCompleted) -> Script:
    """An admin types in a completion the LMS had already delivered (same course and date)."""
    yield world.now + world.days(0.5, 12)
    code = u.agency.coc.code
    user = u.aggregate
    user.complete_course(
        world.meta(code, done.effective_at, f"admin.{code}", Source.API),
        course_code=done.course_code,
        provider=done.provider,
        certificate_id=done.certificate_id,
    )
    world.touch(user)
    world.count.duplicates += 1
    twin = user.pending_events[-1]
    assert isinstance(twin, EndUser.CourseCompleted)
    if world.rng.random() < 0.4:
        yield world.now + world.days(2, 30)
        user.retract(
            twin.event_id,
            "entered by hand although the LMS had delivered it; the LMS record stands",
            world.meta(code, world.now, f"admin.{code}"),
        )
        world.touch(user)
        world.count.corrections += 1


def _amended(
    world: World, u: UserState, done: EndUser.CourseCompleted, floor: datetime | None
) -> Script:
    """A completion recorded with a wrong date or certificate number is amended later."""
    yield world.now + world.days(3, 40)
    code = u.agency.coc.code
    earlier = done.effective_at - world.days(1, 4)
    if floor is not None and earlier > floor + timedelta(hours=1):
        reason = "completion date entered wrongly; the certificate shows an earlier date"
        changes: dict[str, object] = {"effective_at": earlier}
    else:
        reason = "certificate number mistyped"
        changes = {"certificate_id": f"CERT-{world.rng.getrandbits(32):08X}"}
    u.aggregate.amend(done.event_id, reason, changes, world.meta(code, world.now, f"admin.{code}"))
    world.touch(u.aggregate)
    world.count.corrections += 1
