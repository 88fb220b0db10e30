"""Scripts of CoCs and agencies: registration, regions, leads, policy adoption, agreements
signed in order, program set-up, and the yearly agency events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from commands.synthetic.facts import AgencyState, CocState, agency_name
from commands.synthetic.tiers import CocPlan
from commands.synthetic.world import Script, World
from ledger.domain.agreements import Agreement
from ledger.domain.organisations import Agency, CoC
from ledger.domain.vocabulary import (
    AgreementKind,
    ContactRole,
    OrgCesRole,
    Party,
    Process,
    ProgramType,
)
from ledger.ids import entity_id

REGIONS = {Process.MISSOURI_BOS: 10, Process.WISCONSIN_BOS: 21}
# Starts a user's script at an agency (given by the users module, which imports this one).
NewUser = Callable[[World, AgencyState, datetime, bool], None]
HMIS_LEADS = {
    Process.MISSOURI_BOS: "Heartland Data Partners (synthetic)",
    Process.LAHSA: "Harbor Basin HMIS Office (synthetic)",
    Process.CHICAGO: "Lakeside HMIS Collaborative (synthetic)",
    Process.WISCONSIN_BOS: "Northwoods Data Partners (synthetic)",
}


def open_coc(world: World, plan: CocPlan, start: datetime) -> CocState:
    """The CoC's aggregate: the stored one when the log already has it (``--append``)."""
    existing = world.ledger.load(CoC, entity_id(CoC.kind, plan.code))
    if existing is not None:
        return CocState(plan, existing, start)
    world.now = max(world.now, start)
    meta = world.meta(plan.code, start, f"admin.{plan.code}")
    coc = CoC.register(plan.code, f"Synthetic CoC {plan.code}", plan.process, meta)
    world.touch(coc)
    world.count.entities += 1
    return CocState(plan, coc, start)


def coc_script(world: World, cs: CocState, seed: int, new_user: NewUser) -> Script:
    yield cs.start
    code, coc = cs.code, cs.aggregate
    admin = f"admin.{code}"
    coc.designate_hmis_lead(HMIS_LEADS[cs.plan.process], world.meta(code, world.now, admin))
    known = coc.regions()
    prefix = "R" if cs.plan.process is Process.MISSOURI_BOS else "LC-"
    for n in range(1, REGIONS.get(cs.plan.process, 0) + 1):
        region = f"{prefix}{n:02d}" if prefix == "LC-" else f"{prefix}{n}"
        cs.regions.append(region)
        if region not in known:
            coc.add_region(
                region, f"Region {n} (synthetic)", [], world.meta(code, world.now, admin)
            )
    world.touch(coc)
    world.spawn(adoptions(world, cs))
    sizes = [world.rng.lognormvariate(0, 0.8) for _ in range(cs.plan.agencies)]
    scale = cs.plan.users / sum(sizes)
    for n, size in enumerate(sizes):
        ref = f"s{seed}.{code}.ag{n:05d}"
        at = cs.start + world.days(0.2, 45 if n else 0.3)
        world.spawn(agency_script(world, cs, ref, max(1, round(size * scale)), at, new_user))


def adoptions(world: World, cs: CocState) -> Script:
    """The CoC adopts every version of its pack some weeks before it takes effect."""
    loaded = world.ledger.packs.versions(cs.code)
    adopted = {a.version for a in cs.aggregate.adoptions()}
    for pack in sorted(loaded, key=lambda p: p.pack.effective_from):
        if pack.pack.version in adopted:
            continue
        takes_effect = datetime.combine(pack.pack.effective_from, datetime.min.time(), UTC)
        yield min(world.end - timedelta(days=3), max(cs.start, takes_effect - timedelta(days=40)))
        meta = world.meta(cs.code, world.now, f"admin.{cs.code}")
        p = pack.pack
        cs.aggregate.adopt_policy(p.version, p.effective_from, pack.sha256, p.title, meta)
        world.touch(cs.aggregate)


def agency_script(
    world: World, cs: CocState, ref: str, headcount: int, start: datetime, new_user: NewUser
) -> Script:
    yield start
    code, process = cs.code, cs.plan.process
    hmis = process is not Process.MISSOURI_BOS or world.rng.random() > 0.1 or not cs.hmis_agencies
    agency = Agency.register(
        ref, agency_name(world), hmis, world.meta(code, world.now, f"admin.{code}")
    )
    ag = AgencyState(cs, ref, agency, headcount, hmis)
    world.touch(agency)
    world.count.agencies += 1
    world.count.entities += 1
    yield from _regions(world, ag)
    if process is Process.LAHSA:
        yield from _lahsa_steps(world, ag)
    elif process is Process.MISSOURI_BOS and not hmis:
        partner = world.rng.choice(cs.hmis_agencies)
        yield from sign_agreement(world, ag, AgreementKind.DATA_PARTNERSHIP_MOA, partner=partner)
    if hmis:
        cs.hmis_agencies.append(ref)
    ag.ready = ag.ready or world.now
    for n in range(headcount):
        new_user(world, ag, world.now + world.days(0, 100), n == 0)
    yield from _yearly(world, ag)


