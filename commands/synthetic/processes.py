"""How a new user walks each seed process to access (DOMAIN.md section 2, the policy packs).

Each walk is a script step list; it returns True when the user got all the way, False when
they stalled or left part way.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime

from commands.synthetic.facts import UserState, complete, revision_for, step
from commands.synthetic.organisations import start_mous
from commands.synthetic.world import World
from ledger.domain.base import EventMeta
from ledger.domain.vocabulary import (
    AccessRequestType,
    ContactRole,
    FormKind,
    PaymentMethod,
    Process,
    ProctoredOutcome,
)

Walk = Generator[datetime, None, bool]
ATA = ContactRole.AGENCY_TECHNICAL_ADMINISTRATOR
PROVIDERS = {
    Process.MISSOURI_BOS: "LITMOS",
    Process.LAHSA: "LAHSA training website (synthetic)",
    Process.CHICAGO: "Talent LMS",
    Process.WISCONSIN_BOS: "WI BoS CoC training (synthetic)",
}
# CA-600 user roles: (share, HMIS role, trainings), from the pack's roles table.
LAHSA_ROLES = {
    "housing-provider": (0.20, "CES_Housing_Provider", ("LA-HMIS-511",)),
    "assessment-only": (0.25, "CES_Assessments", ("LA-HMIS-10", "LA-HMIS-509-FIRST-HALF")),
    "housing-navigator-case-manager": (0.30, "CES_Standard", ("LA-HMIS-10", "LA-HMIS-509-FULL")),
    "outreach": (0.15, "CES_Outreach", ("LA-HMIS-10", "LA-HMIS-102")),
    "community-coordinator": (0.05, "CES_Coordinator", ("LA-HMIS-10", "LA-HMIS-509-FULL")),
    "community-matcher": (
        0.05,
        "CES_Matcher",
        ("LA-HMIS-10", "LA-HMIS-509-FULL", "LA-HMIS-510"),
    ),
}
IL_PROJECT_COURSES = ("IL-PROJ-ES-TH-SH", "IL-PROJ-PSH-RRH-SINGLES", "IL-PROJ-OUTREACH-PATH",
                      "IL-PROJ-SERVICES-ONLY", "IL-PROJ-DROP-IN", "IL-PROJ-SSVF")  # fmt: skip
IL_CE_ROLES = {  # role -> (course, HMIS role)
    "ce-1474": ("IL-CE-HOUSING-RESOURCE-SPECIALIST", "ce-1474"),
    "housing-system-navigator": ("IL-CE-HOUSING-SYSTEM-NAVIGATOR", "housing-system-navigator"),
}


def _meta(world: World, u: UserState, actor: str | None = None) -> EventMeta:
    code = u.agency.coc.code
    return world.meta(code, u.eff, actor or f"admin.{code}")


def _sign(world: World, u: UserState, form: FormKind) -> None:
    u.aggregate.sign_form(form, revision_for(form, u.eff), _meta(world, u))
    world.touch(u.aggregate)


def _roles(world: World, u: UserState, *roles: str) -> None:
    for role in roles:
        u.aggregate.request_role(role, _meta(world, u))
    world.touch(u.aggregate)


def _credentials(world: World, u: UserState, hmis_role: str) -> Walk:
    """Access once the agency's gates are met, within a few days of the last step."""
    while not u.agency.may_grant():
        if world.now >= u.leave_at or world.now >= world.end:
            return False
        yield world.now + world.days(3, 10)
    ready = u.agency.ready
    assert ready is not None
    u.eff = max(u.eff, ready)
    if not (yield from step(world, u, 0.5, 4)):
        return False
    u.aggregate.issue_credentials(hmis_role, None, [], _meta(world, u))
    world.touch(u.aggregate)
    u.credentials = u.eff
    return True


def missouri(world: World, u: UserState) -> Walk:
    ag, rng = u.agency, world.rng
    if not (yield from step(world, u, 3, 25, lms=True)):
        return False
    certificate = f"LITMOS-{rng.getrandbits(40):010X}"
    complete(world, u, "MO-CE-ASSESSOR", "LITMOS", lms=True, certificate_id=certificate)
    start_mous(world, ag)
    if not ag.hmis:  # CE staff of a non-HMIS agency: the training (and its MOA) is all
        return True
    by = f"ar.{ag.ref}"
    request: dict[str, object] = {"request_type": AccessRequestType.NEW_USER, "submitted_by": by}
    request |= {"projects": [f"{ag.ref} projects"], "certificate_id": certificate}
    attempts = 2 if rng.random() < 0.05 else 1
    for attempt in range(attempts):
        if not (yield from step(world, u, 1, 10)):
            return False
        ref = f"UAR-{u.ref}-{attempt + 1}"
        u.aggregate.submit_access_request(_meta(world, u, by), request_ref=ref, **request)
        if not (yield from step(world, u, 1, 6)):
            return False
        if attempt + 1 < attempts:
            reason = "a project is missing from the request"
            u.aggregate.deny_access_request(ref, reason, _meta(world, u))
        else:
            u.aggregate.approve_access_request(ref, _meta(world, u))
        world.touch(u.aggregate)
    if not (yield from step(world, u, 0.5, 5)):
        return False
    _sign(world, u, FormKind.USER_POLICY_RESPONSIBILITIES)
    for course in ("MO-SECURITY-PRIVACY", "MO-DATA-STANDARDS"):
        if not (yield from step(world, u, 1, 10, lms=True)):
            return False
        complete(world, u, course, "LITMOS", lms=True)
    role, hmis_role = (
        ("ce-level-4", "CE_Level_4") if rng.random() < 0.2 else ("hmis-user", "end-user")
    )
    if role == "ce-level-4":
        if not (yield from step(world, u, 3, 20, lms=True)):
            return False
        complete(world, u, "MO-CE-LEVEL-4", "LITMOS", lms=True)
    _roles(world, u, role)
    return (yield from _credentials(world, u, hmis_role))


