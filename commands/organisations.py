"""Commands about the CoC itself and its agencies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from commands.base import Command
from commands.runtime import UnitOfWork
from ledger.domain.organisations import Agency, CoC
from ledger.domain.vocabulary import ContactRole, OrgCesRole, Process, ProgramType, Ref, Text
from ledger.errors import RuleViolation


class RegisterCoc(Command):
    name = "register-coc"
    coc_name: Text
    process: Process = Process.GENERIC


def register_coc(cmd: RegisterCoc, uow: UnitOfWork) -> CoC:
    return uow.create(CoC.register(cmd.coc, cmd.coc_name, cmd.process, uow.meta))


class AddRegion(Command):
    name = "add-region"
    region: Ref
    region_name: Text
    counties: list[Text] = Field(default_factory=list, max_length=200)


def add_region(cmd: AddRegion, uow: UnitOfWork) -> CoC:
    coc = uow.coc()
    coc.add_region(cmd.region, cmd.region_name, cmd.counties, uow.meta)
    return coc


class DesignateLeadAgency(Command):
    name = "designate-lead-agency"
    agency_ref: Ref


def designate_lead_agency(cmd: DesignateLeadAgency, uow: UnitOfWork) -> CoC:
    uow.get(Agency, cmd.agency_ref)
    coc = uow.coc()
    coc.designate_lead_agency(cmd.agency_ref, uow.meta)
    return coc


class DesignateHmisLead(Command):
    name = "designate-hmis-lead"
    organisation: Text


def designate_hmis_lead(cmd: DesignateHmisLead, uow: UnitOfWork) -> CoC:
    coc = uow.coc()
    coc.designate_hmis_lead(cmd.organisation, uow.meta)
    return coc


class AssignRegionalCeLead(Command):
    name = "assign-regional-ce-lead"
    region: Ref
    agency_ref: Ref


def assign_regional_ce_lead(cmd: AssignRegionalCeLead, uow: UnitOfWork) -> CoC:
    uow.get(Agency, cmd.agency_ref)
    coc = uow.coc()
    coc.assign_regional_ce_lead(cmd.region, cmd.agency_ref, uow.meta)
    return coc


class RegisterAgency(Command):
    name = "register-agency"
    agency_ref: Ref
    agency_name: Text
    hmis_participating: bool = True


def register_agency(cmd: RegisterAgency, uow: UnitOfWork) -> Agency:
    agency = Agency.register(cmd.agency_ref, cmd.agency_name, cmd.hmis_participating, uow.meta)
    return uow.create(agency, cmd.agency_ref)


class JoinRegion(Command):
    name = "join-region"
    agency_ref: Ref
    region: Ref


def join_region(cmd: JoinRegion, uow: UnitOfWork) -> Agency:
    uow.coc().require_region(cmd.region)
    agency = uow.get(Agency, cmd.agency_ref)
    agency.join_region(cmd.region, uow.meta)
    return agency


class LeaveRegion(Command):
    name = "leave-region"
    agency_ref: Ref
    region: Ref


def leave_region(cmd: LeaveRegion, uow: UnitOfWork) -> Agency:
    agency = uow.get(Agency, cmd.agency_ref)
    agency.leave_region(cmd.region, uow.meta)
    return agency


class DeclareCesRoles(Command):
    name = "declare-ces-roles"
    agency_ref: Ref
    roles: list[OrgCesRole] = Field(min_length=1)


def declare_ces_roles(cmd: DeclareCesRoles, uow: UnitOfWork) -> Agency:
    agency = uow.get(Agency, cmd.agency_ref)
    agency.declare_ces_roles(cmd.roles, uow.meta)
    return agency


class SetUpProgram(Command):
    name = "set-up-program"
    agency_ref: Ref
    program_ref: Ref
    program_type: ProgramType
    program_name: Text


def set_up_program(cmd: SetUpProgram, uow: UnitOfWork) -> Agency:
    agency = uow.get(Agency, cmd.agency_ref)
    agency.set_up_program(cmd.program_ref, cmd.program_type, cmd.program_name, uow.meta)
    return agency


class ConfirmProgramSetUp(Command):
    name = "confirm-program-setup"
    agency_ref: Ref
    confirmed_by: Ref


def confirm_program_setup(cmd: ConfirmProgramSetUp, uow: UnitOfWork) -> Agency:
    agency = uow.get(Agency, cmd.agency_ref)
    agency.confirm_program_setup(cmd.confirmed_by, uow.meta)
    return agency


class DesignateAgencyContact(Command):
    name = "designate-agency-contact"
    agency_ref: Ref
    role: ContactRole
    user_ref: Ref


def designate_agency_contact(cmd: DesignateAgencyContact, uow: UnitOfWork) -> Agency:
    agency = uow.get(Agency, cmd.agency_ref)
    if cmd.user_ref not in agency.staff():
        raise RuleViolation(
            "agency/contact-is-staff",
            f"user {cmd.user_ref} is not on the staff of {cmd.agency_ref}",
        )
    agency.designate_contact(cmd.role, cmd.user_ref, uow.meta)
    return agency


class AdoptPolicy(Command):
    """Adopt a version of the CoC's policy pack; it applies from its own effective date."""

    name = "adopt-policy"
    version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]


def adopt_policy(cmd: AdoptPolicy, uow: UnitOfWork) -> CoC:
    loaded = uow.ledger.packs.get(cmd.coc, cmd.version)
    coc = uow.coc()
    coc.adopt_policy(
        loaded.pack.version, loaded.pack.effective_from, loaded.sha256, loaded.pack.title, uow.meta
    )
    return coc


class GrantTrainingCredits(Command):
    name = "grant-training-credits"
    agency_ref: Ref
    credits: int = Field(ge=1, le=1000)
    reason: Text


def grant_training_credits(cmd: GrantTrainingCredits, uow: UnitOfWork) -> Agency:
    agency = uow.get(Agency, cmd.agency_ref)
    agency.grant_training_credits(cmd.credits, cmd.reason, uow.meta)
    return agency
