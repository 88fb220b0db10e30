"""Closed vocabularies of the four CoC processes, and the constrained string types."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, StringConstraints

CocCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[0-9]{3}$")]
Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
# An agreement's ref joins its kind, agency and region or partner ("ce-mou.AG-1.R4").
AgreementRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
Reason = Annotated[str, StringConstraints(min_length=3, max_length=2000, strip_whitespace=True)]

RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339(value: object) -> object:
    """A time as a datetime or RFC 3339 text with a zone; pydantic alone would also take a
    number (seconds since 1970) or a date."""
    if isinstance(value, datetime) or (isinstance(value, str) and RFC3339.match(value)):
        return value
    raise ValueError("must be an RFC 3339 time with a zone, e.g. 2026-07-01T00:00:00Z")


# A moment in time, as its JSON schema says: "date-time" text (or a datetime in Python).
Moment = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class Process(StrEnum):
    """Which seed process a CoC's hard rules follow."""

    MISSOURI_BOS = "mo-bos"  # MO-606, ICA Missouri
    LAHSA = "lahsa"  # CA-600
    CHICAGO = "chicago"  # IL-510, All Chicago
    WISCONSIN_BOS = "wi-bos"  # WI-500, ICA Wisconsin
    GENERIC = "generic"


class AgreementKind(StrEnum):
    CE_MOU = "ce-mou"  # Missouri, per region: agency, regional CE lead, lead agency
    ORGANIZATION_AGREEMENT = "org-agreement"  # LAHSA: agency, then CoC representative
    DATA_PARTNERSHIP_MOA = "data-moa"  # Missouri: non-HMIS agency, then its HMIS partner


class Party(StrEnum):
    AGENCY = "agency"
    REGIONAL_CE_LEAD = "regional-ce-lead"
    LEAD_AGENCY = "lead-agency"
    COC_REPRESENTATIVE = "coc-representative"
    PARTNER_AGENCY = "partner-agency"


SIGNING_ORDER: dict[AgreementKind, tuple[Party, ...]] = {
    AgreementKind.CE_MOU: (Party.AGENCY, Party.REGIONAL_CE_LEAD, Party.LEAD_AGENCY),
    AgreementKind.ORGANIZATION_AGREEMENT: (Party.AGENCY, Party.COC_REPRESENTATIVE),
    AgreementKind.DATA_PARTNERSHIP_MOA: (Party.AGENCY, Party.PARTNER_AGENCY),
}


class OrgCesRole(StrEnum):
    ASSESSMENT_ONLY = "assessment-only"
    HOUSING_NAVIGATION_CASE_MANAGEMENT = "housing-navigation-case-management"
    HOUSING_PROVIDER = "housing-provider"


class ProgramType(StrEnum):
    ASSESSMENT_ONLY = "assessment-only"
    ACCESS_CENTER_SUPPORTIVE_SERVICES = "access-center-supportive-services"
    OUTREACH = "outreach"
    EMERGENCY_SHELTER_TRANSITIONAL_HOUSING = "emergency-shelter-transitional-housing"
    PERMANENT_HOUSING = "permanent-housing"
    OTHER = "other"


class ContactRole(StrEnum):
    EXECUTIVE_DIRECTOR = "executive-director"
    AUTHORIZED_REPRESENTATIVE = "authorized-representative"
    AGENCY_TECHNICAL_ADMINISTRATOR = "agency-technical-administrator"
    PROGRAM_MANAGER = "program-manager"


class FormKind(StrEnum):
    USER_AGREEMENT = "user-agreement"
    USER_POLICY_RESPONSIBILITIES = "user-policy-responsibilities"
    HMIS10_ACKNOWLEDGEMENT = "hmis10-acknowledgement"
    END_USER_AGREEMENT = "end-user-agreement"


class PaymentMethod(StrEnum):
    TRAINING_CREDIT = "training-credit"
    INVOICE = "invoice"
    NOT_CHARGED = "not-charged"


class AccessRequestType(StrEnum):
    NEW_USER = "new-user"
    MODIFY_USER = "modify-user"


class ProctoredOutcome(StrEnum):
    PASSED = "passed"
    CORRECTIONS_NEEDED = "corrections-needed"
    WALKTHROUGH_SCHEDULED = "walkthrough-scheduled"
    REDO_REQUIRED = "redo-required"


class CredentialState(StrEnum):
    NONE = "none"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class FollowUpRecord(StrEnum):
    STATUS_UPDATE = "status-update"
    CURRENT_LIVING_SITUATION = "current-living-situation"
    CE_NOTE = "ce-note"
