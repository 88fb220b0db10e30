"""The pure parts of scripts/bench_api: a process's CPU time from /proc, and what a phase
cost per request."""

from __future__ import annotations

import os
from types import ModuleType

import pytest

from tests.script_modules import load_script

# /proc/<pid>/stat of a process whose command name holds a space and a parenthesis
STAT = "4242 (python -m (api)) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 40 0 0 20 0 3 0 9 0 0"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script("bench_api")


def test_process_cpu_reads_user_and_kernel_ticks_after_the_command_name(
    script: ModuleType,
) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    assert script.process_cpu(STAT) == (250 / ticks, 40 / ticks)


def test_cpu_used_is_per_request_and_the_client_share_of_a_core(script: ModuleType) -> None:
    used = script.cpu_used((1.0, 0.5), (1.5, 0.6), 4.5, 5.0, 10_000)
    assert used == {
        "server_user_us_per_request": 50.0,
        "server_kernel_us_per_request": 10.0,
        "client_core_share": 0.9,
    }
    assert script.cpu_used((0.0, 0.0), (0.0, 0.0), 0.0, 0.0, 0)["client_core_share"] == 0.0


@pytest.mark.parametrize(
    ("args", "loop"), [([], "uvloop"), (["--event-loop", "asyncio"], "asyncio")]
)
def test_the_event_loop_option_names_the_loop_both_servers_run_on(
    script: ModuleType, args: list[str], loop: str
) -> None:
    parser = script.argparse.ArgumentParser()
    script.event_loop_option(parser)
    chosen = parser.parse_args(args).event_loop
    assert chosen == loop
    assert script.bare_command(8123, chosen)[-2:] == ["8123", loop]


def test_an_unknown_event_loop_is_refused(script: ModuleType) -> None:
    parser = script.argparse.ArgumentParser()
    script.event_loop_option(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--event-loop", "trio"])