def _regions(world: World, ag: AgencyState) -> Script:
    cs, code = ag.coc, ag.coc.code
    if not cs.regions:
        return
    yield world.now + world.days(0.5, 5)
    picks = [world.rng.choice(cs.regions)]
    if world.rng.random() < 0.2:
        picks.append(world.rng.choice(cs.regions))
    for region in dict.fromkeys(picks):
        ag.aggregate.join_region(region, world.meta(code, world.now, f"admin.{code}"))
        ag.regions.append(region)
        if region not in cs.regional_leads:
            cs.regional_leads[region] = ag.ref
            meta = world.meta(code, world.now, f"admin.{code}")
            cs.aggregate.assign_regional_ce_lead(region, ag.ref, meta)
    if cs.plan.process is Process.MISSOURI_BOS and cs.lead_agency is None:
        cs.lead_agency = ag.ref
        cs.aggregate.designate_lead_agency(ag.ref, world.meta(code, world.now, f"admin.{code}"))
    world.touch(ag.aggregate)
    world.touch(cs.aggregate)


def sign_agreement(
    world: World,
    ag: AgencyState,
    kind: AgreementKind,
    *,
    region: str | None = None,
    partner: str | None = None,
    revise: Agreement | None = None,
) -> Script:
    """Draft (or revise) an agreement and have every party sign it, in order, weeks apart."""
    code = ag.coc.code
    ag.open_gates += 1
    yield world.now + world.days(1, 10)
    revision = f"{world.now.year}-1"
    meta = world.meta(code, world.now, f"admin.{code}")
    if revise is None:
        agreement = Agreement.draft(kind, ag.ref, revision, meta, region, partner)
        world.count.entities += 1
    else:
        agreement = revise
        agreement.revise(revision, "yearly renewal of the agreement", meta)
    world.touch(agreement)
    eff = world.now
    for party in agreement.drafted.parties:
        eff += world.days(1, 18)
        yield eff + world.lag()
        signatory = f"{party}.{ag.ref if party is Party.AGENCY else code}"
        agreement.sign(party, signatory, world.meta(code, eff, f"admin.{code}"))
        world.touch(agreement)
    ag.ready = eff if ag.ready is None else max(ag.ready, eff)
    ag.open_gates -= 1
    if kind is AgreementKind.CE_MOU:
        world.spawn(_revise_yearly(world, ag, agreement))


def _revise_yearly(world: World, ag: AgencyState, agreement: Agreement) -> Script:
    """Missouri's MOUs are renewed every July: every party signs the new revision again."""
    yield datetime(world.now.year + 1, 7, 1, tzinfo=UTC) + world.days(0, 20)
    yield from sign_agreement(world, ag, AgreementKind.CE_MOU, revise=agreement)


def start_mous(world: World, ag: AgencyState) -> None:
    """MO-606: the first completed Assessor Training at an agency lets it sign its MOUs."""
    if ag.mou_started:
        return
    ag.mou_started = True
    for region in ag.regions:
        world.spawn(sign_agreement(world, ag, AgreementKind.CE_MOU, region=region))


def _lahsa_steps(world: World, ag: AgencyState) -> Script:
    """CA-600 steps 1 and 2: the Organization Agreement, then the program set-up."""
    code = ag.coc.code
    yield from sign_agreement(world, ag, AgreementKind.ORGANIZATION_AGREEMENT)
    yield world.now + world.days(1, 10)
    roles = world.rng.sample(list(OrgCesRole), world.rng.randint(1, 3))
    ag.aggregate.declare_ces_roles(roles, world.meta(code, world.now, f"admin.{code}"))
    ag.open_gates += 1
    count = max(1, round(world.rng.gauss(ag.coc.plan.programs_per_agency, 1.0)))
    for n in range(count):
        program_type = world.rng.choice(list(ProgramType))
        ref = f"{ag.ref}.p{n}"
        name = f"{agency_name(world)} program {n + 1}"
        ag.aggregate.set_up_program(
            ref, program_type, name, world.meta(code, world.now, f"admin.{code}")
        )
        ag.programs.append(ref)
    world.touch(ag.aggregate)
    yield from _confirm(world, ag)


def _confirm(world: World, ag: AgencyState) -> Script:
    code = ag.coc.code
    eff = world.now + world.days(2, 12)
    yield eff + world.lag()
    ag.aggregate.confirm_program_setup(f"hmis-team.{code}", world.meta(code, eff, f"admin.{code}"))
    world.touch(ag.aggregate)
    ag.ready = eff
    ag.open_gates -= 1


def _yearly(world: World, ag: AgencyState) -> Script:
    """The agency's yearly events: member credits each January (IL-510), program changes at
    the July fiscal year (CA-600, confirmed again by the lead), a contact change now and then."""
    code, process = ag.coc.code, ag.coc.plan.process
    year = world.now.year
    while True:
        year += 1
        month = 7 if process is Process.LAHSA else 1
        yield datetime(year, month, 5, tzinfo=UTC) + world.days(0, 40)
        meta = world.meta(code, world.now, f"admin.{code}")
        if process is Process.CHICAGO:
            ag.aggregate.grant_training_credits(4, f"member agency credits {year}", meta)
        elif process is Process.LAHSA and ag.programs:
            ref = world.rng.choice(ag.programs)
            program_type = world.rng.choice(list(ProgramType))
            name = f"{agency_name(world)} program"
            ag.aggregate.set_up_program(ref, program_type, name, meta)
            ag.open_gates += 1
            world.touch(ag.aggregate)
            yield from _confirm(world, ag)
        else:
            ag.aggregate.designate_contact(ContactRole.PROGRAM_MANAGER, f"pm.{ag.ref}", meta)
        world.touch(ag.aggregate)
