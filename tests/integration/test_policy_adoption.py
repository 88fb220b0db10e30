"""Adopting a policy version is an event: who, when, which version and the hash of its file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from commands.organisations import AdoptPolicy, RegisterCoc
from ledger.application import Ledger
from ledger.domain.organisations import CoC
from ledger.errors import NotFound, VerificationFailed
from ledger.ids import entity_id
from ledger.policy.store import PackStore
from projections.compliance.service import ComplianceService
from tests.conftest import START
from tests.integration.builders import Do, happy_path, refused, rejected

PACK = """
coc = "WI-500"
version = "{version}"
effective_from = {effective_from}
title = "Synthetic pack {version}"
base = ["training:ce-101"]

[[clauses]]
id = "training:ce-101"
kind = "training"
title = "CoC CE training"
courses = ["WI-CE-101"]
validity = {{ rolling_months = {months} }}
"""


def write_pack(folder: Path, version: str, effective_from: str, months: int = 12) -> Path:
    path = folder / "WI-500" / f"{version}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PACK.format(version=version, effective_from=effective_from, months=months))
    return path


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    folder = tmp_path / "packs"
    write_pack(folder, "v1", "2026-01-01")
    write_pack(folder, "v2", "2026-07-01", months=24)
    return folder


@happy_path(AdoptPolicy)
def test_adopting_a_version_records_its_hash_and_effective_date(
    ledger: Ledger, do: Do, packs: Path
) -> None:
    ledger.packs = PackStore(packs)
    do(RegisterCoc(coc="WI-500", coc_name="Synthetic BoS", process="wi-bos"))

    do(AdoptPolicy(coc="WI-500", version="v1"))

    tenant = ledger.load(CoC, entity_id("coc", "WI-500"))
    assert tenant is not None
    [adopted] = tenant.adoptions()
    assert adopted.version == "v1"
    assert adopted.content_sha256 == PackStore(packs).get("WI-500", "v1").sha256
    assert str(adopted.effective_from) == "2026-01-01"
    assert adopted.actor == "tester"


def test_the_version_in_force_follows_the_effective_dates(
    ledger: Ledger, do: Do, packs: Path
) -> None:
    ledger.packs = PackStore(packs)
    do(RegisterCoc(coc="WI-500", coc_name="Synthetic BoS", process="wi-bos"))
    do(AdoptPolicy(coc="WI-500", version="v2"))
    do(AdoptPolicy(coc="WI-500", version="v1"))
    tenant = ledger.load(CoC, entity_id("coc", "WI-500"))
    assert tenant is not None

    assert tenant.policy_in_force(date(2025, 12, 31)) is None
    assert tenant.policy_in_force(date(2026, 6, 30)).version == "v1"  # type: ignore[union-attr]
    assert tenant.policy_in_force(date(2026, 7, 1)).version == "v2"  # type: ignore[union-attr]


def test_a_version_is_adopted_once(ledger: Ledger, do: Do, packs: Path) -> None:
    ledger.packs = PackStore(packs)
    do(RegisterCoc(coc="WI-500", coc_name="Synthetic BoS", process="wi-bos"))
    do(AdoptPolicy(coc="WI-500", version="v1"))

    refused(ledger, do, AdoptPolicy(coc="WI-500", version="v1"), "policy/adopt-version-once")


def test_an_unknown_version_is_not_found(ledger: Ledger, do: Do, packs: Path) -> None:
    ledger.packs = PackStore(packs)
    do(RegisterCoc(coc="WI-500", coc_name="Synthetic BoS", process="wi-bos"))

    rejected(ledger, do, AdoptPolicy(coc="WI-500", version="v9"), NotFound)


def test_a_pack_file_changed_after_adoption_is_refused_when_evaluating(
    ledger: Ledger, do: Do, packs: Path
) -> None:
    ledger.packs = PackStore(packs)
    do(RegisterCoc(coc="WI-500", coc_name="Synthetic BoS", process="wi-bos"))
    do(AdoptPolicy(coc="WI-500", version="v1"))
    write_pack(packs, "v1", "2026-01-01", months=6)  # edited in place: history would change
    ledger.packs = PackStore(packs)
    tenant = ledger.load(CoC, entity_id("coc", "WI-500"))
    assert tenant is not None

    with pytest.raises(VerificationFailed, match="changed since it was adopted"):
        ComplianceService(ledger).policy_at(tenant, START.date().replace(month=3))
