"""Every registered command has a happy-path integration test (marked with @happy_path)."""

from __future__ import annotations

import importlib
from pathlib import Path

from commands.registry import COMMANDS

HERE = Path(__file__).parent


def commands_with_a_happy_path_test() -> set[str]:
    covered: set[str] = set()
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        for value in vars(module).values():
            name = getattr(value, "happy_path_of", None)
            if callable(value) and name is not None:
                covered.add(name)
    return covered


def test_every_registered_command_has_a_happy_path_test() -> None:
    covered = commands_with_a_happy_path_test()

    assert sorted(set(COMMANDS) - covered) == [], "commands without a happy-path test"
    assert sorted(covered - set(COMMANDS)) == [], "happy-path tests of unknown commands"
