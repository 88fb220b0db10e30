"""Read endpoint: a user's compliance, with reasons, at a time and under a policy version."""

from __future__ import annotations

import asyncio
from typing import Annotated

from aiohttp import web
from pydantic import Field, StringConstraints

from api.keys import COMPLIANCE
from api.models import Evaluation
from api.openapi import Operation, describe
from api.params import Clocks, RefPath, parse_query
from api.responses import model_response
from projections.compliance.service import ComplianceService
from projections.readmodels.timetravel import known_at as known_at_loader

PolicyVersion = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
RoleName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class ComplianceQuery(Clocks):
    version: PolicyVersion | None = Field(
        default=None, description="what-if: evaluate under this policy version instead"
    )
    role: tuple[RoleName, ...] = Field(
        default=(),
        max_length=20,
        description="the user roles to evaluate (repeatable; default: the user's own)",
    )


@describe(
    Operation(
        "A user's compliance, live from the log",
        Evaluation,
        path=RefPath,
        query=ComplianceQuery,
        errors=(404, 409),
        tag="compliance",
        description="Each clause's state with its evidence, the access granted, findings, and "
        "when the answer changes by itself. `as_of` (default now) and `known_at` travel in "
        "time; `version` asks what-if; 409 `verification_failed` when the adopted policy "
        "pack's file changed since its adoption.",
    )
)
async def user_compliance(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, ComplianceQuery)
    coc, ref = request.match_info["coc"], request.match_info["ref"]
    as_of, known_at = query.moments(request)
    service = request.app[COMPLIANCE]
    if known_at is not None:
        service = ComplianceService(service.ledger, load=known_at_loader(service.ledger, known_at))
    evaluation = await asyncio.to_thread(
        service.evaluate_user,
        coc,
        ref,
        as_of,
        version=query.version,
        roles=query.role or None,
    )
    return model_response(Evaluation.model_validate(evaluation.as_dict()))


def compliance_routes() -> list[web.RouteDef]:
    return [web.get("/v1/cocs/{coc}/users/{ref}/compliance", user_compliance, name="compliance")]
