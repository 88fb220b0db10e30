"""Coordinated Entry obligations; clients appear only as opaque references chosen by the caller."""

from __future__ import annotations

from ledger.domain.base import EventMeta, LedgerAggregate
from ledger.domain.vocabulary import FollowUpRecord
from ledger.errors import RuleViolation
from ledger.ids import entity_id


class DataPartnerIntake(LedgerAggregate):
    """An intake collected by a non-HMIS agency that its HMIS partner must enter (MO-606)."""

    kind = "intake"

    class Received(LedgerAggregate.Created):
        amendable = frozenset({"client_ref"})

        ref: str
        client_ref: str
        collecting_agency_ref: str
        partner_agency_ref: str

    class EnteredIntoHmis(LedgerAggregate.Event):
        amendable = frozenset({"entered_by"})

        entered_by: str

    @classmethod
    def receive(
        cls,
        ref: str,
        client_ref: str,
        collecting_agency_ref: str,
        partner_agency_ref: str,
        meta: EventMeta,
    ) -> DataPartnerIntake:
        return cls._create(
            cls.Received,
            id=entity_id(cls.kind, meta.coc, ref),
            ref=ref,
            client_ref=client_ref,
            collecting_agency_ref=collecting_agency_ref,
            partner_agency_ref=partner_agency_ref,
            **meta.fields(),
        )

    @property
    def received(self) -> DataPartnerIntake.Received:
        received = self.last(DataPartnerIntake.Received)
        assert received is not None
        return received

    @property
    def entered(self) -> DataPartnerIntake.EnteredIntoHmis | None:
        return self.last(DataPartnerIntake.EnteredIntoHmis)

    def record_entry(self, entered_by: str, meta: EventMeta) -> None:
        if self.entered is not None:
            raise RuleViolation("MO-606/data-partner/enter-once", "the intake is already entered")
        if meta.effective_at < self.received.effective_at:
            raise RuleViolation(
                "MO-606/data-partner/entry-after-intake",
                "an intake cannot be entered before it was received",
            )
        self.trigger_event(self.EnteredIntoHmis, entered_by=entered_by, **meta.fields())


class FollowUp(LedgerAggregate):
    """A CE follow-up attempt and the HMIS records completed for it (WI-500)."""

    kind = "follow-up"

    class Attempted(LedgerAggregate.Created):
        amendable = frozenset({"client_ref", "user_ref"})

        ref: str
        client_ref: str
        user_ref: str
        reached: bool

    class RecordCompleted(LedgerAggregate.Event):
        amendable = frozenset({"hmis_record_ref"})

        record: FollowUpRecord
        hmis_record_ref: str | None = None

    @classmethod
    def attempt(
        cls, ref: str, client_ref: str, user_ref: str, reached: bool, meta: EventMeta
    ) -> FollowUp:
        return cls._create(
            cls.Attempted,
            id=entity_id(cls.kind, meta.coc, ref),
            ref=ref,
            client_ref=client_ref,
            user_ref=user_ref,
            reached=reached,
            **meta.fields(),
        )

    @property
    def reached(self) -> bool:
        attempted = self.last(FollowUp.Attempted)
        assert attempted is not None
        return attempted.reached

    def records(self) -> set[FollowUpRecord]:
        return {r.record for r in self.facts(FollowUp.RecordCompleted)}

    def complete_record(
        self, record: FollowUpRecord, hmis_record_ref: str | None, meta: EventMeta
    ) -> None:
        if not self.reached and record != FollowUpRecord.CE_NOTE:
            raise RuleViolation(
                "WI-500/follow-up/not-reached-records",
                "when the client was not reached, only a CE note is recorded",
            )
        if record in self.records():
            raise RuleViolation("WI-500/follow-up/record-once", f"{record} is already completed")
        self.trigger_event(
            self.RecordCompleted, record=record, hmis_record_ref=hmis_record_ref, **meta.fields()
        )


class IdempotencyRecord(LedgerAggregate):
    """Remembers a command accepted under an idempotency key, written with its events."""

    kind = "idempotency"

    class Recorded(LedgerAggregate.Created):
        key: str
        command: str
        payload_sha256: str
        entity_kind: str
        entity_id: str
        events: list[tuple[str, int, str]]  # (entity id, version, topic) of every event written

    @classmethod
    def record(
        cls,
        key: str,
        command: str,
        payload_sha256: str,
        entity_kind: str,
        entity_id_: str,
        events: list[tuple[str, int, str]],
        meta: EventMeta,
    ) -> IdempotencyRecord:
        return cls._create(
            cls.Recorded,
            id=entity_id(cls.kind, meta.coc, key),
            key=key,
            command=command,
            payload_sha256=payload_sha256,
            entity_kind=entity_kind,
            entity_id=entity_id_,
            events=events,
            **meta.fields(),
        )

    @property
    def recorded(self) -> IdempotencyRecord.Recorded:
        recorded = self.last(IdempotencyRecord.Recorded)
        assert recorded is not None
        return recorded
