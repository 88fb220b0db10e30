"""End users: training, forms, access requests, proctored reviews, roles and credentials."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ledger.domain.base import EventMeta, LedgerAggregate
from ledger.domain.vocabulary import (
    AccessRequestType,
    CredentialState,
    FormKind,
    PaymentMethod,
    ProctoredOutcome,
)
from ledger.errors import NotFound, RuleViolation
from ledger.ids import entity_id


class EndUser(LedgerAggregate):
    """A staff member who needs HMIS or CE access; the subject of most events."""

    kind = "user"

    class Registered(LedgerAggregate.Created):
        amendable = frozenset({"name", "email"})

        ref: str
        agency_ref: str
        name: str | None = None
        email: str | None = None

    class JoinedAgency(LedgerAggregate.Event):
        retractable = False

        agency_ref: str

    class DepartedAgency(LedgerAggregate.Event):
        retractable = False

        agency_ref: str
        reason: str | None = None

    class TrainingRequested(LedgerAggregate.Event):
        """Chicago's help-desk ticket, filed by the ATA or supervisor."""

        amendable = frozenset(
            {
                "ticket_ref",
                "name",
                "agency_email",
                "expected_responsibilities",
                "projects",
                "requested_by",
            }
        )

        ticket_ref: str
        name: str
        agency_email: str
        lms_username: str
        expected_responsibilities: list[str]
        projects: list[str]
        requested_by: str

    class CourseEnrolled(LedgerAggregate.Event):
        amendable = frozenset({"course_title", "provider", "payment", "fee_cents"})

        course_code: str
        course_title: str | None = None
        provider: str
        payment: PaymentMethod = PaymentMethod.NOT_CHARGED
        fee_cents: int = Field(default=0, ge=0, le=1_000_000)

    class CourseCompleted(LedgerAggregate.Event):
        amendable = frozenset(
            {"course_title", "provider", "certificate_id", "score", "source_record_id"}
        )

        index_key = "course_code"

        course_code: str
        course_title: str | None = None
        provider: str
        certificate_id: str | None = None
        score: float | None = Field(default=None, ge=0, le=100)
        source_record_id: str | None = None

    class FormSigned(LedgerAggregate.Event):
        index_key = "form"

        form: FormKind
        revision: str

    class AccessRequestSubmitted(LedgerAggregate.Event):
        amendable = frozenset({"projects", "submitted_by", "certificate_id"})

        request_ref: str
        request_type: AccessRequestType
        projects: list[str]
        submitted_by: str
        certificate_id: str | None = None

    class AccessRequestApproved(LedgerAggregate.Event):
        request_ref: str

    class AccessRequestDenied(LedgerAggregate.Event):
        amendable = frozenset({"reason"})

        request_ref: str
        reason: str

    class ProctoredSessionRecorded(LedgerAggregate.Event):
        amendable = frozenset({"session_ref", "notes"})

        session_ref: str
        outcome: ProctoredOutcome
        notes: str | None = None

    class RoleRequested(LedgerAggregate.Event):
        role: str

    class CredentialsIssued(LedgerAggregate.Event):
        amendable = frozenset({"override_reason"})

        hmis_role: str
        override_reason: str | None = None
        missing_at_issue: list[str] = Field(default_factory=list)

    class HmisRoleGranted(LedgerAggregate.Event):
        """Live credentials get another HMIS role (the previous one is kept in the history)."""

        amendable = frozenset({"override_reason"})

        hmis_role: str
        previous_role: str
        override_reason: str | None = None
        missing_at_issue: list[str] = Field(default_factory=list)

    class CredentialsSuspended(LedgerAggregate.Event):
        amendable = frozenset({"reason"})

        hmis_role: str
        reason: str

    class CredentialsReactivated(LedgerAggregate.Event):
        amendable = frozenset({"reason"})

        hmis_role: str
        reason: str | None = None

    class CredentialsRevoked(LedgerAggregate.Event):
        amendable = frozenset({"reason"})

        hmis_role: str
        reason: str

    class LoginActivitySummarised(LedgerAggregate.Event):
        amendable = frozenset({"period_start", "period_end", "login_count", "last_login_at"})

        period_start: datetime
        period_end: datetime
        login_count: int = Field(ge=0, le=1_000_000)
        last_login_at: datetime | None = None

    @classmethod
    def register(
        cls,
        ref: str,
        agency_ref: str,
        meta: EventMeta,
        name: str | None = None,
        email: str | None = None,
    ) -> EndUser:
        return cls._create(
            cls.Registered,
            id=entity_id(cls.kind, meta.coc, ref),
            ref=ref,
            agency_ref=agency_ref,
            name=name,
            email=email,
            **meta.fields(),
        )

    # --- queries -------------------------------------------------------------------------

    @property
    def ref(self) -> str:
        registered: EndUser.Registered = self._facts[0]  # type: ignore[assignment]
        return registered.ref  # the creating event (an exact-class check would cost more)

    @property
    def agency_ref(self) -> str | None:
        """The agency the user currently works for, or None after a departure. Worked out
        once per version: evaluating a user asks for it several times, and each time walked
        all its facts (6% of a rebuild worker's time)."""
        known = self.__dict__.get("_agency_at")
        if known is not None and known[0] == self.version:
            return known[1]  # type: ignore[no-any-return]
        agency: str | None = None
        for fact in self.facts(EndUser.Registered, EndUser.JoinedAgency, EndUser.DepartedAgency):
            if isinstance(fact, EndUser.Registered | EndUser.JoinedAgency):
                agency = fact.agency_ref
            else:
                agency = None
        self.__dict__["_agency_at"] = (self.version, agency)
        return agency

    def completed(self, *course_codes: str) -> list[EndUser.CourseCompleted]:
        return [c for c in self.facts(EndUser.CourseCompleted) if c.course_code in course_codes]

    def completed_course_codes(self) -> set[str]:
        return {c.course_code for c in self.facts(EndUser.CourseCompleted)}

    def access_requests(self) -> dict[str, str]:
        """Request ref -> "submitted", "approved" or "denied"."""
        states: dict[str, str] = {}
        for fact in self.facts(
            EndUser.AccessRequestSubmitted,
            EndUser.AccessRequestApproved,
            EndUser.AccessRequestDenied,
        ):
            if isinstance(fact, EndUser.AccessRequestSubmitted):
                states[fact.request_ref] = "submitted"
            elif isinstance(fact, EndUser.AccessRequestApproved):
                states[fact.request_ref] = "approved"
            elif isinstance(fact, EndUser.AccessRequestDenied):
                states[fact.request_ref] = "denied"
        return states

    def proctored_outcomes(self) -> list[ProctoredOutcome]:
        return [p.outcome for p in self.facts(EndUser.ProctoredSessionRecorded)]

    @property
    def credentials(self) -> CredentialState:
        state = CredentialState.NONE
        for fact in self.facts(
            EndUser.CredentialsIssued,
            EndUser.CredentialsSuspended,
            EndUser.CredentialsReactivated,
            EndUser.CredentialsRevoked,
        ):
            state = {
                EndUser.CredentialsIssued: CredentialState.ACTIVE,
                EndUser.CredentialsSuspended: CredentialState.SUSPENDED,
                EndUser.CredentialsReactivated: CredentialState.ACTIVE,
                EndUser.CredentialsRevoked: CredentialState.REVOKED,
            }[type(fact)]
        return state

    @property
    def hmis_role(self) -> str:
        """The HMIS role last issued or granted ("" if none was)."""
        role = ""
        for fact in self.facts(EndUser.CredentialsIssued, EndUser.HmisRoleGranted):
            if isinstance(fact, EndUser.CredentialsIssued | EndUser.HmisRoleGranted):
                role = fact.hmis_role
        return role

    # --- commands ------------------------------------------------------------------------

    def _require_member(self) -> str:
        agency = self.agency_ref
        if agency is None:
            raise RuleViolation(
                "user/member-of-agency",
                f"user {self.ref} has left their agency; record a join first",
            )
        return agency

    def join_agency(self, agency_ref: str, meta: EventMeta) -> None:
        if self.agency_ref is not None:
            raise RuleViolation(
                "user/one-agency-at-a-time", f"user {self.ref} still works for {self.agency_ref}"
            )
        self.trigger_event(self.JoinedAgency, agency_ref=agency_ref, **meta.fields())

    def depart(self, reason: str | None, meta: EventMeta) -> str:
        agency = self._require_member()
        self.trigger_event(self.DepartedAgency, agency_ref=agency, reason=reason, **meta.fields())
        return agency

    def request_training(self, meta: EventMeta, **ticket: object) -> None:
        self._require_member()
        self.trigger_event(self.TrainingRequested, **ticket, **meta.fields())

    def enrol(self, meta: EventMeta, **enrolment: object) -> None:
        self.trigger_event(self.CourseEnrolled, **enrolment, **meta.fields())

    def complete_course(self, meta: EventMeta, **completion: object) -> None:
        source_id = completion.get("source_record_id")
        if source_id is not None and any(
            c.source_record_id == source_id for c in self.facts(EndUser.CourseCompleted)
        ):
            raise RuleViolation(
                "user/completion-once", f"completion {source_id!r} from the LMS is already recorded"
            )
        self.trigger_event(self.CourseCompleted, **completion, **meta.fields())

    def sign_form(self, form: FormKind, revision: str, meta: EventMeta) -> None:
        if any(f.form == form and f.revision == revision for f in self.facts(EndUser.FormSigned)):
            raise RuleViolation(
                "user/form-sign-once", f"{form} revision {revision!r} is already signed"
            )
        self.trigger_event(self.FormSigned, form=form, revision=revision, **meta.fields())

    def submit_access_request(self, meta: EventMeta, **request: object) -> None:
        self._require_member()
        if request["request_ref"] in self.access_requests():
            raise RuleViolation(
                "user/access-request-ref-unique",
                f"access request {request['request_ref']!r} already exists",
            )
        self.trigger_event(self.AccessRequestSubmitted, **request, **meta.fields())

    def _pending_request(self, request_ref: str) -> None:
        state = self.access_requests().get(request_ref)
        if state is None:
            raise NotFound(f"access request {request_ref!r} of user {self.ref} does not exist")
        if state != "submitted":
            raise RuleViolation(
                "user/access-request-decided-once",
                f"access request {request_ref!r} is already {state}",
            )

    def approve_access_request(self, request_ref: str, meta: EventMeta) -> None:
        self._pending_request(request_ref)
        self.trigger_event(self.AccessRequestApproved, request_ref=request_ref, **meta.fields())

    def deny_access_request(self, request_ref: str, reason: str, meta: EventMeta) -> None:
        self._pending_request(request_ref)
        self.trigger_event(
            self.AccessRequestDenied, request_ref=request_ref, reason=reason, **meta.fields()
        )

    def record_proctored_session(
        self, session_ref: str, outcome: ProctoredOutcome, notes: str | None, meta: EventMeta
    ) -> None:
        self.trigger_event(
            self.ProctoredSessionRecorded,
            session_ref=session_ref,
            outcome=outcome,
            notes=notes,
            **meta.fields(),
        )

    def request_role(self, role: str, meta: EventMeta) -> None:
        self._require_member()
        self.trigger_event(self.RoleRequested, role=role, **meta.fields())

    def issue_credentials(
        self, hmis_role: str, override_reason: str | None, missing: list[str], meta: EventMeta
    ) -> None:
        self._require_member()
        if self.credentials in (CredentialState.ACTIVE, CredentialState.SUSPENDED):
            raise RuleViolation(
                "credentials/issue-once",
                f"user {self.ref} already holds credentials ({self.credentials})",
            )
        self.trigger_event(
            self.CredentialsIssued,
            hmis_role=hmis_role,
            override_reason=override_reason,
            missing_at_issue=missing,
            **meta.fields(),
        )

    def grant_hmis_role(
        self, hmis_role: str, override_reason: str | None, missing: list[str], meta: EventMeta
    ) -> None:
        if self.credentials is not CredentialState.ACTIVE:
            raise RuleViolation(
                "credentials/grant-role-to-active-only",
                f"credentials are {self.credentials}, not active",
            )
        if hmis_role == self.hmis_role:
            raise RuleViolation(
                "credentials/grant-role-changes", f"user {self.ref} already holds {hmis_role}"
            )
        self.trigger_event(
            self.HmisRoleGranted,
            hmis_role=hmis_role,
            previous_role=self.hmis_role,
            override_reason=override_reason,
            missing_at_issue=missing,
            **meta.fields(),
        )

    def suspend_credentials(self, reason: str, meta: EventMeta) -> None:
        if self.credentials != CredentialState.ACTIVE:
            raise RuleViolation(
                "credentials/suspend-active-only", f"credentials are {self.credentials}, not active"
            )
        self.trigger_event(
            self.CredentialsSuspended, hmis_role=self.hmis_role, reason=reason, **meta.fields()
        )

    def reactivate_credentials(self, reason: str | None, meta: EventMeta) -> None:
        if self.credentials != CredentialState.SUSPENDED:
            raise RuleViolation(
                "credentials/reactivate-suspended-only",
                f"credentials are {self.credentials}, not suspended",
            )
        self.trigger_event(
            self.CredentialsReactivated, hmis_role=self.hmis_role, reason=reason, **meta.fields()
        )

    def revoke_credentials(self, reason: str, meta: EventMeta) -> None:
        if self.credentials not in (CredentialState.ACTIVE, CredentialState.SUSPENDED):
            raise RuleViolation(
                "credentials/revoke-held-only",
                f"credentials are {self.credentials}; nothing to revoke",
            )
        self.trigger_event(
            self.CredentialsRevoked, hmis_role=self.hmis_role, reason=reason, **meta.fields()
        )

    def summarise_logins(self, meta: EventMeta, **summary: object) -> None:
        self.trigger_event(self.LoginActivitySummarised, **summary, **meta.fields())
