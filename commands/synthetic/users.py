"""A user's life: hired, walks their CoC's process, renews, logs in, leaves and is replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.synthetic import processes
from commands.synthetic.facts import (
    STALL_SHARE,
    AgencyState,
    UserState,
    complete,
    month_start,
    name_of,
    next_month,
    revision_for,
)
from commands.synthetic.world import Script, World
from ledger.domain.base import Source
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import CredentialState, FormKind, Process

MEAN_TENURE_DAYS = 700  # about half of the users of a year are new (DOMAIN.md section 7)
# Renewal: Missouri users renew their rolling annual certificates in the weeks before they
# expire; Wisconsin renews the CoC CE training in one campaign every October (a burst).
RENEWED = {
    Process.MISSOURI_BOS: ("MO-CE-ASSESSOR", "MO-CE-LEVEL-4"),
    Process.WISCONSIN_BOS: ("WI-CE-CORE",),
}
# A new revision of a form is signed again by everyone in the weeks after it comes out.
RESIGNED = {
    Process.MISSOURI_BOS: FormKind.USER_POLICY_RESPONSIBILITIES,
    Process.LAHSA: FormKind.USER_AGREEMENT,
    Process.CHICAGO: FormKind.END_USER_AGREEMENT,
}


def new_user(world: World, ag: AgencyState, at: datetime, first: bool) -> None:
    """Hire a user at ``ag`` from ``at`` (recorded time)."""
    if at <= world.end:
        world.spawn(user_script(world, ag, at, first))


def user_script(world: World, ag: AgencyState, at: datetime, first: bool) -> Script:
    yield at
    cs = ag.coc
    cs.next_user += 1
    ref = f"{ag.ref.split('.')[0]}.{cs.code}.u{cs.next_user:06d}"
    name, handle = name_of(world, cs.next_user)
    hired = world.now - world.days(0, 2)
    meta = world.meta(cs.code, hired, f"admin.{cs.code}")
    email = f"{handle}@{ag.ref.replace('.', '-').lower()}.example.org"
    user = EndUser.register(ref, ag.ref, meta, name=name, email=email)
    ag.aggregate.add_staff(ref, world.meta(cs.code, hired, f"admin.{cs.code}"))
    world.touch(user)
    world.touch(ag.aggregate)
    world.count.users += 1
    world.count.entities += 1
    leave = world.now + timedelta(days=world.rng.expovariate(1 / MEAN_TENURE_DAYS))
    stall = world.rng.randint(1, 6) if world.rng.random() < STALL_SHARE else None
    u = UserState(ag, ref, user, hired, leave, stall)
    if first and cs.plan.process is Process.CHICAGO:
        ag.ata = ref
        ag.aggregate.designate_contact(
            processes.ATA, ref, world.meta(cs.code, hired, f"admin.{cs.code}")
        )
    walked = yield from processes.ONBOARDING[cs.plan.process](world, u)
    if walked:
        for course in RENEWED.get(cs.plan.process, ()):
            if course in u.renew:
                world.spawn(_renewals(world, u, course))
        form = RESIGNED.get(cs.plan.process)
        if form is not None:
            world.spawn(_sign_new_revision(world, u, form))
        if u.credentials is not None:
            world.spawn(_logins(world, u))
    yield max(u.leave_at, world.now)
    yield from _depart(world, u)


def _depart(world: World, u: UserState) -> Script:
    cs = u.agency.coc
    meta = world.meta(cs.code, world.now - world.days(0, 3), f"admin.{cs.code}")
    user = u.aggregate
    if user.credentials in (CredentialState.ACTIVE, CredentialState.SUSPENDED):
        user.revoke_credentials("left the agency", meta)
        meta = world.meta(cs.code, meta.effective_at, f"admin.{cs.code}")
    user.depart("left the agency", meta)
    u.agency.aggregate.remove_staff(u.ref, world.meta(cs.code, meta.effective_at, meta.actor))
    u.left = True
    world.touch(user)
    world.touch(u.agency.aggregate)
    new_user(world, u.agency, world.now + world.days(10, 70), False)
    return
    yield  # a generator, like every script


def _logins(world: World, u: UserState) -> Script:
    """The HMIS vendor's nightly import summarises each month's log-ins on the 1st."""
    code = u.agency.coc.code
    assert u.credentials is not None
    period_start = u.credentials
    while True:
        period_end = next_month(period_start)
        yield period_end + timedelta(hours=world.rng.uniform(2, 5))
        if u.left:
            return
        count = 0 if world.rng.random() < 0.04 else world.rng.randint(1, 60)
        last = period_end - world.days(0, 6) if count else None
        last = max(last, period_start) if last else None
        u.aggregate.summarise_logins(
            world.meta(code, period_end, f"import.{code}", Source.IMPORT),
            period_start=period_start,
            period_end=period_end,
            login_count=count,
            last_login_at=last,
        )
        world.touch(u.aggregate)
        period_start = month_start(period_end)


def _renewals(world: World, u: UserState, course: str) -> Script:
    process = u.agency.coc.plan.process
    provider = processes.PROVIDERS[process]
    while True:
        last = u.renew[course]
        if process is Process.WISCONSIN_BOS:  # the October campaign after the last completion
            year = last.year + (1 if last.month >= 9 else 0)
            eff = datetime(year, 10, 1, 9, tzinfo=UTC) + world.days(0, 28)
        else:  # rolling: some weeks before the certificate runs out
            eff = last + timedelta(days=365) - world.days(3, 45)
        yield eff + world.lag(lms=process is Process.MISSOURI_BOS)
        if u.left:
            return
        u.eff = max(u.eff, eff)
        complete(world, u, course, provider, lms=process is Process.MISSOURI_BOS)


def _sign_new_revision(world: World, u: UserState, form: FormKind) -> Script:
    """Users who signed an older revision sign the new one when it comes out (a burst)."""
    current = revision_for(form, datetime(2100, 1, 1, tzinfo=UTC))
    signed = [f.revision for f in u.aggregate.facts(EndUser.FormSigned) if f.form is form]
    if not signed or current in signed:
        return
    eff = datetime(int(current), 1, 6, 9, tzinfo=UTC) + world.days(0, 25)
    yield eff + world.lag()
    if u.left:
        return
    code = u.agency.coc.code
    u.aggregate.sign_form(form, current, world.meta(code, eff, f"admin.{code}"))
    world.touch(u.aggregate)
