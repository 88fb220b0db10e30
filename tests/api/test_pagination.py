"""Cursor pagination: every list walked page by page gives exactly what one large page gives,
in the same order, with ``next`` null on the last page; cursors are checked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from commands.agreements import DraftAgreement, SignAgreement
from commands.corrections import RetractEvent
from commands.demo import load_demo
from commands.hard_rules import MO_ASSESSOR_COURSE
from commands.registry import run
from ledger.application import Ledger
from ledger.domain.agreements import agreement_ref
from ledger.domain.end_users import EndUser
from ledger.domain.vocabulary import AgreementKind, Party
from tests.api.support import Client, problem
from tests.api.test_readmodel_routes import settled
from tests.conftest import CALLER
from tests.integration.builders import complete_course, register_user, user

EXTRA_USERS = [f"wi-p{n}" for n in range(5)]
SIGNERS = [
    (Party.AGENCY, "ed.MO-RBS"),
    (Party.REGIONAL_CE_LEAD, "ce-lead.MO-RBS"),
    (Party.LEAD_AGENCY, "director.MO-PHA"),
]


@pytest.fixture
async def populated(client: Client, ledger: Ledger) -> None:
    """The demo data, five more Wisconsin users (a retracted completion for one of them), and
    a second Missouri agency with a CE MOU for region R1."""
    do = lambda command: run(ledger, command, CALLER)  # noqa: E731

    def build() -> None:
        load_demo(ledger)
        for ref in EXTRA_USERS:
            register_user(do, "WI-500", ref, "WI-NWH")
        complete_course(do, "WI-500", "wi-p0", "WI-CE-CORE")
        complete_course(do, "WI-500", "wi-p0", "WI-CE-CORE")
        first = next(iter(user(ledger, "WI-500", "wi-p0").facts(EndUser.CourseCompleted)))
        do(
            RetractEvent(
                coc="WI-500",
                entity_kind="user",
                entity_ref="wi-p0",
                event_id=first.event_id,
                reason="entered twice by mistake",
            )
        )
        register_user(do, "MO-606", "mo-p1", "MO-RBS")
        complete_course(do, "MO-606", "mo-p1", MO_ASSESSOR_COURSE)
        mou = agreement_ref(AgreementKind.CE_MOU, "MO-RBS", "R1")
        do(
            DraftAgreement(
                coc="MO-606",
                agreement_kind=AgreementKind.CE_MOU,
                agency_ref="MO-RBS",
                region="R1",
                revision="2026-1",
            )
        )
        for party, signatory in SIGNERS:
            do(SignAgreement(coc="MO-606", agreement_ref=mou, party=party, signatory=signatory))

    await asyncio.to_thread(build)
    await settled(client, ledger)


async def _walk(client: Client, url: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a list, following ``next`` with pages of ``limit``."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(200):
        separator = "&" if "?" in url else "?"
        page_url = f"{url}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(page_url)
        assert response.status == 200, await response.text()
        page = await response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items
        assert page["items"], "a page with a next cursor holds items"
    raise AssertionError(f"{url} did not end")


async def _one_page(client: Client, url: str) -> list[dict[str, Any]]:
    separator = "&" if "?" in url else "?"
    page = await (await client.get(f"{url}{separator}limit=1000")).json()
    assert page["next"] is None
    items: list[dict[str, Any]] = page["items"]
    return items


@pytest.mark.parametrize(
    ("url", "limit"),
    [
        ("/v1/cocs/WI-500/users", 2),
        ("/v1/cocs/WI-500/statuses", 2),
        ("/v1/cocs/WI-500/entities/user/wi-u1/history", 3),
        ("/v1/cocs/WI-500/audit/user/wi-u1", 3),
        ("/v1/cocs/WI-500/audit/user/wi-p0", 1),
        ("/v1/cocs/WI-500/calendar?days=366", 1),
        ("/v1/cocs/MO-606/regions/R1/case-conferencing", 1),
        ("/v1/cocs/MO-606/agencies", 2),
    ],
)
async def test_walking_the_pages_gives_the_whole_list_in_order(
    client: Client, populated: None, url: str, limit: int
) -> None:
    whole = await _one_page(client, url)

    walked = await _walk(client, url, limit)

    assert walked == whole
    assert len(whole) > limit  # more than one page was walked


async def test_the_audit_trail_links_corrections_across_pages(
    client: Client, populated: None
) -> None:
    trail = await _walk(client, "/v1/cocs/WI-500/audit/user/wi-p0", 1)

    retraction = next(e for e in trail if e["type"] == "EndUser.EventRetracted")
    retracted = next(e for e in trail if e["version"] == retraction["corrects"]["version"])
    assert retracted["corrected_by"] == [
        {
            "version": retraction["version"],
            "position": retraction["position"],
            "type": retraction["type"],
        }
    ]
    assert retraction["corrects"]["position"] == retracted["position"]


async def test_users_list_pages_with_the_agency_filter(client: Client, populated: None) -> None:
    walked = await _walk(client, "/v1/cocs/WI-500/users?agency=WI-NWH", 2)

    assert [u["ref"] for u in walked] == sorted(["wi-u1", *EXTRA_USERS])


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "WzEsMl0",  # [1, 2]: a cursor of another shape
        "WyJhIl0",  # ["a"]: a text key where a version is expected
    ],
)
async def test_a_cursor_this_list_did_not_give_out_is_refused(
    client: Client, populated: None, cursor: str
) -> None:
    response = await client.get(f"/v1/cocs/WI-500/entities/user/wi-u1/history?cursor={cursor}")

    body = await problem(response, 422, "invalid_input")
    assert "cursor" in body["detail"]


async def test_an_unknown_query_parameter_is_refused(client: Client, populated: None) -> None:
    response = await client.get("/v1/cocs/WI-500/statuses?as_off=2026-01-01T00:00:00Z")

    body = await problem(response, 422, "invalid_input")
    assert "as_off" in body["detail"]
