"""A small synthetic demo data set for the four seed CoCs, issued through the command registry.

Every name, e-mail and client reference here is invented. Every command carries an
idempotency key and its dates are fixed once the first command is stored, so loading the
data set again replays the stored receipts and writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from commands import agreements as ag
from commands import corrections as corr
from commands import end_users as eu
from commands import obligations as ob
from commands import organisations as org
from commands.base import Caller, Command, Receipt
from commands.hard_rules import (
    IL_INTRO_COURSE,
    IL_PROJECT_COURSE_PREFIX,
    MO_ASSESSOR_COURSE,
)
from commands.registry import run
from ledger.application import Ledger
from ledger.domain.base import Source
from ledger.domain.obligations import IdempotencyRecord
from ledger.ids import entity_id

CALLER = Caller(actor="demo-loader", source=Source.DEMO, request_id="demo")
KEY_PREFIX = "demo-v1-"
FIRST_COC = "MO-606"
FIRST_DAYS_AGO = 400


class _Loader:
    """Issues the demo commands with numbered idempotency keys and dates before ``anchor``."""

    def __init__(self, ledger: Ledger, anchor: datetime) -> None:
        self.ledger = ledger
        self.anchor = anchor
        self.count = 0

    def at(self, days_ago: int) -> datetime:
        return self.anchor - timedelta(days=days_ago)

    def __call__(self, model: type[Command], days_ago: int, **fields: Any) -> Receipt:
        self.count += 1
        command = model(
            effective_at=self.at(days_ago),
            idempotency_key=f"{KEY_PREFIX}{self.count:03d}",
            **fields,
        )
        return run(self.ledger, command, CALLER)


def _anchor(ledger: Ledger) -> datetime:
    """The day the demo dates count back from: kept from the first load, else today (UTC)."""
    first = ledger.load(
        IdempotencyRecord, entity_id(IdempotencyRecord.kind, FIRST_COC, f"{KEY_PREFIX}001")
    )
    if first is not None:
        return first.recorded.effective_at + timedelta(days=FIRST_DAYS_AGO)
    return ledger.clock.now().replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)


def _missouri(do: _Loader) -> None:
    c = {"coc": "MO-606"}
    do(
        org.RegisterCoc,
        FIRST_DAYS_AGO,
        **c,
        coc_name="Demo Missouri Balance of State",
        process="mo-bos",
    )
    do(
        org.AddRegion,
        399,
        **c,
        region="R1",
        region_name="Region 1 (demo)",
        counties=["Ash County", "Briar County"],
    )
    do(
        org.AddRegion,
        399,
        **c,
        region="R4",
        region_name="Region 4 (demo)",
        counties=["Cobalt County"],
    )
    do(org.DesignateHmisLead, 398, **c, organisation="Heartland Data Partners (demo)")
    do(org.RegisterAgency, 398, **c, agency_ref="MO-PHA", agency_name="Prairie Housing Alliance")
    do(org.DesignateLeadAgency, 397, **c, agency_ref="MO-PHA")
    do(org.RegisterAgency, 397, **c, agency_ref="MO-RBS", agency_name="Riverbend Shelter")
    do(org.JoinRegion, 397, **c, agency_ref="MO-RBS", region="R1")
    do(org.AssignRegionalCeLead, 396, **c, region="R1", agency_ref="MO-RBS")
    do(org.RegisterAgency, 395, **c, agency_ref="MO-CFS", agency_name="Cedar Family Services")
    do(org.JoinRegion, 395, **c, agency_ref="MO-CFS", region="R1")
    do(
        org.RegisterAgency,
        395,
        **c,
        agency_ref="MO-LOP",
        agency_name="Lantern Outreach Project",
        hmis_participating=False,
    )
    user = {"user_ref": "mo-u1"}
    do(
        eu.RegisterEndUser,
        390,
        **c,
        **user,
        agency_ref="MO-CFS",
        person_name="Robin Example",
        email="robin.example@example.org",
    )
    do(
        eu.RecordCourseCompletion,
        380,
        **c,
        **user,
        course_code=MO_ASSESSOR_COURSE,
        course_title="CE Assessor Training",
        provider="LITMOS",
        certificate_id="DEMO-CERT-0001",
    )
    mou = {"agreement_ref": "ce-mou.MO-CFS.R1"}
    do(
        ag.DraftAgreement,
        375,
        **c,
        agreement_kind="ce-mou",
        agency_ref="MO-CFS",
        region="R1",
        revision="2025-1",
    )
    do(ag.SignAgreement, 374, **c, **mou, party="agency", signatory="ed.MO-CFS")
    do(ag.SignAgreement, 370, **c, **mou, party="regional-ce-lead", signatory="ce-lead.MO-RBS")
    do(ag.SignAgreement, 365, **c, **mou, party="lead-agency", signatory="director.MO-PHA")
    do(
        eu.SubmitAccessRequest,
        360,
        **c,
        **user,
        request_ref="UAR-0001",
        projects=["Cedar Family Shelter"],
        submitted_by="ar.MO-CFS",
        certificate_id="DEMO-CERT-0001",
    )
    do(eu.ApproveAccessRequest, 358, **c, **user, request_ref="UAR-0001")
    do(eu.SignForm, 357, **c, **user, form="user-policy-responsibilities", revision="2024")
    do(
        eu.RecordCourseCompletion,
        356,
        **c,
        **user,
        course_code="MO-SECURITY-PRIVACY",
        provider="LITMOS",
    )
    do(
        eu.RecordCourseCompletion,
        355,
        **c,
        **user,
        course_code="MO-DATA-STANDARDS",
        provider="LITMOS",
    )
    do(eu.IssueCredentials, 354, **c, **user, hmis_role="end-user")
    moa = {"agreement_ref": "data-moa.MO-LOP.MO-CFS"}
    do(
        ag.DraftAgreement,
        350,
        **c,
        agreement_kind="data-moa",
        agency_ref="MO-LOP",
        partner_agency_ref="MO-CFS",
        revision="2025-1",
    )
    do(ag.SignAgreement, 349, **c, **moa, party="agency", signatory="ed.MO-LOP")
    do(ag.SignAgreement, 348, **c, **moa, party="partner-agency", signatory="ed.MO-CFS")
    do(
        ob.RecordDataPartnerIntake,
        30,
        **c,
        intake_ref="MO-IN-0001",
        client_ref="client-3f9a",
        collecting_agency_ref="MO-LOP",
        partner_agency_ref="MO-CFS",
    )
    do(ob.RecordIntakeEntered, 28, **c, intake_ref="MO-IN-0001", entered_by="mo-u1")


def _los_angeles(do: _Loader) -> None:
    c = {"coc": "CA-600"}
    do(org.RegisterCoc, 300, **c, coc_name="Demo Los Angeles CoC", process="lahsa")
    do(org.DesignateHmisLead, 300, **c, organisation="Harbor Basin HMIS Office (demo)")
    agency = {"agency_ref": "CA-SCH"}
    do(org.RegisterAgency, 299, **c, **agency, agency_name="Sunrise Community Housing")
    oa = {"agreement_ref": "org-agreement.CA-SCH"}
    do(ag.DraftAgreement, 298, **c, **agency, agreement_kind="org-agreement", revision="2025")
    do(ag.SignAgreement, 297, **c, **oa, party="agency", signatory="ed.CA-SCH")
    do(ag.SignAgreement, 295, **c, **oa, party="coc-representative", signatory="hmis-lead.CA-600")
    do(org.DeclareCesRoles, 294, **c, **agency, roles=["assessment-only", "housing-provider"])
    do(
        org.SetUpProgram,
        294,
        **c,
        **agency,
        program_ref="P-AO",
        program_type="assessment-only",
        program_name="Sunrise Access Point",
    )
    do(
        org.SetUpProgram,
        294,
        **c,
        **agency,
        program_ref="P-PH",
        program_type="permanent-housing",
        program_name="Sunrise Apartments",
    )
    do(org.ConfirmProgramSetUp, 292, **c, **agency, confirmed_by="hmis-lead.CA-600")
    users = [
        (
            "ca-u1",
            "Jamie Sample",
            "assessment-only",
            ["LA-HMIS-10", "LA-HMIS-509-FIRST-HALF"],
            "CES_Assessments",
        ),
        ("ca-u2", "Morgan Testcase", "housing-provider", ["LA-HMIS-511"], "CES_Housing_Provider"),
    ]
    for user_ref, name, role, courses, hmis_role in users:
        user = {"user_ref": user_ref}
        do(eu.RegisterEndUser, 280, **c, **user, **agency, person_name=name)
        do(eu.RequestRole, 280, **c, **user, role=role)
        for course in courses:
            do(
                eu.RecordCourseCompletion,
                275,
                **c,
                **user,
                course_code=course,
                provider="LA training website (demo)",
            )
        if "LA-HMIS-10" in courses:
            do(eu.SignForm, 274, **c, **user, form="hmis10-acknowledgement", revision="2025")
        do(eu.SignForm, 274, **c, **user, form="user-agreement", revision="2025")
        do(eu.IssueCredentials, 272, **c, **user, hmis_role=hmis_role)


def _chicago(do: _Loader) -> None:
    c = {"coc": "IL-510"}
    do(org.RegisterCoc, 200, **c, coc_name="Demo Chicago CoC", process="chicago")
    do(org.DesignateHmisLead, 200, **c, organisation="Lakeside HMIS Collaborative (demo)")
    agency = {"agency_ref": "IL-LDC"}
    do(org.RegisterAgency, 199, **c, **agency, agency_name="Lakefront Day Center")
    do(eu.RegisterEndUser, 199, **c, **agency, user_ref="il-ata")
    do(
        org.DesignateAgencyContact,
        198,
        **c,
        **agency,
        role="agency-technical-administrator",
        user_ref="il-ata",
    )
    user = {"user_ref": "il-u1"}
    do(eu.RegisterEndUser, 190, **c, **user, **agency, person_name="Casey Placeholder")
    do(
        eu.RequestTraining,
        190,
        **c,
        **user,
        ticket_ref="HD-1001",
        person_name="Casey Placeholder",
        agency_email="casey.placeholder@example.org",
        lms_username="cplaceholder",
        expected_responsibilities=["intake", "case management"],
        projects=["Lakefront Emergency Shelter"],
        requested_by="il-ata",
    )
    project_course = f"{IL_PROJECT_COURSE_PREFIX}ES-TH-SH"
    for course, days_ago, payment in (
        (IL_INTRO_COURSE, 185, "training-credit"),
        (project_course, 180, "invoice"),
    ):
        do(
            eu.EnrolInCourse,
            days_ago + 2,
            **c,
            **user,
            course_code=course,
            provider="Talent LMS",
            payment=payment,
            fee_cents=2500,
        )
        do(
            eu.RecordCourseCompletion,
            days_ago,
            **c,
            **user,
            course_code=course,
            provider="Talent LMS",
            score=100.0,
        )
    do(eu.RecordProctoredSession, 175, **c, **user, session_ref="VPS-0001", outcome="passed")
    do(eu.SignForm, 174, **c, **user, form="end-user-agreement", revision="2025")
    do(eu.IssueCredentials, 173, **c, **user, hmis_role="end-user")


def _wisconsin(do: _Loader) -> None:
    c = {"coc": "WI-500"}
    do(org.RegisterCoc, 120, **c, coc_name="Demo Wisconsin Balance of State", process="wi-bos")
    do(
        org.AddRegion,
        120,
        **c,
        region="LC-07",
        region_name="Local coalition 7 (demo)",
        counties=["Pinecrest County"],
    )
    do(org.DesignateHmisLead, 120, **c, organisation="Heartland Data Partners (demo)")
    agency = {"agency_ref": "WI-NWH"}
    do(org.RegisterAgency, 119, **c, **agency, agency_name="Northwoods Housing Coalition")
    do(org.JoinRegion, 119, **c, **agency, region="LC-07")
    do(org.AssignRegionalCeLead, 118, **c, region="LC-07", **agency)
    user = {"user_ref": "wi-u1"}
    do(eu.RegisterEndUser, 110, **c, **user, **agency, person_name="Taylor Demo")
    wrong_date = do(
        eu.RecordCourseCompletion,
        90,
        **c,
        **user,
        course_code="WI-CE-CORE",
        provider="WI BoS CoC (demo)",
    )
    do(
        eu.RecordCourseCompletion,
        80,
        **c,
        **user,
        course_code="WI-HMIS-CE-WORKFLOW-1",
        provider="HMIS Lead (demo)",
    )
    do(
        ob.RecordFollowUpAttempt,
        20,
        **c,
        **user,
        follow_up_ref="FU-0001",
        client_ref="client-8c21",
        reached=True,
    )
    for record in ("status-update", "current-living-situation", "ce-note"):
        do(ob.RecordFollowUpRecord, 19, **c, follow_up_ref="FU-0001", record=record)
    do(
        ob.RecordFollowUpAttempt,
        15,
        **c,
        **user,
        follow_up_ref="FU-0002",
        client_ref="client-51d0",
        reached=False,
    )
    do(ob.RecordFollowUpRecord, 15, **c, follow_up_ref="FU-0002", record="ce-note")
    # The CE core completion was typed in with the wrong date: amend it, never edit it.
    written = wrong_date.events[0]
    wrong = next(
        h.event
        for h in do.ledger.history(written.entity_id)
        if h.event.originator_version == written.version
    )
    do(
        corr.AmendEvent,
        10,
        **c,
        entity_kind="user",
        entity_ref="wi-u1",
        event_id=wrong.event_id,
        reason="completion date entered wrongly; the certificate shows an earlier date",
        changes={"effective_at": do.at(95).isoformat()},
    )


def load_demo(ledger: Ledger) -> int:
    """Load the demo data set; returns the number of commands run (replays included)."""
    do = _Loader(ledger, _anchor(ledger))
    for load in (_missouri, _los_angeles, _chicago, _wisconsin, _policies):
        load(do)
    return do.count


def _policies(do: _Loader) -> None:
    """Each demo CoC adopts every bundled version of its policy pack."""
    for coc in ("MO-606", "CA-600", "IL-510", "WI-500"):
        for loaded in do.ledger.packs.versions(coc):
            do(org.AdoptPolicy, 0, coc=coc, version=loaded.pack.version)
