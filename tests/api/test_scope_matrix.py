"""The scope matrix: every route, with every role, for its own CoC, for another tenant's CoC
and without a token, answers exactly what the permission table allows.

The tenant the requests are about (MO-606, the demo data set) holds real data at every
path, so a missing check would answer 200 instead of 404. Foreign tokens are those of every
other tenant of the demo (CA-600, IL-510, WI-500); their answer must equal, apart from the
request id, the answer for a CoC that exists nowhere (ZZ-999). Commands are parsed, scoped
and authorised for real, but their execution is replaced by a stub (answering 201), so every
command can be sent by every role without domain state getting in the way; the stub records
what reached it.

Expectations are computed from the permission table and, for a representative subset,
written out by hand: the computed ones must agree with the hand-written ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.permissions import PERMISSIONS, Scope, command_route_name
from commands import agreements, end_users, obligations
from commands.base import Caller, Command, Receipt
from commands.demo import load_demo
from commands.group_commit import GroupCommitter, Submission
from commands.registry import COMMANDS, run
from commands.signing_keys import init_key
from ledger.application import Ledger
from ledger.domain.tokens import Role
from ledger.ids import entity_id
from ledger.settings import Settings
from tests.api.support import OPERATOR, Client, bearer, issue, settled
from tests.conftest import CALLER

OWN, NOWHERE = "MO-606", "ZZ-999"
OWN_AGENCY, OTHER_AGENCY = "MO-CFS", "MO-RBS"
FOREIGN = {"CA-600": "CA-SCH", "IL-510": "IL-LDC", "WI-500": "WI-NWH"}  # CoC: an agency of it
USER = {OWN_AGENCY: "mo-u1", OTHER_AGENCY: "mo-u2"}
MOU = {OWN_AGENCY: "ce-mou.MO-CFS.R1", OTHER_AGENCY: "ce-mou.MO-RBS.R1"}
INTAKE = {OWN_AGENCY: "MO-IN-0001", OTHER_AGENCY: "MO-IN-0002"}
FOLLOW_UP = {OWN_AGENCY: "FU-M1", OTHER_AGENCY: "FU-M2"}
NO_TOKEN = None

# route, role (None: no token), cell, status: written by hand, not computed
HAND_WRITTEN: list[tuple[str, Role | None, str, int]] = [
    ("healthz", NO_TOKEN, "own", 200),
    ("commands", NO_TOKEN, "own", 401),
    ("users", NO_TOKEN, "own", 401),
    ("command_register_agency", NO_TOKEN, "own", 401),
    ("commands", Role.SERVICE, "foreign", 200),
    ("readmodels", Role.AGENCY_RECORDER, "own", 200),
    ("history", Role.AUDITOR, "own", 200),
    ("history", Role.AUDITOR, "foreign", 404),
    ("history", Role.SERVICE, "own", 403),
    ("history", Role.AGENCY_RECORDER, "own", 403),
    ("history-by-id", Role.RECORDER, "foreign", 404),
    ("audit_trail", Role.AUDITOR, "own", 200),
    ("audit_trail", Role.SERVICE, "foreign", 403),
    ("statuses", Role.ADMIN, "foreign", 404),
    ("compliance", Role.SERVICE, "own", 200),
    ("compliance", Role.SERVICE, "foreign", 404),
    ("user", Role.AGENCY_RECORDER, "own", 200),
    ("users", Role.AUDITOR, "foreign", 404),
    ("agency", Role.SERVICE, "own", 403),
    ("calendar", Role.AGENCY_RECORDER, "foreign", 404),
    ("region", Role.RECORDER, "own", 200),
    ("command_register_coc", Role.ADMIN, "own", 201),
    ("command_register_coc", Role.RECORDER, "own", 403),
    ("command_adopt_policy", Role.ADMIN, "foreign", 404),
    ("command_adopt_policy", Role.RECORDER, "own", 403),
    ("command_register_agency", Role.RECORDER, "own", 201),
    ("command_register_agency", Role.RECORDER, "foreign", 404),
    ("command_register_agency", Role.AGENCY_RECORDER, "own", 403),
    ("command_register_agency", Role.AUDITOR, "own", 403),
    ("command_record_course_completion", Role.SERVICE, "own", 201),
    ("command_record_course_completion", Role.SERVICE, "foreign", 404),
    ("command_record_course_completion", Role.AUDITOR, "foreign", 403),
    ("command_record_course_completion", Role.AGENCY_RECORDER, "own", 201),
    ("command_record_course_completion", Role.AGENCY_RECORDER, "other-agency", 403),
    ("command_sign_form", Role.SERVICE, "own", 403),
    ("command_sign_form", Role.AGENCY_RECORDER, "foreign", 404),
    ("command_sign_agreement", Role.AGENCY_RECORDER, "own", 201),
    ("command_sign_agreement", Role.AGENCY_RECORDER, "other-agency", 403),
    ("command_transfer_end_user", Role.AGENCY_RECORDER, "other-agency", 403),
    ("command_record_data_partner_intake", Role.AGENCY_RECORDER, "own", 201),
    ("command_record_intake_entered", Role.AGENCY_RECORDER, "other-agency", 403),
    ("command_record_follow_up_record", Role.AGENCY_RECORDER, "own", 201),
    ("command_record_follow_up_record", Role.AGENCY_RECORDER, "other-agency", 403),
    ("command_approve_access_request", Role.AGENCY_RECORDER, "own", 403),
    ("command_issue_credentials", Role.RECORDER, "own", 201),
    ("command_retract_event", Role.AGENCY_RECORDER, "own", 403),
    ("command_retract_event", Role.ADMIN, "own", 201),
    ("integrity", Role.SERVICE, "own", 403),
    ("integrity_checkpoint", Role.AUDITOR, "foreign", 200),
    ("integrity_inclusion", Role.AUDITOR, "own", 200),
    ("integrity_inclusion", Role.AUDITOR, "foreign", 404),
    ("integrity_export", Role.AUDITOR, "own", 200),
    ("integrity_export", Role.AUDITOR, "foreign", 404),
    ("integrity_export", Role.AGENCY_RECORDER, "own", 403),
    ("integrity_export", Role.SERVICE, "foreign", 403),
    ("readyz", NO_TOKEN, "own", 200),
    ("metrics", NO_TOKEN, "own", 200),
    ("lms_webhook", Role.SERVICE, "own", 201),
    ("lms_webhook", Role.SERVICE, "foreign", 404),
    ("lms_webhook", Role.AUDITOR, "own", 403),
    ("lms_webhook", NO_TOKEN, "own", 401),
    ("lms_unmatched", Role.AUDITOR, "own", 200),
    ("lms_unmatched", Role.SERVICE, "own", 403),
    ("lms_unmatched", Role.RECORDER, "foreign", 404),
    ("command_link_lms_account", Role.RECORDER, "own", 201),
    ("command_link_lms_account", Role.SERVICE, "own", 403),
    ("command_rematch_lms_completions", Role.AGENCY_RECORDER, "own", 403),
]


def _paths() -> dict[str, str]:
    user_id = entity_id("user", OWN, USER[OWN_AGENCY])
    base = "/v1/cocs/{coc}"
    return {
        "healthz": "/healthz",
        "commands": "/v1/commands",
        "readmodels": "/v1/readmodels",
        "history": f"{base}/entities/user/mo-u1/history",
        "history-by-id": f"{base}/entities/by-id/{user_id}/history",
        "audit_trail": f"{base}/audit/user/mo-u1",
        "statuses": f"{base}/statuses",
        "compliance": f"{base}/users/mo-u1/compliance",
        "user": f"{base}/users/mo-u1",
        "users": f"{base}/users",
        "agencies": f"{base}/agencies",
        "agency": f"{base}/agencies/MO-CFS",
        "region": f"{base}/regions/R1/case-conferencing",
        "calendar": f"{base}/calendar?days=366",
        "integrity": "/v1/integrity",
        "integrity_keys": "/v1/integrity/keys",
        "integrity_checkpoint": "/v1/integrity/checkpoints/latest",
        "integrity_consistency": "/v1/integrity/consistency?first=latest",
        # position 1 is the demo's first event, MO-606's registration
        "integrity_inclusion": f"{base}/integrity/events/1/proof",
        "integrity_export": f"{base}/integrity/export/coc/-",
        "events_feed": f"{base}/events?limit=5",
        "events_stream": f"{base}/events/stream",
        "readyz": "/readyz",
        "metrics": "/metrics",
        "openapi": "/v1/openapi.json",
        "docs": "/docs",
        "lms_unmatched": f"{base}/lms/unmatched",
    }


# Routes that take a POST body but run no command: path and a body (unique on each call)
POSTS = {"lms_webhook": "/v1/cocs/{coc}/lms/litmos/achievements"}
_deliveries = iter(range(1, 1_000_000))


def litmos_delivery() -> dict[str, Any]:
    """A Litmos achievement of an unknown learner, a new one each time (held, answered 201)."""
    data = {"userId": "lms-9", "achievementDate": "2026-02-01T00:00:00", "code": "MO-CE-ASSESSOR"}
    return {"data": data | {"achievementId": next(_deliveries)}}


def command_body(name: str, coc: str, agency: str) -> dict[str, Any]:
    """A valid body of command ``name`` for ``coc``, acting for ``agency``."""
    user, other_user = USER[agency], USER[OWN_AGENCY if agency == OTHER_AGENCY else OTHER_AGENCY]
    moment = datetime(2026, 2, 1, tzinfo=UTC).isoformat()
    fields: dict[str, dict[str, Any]] = {
        "register-coc": {"coc_name": "Synthetic", "process": "mo-bos"},
        "add-region": {"region": "R9", "region_name": "Region 9"},
        "designate-lead-agency": {"agency_ref": agency},
        "designate-hmis-lead": {"organisation": "Synthetic HMIS Lead"},
        "assign-regional-ce-lead": {"region": "R1", "agency_ref": agency},
        "register-agency": {"agency_ref": agency, "agency_name": "Synthetic"},
        "join-region": {"agency_ref": agency, "region": "R4"},
        "leave-region": {"agency_ref": agency, "region": "R1"},
        "declare-ces-roles": {"agency_ref": agency, "roles": ["assessment-only"]},
        "set-up-program": {
            "agency_ref": agency,
            "program_ref": "P-9",
            "program_type": "outreach",
            "program_name": "Synthetic outreach",
        },
        "confirm-program-setup": {"agency_ref": agency, "confirmed_by": "coc-rep"},
        "designate-agency-contact": {
            "agency_ref": agency,
            "role": "program-manager",
            "user_ref": user,
        },
        "adopt-policy": {"version": "2026.1"},
        "grant-training-credits": {"agency_ref": agency, "credits": 2, "reason": "yearly"},
        "draft-agreement": {
            "agreement_kind": "ce-mou",
            "agency_ref": agency,
            "region": "R4",
            "revision": "2026-1",
        },
        "sign-agreement": {"agreement_ref": MOU[agency], "party": "agency", "signatory": "ed"},
        "revise-agreement": {"agreement_ref": MOU[agency], "revision": "2026-2", "reason": "new"},
        "void-agreement": {"agreement_ref": MOU[agency], "reason": "closed"},
        "register-end-user": {"user_ref": "mo-u9", "agency_ref": agency},
        "transfer-end-user": {"user_ref": other_user, "agency_ref": agency},
        "record-departure": {"user_ref": user},
        "request-training": {
            "user_ref": user,
            "ticket_ref": "T-9",
            "person_name": "Sam Synthetic",
            "agency_email": "sam.synthetic@example.org",
            "lms_username": "sam9",
            "expected_responsibilities": ["intake"],
            "projects": ["Synthetic project"],
            "requested_by": "ata",
        },
        "enrol-in-course": {"user_ref": user, "course_code": "C-9", "provider": "LMS"},
        "record-course-completion": {"user_ref": user, "course_code": "C-9", "provider": "LMS"},
        "sign-form": {"user_ref": user, "form": "user-agreement", "revision": "2026"},
        "submit-access-request": {
            "user_ref": user,
            "request_ref": "UAR-9",
            "projects": ["Synthetic project"],
            "submitted_by": "ar",
        },
        "approve-access-request": {"user_ref": user, "request_ref": "UAR-9"},
        "deny-access-request": {"user_ref": user, "request_ref": "UAR-9", "reason": "not needed"},
        "record-proctored-session": {"user_ref": user, "session_ref": "S-9", "outcome": "passed"},
        "request-role": {"user_ref": user, "role": "end-user"},
        "issue-credentials": {"user_ref": user, "hmis_role": "end-user"},
        "grant-hmis-role": {"user_ref": user, "hmis_role": "end-user"},
        "suspend-credentials": {"user_ref": user, "reason": "on leave"},
        "reactivate-credentials": {"user_ref": user},
        "revoke-credentials": {"user_ref": user, "reason": "left"},
        "record-login-activity": {
            "user_ref": user,
            "period_start": moment,
            "period_end": moment,
            "login_count": 0,
        },
        "record-data-partner-intake": {
            "intake_ref": "MO-IN-0009",
            "client_ref": "client-9",
            "collecting_agency_ref": "MO-LOP",
            "partner_agency_ref": agency,
        },
        "record-intake-entered": {"intake_ref": INTAKE[agency], "entered_by": user},
        "record-follow-up-attempt": {
            "follow_up_ref": "FU-M9",
            "client_ref": "client-9",
            "user_ref": user,
            "reached": True,
        },
        "record-follow-up-record": {"follow_up_ref": FOLLOW_UP[agency], "record": "ce-note"},
        "link-lms-account": {"user_ref": user, "provider": "litmos", "lms_user_id": "lms-1"},
        "link-lms-course": {
            "provider": "litmos",
            "lms_course_id": "course-1",
            "course_code": "MO-CE-ASSESSOR",
        },
        "rematch-lms-completions": {},
        "retract-event": {
            "entity_kind": "user",
            "entity_ref": user,
            "event_id": str(uuid4()),
            "reason": "entered twice",
        },
        "amend-event": {
            "entity_kind": "user",
            "entity_ref": user,
            "event_id": str(uuid4()),
            "reason": "wrong date",
            "changes": {"effective_at": moment},
        },
    }
    return {"coc": coc, **fields[name]}


@dataclass(frozen=True)
class Cell:
    route: str
    role: Role | None
    cell: str  # own, foreign, other-agency (an agency recorder's command for another agency)


def expected(cell: Cell) -> int:
    """The status the permission table allows for ``cell``."""
    rule = PERMISSIONS[cell.route]
    success = 201 if rule.scope is Scope.BODY or cell.route in POSTS else 200
    if rule.scope is Scope.PUBLIC:
        return success
    if cell.role is None:
        return 401
    if cell.role not in rule.roles:
        return 403
    if cell.cell == "foreign" and rule.scope is not Scope.GLOBAL:
        return 404
    if cell.cell == "other-agency":
        return 403
    return success


def test_the_hand_written_expectations_agree_with_the_table() -> None:
    disagreements = [
        (route, role, cell, status, expected(Cell(route, role, cell)))
        for route, role, cell, status in HAND_WRITTEN
        if expected(Cell(route, role, cell)) != status
    ]
    assert disagreements == []


class Matrix:
    """Sends each cell's request and keeps what came back."""

    def __init__(self, client: Client, tokens: dict[tuple[str, Role], str]) -> None:
        self.client = client
        self.tokens = tokens
        self.paths = _paths()

    def _request(self, route: str, coc: str, agency: str) -> tuple[str, str, Any]:
        if route in self.paths:
            return "GET", self.paths[route].format(coc=coc), None
        if route in POSTS:
            return "POST", POSTS[route].format(coc=coc), litmos_delivery()
        name = next(n for n in COMMANDS if command_route_name(n) == route)
        return "POST", f"/v1/commands/{name}", command_body(name, coc, agency)

    async def send(
        self, route: str, token: str | None, coc: str, agency: str = OWN_AGENCY
    ) -> tuple[int, dict[str, Any]]:
        method, path, body = self._request(route, coc, agency)
        headers = bearer(token) if token else {}
        response = await self.client.request(method, path, json=body, headers=headers)
        if response.content_type == "text/event-stream":  # an open stream: its status is all
            response.close()
            return response.status, {}
        if response.content_type.endswith("json"):
            return response.status, await response.json(content_type=None)
        return response.status, {"text": await response.text()}  # /metrics

    async def _foreign(self, cell: Cell, foreign_coc: str) -> int:
        """The status for a token of ``foreign_coc`` asking about OWN, after checking the
        answer is exactly that for a CoC that does not exist."""
        assert cell.role is not None
        token = self.tokens[foreign_coc, cell.role]
        status, body = await self.send(cell.route, token, OWN)
        nowhere_status, nowhere = await self.send(cell.route, token, NOWHERE)
        if PERMISSIONS[cell.route].scope not in (Scope.GLOBAL, Scope.PUBLIC):
            # (public and global answers hold no tenant's data, and may change between two
            # requests: the read models' lag, the metrics)
            body.pop("request_id", None)
            nowhere.pop("request_id", None)
            assert (status, body) == (nowhere_status, nowhere), (cell, foreign_coc)
        return status

    async def observe(self, cell: Cell) -> int:
        if cell.role is None:
            return (await self.send(cell.route, None, OWN))[0]
        if cell.cell == "foreign":
            statuses = {await self._foreign(cell, coc) for coc in FOREIGN}
            assert len(statuses) == 1, (cell, statuses)
            return statuses.pop()
        agency = OTHER_AGENCY if cell.cell == "other-agency" else OWN_AGENCY
        return (await self.send(cell.route, self.tokens[OWN, cell.role], OWN, agency))[0]


