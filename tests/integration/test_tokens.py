"""API tokens in the ledger and the operator command: issued with only the hash of their
secret stored, revoked once, listed without secrets; scripts/token's exit codes."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import orjson
import pytest
from pydantic import ValidationError

from commands.base import Caller
from commands.tokens import TokenRequest, issue_token, list_tokens, revoke_token
from ledger.application import Ledger
from ledger.clock import FixedClock
from ledger.domain.base import Source
from ledger.domain.tokens import SECRET_PREFIX, ApiToken, secret_digest, token_id
from ledger.errors import InvalidInput, NotFound, RuleViolation
from ledger.settings import Settings
from tests.integration.test_rebuild import load_script, store_args

OPERATOR = Caller(actor="ops-1", source=Source.CLI, request_id="cli-1")


def request(**fields: object) -> TokenRequest:
    return TokenRequest.model_validate(
        {"coc": "MO-606", "subject": "hmis-desk", "role": "admin"} | fields
    )


def test_an_issued_token_is_stored_as_the_hash_of_its_secret_only(
    ledger: Ledger, clock: FixedClock
) -> None:
    issued = issue_token(ledger, request(days=30), OPERATOR)

    assert issued.secret.startswith(SECRET_PREFIX)
    assert len(issued.secret) == len(SECRET_PREFIX) + 43  # 256 bits, URL-safe base64
    digest = secret_digest(issued.secret)
    assert issued.info.token_id == token_id(digest)
    stored = b"".join(
        n.state for n in ledger.recorder.select_notifications(1, 100) if n.topic.endswith("Issued")
    )
    assert issued.secret.encode() not in stored
    assert digest.encode() in stored
    token = ledger.load_stored(ApiToken, issued.info.token_id)
    assert token is not None
    assert (token.coc, token.issued.subject, token.issued.role) == ("MO-606", "hmis-desk", "admin")
    assert token.issued.expires_at == clock.now() + timedelta(days=30)
    assert (token.issued.actor, token.issued.source) == ("ops-1", Source.CLI)
    assert token.matches(digest)
    assert not token.matches(secret_digest(issued.secret + "x"))


def test_two_tokens_never_share_a_secret(ledger: Ledger) -> None:
    secrets = {issue_token(ledger, request(), OPERATOR).secret for _ in range(20)}

    assert len(secrets) == 20


def test_a_revocation_is_recorded_once(ledger: Ledger) -> None:
    info = issue_token(ledger, request(), OPERATOR).info

    revoked = revoke_token(ledger, info.token_id, "laptop lost", OPERATOR)

    assert revoked.state == "revoked"
    with pytest.raises(RuleViolation) as again:
        revoke_token(ledger, info.token_id, "laptop lost", OPERATOR)
    assert again.value.rule == "token/revoke-once"
    token = ledger.load_stored(ApiToken, info.token_id)
    assert token is not None
    assert token.revoked is not None
    assert token.revoked.reason == "laptop lost"


def test_revoking_an_unknown_token_or_without_a_reason_is_refused(ledger: Ledger) -> None:
    info = issue_token(ledger, request(), OPERATOR).info

    with pytest.raises(NotFound):
        revoke_token(ledger, uuid4(), "no such token", OPERATOR)
    with pytest.raises(ValidationError):
        revoke_token(ledger, info.token_id, "", OPERATOR)


def test_the_list_shows_every_token_with_its_state_and_no_secret(
    ledger: Ledger, clock: FixedClock
) -> None:
    short = issue_token(ledger, request(days=1), OPERATOR)
    revoked = issue_token(ledger, request(role="auditor"), OPERATOR)
    revoke_token(ledger, revoked.info.token_id, "audit over", OPERATOR)
    other = issue_token(ledger, request(coc="WI-500", role="service"), OPERATOR)
    clock.advance(timedelta(days=2))
    fresh = issue_token(ledger, request(role="agency-recorder", agency_ref="AG-1"), OPERATOR)

    listed = list_tokens(ledger)
    of_mo = list_tokens(ledger, "MO-606")

    assert [(t.token_id, t.state) for t in listed] == [
        (short.info.token_id, "expired"),
        (revoked.info.token_id, "revoked"),
        (other.info.token_id, "active"),
        (fresh.info.token_id, "active"),
    ]
    assert [t.token_id for t in of_mo] == [
        short.info.token_id,
        revoked.info.token_id,
        fresh.info.token_id,
    ]
    dumped = orjson.dumps([t.model_dump(mode="json") for t in listed]).decode()
    for issued in (short, revoked, other, fresh):
        assert issued.secret not in dumped
        assert secret_digest(issued.secret) not in dumped


@pytest.mark.parametrize(
    "fields",
    [
        {"role": "agency-recorder"},  # names no agency
        {"agency_ref": "AG-1"},  # an admin names none
        {"days": 0},
        {"days": 731},
        {"coc": "mo606"},
        {"subject": ""},
        {"subject": "line\nbreak"},
        {"role": "superuser"},
    ],
)
def test_a_bad_token_request_is_refused(ledger: Ledger, fields: dict[str, object]) -> None:
    with pytest.raises((ValidationError, InvalidInput)):
        issue_token(ledger, request(**fields), OPERATOR)
    assert list_tokens(ledger) == []


# --- scripts/token -------------------------------------------------------------------------


def token_script(
    settings: Settings,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> tuple[int, list[str], str]:
    """Run scripts/token with ``args`` on the test store: (exit status, stdout lines, stderr)."""
    script = load_script("tokens")
    monkeypatch.setattr(script, "Ledger", lambda s: Ledger(s, clock=clock))
    status = script.main([*args, "--actor", "ops-2", *store_args(settings)])
    out, err = capsys.readouterr()
    return status, out.strip().splitlines(), err


def test_the_token_command_creates_lists_and_revokes(
    settings: Settings,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = lambda *args: token_script(settings, clock, monkeypatch, capsys, *args)  # noqa: E731
    role = ["--coc", "MO-606", "--role", "agency-recorder", "--agency", "AG-1"]

    status, out, err = run("create", *role, "--subject", "desk-ag1", "--days", "7")

    assert status == 0, err
    created = orjson.loads(out[-1])
    assert created["secret"].startswith(SECRET_PREFIX)
    assert (created["role"], created["agency_ref"], created["issued_by"]) == (
        "agency-recorder",
        "AG-1",
        "ops-2",
    )
    assert "shown only now" in err
    assert "MO-606 is not registered yet" in err
    status, out, _ = run("list")
    assert status == 0
    [listed] = [orjson.loads(line) for line in out]
    assert "secret" not in listed
    assert created["secret"] not in "\n".join(out)
    assert listed == {k: v for k, v in created.items() if k != "secret"}
    status, out, _ = run("revoke", created["token_id"], "--reason", "desk closed")
    assert (status, orjson.loads(out[-1])["state"]) == (0, "revoked")
    assert run("list", "--active")[:2] == (0, [])


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["create", "--coc", "MO-606", "--role", "admin", "--subject", "x", "--days", "0"], 2),
        (["create", "--coc", "MO-606", "--role", "agency-recorder", "--subject", "x"], 2),
        (["revoke", "00000000-0000-0000-0000-000000000000", "--reason", "gone"], 1),
    ],
)
def test_the_token_command_refuses_bad_requests_with_its_exit_status(
    settings: Settings,
    ledger: Ledger,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    status: int,
) -> None:
    assert token_script(settings, clock, monkeypatch, capsys, *args)[0] == status
    assert list_tokens(ledger) == []
