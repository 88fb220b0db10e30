"""Commands about agreements: drafting, signing in order, revising and voiding."""

from __future__ import annotations

from commands.base import Command
from commands.hard_rules import mou_only_after_assessor_training
from commands.runtime import UnitOfWork
from ledger.domain.agreements import Agreement
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import AgreementKind, AgreementRef, Party, Reason, Ref, Text
from ledger.errors import InvalidInput, RuleViolation


class DraftAgreement(Command):
    name = "draft-agreement"
    agreement_kind: AgreementKind
    agency_ref: Ref
    region: Ref | None = None
    partner_agency_ref: Ref | None = None
    revision: Ref


def draft_agreement(cmd: DraftAgreement, uow: UnitOfWork) -> Agreement:
    agency = uow.get(Agency, cmd.agency_ref)
    kind = cmd.agreement_kind
    needs_region = kind is AgreementKind.CE_MOU
    needs_partner = kind is AgreementKind.DATA_PARTNERSHIP_MOA
    if needs_region != (cmd.region is not None) or needs_partner != (
        cmd.partner_agency_ref is not None
    ):
        raise InvalidInput(
            f"a {kind} names {'a region' if needs_region else 'no region'} and "
            f"{'a partner agency' if needs_partner else 'no partner agency'}"
        )
    if cmd.region is not None:
        uow.coc().require_region(cmd.region)
        if cmd.region not in agency.active_regions():
            raise RuleViolation(
                "MO-606/ce-mou/region-active",
                f"agency {cmd.agency_ref} is not active in region {cmd.region}",
            )
    if cmd.partner_agency_ref is not None:
        partner = uow.get(Agency, cmd.partner_agency_ref)
        if not partner.hmis_participating or agency.hmis_participating:
            raise RuleViolation(
                "MO-606/data-moa/non-hmis-with-hmis-partner",
                "a data partnership MOA joins a non-HMIS agency to an HMIS-participating partner",
            )
    agreement = Agreement.draft(
        kind,
        cmd.agency_ref,
        cmd.revision,
        uow.meta,
        region=cmd.region,
        partner_agency_ref=cmd.partner_agency_ref,
    )
    return uow.create(agreement, agreement.drafted.ref)


class SignAgreement(Command):
    name = "sign-agreement"
    agreement_ref: AgreementRef
    party: Party
    signatory: Ref


def sign_agreement(cmd: SignAgreement, uow: UnitOfWork) -> Agreement:
    agreement = uow.get(Agreement, cmd.agreement_ref)
    agreement.require_signable(cmd.party)
    drafted = agreement.drafted
    if drafted.agreement_kind is AgreementKind.CE_MOU and cmd.party is Party.AGENCY:
        mou_only_after_assessor_training(uow.get(Agency, drafted.agency_ref), uow)
    if drafted.agreement_kind is AgreementKind.CE_MOU and cmd.party is Party.REGIONAL_CE_LEAD:
        assert drafted.region is not None
        if uow.coc().regional_ce_lead(drafted.region) is None:
            raise RuleViolation(
                "MO-606/ce-mou/regional-lead-assigned",
                f"region {drafted.region} has no Regional CE Lead to sign",
            )
    if (
        drafted.agreement_kind is AgreementKind.CE_MOU
        and cmd.party is Party.LEAD_AGENCY
        and uow.coc().lead_agency is None
    ):
        raise RuleViolation(
            "MO-606/ce-mou/lead-agency-designated", "the CoC has no designated Lead Agency to sign"
        )
    agreement.sign(cmd.party, cmd.signatory, uow.meta)
    return agreement


class ReviseAgreement(Command):
    name = "revise-agreement"
    agreement_ref: AgreementRef
    revision: Ref
    reason: Reason


def revise_agreement(cmd: ReviseAgreement, uow: UnitOfWork) -> Agreement:
    agreement = uow.get(Agreement, cmd.agreement_ref)
    agreement.revise(cmd.revision, cmd.reason, uow.meta)
    return agreement


class VoidAgreement(Command):
    name = "void-agreement"
    agreement_ref: AgreementRef
    reason: Text


def void_agreement(cmd: VoidAgreement, uow: UnitOfWork) -> Agreement:
    agreement = uow.get(Agreement, cmd.agreement_ref)
    agreement.void(cmd.reason, uow.meta)
    return agreement
