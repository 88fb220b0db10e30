"""Commands about a CoC and its agencies: regions, leads, CES roles, programs, contacts."""

from __future__ import annotations

from commands.organisations import (
    AddRegion,
    AssignRegionalCeLead,
    ConfirmProgramSetUp,
    DeclareCesRoles,
    DesignateAgencyContact,
    DesignateHmisLead,
    DesignateLeadAgency,
    JoinRegion,
    LeaveRegion,
    RegisterAgency,
    RegisterCoc,
    SetUpProgram,
)
from ledger.application import Ledger
from ledger.domain.organisations import Agency, CoC
from ledger.domain.vocabulary import ContactRole, OrgCesRole, Process, ProgramType
from ledger.errors import NotFound
from tests.integration.builders import (
    Do,
    agency,
    coc,
    happy_path,
    refused,
    register_agency,
    register_coc,
    register_user,
    rejected,
)

CODE = "WI-500"
AG = "wi-northwoods"


def small_coc(do: Do) -> None:
    register_coc(do, CODE, Process.WISCONSIN_BOS)
    register_agency(do, CODE, AG)


# --- happy paths ---------------------------------------------------------------------------


@happy_path(RegisterCoc)
def test_register_coc_creates_the_tenant_with_its_process(ledger: Ledger, do: Do) -> None:
    receipt = do(
        RegisterCoc(coc="MO-606", coc_name="Synthetic Missouri BoS", process=Process.MISSOURI_BOS)
    )

    tenant = coc(ledger, "MO-606")
    assert receipt.entity_id == tenant.id
    assert receipt.entity_kind == "coc"
    assert tenant.process is Process.MISSOURI_BOS
    assert tenant.regions() == {}
    assert [type(h.event) for h in ledger.history(tenant.id)] == [CoC.Registered]


def test_register_coc_defaults_to_the_generic_process(ledger: Ledger, do: Do) -> None:
    do(RegisterCoc(coc="ZZ-101", coc_name="Synthetic Generic CoC"))

    assert coc(ledger, "ZZ-101").process is Process.GENERIC


@happy_path(AddRegion)
def test_add_region_lists_the_region_with_its_name(ledger: Ledger, do: Do) -> None:
    register_coc(do, "MO-606", Process.MISSOURI_BOS)

    do(AddRegion(coc="MO-606", region="r1", region_name="Region One", counties=["Alder County"]))

    tenant = coc(ledger, "MO-606")
    assert tenant.regions() == {"r1": "Region One"}
    added = tenant.last(CoC.RegionAdded)
    assert added is not None
    assert added.counties == ["Alder County"]


@happy_path(DesignateLeadAgency)
def test_designate_lead_agency_names_the_agency(ledger: Ledger, do: Do) -> None:
    small_coc(do)

    do(DesignateLeadAgency(coc=CODE, agency_ref=AG))

    assert coc(ledger, CODE).lead_agency == AG