def all_cells(routes: list[str]) -> list[Cell]:
    cells = []
    for route in routes:
        cells.append(Cell(route, None, "own"))
        for role in Role:
            cells += [Cell(route, role, "own"), Cell(route, role, "foreign")]
        if PERMISSIONS[route].scope is Scope.BODY:
            cells.append(Cell(route, Role.AGENCY_RECORDER, "other-agency"))
    return cells


def _more_data(ledger: Ledger) -> None:
    """A second agency's user, agreements, intake and follow-ups beside the demo's."""
    c = {"coc": OWN}
    commands: list[Command] = [
        end_users.RegisterEndUser(**c, user_ref="mo-u2", agency_ref=OTHER_AGENCY),
        agreements.DraftAgreement(
            **c, agreement_kind="ce-mou", agency_ref=OTHER_AGENCY, region="R1", revision="1"
        ),
        agreements.DraftAgreement(
            **c,
            agreement_kind="data-moa",
            agency_ref="MO-LOP",
            partner_agency_ref=OTHER_AGENCY,
            revision="1",
        ),
        agreements.SignAgreement(
            **c, agreement_ref="data-moa.MO-LOP.MO-RBS", party="agency", signatory="ed"
        ),
        agreements.SignAgreement(
            **c, agreement_ref="data-moa.MO-LOP.MO-RBS", party="partner-agency", signatory="ed"
        ),
        obligations.RecordDataPartnerIntake(
            **c,
            intake_ref=INTAKE[OTHER_AGENCY],
            client_ref="client-2",
            collecting_agency_ref="MO-LOP",
            partner_agency_ref=OTHER_AGENCY,
        ),
    ] + [
        obligations.RecordFollowUpAttempt(
            **c, follow_up_ref=FOLLOW_UP[agency], client_ref="client-3", user_ref=user, reached=True
        )
        for agency, user in USER.items()
    ]
    for command in commands:
        run(ledger, command, CALLER)


