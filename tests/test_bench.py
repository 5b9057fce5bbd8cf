"""Smoke test for `make bench`: its modules import and parse their arguments (no load is run)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from bench import ab, hashing, instructions, loadgen, login_cpu, metrics_ab, report, run
from bench.loadgen import Target


def test_bench_arguments_have_working_defaults() -> None:
    args = run.parse_args([])
    assert args.workers == 1
    assert args.soak_duration == 300
    assert args.results == run.RESULTS
    assert run.parse_args(["--soak-only"]).results == run.SOAK_RESULTS


def test_large_database_is_named_after_the_small_one() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
    assert run.large_database_url(url) == "postgresql+psycopg://postgres@127.0.0.1:5432/bench_1m"


def test_helper_commands_parse_their_arguments() -> None:
    assert ab.parse_args(["--shape", "notes", "--base", "HEAD~1"]).shape == ["notes"]
    assert not ab.parse_args([]).fresh
    assert ab.parse_args(["--fresh"]).fresh
    assert instructions.parse_args(["--shape", "login", "--reference"]).shape == ["login"]
    assert hashing.parse_args(["--threads", "2"]).threads == 2
    assert loadgen.parse_args(["--url", "http://127.0.0.1:1", "-c", "4"]).connections == 4
    assert metrics_ab.parse_args(["--rounds", "5"]).rounds == 5
    assert login_cpu.parse_args(["--duration", "3"]).duration == 3


def test_wrk_script_carries_the_request(tmp_path: Path) -> None:
    target = Target("POST", "/token", {"Content-Type": "x"}, 'a "quoted" body')
    script = loadgen.wrk_script(target, tmp_path / "out.json")
    assert 'wrk.method = "POST"' in script
    assert r'wrk.body = "a \"quoted\" body"' in script
    assert "latency:percentile(99)" in script


def test_percentile_of_sorted_latencies() -> None:
    values = [float(n) for n in range(1, 101)]
    assert loadgen.percentile(values, 50) == 50
    assert loadgen.percentile(values, 99) == 99
    assert loadgen.percentile([], 99) == 0


def test_ratios_need_the_endpoint_figures() -> None:
    assert report.ratios({}) == {}


def test_the_report_sets_logins_beside_the_reference_login() -> None:
    login = {"connections": 8, "rps": 60.0, "p50_ms": 130.0, "p99_ms": 180.0, "errors": 0}
    ratio = {
        "ratio": 0.6,
        "target": ">= 0.8",
        "met": False,
        "what": "POST /token per second over raw argon2 verifications per second, all cores",
        "reference_login_ratio": 0.75,
        "over_reference_login": 0.8,
    }
    text = report.render(
        {
            "load_generator": "wrk",
            "machine": {"cpus": 2},
            "settings": {"workers": 1},
            "login": login,
            "reference_login": {**login, "rps": 75.0},
            "ratios": {"login_vs_raw_argon2": ratio},
        }
    )
    assert "reference POST /token (8 users)" in text
    assert "the reference login made 0.75 of raw argon2; logins made 0.8 of the reference's" in text


def test_side_by_side_contenders_swap_places_every_other_round() -> None:
    # In one fixed order the place weighed on the ratios (bench.run.in_turn's docstring).
    arms = ["base", "head", "ref"]
    assert run.in_turn(arms, 0) == ["base", "head", "ref"]
    assert run.in_turn(arms, 1) == ["ref", "head", "base"]
    assert run.in_turn(iter(arms), 2) == ["base", "head", "ref"]


def test_callgrind_dumps_are_read_per_thread(tmp_path: Path) -> None:
    # --separate-threads=yes writes callgrind.out.<dump>-<thread>, with the count in `totals:`.
    (tmp_path / "callgrind.out.2-01").write_text("events: Ir\nfn=main\n0 5\ntotals: 1200\n")
    (tmp_path / "callgrind.out.2-03").write_text("events: Ir\nsummary: 34\n")
    (tmp_path / "callgrind.out.1-01").write_text("totals: 999\n")
    assert instructions.read_dump(tmp_path, 2) == {1: 1200, 3: 34}


def test_login_cpu_takes_raw_argon2_in_turn_with_the_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Measured once after the servers, raw argon2 was one sample of a machine whose speed
    # moves, and the printed ratio followed it.
    order: list[str] = []
    # The median (90) is neither the mean (86.7) nor the last run (70).
    raw_rates = iter([100.0, 90.0, 70.0])

    def raw(threads: int, duration: float) -> dict[str, object]:
        order.append(f"raw {threads} {duration}")
        return {
            "threads": threads,
            "verifications": 10,
            "per_second": next(raw_rates),
            "ms_each": 1.0,
        }

    def measure(
        tool: str, server: SimpleNamespace, connections: int, duration: float
    ) -> dict[str, float]:
        order.append(server.base_url)
        rate = {"as_shipped": 63.0, "without_hashing": 200.0, "reference": 72.0}[server.base_url]
        return {
            "logins_per_second": rate,
            "errors": 0,
            "event_loop_ms": 1.0,
            "hashing_threads_ms": 1.0,
            "postgres_ms": 1.0,
        }

    def serve(url: str, factory: str) -> contextlib.AbstractContextManager[SimpleNamespace]:
        return contextlib.nullcontext(SimpleNamespace(base_url=factory.rsplit(":", 1)[1]))

    monkeypatch.setattr(login_cpu, "choose_tool", lambda _name: "wrk")
    monkeypatch.setattr(login_cpu.seed, "prepare", lambda _url: None)
    monkeypatch.setattr(login_cpu, "factory_server", serve)
    monkeypatch.setattr(
        login_cpu.servers,
        "reference",
        lambda _url: contextlib.nullcontext(SimpleNamespace(base_url="reference")),
    )
    monkeypatch.setattr(login_cpu, "run_load", lambda *_args: None)
    monkeypatch.setattr(login_cpu, "measure", measure)
    monkeypatch.setattr(login_cpu, "raw_argon2", raw)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)

    results = login_cpu.run(login_cpu.parse_args(["--rounds", "3", "--duration", "4"]))

    contenders = ["as_shipped", "without_hashing", "reference", "raw 2 4.0"]
    assert order == [*contenders, *contenders[::-1], *contenders]
    assert results["raw_argon2_all_cores"]["runs"] == [100.0, 90.0, 70.0]  # type: ignore[index]
    assert results["login_vs_raw_argon2"] == round(63.0 / 90.0, 3)
    assert results["reference_login_vs_raw_argon2"] == round(72.0 / 90.0, 3)


def test_logins_and_raw_argon2_take_turns_and_report_their_medians(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One sample of each, minutes apart, made the ratio follow the machine's drift.
    order: list[str] = []
    # Taken in turn: raw, app, ref; ref, app, raw; raw, app, ref. Each median is the middle
    # round's, and none is its contender's mean, first or last run.
    rates = iter([50.0, 40.0, 45.0, 49.0, 44.0, 61.0, 70.0, 56.0, 60.0])

    def raw(threads: int, duration: float) -> dict[str, object]:
        order.append(f"raw {threads}")
        rate = 30.0 if threads == 1 else next(rates)
        return {"threads": threads, "verifications": 10, "per_second": rate, "ms_each": 1.0}

    def load(base_url: str, target: Target, connections: int, label: str) -> loadgen.LoadResult:
        order.append(base_url)
        return loadgen.LoadResult("wrk", connections, 10.0, 100, next(rates), 1, 1, 1, 1, 0)

    monkeypatch.setattr(run, "raw_argon2", raw)
    monkeypatch.setattr(run, "machine", dict)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    bench = run.Bench(run.parse_args(["--rounds", "3", "--loadgen", "python"]))
    monkeypatch.setattr(bench, "load", load)
    app = SimpleNamespace(base_url="app")
    ref = SimpleNamespace(base_url="ref")

    target = run.logins_target()
    measured = run.logins_beside_raw_argon2(bench, app, ref, target)  # type: ignore[arg-type]

    assert order == ["raw 1", "raw 2", "app", "ref", "ref", "app", "raw 2", "raw 2", "app", "ref"]
    all_cores = measured["argon2_raw"]["all_cores"]
    assert all_cores["runs"] == [50.0, 61.0, 70.0]
    assert all_cores["per_second"] == 61.0
    assert all_cores["verifications"] == 30
    assert measured["argon2_raw"]["one_thread"]["per_second"] == 30.0
    assert [r["rps"] for r in measured["login"]["runs"]] == [40.0, 44.0, 56.0]
    assert measured["login"]["rps"] == 44.0
    assert [r["rps"] for r in measured["reference_login"]["runs"]] == [45.0, 49.0, 60.0]
    assert measured["reference_login"]["rps"] == 49.0
