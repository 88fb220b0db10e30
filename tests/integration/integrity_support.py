"""Helpers of the integrity tests: a sealed, signed synthetic log, and an attacker with
database access who edits the stored events table directly (both backends)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

from commands.base import Caller
from commands.signing_keys import init_key
from ledger.application import Ledger
from ledger.domain.base import Source
from ledger.integrity.leaves import StoredRow
from ledger.integrity.service import Integrity
from ledger.integrity.store import IntegrityStore
from ledger.settings import Settings
from tests.script_modules import load_script as load_script_module

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = Caller(actor="test-operator", source=Source.CLI, request_id="req-keys")


def keyed(settings: Settings, key_file: Path) -> Settings:
    """The test settings with the operator's key file at ``key_file``."""
    return settings.model_copy(update={"signing_key_path": key_file})


def sealed_and_signed(ledger: Ledger, settings: Settings) -> Integrity:
    """Put a key in force (its file at settings.signing_key_path), seal, sign a checkpoint."""
    init_key(ledger, settings.signing_key_path, OPERATOR)
    integrity = Integrity(ledger, settings)
    key = integrity.signing_key()
    assert key is not None
    integrity.fresh_checkpoint(key)
    return integrity


class Attacker:
    """Someone with write access to the database, editing the stored events table."""

    def __init__(self, store: IntegrityStore) -> None:
        self.store = store
        self.column = store.position_column
        self.events = store.events

    def _run(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        with self.store.transaction() as cursor:
            cursor.execute(self.store.sql(statement), params)

    def row(self, position: int) -> StoredRow:
        (found,) = self.store.rows_at([position])
        return found

    def change_one_byte(self, position: int) -> None:
        state = bytearray(self.row(position).state)
        state[len(state) // 2] ^= 0x01
        self._run(
            f"UPDATE {self.events} SET state = ? WHERE {self.column} = ?", (bytes(state), position)
        )

    def delete(self, position: int) -> None:
        self._run(f"DELETE FROM {self.events} WHERE {self.column} = ?", (position,))

    def truncate_from(self, position: int) -> None:
        self._run(f"DELETE FROM {self.events} WHERE {self.column} >= ?", (position,))

    def insert_forged(self, position: int, like: int) -> None:
        """A made-up event (another's topic and state under a new entity id) at ``position``."""
        model = self.row(like)
        oid = uuid4()
        originator: object = oid if self.store.postgres else oid.hex
        self._run(
            f"INSERT INTO {self.events} (originator_id, originator_version, topic, state, "
            f"{self.column}) VALUES (?, ?, ?, ?, ?)",
            (originator, 1, model.topic, model.state, position),
        )

    def swap(self, first: int, second: int) -> None:
        """Exchange the contents of two rows, each keeping its position."""
        a, b = self.row(first), self.row(second)
        placeholder: object = uuid4() if self.store.postgres else uuid4().hex
        assignments = "originator_id = ?, originator_version = ?, topic = ?, state = ?"
        update = f"UPDATE {self.events} SET {assignments} WHERE {self.column} = ?"
        ids = [self._id(a.originator_id), self._id(b.originator_id)]
        self._run(update, (placeholder, 0, a.topic, a.state, first))
        self._run(update, (ids[0], a.originator_version, a.topic, a.state, second))
        self._run(update, (ids[1], b.originator_version, b.topic, b.state, first))

    def _id(self, hex_id: str) -> object:
        return UUID(hex_id) if self.store.postgres else hex_id


def load_verifier() -> ModuleType:
    return load_script_module("verify")


# Runs verify.py isolated (-I), from a folder outside the repository, with every module of
# CoC Ledger made unimportable: it must need nothing but the standard library and cryptography.
_ISOLATED = textwrap.dedent(
    """
    import importlib.abc, runpy, sys
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("ledger", "commands", "projections", "api", "scripts"):
                raise ImportError("verify.py imported " + name)
    sys.meta_path.insert(0, Refuse())
    sys.argv = [VERIFY, *sys.argv[1:]]
    runpy.run_path(VERIFY, run_name="__main__")
    """
)


def verify_isolated(bundle: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a copy of scripts/verify.py on ``bundle`` as an auditor would (see _ISOLATED)."""
    copy = cwd / "verify.py"
    copy.write_bytes((ROOT / "scripts/verify.py").read_bytes())
    code = _ISOLATED.replace("VERIFY", repr(str(copy)))
    return subprocess.run(
        [sys.executable, "-I", "-c", code, *args, str(bundle)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
