"""The pure parts of scripts/bench_rebuild: the CPU the machine and a process have spent."""

from __future__ import annotations

import os
import resource
import time
from types import ModuleType

import pytest

from tests.script_modules import load_script

# /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice
STAT = "cpu  100 20 30 4000 500 6 7 900 0 0\ncpu0 50 10 15 2000 250 3 3 450 0 0\n"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script("bench_rebuild")


def test_the_machine_s_busy_cpu_counts_user_nice_system_and_interrupts_only(
    script: ModuleType,
) -> None:
    assert script.machine_cpu_seconds(STAT) == (100 + 20 + 30 + 6 + 7) / os.sysconf("SC_CLK_TCK")


def test_the_machine_s_busy_cpu_grows_while_this_process_computes(script: ModuleType) -> None:
    machine, own = script.machine_cpu_seconds(), script.cpu_seconds(resource.RUSAGE_SELF)
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert script.cpu_seconds(resource.RUSAGE_SELF) - own >= 0.3
    assert script.machine_cpu_seconds() - machine >= 0.2  # ticks: 10 ms each