def test_a_later_lead_agency_designation_replaces_the_earlier(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    register_agency(do, CODE, "wi-other")
    do(DesignateLeadAgency(coc=CODE, agency_ref=AG))

    do(DesignateLeadAgency(coc=CODE, agency_ref="wi-other"))

    assert coc(ledger, CODE).lead_agency == "wi-other"


@happy_path(DesignateHmisLead)
def test_designate_hmis_lead_records_the_organisation(ledger: Ledger, do: Do) -> None:
    small_coc(do)

    do(DesignateHmisLead(coc=CODE, organisation="Synthetic HMIS Lead Org"))

    fact = coc(ledger, CODE).last(CoC.HmisLeadDesignated)
    assert fact is not None
    assert fact.organisation == "Synthetic HMIS Lead Org"


@happy_path(AssignRegionalCeLead)
def test_assign_regional_ce_lead_names_the_lead_of_that_region(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    do(AddRegion(coc=CODE, region="r1", region_name="Region One"))
    do(AddRegion(coc=CODE, region="r2", region_name="Region Two"))

    do(AssignRegionalCeLead(coc=CODE, region="r1", agency_ref=AG))

    tenant = coc(ledger, CODE)
    assert tenant.regional_ce_lead("r1") == AG
    assert tenant.regional_ce_lead("r2") is None


@happy_path(RegisterAgency)
def test_register_agency_records_name_and_hmis_participation(ledger: Ledger, do: Do) -> None:
    register_coc(do, CODE, Process.WISCONSIN_BOS)

    receipt = do(
        RegisterAgency(
            coc=CODE,
            agency_ref="wi-pantry",
            agency_name="Synthetic Food Pantry",
            hmis_participating=False,
        )
    )

    registered = agency(ledger, CODE, "wi-pantry")
    assert receipt.entity_id == registered.id
    assert registered.ref == "wi-pantry"
    assert registered.hmis_participating is False
    assert registered.staff() == set()


@happy_path(JoinRegion)
def test_join_region_makes_the_agency_active_there(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    do(AddRegion(coc=CODE, region="r1", region_name="Region One"))

    do(JoinRegion(coc=CODE, agency_ref=AG, region="r1"))

    assert agency(ledger, CODE, AG).active_regions() == {"r1"}


@happy_path(LeaveRegion)
def test_leave_region_ends_the_agency_activity_there(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    do(AddRegion(coc=CODE, region="r1", region_name="Region One"))
    do(AddRegion(coc=CODE, region="r2", region_name="Region Two"))
    do(JoinRegion(coc=CODE, agency_ref=AG, region="r1"))
    do(JoinRegion(coc=CODE, agency_ref=AG, region="r2"))

    do(LeaveRegion(coc=CODE, agency_ref=AG, region="r1"))

    assert agency(ledger, CODE, AG).active_regions() == {"r2"}


def test_an_agency_may_rejoin_a_region_it_left(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    do(AddRegion(coc=CODE, region="r1", region_name="Region One"))
    do(JoinRegion(coc=CODE, agency_ref=AG, region="r1"))
    do(LeaveRegion(coc=CODE, agency_ref=AG, region="r1"))

    do(JoinRegion(coc=CODE, agency_ref=AG, region="r1"))

    assert agency(ledger, CODE, AG).active_regions() == {"r1"}


@happy_path(DeclareCesRoles)
def test_declare_ces_roles_keeps_each_role_once(ledger: Ledger, do: Do) -> None:
    small_coc(do)

    do(
        DeclareCesRoles(
            coc=CODE,
            agency_ref=AG,
            roles=[
                OrgCesRole.HOUSING_PROVIDER,
                OrgCesRole.ASSESSMENT_ONLY,
                OrgCesRole.HOUSING_PROVIDER,
            ],
        )
    )

    assert set(agency(ledger, CODE, AG).ces_roles()) == {
        OrgCesRole.HOUSING_PROVIDER,
        OrgCesRole.ASSESSMENT_ONLY,
    }
    assert len(agency(ledger, CODE, AG).ces_roles()) == 2


@happy_path(SetUpProgram)
def test_set_up_program_creates_then_modifies_a_program(ledger: Ledger, do: Do) -> None:
    small_coc(do)

    do(
        SetUpProgram(
            coc=CODE,
            agency_ref=AG,
            program_ref="prog-1",
            program_type=ProgramType.OUTREACH,
            program_name="Street Team",
        )
    )
    do(
        SetUpProgram(
            coc=CODE,
            agency_ref=AG,
            program_ref="prog-1",
            program_type=ProgramType.OUTREACH,
            program_name="Street Team North",
        )
    )

    programs = agency(ledger, CODE, AG).programs()
    assert list(programs) == ["prog-1"]
    assert programs["prog-1"].name == "Street Team North"
    assert programs["prog-1"].change == "modified"
    changes = [f.change for f in agency(ledger, CODE, AG).facts(Agency.ProgramSetUp)]
    assert changes == ["created", "modified"]


@happy_path(ConfirmProgramSetUp)
def test_confirm_program_setup_marks_the_setup_confirmed(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    do(DeclareCesRoles(coc=CODE, agency_ref=AG, roles=[OrgCesRole.HOUSING_PROVIDER]))
    do(
        SetUpProgram(
            coc=CODE,
            agency_ref=AG,
            program_ref="prog-1",
            program_type=ProgramType.PERMANENT_HOUSING,
            program_name="Synthetic PSH",
        )
    )
    assert agency(ledger, CODE, AG).program_setup_confirmed() is False

    do(ConfirmProgramSetUp(coc=CODE, agency_ref=AG, confirmed_by="hmis-admin-1"))

    assert agency(ledger, CODE, AG).program_setup_confirmed() is True


def test_a_program_change_after_confirmation_needs_a_new_confirmation(
    ledger: Ledger, do: Do
) -> None:
    small_coc(do)
    do(DeclareCesRoles(coc=CODE, agency_ref=AG, roles=[OrgCesRole.HOUSING_PROVIDER]))
    do(
        SetUpProgram(
            coc=CODE,
            agency_ref=AG,
            program_ref="prog-1",
            program_type=ProgramType.PERMANENT_HOUSING,
            program_name="Synthetic PSH",
        )
    )
    do(ConfirmProgramSetUp(coc=CODE, agency_ref=AG, confirmed_by="hmis-admin-1"))

    do(
        SetUpProgram(
            coc=CODE,
            agency_ref=AG,
            program_ref="prog-2",
            program_type=ProgramType.OUTREACH,
            program_name="Synthetic Outreach",
        )
    )

    assert agency(ledger, CODE, AG).program_setup_confirmed() is False


@happy_path(DesignateAgencyContact)
def test_designate_agency_contact_names_a_staff_member_in_a_role(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    register_user(do, CODE, "wi-user-1", AG)

    do(
        DesignateAgencyContact(
            coc=CODE,
            agency_ref=AG,
            role=ContactRole.AUTHORIZED_REPRESENTATIVE,
            user_ref="wi-user-1",
        )
    )

    assert agency(ledger, CODE, AG).contacts() == {
        ContactRole.AUTHORIZED_REPRESENTATIVE: "wi-user-1"
    }


# --- refusals ------------------------------------------------------------------------------


def test_a_region_code_is_added_only_once(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    do(AddRegion(coc=CODE, region="r1", region_name="Region One"))

    refused(
        ledger,
        do,
        AddRegion(coc=CODE, region="r1", region_name="Region One again"),
        "coc/region-unique",
    )


def test_an_agency_joins_a_region_only_once(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    do(AddRegion(coc=CODE, region="r1", region_name="Region One"))
    do(JoinRegion(coc=CODE, agency_ref=AG, region="r1"))

    refused(ledger, do, JoinRegion(coc=CODE, agency_ref=AG, region="r1"), "agency/region-once")


def test_an_agency_leaves_only_a_region_it_is_active_in(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    do(AddRegion(coc=CODE, region="r1", region_name="Region One"))

    refused(
        ledger,
        do,
        LeaveRegion(coc=CODE, agency_ref=AG, region="r1"),
        "agency/region-left-only-if-active",
    )


def test_a_contact_must_be_on_the_agency_staff(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    register_agency(do, CODE, "wi-other")
    register_user(do, CODE, "wi-user-elsewhere", "wi-other")

    refused(
        ledger,
        do,
        DesignateAgencyContact(
            coc=CODE, agency_ref=AG, role=ContactRole.PROGRAM_MANAGER, user_ref="wi-user-elsewhere"
        ),
        "agency/contact-is-staff",
    )


def test_confirming_a_setup_without_programs_is_refused(ledger: Ledger, do: Do) -> None:
    small_coc(do)
    do(DeclareCesRoles(coc=CODE, agency_ref=AG, roles=[OrgCesRole.HOUSING_PROVIDER]))

    refused(
        ledger,
        do,
        ConfirmProgramSetUp(coc=CODE, agency_ref=AG, confirmed_by="admin-1"),
        "agency/program-setup-needs-programs",
    )


def test_joining_an_unknown_region_is_not_found(ledger: Ledger, do: Do) -> None:
    small_coc(do)

    rejected(ledger, do, JoinRegion(coc=CODE, agency_ref=AG, region="r9"), NotFound)


def test_assigning_a_lead_to_an_unknown_region_is_not_found(ledger: Ledger, do: Do) -> None:
    small_coc(do)

    rejected(ledger, do, AssignRegionalCeLead(coc=CODE, region="r9", agency_ref=AG), NotFound)


def test_designating_an_unknown_agency_as_lead_is_not_found(ledger: Ledger, do: Do) -> None:
    small_coc(do)

    rejected(ledger, do, DesignateLeadAgency(coc=CODE, agency_ref="wi-nobody"), NotFound)
