"""Reads policy pack files (TOML), checks them, and finds them by CoC and version."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ledger.errors import InvalidInput, NotFound, VerificationFailed
from ledger.policy.model import PolicyPack

BUNDLED_PACKS = Path(__file__).parent / "packs"


class PolicyPackError(InvalidInput):
    """A pack file that cannot be used; the message names the file, the place and the problem."""

    code = "invalid_policy_pack"


@dataclass(frozen=True)
class LoadedPack:
    pack: PolicyPack
    sha256: str
    source: str


def _where(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def load_pack(path: Path) -> LoadedPack:
    """Read and validate one pack file; refuse it with the file, line or field, and problem."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PolicyPackError(f"{path}: cannot be read: {err.strerror}") from err
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise PolicyPackError(f"{path}: is not UTF-8 text ({err.reason})") from err
    except tomllib.TOMLDecodeError as err:
        raise PolicyPackError(f"{path}: not valid TOML: {err}") from err
    try:
        pack = PolicyPack.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"field {_where(e['loc'])}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise PolicyPackError(f"{path}: {problems}") from err
    expected = f"{pack.version}.toml"
    if path.name != expected or path.parent.name != pack.coc:
        raise PolicyPackError(
            f"{path}: a pack of {pack.coc} version {pack.version} must be stored as "
            f"{pack.coc}/{expected}"
        )
    return LoadedPack(pack, hashlib.sha256(data).hexdigest(), str(path))


class PackStore:
    """The pack files under one directory: ``<dir>/<CoC>/<version>.toml``."""

    def __init__(self, directory: Path = BUNDLED_PACKS) -> None:
        self.directory = directory
        self._cache: dict[tuple[str, str], LoadedPack] = {}

    def get(self, coc: str, version: str, sha256: str | None = None) -> LoadedPack:
        """The pack, checked against ``sha256`` (the hash recorded when it was adopted)."""
        key = (coc, version)
        loaded = self._cache.get(key)
        if loaded is None:
            path = self.directory / coc / f"{version}.toml"
            if not path.is_file():
                raise NotFound(f"no policy pack {coc} version {version} under {self.directory}")
            loaded = self._cache[key] = load_pack(path)
        if sha256 is not None and loaded.sha256 != sha256:
            raise VerificationFailed(
                f"policy pack {coc} {version} has changed since it was adopted "
                f"(adopted {sha256[:12]}…, file {loaded.sha256[:12]}…); restore the file or "
                "adopt a new version"
            )
        return loaded

    def versions(self, coc: str) -> list[LoadedPack]:
        folder = self.directory / coc
        if not folder.is_dir():
            return []
        return [self.get(coc, p.stem) for p in sorted(folder.glob("*.toml"))]