async def signed(client: Client, headers: dict[str, str]) -> None:
    """Wait (bounded) for the first signed checkpoint (the proof routes need one)."""
    for _ in range(200):
        status = await (await client.get("/v1/integrity", headers=headers)).json()
        if status["latest_checkpoint"] is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no checkpoint was signed: {status}")


@pytest.fixture
async def matrix(
    settings: Settings, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[tuple[Matrix, list[tuple[Command, Caller]]]]:
    settings = settings.model_copy(
        update={"signing_key_path": tmp_path / "signing-key.pem", "seal_interval_seconds": 0.05}
    )
    await asyncio.to_thread(load_demo, ledger)
    await asyncio.to_thread(_more_data, ledger)
    await asyncio.to_thread(init_key, ledger, settings.signing_key_path, OPERATOR)
    agencies = {OWN: OWN_AGENCY} | FOREIGN
    tokens = {
        (coc, role): issue(
            ledger,
            coc,
            role,
            subject=f"{role}@{coc.lower()}.example.org",
            agency=agency if role is Role.AGENCY_RECORDER else None,
        )
        for coc, agency in agencies.items()
        for role in Role
    }
    executed: list[tuple[Command, Caller]] = []

    def stub(_: GroupCommitter, submission: Submission) -> Future[Receipt]:
        command = submission.command
        executed.append((command, submission.caller))
        done: Future[Receipt] = Future()
        done.set_result(
            Receipt(
                command=command.name,
                coc=command.coc,
                entity_kind="stub",
                entity_id=uuid4(),
                events=[],
                position=0,
            )
        )
        return done

    async with TestClient(TestServer(create_app(settings, ledger))) as client:
        await settled(client, ledger, bearer(tokens[OWN, Role.ADMIN]))
        await signed(client, bearer(tokens[OWN, Role.ADMIN]))
        monkeypatch.setattr(GroupCommitter, "submit", stub)
        yield Matrix(client, tokens), executed


async def test_every_route_answers_every_role_and_tenant_as_the_table_allows(
    matrix: tuple[Matrix, list[tuple[Command, Caller]]],
) -> None:
    walker, executed = matrix
    registered = sorted(r.name for r in walker.client.app.router.resources() if r.name is not None)
    commands = {command_route_name(n) for n in COMMANDS}
    missing = set(registered) - set(walker.paths) - set(POSTS) - commands
    assert missing == set(), "give these routes a request in test_scope_matrix._paths"
    cells = all_cells(registered)

    observed = {cell: await walker.observe(cell) for cell in cells}

    wrong = {cell: status for cell, status in observed.items() if status != expected(cell)}
    assert wrong == {}
    hand = {Cell(route, role, cell): status for route, role, cell, status in HAND_WRITTEN}
    assert {cell: observed[cell] for cell in hand} == hand
    allowed_writes = [c for c in cells if observed[c] == 201 and c.route in commands]
    assert len(executed) == len(allowed_writes) > 0
    assert {(command.coc, caller.actor.split("@")[1]) for command, caller in executed} == {
        (OWN, "mo-606.example.org")
    }
    assert len(cells) > 5 * len(registered)
