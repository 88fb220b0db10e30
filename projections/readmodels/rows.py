"""Pure functions from entities and evaluations to read-model rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson

from ledger.domain.agreements import Agreement
from ledger.domain.organisations import Agency
from ledger.domain.vocabulary import AgreementKind
from projections.compliance.results import ClauseStatus, Evaluation, State

NO_POLICY = "no-policy"


def iso(moment: datetime | date | None) -> str | None:
    """ISO 8601 text; times in UTC, so that text order is time order in the tables (a naive
    time is taken as UTC). The offset is asked of each time, not of its zone once: a zone's
    offset can change with the date."""
    if isinstance(moment, datetime):
        offset = moment.utcoffset()
        if offset is None:
            return moment.replace(tzinfo=None).isoformat() + "+00:00"
        if offset:
            moment = moment.astimezone(UTC)
        return moment.isoformat()
    return None if moment is None else moment.isoformat()


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


def utc_text(stored: str) -> str:
    """A time as the stored JSON has it (pydantic's ISO 8601) in the tables' form (``iso``)."""
    if stored.endswith("Z"):
        return stored[:-1] + "+00:00"
    return iso(datetime.fromisoformat(stored)) or ""


def audit_line(
    position: int, entity: str, version: int, coc: str, kind: str, ref: str, name: str
) -> tuple[Any, ...]:
    """One line of an entity's audit trail: which entity's event (of class ``name``) is at
    log position ``position``. The event itself, with both clocks and who recorded it, is the
    log's row there (see ``db.log_join`` and ``audit_fields``). The version a correction
    corrects is filled in by the projector (see ``Projector``)."""
    return (position, entity, version, coc, kind, ref, name, None)


def audit_fields(state: dict[str, Any]) -> dict[str, Any]:
    """What the audit trail says of an event, from its stored fields: its id, both clocks
    (as the tables write times, see ``utc_text``), who recorded it, from where, in which
    request."""
    return {
        "event_id": state["event_id"].replace("-", ""),
        "effective_at": utc_text(state["effective_at"]),
        "recorded_at": utc_text(state["timestamp"]),
        "actor": state["actor"],
        "source": state["source"],
        "request_id": state["request_id"],
    }


def old_audit_line(
    position: int,
    entity: str,
    version: int,
    coc: str,
    kind: str,
    ref: str,
    name: str,
    state: dict[str, Any],
) -> tuple[Any, ...]:
    """A line of a generation made by an older version, which holds the event's fields too,
    in the order of ``db.OLD_EVENT_COLUMNS``."""
    fields = audit_fields(state)
    return (
        position,
        entity,
        version,
        coc,
        kind,
        ref,
        name,
        fields["event_id"],
        fields["effective_at"],
        fields["recorded_at"],
        fields["actor"],
        fields["source"],
        fields["request_id"],
        None,
    )


def agreement_summary(agreement: Agreement, as_of: datetime) -> dict[str, Any]:
    drafted = agreement.drafted
    signatures = agreement.signatures()
    execution = agreement.execution(as_of)
    lapsed = execution is None and (
        agreement.voided or any(True for _ in agreement.facts(Agreement.Revised))
    )
    return {
        "ref": drafted.ref,
        "kind": str(drafted.agreement_kind),
        "region": drafted.region,
        "partner_agency_ref": drafted.partner_agency_ref,
        "revision": agreement.revision,
        "parties": [str(p) for p in drafted.parties],
        "signed": [
            {
                "party": str(s.party),
                "effective_at": iso(s.effective_at),
                "event_id": str(s.event_id),
            }
            for s in signatures
        ],
        "next_party": None if (p := agreement.next_party()) is None else str(p),
        "voided": agreement.voided,
        "fully_executed": execution is not None,
        "executed_at": iso(execution.effective_at if execution else None),
        "lapsed": lapsed,
    }


def agency_summary(agency: Agency, agreements: list[Agreement], as_of: datetime) -> dict[str, Any]:
    """Agreements and MOUs per region with signature progress, programs, derived lapses."""
    regions = sorted(agency.active_regions(as_of))
    summaries = [agreement_summary(a, as_of) for a in agreements]
    lapses = [
        f"{s['kind']} {s['ref']} revision {s['revision']} is "
        + ("voided" if s["voided"] else f"not fully signed (next: {s['next_party']})")
        for s in summaries
        if s["lapsed"]
    ]
    mou_regions = {s["region"] for s in summaries if s["kind"] == str(AgreementKind.CE_MOU)}
    lapses += (
        [f"active in region {r} without a CE MOU for it" for r in regions if r not in mou_regions]
        if mou_regions
        else []
    )
    confirmation = agency.setup_confirmation(as_of)
    return {
        "ref": agency.ref,
        "name": agency.created.name,  # type: ignore[attr-defined]
        "hmis_participating": agency.hmis_participating,
        "regions": regions,
        "ces_roles": [str(r) for r in agency.ces_roles()],
        "programs": [
            {"ref": ref, "type": str(p.program_type), "name": p.name}
            for ref, p in sorted(agency.programs().items())
        ],
        "program_setup_confirmed": confirmation is not None,
        "agreements": summaries,
        "lapses": lapses,
    }


def region_rows(
    agency: Agency, agreements: list[Agreement], as_of: datetime
) -> list[tuple[Any, ...]]:
    """(coc, region, agency, agreement, revision, executed_at) for each region the agency is
    active in with a fully executed CE MOU: those may join case conferencing there."""
    active = agency.active_regions(as_of)
    rows = []
    for agreement in agreements:
        drafted = agreement.drafted
        if drafted.agreement_kind is not AgreementKind.CE_MOU or drafted.region not in active:
            continue
        execution = agreement.execution(as_of)
        if execution is not None:
            rows.append(
                (
                    agency.coc,
                    drafted.region,
                    agency.ref,
                    drafted.ref,
                    agreement.revision,
                    iso(execution.effective_at),
                )
            )
    return rows


def calendar_rows(
    coc: str, kind: str, ref: str, agency_ref: str | None, statuses: tuple[ClauseStatus, ...]
) -> list[tuple[Any, ...]]:
    """What expires (a satisfied clause's end of validity) and what falls due (a pending or
    overdue clause's deadline)."""
    rows = []
    for status in statuses:
        if status.state is State.SATISFIED and status.valid_until is not None:
            rows.append(
                (
                    coc,
                    kind,
                    ref,
                    agency_ref,
                    status.clause,
                    "expires",
                    status.valid_until.date().isoformat(),
                    str(status.state),
                )
            )
        elif status.state in (State.PENDING, State.OVERDUE) and status.deadline is not None:
            rows.append(
                (
                    coc,
                    kind,
                    ref,
                    agency_ref,
                    status.clause,
                    "due",
                    status.deadline.isoformat(),
                    str(status.state),
                )
            )
    return rows


def user_answer(
    coc: str,
    ref: str,
    agency_ref: str | None,
    overall: str,
    hmis_role: str | None,
    as_of: str,
    evaluation: str,
) -> str:
    """A user as ``GET /v1/cocs/{coc}/users/{ref}`` answers while the row is fresh (its
    ``UserStatus``), made once when the row is written: a read then takes one column of the
    row rather than eight and renders it as it is (``evaluation``: the stored JSON text, ``{}``
    while no policy is in force)."""
    return dumps(
        {
            "coc": coc,
            "ref": ref,
            "agency_ref": agency_ref,
            "overall": overall,
            "hmis_role": hmis_role,
            "evaluated": as_of,
            "evaluation": None if evaluation == "{}" else orjson.Fragment(evaluation),
        }
    )


def user_row(
    coc: str,
    ref: str,
    entity_id: str,
    agency_ref: str | None,
    evaluation: Evaluation,
    position: int,
) -> tuple[Any, ...]:
    overall = str(evaluation.overall)
    hmis_role = evaluation.access.hmis_role if evaluation.access else None
    as_of = iso(evaluation.as_of) or ""
    stored = dumps(evaluation.as_dict())
    return (
        coc,
        ref,
        entity_id,
        agency_ref,
        overall,
        hmis_role,
        evaluation.policy.version,
        as_of,
        iso(evaluation.next_change),
        position,
        stored,
        user_answer(coc, ref, agency_ref, overall, hmis_role, as_of, stored),
    )


def unevaluated_user_row(
    coc: str,
    ref: str,
    entity_id: str,
    agency_ref: str | None,
    as_of: datetime,
    valid_until: datetime | None,
    position: int,
) -> tuple[Any, ...]:
    """A user of a CoC with no policy version in force: nothing can be said yet."""
    moment = iso(as_of) or ""
    return (
        coc,
        ref,
        entity_id,
        agency_ref,
        NO_POLICY,
        None,
        "",
        moment,
        iso(valid_until),
        position,
        "{}",
        user_answer(coc, ref, agency_ref, NO_POLICY, None, moment, "{}"),
    )