def lahsa(world: World, u: UserState) -> Walk:
    names = list(LAHSA_ROLES)
    role = world.rng.choices(names, [LAHSA_ROLES[r][0] for r in names])[0]
    _, hmis_role, courses = LAHSA_ROLES[role]
    if not (yield from step(world, u, 0, 3)):
        return False
    _roles(world, u, role)
    for course in courses:
        if not (yield from step(world, u, 2, 14)):
            return False
        complete(world, u, course, PROVIDERS[Process.LAHSA], lms=False)
        if course == "LA-HMIS-10":
            if not (yield from step(world, u, 0, 2)):
                return False
            _sign(world, u, FormKind.HMIS10_ACKNOWLEDGEMENT)
    if not (yield from step(world, u, 0, 3)):
        return False
    _sign(world, u, FormKind.USER_AGREEMENT)
    return (yield from _credentials(world, u, hmis_role))


def chicago(world: World, u: UserState) -> Walk:
    ag, rng = u.agency, world.rng
    if not (yield from step(world, u, 0, 5)):
        return False
    ata = ag.ata or u.ref
    registered = u.aggregate.created
    u.aggregate.request_training(
        _meta(world, u, f"ata.{ata}"),
        ticket_ref=f"HD-{u.ref}",
        name=getattr(registered, "name", None) or u.ref,
        agency_email=getattr(registered, "email", None) or f"{u.ref}@example.org",
        lms_username=u.ref.lower(),
        expected_responsibilities=["intake", "case management"],
        projects=[f"{ag.ref} project"],
        requested_by=ata,
    )
    roll = rng.random()
    extra = "ce-1474" if roll < 0.07 else "housing-system-navigator" if roll < 0.15 else None
    roles = ("read-only",) if roll > 0.9 else ("end-user", extra) if extra else ("end-user",)
    _roles(world, u, *roles)
    if roles == ("read-only",):
        courses: list[tuple[str, PaymentMethod, int]] = [
            ("IL-HMIS-INTRO-RO", PaymentMethod.NOT_CHARGED, 0)
        ]
    else:
        payment = rng.choice((PaymentMethod.TRAINING_CREDIT, PaymentMethod.INVOICE))
        courses = [
            ("IL-HMIS-INTRO", PaymentMethod.NOT_CHARGED, 0),
            (rng.choice(IL_PROJECT_COURSES), payment, 2500),
        ]
        if extra:
            courses.append((IL_CE_ROLES[extra][0], PaymentMethod.NOT_CHARGED, 0))
    provider = PROVIDERS[Process.CHICAGO]
    for course, paid_by, fee in courses:
        if not (yield from step(world, u, 1, 5)):
            return False
        meta = _meta(world, u, f"ata.{ata}")
        u.aggregate.enrol(
            meta, course_code=course, provider=provider, payment=paid_by, fee_cents=fee
        )
        if not (yield from step(world, u, 2, 12, lms=True)):
            return False
        complete(world, u, course, provider, lms=True, score=100.0)
    if roles != ("read-only",):
        outcomes = [ProctoredOutcome.PASSED]
        if rng.random() < 0.2:
            outcomes.insert(0, ProctoredOutcome.CORRECTIONS_NEEDED)
        for n, outcome in enumerate(outcomes):
            if not (yield from step(world, u, 3, 14)):
                return False
            session = f"VPS-{u.ref}-{n + 1}"
            u.aggregate.record_proctored_session(session, outcome, None, _meta(world, u))
            world.touch(u.aggregate)
    if not (yield from step(world, u, 0, 3)):
        return False
    _sign(world, u, FormKind.END_USER_AGREEMENT)
    hmis_role = IL_CE_ROLES[extra][1] if extra else roles[0]
    return (yield from _credentials(world, u, hmis_role))


def wisconsin(world: World, u: UserState) -> Walk:
    if not (yield from step(world, u, 5, 40)):
        return False
    complete(world, u, "WI-CE-CORE", PROVIDERS[Process.WISCONSIN_BOS], lms=False)
    if world.rng.random() < 0.4:  # CE staff without HMIS lists: the CoC training is all
        return True
    _roles(world, u, "hmis-ce-user")
    for course in ("WI-HMIS-CE-WORKFLOW-1", "WI-HMIS-CE-WORKFLOW-2"):
        if not (yield from step(world, u, 3, 20)):
            return False
        complete(world, u, course, "ICA Wisconsin (synthetic)", lms=False)
    return (yield from _credentials(world, u, "CE_HMIS_User"))


ONBOARDING: dict[Process, Callable[[World, UserState], Walk]] = {
    Process.MISSOURI_BOS: missouri,
    Process.LAHSA: lahsa,
    Process.CHICAGO: chicago,
    Process.WISCONSIN_BOS: wisconsin,
}
