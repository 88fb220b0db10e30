"""The operator's integrity commands on both backends: signing-key (init, rotate, list), seal,
proof, export and selfcheck, their outputs and exit statuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import structlog

from commands.synthetic import generate
from ledger.application import Ledger
from ledger.integrity.store import IntegrityStore
from ledger.settings import Settings
from tests.integration.integrity_support import Attacker, load_verifier, verify_isolated
from tests.script_modules import load_script as load_script_module

VERIFY = load_verifier()


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """scripts/seal configures logging onto the (captured) stderr of the moment: put the
    test run's configuration back afterwards."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def script(name: str) -> ModuleType:
    return load_script_module(name)


@pytest.fixture
def store_args(settings: Settings, ledger: Ledger) -> list[str]:
    generate(ledger, tier="small", seed=4)
    if settings.database_url:
        return ["--database-url", settings.database_url]
    return ["--sqlite-path", str(settings.sqlite_path)]


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys" / "signing-key.pem"
    monkeypatch.setenv("COC_LEDGER_SIGNING_KEY_PATH", str(path))
    return path


def last_json(text: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(text.strip().splitlines()[-1])
    return found


def test_the_operator_walks_keys_seal_proofs_export_and_selfcheck(
    store_args: list[str],
    key_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signing_key, seal, proof = script("signing_key"), script("seal"), script("proof")
    export, selfcheck = script("export"), script("selfcheck")

    assert seal.main(["--once", *store_args]) == 0  # sealed; no key, so nothing signed
    status = last_json(capsys.readouterr().out)
    assert (status["latest_checkpoint"], status["tree_size"]) == (None, status["head"])
    assert export.main(["coc", "MO-606", "--out", str(tmp_path / "b.json"), *store_args]) == 2
    assert "holds none" in capsys.readouterr().err

    assert signing_key.main(["init", *store_args]) == 0
    first = last_json(capsys.readouterr().out)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert signing_key.main(["init", *store_args]) == 0  # the same key: nothing changes
    assert last_json(capsys.readouterr().out) == first
    assert signing_key.main(["init", "--key-file", str(tmp_path / "b.pem"), *store_args]) == 1
    assert "already in force" in capsys.readouterr().err
    assert seal.main(["--once", *store_args]) == 0
    old = last_json(capsys.readouterr().out)["latest_checkpoint"]
    assert isinstance(old, dict)

    assert signing_key.main(["rotate", "--reason", "yearly", *store_args]) == 0
    second = last_json(capsys.readouterr().out)
    assert second["previous_key_id"] == first["key_id"]
    assert signing_key.main(["list", *store_args]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [k["key_id"] for k in listed] == [first["key_id"], second["key_id"]]
    assert "PRIVATE KEY" not in json.dumps(listed)

    out = tmp_path / "bundle.json"
    assert (
        export.main(["agency", "MO-606", "s4.MO-606.ag00000", "--out", str(out), *store_args]) == 0
    )
    summary = last_json(capsys.readouterr().out)
    assert summary["key_id"] == second["key_id"]
    done = verify_isolated(out, "--trust", str(second["key_id"]), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert export.main(["user", "MO-606", "nobody", "--out", str(out), *store_args]) == 1

    consistency = tmp_path / "consistency.json"
    args = ["consistency", str(old["tree_size"]), "--out", str(consistency), *store_args]
    assert proof.main(args) == 0
    done = verify_isolated(consistency, cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert proof.main(["inclusion", "--coc", "MO-606", "2", *store_args]) == 0
    document = json.loads(capsys.readouterr().out)
    assert "is in the tree" in VERIFY.verify_inclusion(document, set())
    assert proof.main(["inclusion", "--coc", "WI-500", "2", *store_args]) == 1
    assert proof.main(["consistency", "3", *store_args]) == 1
    assert proof.main(["consistency", "x", *store_args]) == 2

    assert selfcheck.main(store_args) == 0
    assert last_json(capsys.readouterr().out)["ok"] is True


def test_selfcheck_exits_1_naming_the_first_mismatch(
    settings: Settings,
    ledger: Ledger,
    store_args: list[str],
    key_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert script("seal").main(["--once", *store_args]) == 0
    Attacker(IntegrityStore(ledger)).change_one_byte(17)
    capsys.readouterr()
    assert script("selfcheck").main(store_args) == 1
    captured = capsys.readouterr()
    assert "MISMATCH: position 17, leaf 16" in captured.err
    assert last_json(captured.out)["first_mismatch"]["position"] == 17  # type: ignore[index]


def test_a_bad_store_is_a_configuration_error(tmp_path: Path) -> None:
    for name in ("seal", "selfcheck"):
        assert script(name).main(["--database-url", "mysql://nowhere/x"]) == 2
