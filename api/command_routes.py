"""Write endpoints: one ``POST /v1/commands/{name}`` per registered command, and their list."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from api.auth import principal_of
from api.keys import COMMITTER, COMPLIANCE, LEDGER, REQUEST_ID
from api.models import CommandCatalogue, CommandInfo
from api.openapi import Header, Operation, describe
from api.permissions import check_command, command_route_name
from api.preconditions import if_match, mismatch_problem, written_etag
from api.problems import ApiProblem, validation_problem
from api.responses import JSON, model_response
from commands.base import Caller, Command, Receipt
from commands.group_commit import Submission
from commands.registry import COMMANDS, CommandSpec
from ledger.domain.base import Source
from ledger.errors import VersionMismatch

COMMANDS_PATH = "/v1/commands"
IDEMPOTENCY_HEADER = "Idempotency-Key"
WRITE_HEADERS = (
    Header(
        IDEMPOTENCY_HEADER,
        "a retry with the same key and body returns the first receipt and writes nothing; "
        "the body's idempotency_key, if given, must be the same",
        {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[\x21-\x7e]+$"},
    ),
    Header(
        "If-Match",
        'the versions (ETags) the entity must be at, e.g. "7", or *: else 409 '
        "`version_mismatch` with the current version",
        {"type": "string", "minLength": 1},
    ),
)
WRITTEN = {
    "Location": {
        "description": "the history of the entity the command wrote to",
        "required": True,
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": "the entity's version after the write (not on a replay)",
        "required": False,
        "schema": {"type": "string"},
    },
}


def _header_key(request: web.Request) -> str | None:
    """``Idempotency-Key``, with the quotes of its structured-field form removed."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    return key


def parse_command(model: type[Command], body: bytes, header_key: str | None) -> Command:
    """Validate the JSON body as ``model``; the header key fills a missing body key."""
    try:
        command = model.model_validate_json(body or b"{}")
    except ValidationError as err:
        raise validation_problem(err, f"the {model.name} command") from err
    if header_key is None or header_key == command.idempotency_key:
        return command
    if command.idempotency_key is not None:
        raise ApiProblem(
            422,
            "idempotency_key_mismatch",
            f"the {IDEMPOTENCY_HEADER} header and the body's idempotency_key "
            "differ; send one of them, or the same value in both",
        )
    try:
        return model.model_validate(
            command.model_dump(exclude_unset=True) | {"idempotency_key": header_key}
        )
    except ValidationError as err:
        raise ApiProblem(
            422,
            "invalid_header",
            f"{IDEMPOTENCY_HEADER} must be 1 to 200 printable ASCII characters without spaces",
        ) from err


def _operation(spec: CommandSpec) -> Operation:
    doc = (spec.model.__doc__ or spec.name).strip()
    return Operation(
        doc.splitlines()[0],
        response=Receipt,
        statuses=(201, 200),
        body=spec.model,
        headers=WRITE_HEADERS,
        response_headers=WRITTEN,
        errors=(404, 409),
        tag="commands",
        description="201 with the receipt; 200 when an idempotent retry returns the first "
        "receipt (nothing written). 404 names an entity the command refers to that does not "
        "exist, 409 a conflict (or an If-Match version mismatch), 422 a body that does not "
        "fit or a rule of the CoC's process (`rule_violation` with the `rule`).",
    )


def _handler(spec: CommandSpec) -> Handler:
    @describe(_operation(spec))
    async def handle(request: web.Request) -> web.StreamResponse:
        principal = principal_of(request)
        expected = if_match(request)
        command = parse_command(spec.model, await request.read(), _header_key(request))
        ledger = request.app[LEDGER]
        await check_command(command, principal.role, principal.coc, principal.agency_ref, ledger)
        caller = Caller(actor=principal.subject, source=Source.API, request_id=request[REQUEST_ID])
        submission = Submission(command, caller, request.app[COMPLIANCE], expected)
        try:
            receipt = await asyncio.wrap_future(request.app[COMMITTER].submit(submission))
        except VersionMismatch as err:
            raise mismatch_problem(err) from err
        location = f"/v1/cocs/{receipt.coc}/entities/by-id/{receipt.entity_id}/history"
        return model_response(
            receipt,
            status=200 if receipt.replayed else 201,
            headers={"Location": location, **written_etag(receipt)},
        )

    return handle


def _catalogue() -> CommandCatalogue:
    return CommandCatalogue(
        commands=[
            CommandInfo(
                name=name,
                path=f"{COMMANDS_PATH}/{name}",
                json_schema=spec.model.model_json_schema(),
            )
            for name, spec in COMMANDS.items()
        ]
    )


def command_routes() -> list[web.RouteDef]:
    """The command list and one POST route per command in the registry."""
    catalogue = _catalogue().model_dump_json(by_alias=True).encode()

    @describe(
        Operation("Every command with its path and body schema", CommandCatalogue, tag="commands")
    )
    async def list_commands(_: web.Request) -> web.StreamResponse:
        return web.Response(body=catalogue, content_type=JSON)

    return [web.get(COMMANDS_PATH, list_commands, name="commands")] + [
        web.post(f"{COMMANDS_PATH}/{name}", _handler(spec), name=command_route_name(name))
        for name, spec in COMMANDS.items()
    ]
