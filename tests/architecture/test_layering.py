"""The layers import only downwards: ledger <- commands, projections <- api, scripts."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from ledger.domain.base import LedgerAggregate, LedgerEvent

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("ledger", "commands", "projections", "api", "scripts")
ALLOWED: dict[str, set[str]] = {
    "ledger": set(),
    "commands": {"ledger"},
    "projections": {"ledger"},
    "api": {"ledger", "commands", "projections"},
    "scripts": {"ledger", "commands", "projections"},
}


def imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_the_layers_below_it(layer: str) -> None:
    offences = {
        str(path.relative_to(ROOT)): sorted(imported_layers(path) - ALLOWED[layer] - {layer})
        for path in (ROOT / layer).rglob("*.py")
    }
    assert {path: bad for path, bad in offences.items() if bad} == {}


def all_event_classes() -> list[type[LedgerEvent]]:
    for module in pkgutil.walk_packages([str(ROOT / "ledger")], prefix="ledger."):
        importlib.import_module(module.name)
    found: list[type[LedgerEvent]] = []
    pending = [LedgerAggregate]
    seen: set[type] = {LedgerAggregate}
    while pending:
        aggregate = pending.pop()
        for sub in aggregate.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
    for aggregate in seen:
        found.extend(
            v
            for v in vars(aggregate).values()
            if isinstance(v, type) and issubclass(v, LedgerEvent)
        )
    return found


def test_every_event_topic_resolves_to_its_class() -> None:
    events = all_event_classes()
    assert len(events) > 40
    for cls in events:
        assert resolve_topic(get_topic(cls)) is cls


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for layer in LAYERS
        for path in (ROOT / layer).rglob("*.py")
        if ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert missing == []
