"""The pure parts of scripts/bench_api_instructions: reading callgrind dumps, choosing a mix's
requests, the last line. (Nothing here runs valgrind.)"""

from __future__ import annotations

import random
from pathlib import Path
from types import ModuleType

import pytest

from tests.script_modules import load_script

DUMP = """# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 7870
cmd:  /work/main/.venv/bin/python -m api
part: 1

events: Ir
summary: 0

fn=(11080) _asyncio_Future_add_done_callback
140 256
+5 64

totals: 342531479
"""


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script("bench_api_instructions")


def test_totals_is_the_first_event_of_the_totals_line(script: ModuleType) -> None:
    assert script.totals(DUMP) == 342_531_479
    with_cache_events = DUMP.replace("events: Ir", "events: Ir Dr Dw").replace(
        "totals: 342531479", "totals: 1200 300 40"
    )
    assert script.totals(with_cache_events) == 1200


def test_a_dump_without_its_totals_line_is_not_complete(script: ModuleType) -> None:
    assert script.totals(DUMP.split("totals:")[0]) is None
    assert script.totals("") is None


def dump(path: Path, instructions: int) -> None:
    path.write_text(DUMP.replace("342531479", str(instructions)))


def test_stop_sums_the_new_dumps_of_its_own_pid_only(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, ...]] = []
    monkeypatch.setattr(script.Counted, "control", lambda self, *options: sent.append(options))
    counted = script.Counted(pid=123, prefix=tmp_path / "api")
    dump(tmp_path / "api.123.1", 1000)
    dump(tmp_path / "api.1234.1", 5)  # another process's, with the same prefix
    assert counted.stop() == 1000
    assert sent == [("-i", "off"), ("-d",)]
    dump(tmp_path / "api.123.2", 700)
    dump(tmp_path / "api.123.3", 40)  # one dump may come in several parts
    dump(tmp_path / "api.123", 99)  # written at exit
    assert counted.stop() == 740


def test_stop_fails_when_no_dump_comes(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(script.Counted, "control", lambda self, *options: None)
    monkeypatch.setattr(script, "DUMP_SECONDS", 0.3)
    (tmp_path / "api.123.1").write_text(DUMP.split("totals:")[0])  # still being written
    with pytest.raises(RuntimeError, match="no complete callgrind dump"):
        script.Counted(pid=123, prefix=tmp_path / "api").stop()


def test_every_path_of_the_read_mix_has_its_kind(script: ModuleType) -> None:
    next_read = script.read_mix(["bench-0", "bench-1"], random.Random(3))
    kinds = [script.kind_of(next_read()[1]) for _ in range(2000)]
    assert set(kinds) == {"user", "page", "agency", "calendar"}
    assert 0.55 < kinds.count("user") / len(kinds) < 0.65  # the mix's 60%
    with pytest.raises(ValueError, match="not a path of the read mix"):
        script.kind_of("/v1/readmodels")


@pytest.mark.parametrize(
    ("mix", "shape"),
    [
        ("user", "/users/bench-"),
        ("page", "/users?limit=20"),
        ("agency", "/agencies/WI-NWH"),
        ("calendar", "/calendar?days=30"),
    ],
)
def test_a_kind_of_the_read_mix_gets_only_its_requests(
    script: ModuleType, mix: str, shape: str
) -> None:
    requests = script.requests_of(mix, script.read_mix(["bench-0"], random.Random(5)), 50)
    assert len(requests) == 50
    assert all(
        method == "GET" and shape in path and body is None for method, path, body in requests
    )


def test_the_whole_read_mix_is_taken_as_drawn(script: ModuleType) -> None:
    drawn = script.read_mix(["bench-0", "bench-1"], random.Random(7))
    expected = [drawn() for _ in range(300)]
    taken = script.requests_of(
        "reads", script.read_mix(["bench-0", "bench-1"], random.Random(7)), 300
    )
    assert taken == expected
    with pytest.raises(ValueError, match="not a read mix"):
        script.requests_of("writes", drawn, 1)


def test_the_last_line_compares_the_read_mix_with_the_bare_endpoint(script: ModuleType) -> None:
    mixes = {
        "user": script.per_request(587_000_000, 1000, 6.0),
        "reads": script.per_request(715_400_000, 1000, 8.0, 5_000_000),
    }
    bare = script.per_request(232_000_000, 1000, 3.0)
    line = script.result(mixes, bare, users=500)
    assert line["metric"] == "api_read_instructions_per_request"
    assert line["unit"] == "instructions/request"
    assert (line["value"], line["baseline"]) == (715_400, 232_000)
    assert line["ratio"] == 0.324  # 232,000 / 715,400: bench_api's reads/s / bare requests/s
    assert line["mixes"]["user"] == {
        "instructions_per_request": 587_000,
        "instructions": 587_000_000,
        "requests": 1000,
        "seconds": 6.0,
    }
    assert line["users"] == 500
    assert line["goals"] == {"ratio": 0.4}


def test_without_valgrind_it_says_so_and_exits_2(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(script.shutil, "which", lambda tool: None)
    assert script.main([]) == 2
    assert "needs valgrind and callgrind_control" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--requests", "0"],
        ["--warmup", "-1"],
        ["--warmup-writes", "-1"],
        ["--users", "0"],
        ["--idle-seconds", "0"],
    ],
)
def test_out_of_bounds_options_are_refused(script: ModuleType, args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        script.main(args)
    assert exit_.value.code == 2


def test_a_kind_the_mix_never_gives_fails_instead_of_drawing_for_ever(script: ModuleType) -> None:
    only_users = lambda: ("GET", "/v1/cocs/WI-500/users/bench-0", None)  # noqa: E731
    with pytest.raises(RuntimeError, match="gave 0 calendar requests"):
        script.requests_of("calendar", only_users, 10)


def test_the_net_figure_takes_off_what_the_server_does_idle_in_as_long(
    script: ModuleType,
) -> None:
    figures = script.per_request(715_400_000, 1000, 8.0, 5_000_000.0)
    assert figures["instructions_per_request"] == 715_400
    assert figures["net_instructions_per_request"] == 675_400  # less 8 s x 5M/s over 1000
    assert figures["seconds"] == 8.0
    assert "net_instructions_per_request" not in script.per_request(232_000, 1, 3.0)
