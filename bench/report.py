"""The table, the ratios against the targets, and the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.loadgen import LoadResult

LABELS = {
    "healthz": "GET /healthz",
    "identify_me": "GET /identify/me",
    "notes": "GET /notes?limit=20 (10k)",
    "reference": "reference GET /notes (10k)",
    "notes_100": "GET /notes?limit=100 (10k)",
    "reference_100": "reference GET /notes?limit=100",
    "note": "GET /notes/{id} (10k)",
    "reference_note": "reference GET /notes/{id}",
    "notes_deep": "GET /notes deep page (10k)",
    "notes_1m": "GET /notes?limit=20 (1M)",
    "notes_1m_deep": "GET /notes deep page (1M)",
}


def row(result: LoadResult) -> str:
    errors = f"  errors {result.errors} {result.error_detail}" if result.errors else ""
    return (
        f"c={result.connections:<4} {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:8.2f} ms{errors}"
    )


def _ratio(value: float, reference: float) -> float:
    return round(value / reference, 3) if reference else float("nan")


def ratios(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target: the measured ratio, the bound, and whether it is met."""
    out: dict[str, dict[str, Any]] = {}
    endpoints = results.get("endpoints")
    if not endpoints:
        return out

    def at_least(name: str, value: float, bound: float, what: str) -> None:
        out[name] = {"ratio": value, "target": f">= {bound}", "met": value >= bound, "what": what}

    def at_most(name: str, value: float, bound: float, what: str) -> None:
        out[name] = {"ratio": value, "target": f"<= {bound}", "met": value <= bound, "what": what}

    e = endpoints
    at_least(
        "identify_me_vs_healthz",
        _ratio(e["identify_me"]["rps"], e["healthz"]["rps"]),
        0.7,
        "req/s of GET /identify/me over GET /healthz",
    )
    at_least(
        "notes_vs_reference",
        _ratio(e["notes"]["rps"], e["reference"]["rps"]),
        0.8,
        "req/s of GET /notes?limit=20 over the reference app",
    )
    if "notes_100" in e and "reference_100" in e:
        at_least(
            "notes_100_vs_reference",
            _ratio(e["notes_100"]["rps"], e["reference_100"]["rps"]),
            0.8,
            "req/s of GET /notes?limit=100 over the reference app",
        )
    if "note" in e and "reference_note" in e:
        at_least(
            "note_vs_reference",
            _ratio(e["note"]["rps"], e["reference_note"]["rps"]),
            0.8,
            "req/s of GET /notes/{id} over the reference app",
        )
    at_most(
        "notes_1m_vs_10k",
        _ratio(e["notes_1m"]["p50_ms"], e["notes"]["p50_ms"]),
        1.2,
        "p50 of GET /notes?limit=20 with 1M notes over 10k notes",
    )
    at_most(
        "deep_vs_first_10k",
        _ratio(e["notes_deep"]["p50_ms"], e["notes"]["p50_ms"]),
        1.2,
        "p50 of a deep page over the first page, 10k notes",
    )
    at_most(
        "deep_vs_first_1m",
        _ratio(e["notes_1m_deep"]["p50_ms"], e["notes_1m"]["p50_ms"]),
        1.2,
        "p50 of a deep page over the first page, 1M notes",
    )
    logins = results["logins_in_flight"]
    at_most(
        "notes_p99_with_logins",
        _ratio(logins["with"]["p99_ms"], logins["without"]["p99_ms"]),
        2.0,
        "p99 of GET /notes with logins in flight over without",
    )
    sweep = results["concurrency"]
    best = max(level["rps"] for level in sweep)
    worst = min(level["rps"] for level in sweep)
    errors = sum(level["errors"] for level in sweep)
    out["concurrency_floor"] = {
        "ratio": _ratio(worst, best),
        "target": ">= 0.8, 0 errors",
        "met": worst >= 0.8 * best and errors == 0,
        "what": "lowest over highest req/s of GET /notes across 1..256 connections",
        "errors": errors,
    }
    top = max(sweep, key=lambda level: level["connections"])
    out["tail_at_top_concurrency"] = {
        "ratio": _ratio(top["p99_ms"], top["p50_ms"]),
        "target": "<= 2.5, 0 errors",
        "met": top["p99_ms"] <= 2.5 * top["p50_ms"] and top["errors"] == 0,
        "what": f"p99 over p50 of GET /notes at {top['connections']} connections (starvation)",
        "errors": top["errors"],
    }
    reference = results.get("concurrency_reference")
    if reference:
        ref_rps = [level["rps"] for level in reference]
        out["concurrency_floor"]["reference_ratio"] = _ratio(min(ref_rps), max(ref_rps))
    raw = results["argon2_raw"]
    login_rps = results["login"]["rps"]
    at_least(
        "login_vs_raw_argon2",
        _ratio(login_rps, raw["all_cores"]["per_second"]),
        0.8,
        "POST /token per second over raw argon2 verifications per second, all cores",
    )
    out["login_vs_raw_argon2"]["raw_one_thread_ratio"] = _ratio(
        login_rps, raw["one_thread"]["per_second"]
    )
    if "reference_login" in results:  # the same work with no framework (bench.reference_login)
        reference_rps = results["reference_login"]["rps"]
        out["login_vs_raw_argon2"]["reference_login_ratio"] = _ratio(
            reference_rps, raw["all_cores"]["per_second"]
        )
        out["login_vs_raw_argon2"]["over_reference_login"] = _ratio(login_rps, reference_rps)
    soak = results.get("soak")
    if soak:
        out["soak_errors"] = {
            "ratio": soak["errors"],
            "target": "== 0",
            "met": soak["errors"] == 0,
            "what": "errors during the soak run",
        }
    return out


def _line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:<36} {r['connections']:>5} {r['rps']:>10.1f} {r['p50_ms']:>9.2f} "
        f"{r['p99_ms']:>9.2f} {r['errors']:>7}"
    )


def render(results: dict[str, Any]) -> str:
    lines = [
        "",
        f"notes-api benchmark ({results['load_generator']}, "
        f"{results['machine'].get('cpus')} CPUs, workers={results['settings']['workers']})",
        f"{'':<36} {'conns':>5} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}",
    ]
    for name, r in results.get("endpoints", {}).items():
        lines.append(_line(LABELS.get(name, name), r))
    if "create_note" in results:
        lines.append(_line("POST /notes", results["create_note"]))
    if "login" in results:
        lines.append(_line("POST /token (login, 8 users)", results["login"]))
    if "reference_login" in results:
        lines.append(_line("reference POST /token (8 users)", results["reference_login"]))
    if "login_one_pair" in results:
        lines.append(_line("POST /token (1 user, 1 address)", results["login_one_pair"]))
    if "logins_in_flight" in results:
        logins = results["logins_in_flight"]
        lines.append(_line("GET /notes, no logins", logins["without"]))
        lines.append(_line("GET /notes, logins in flight", logins["with"]))
    for level in results.get("concurrency", []):
        lines.append(_line(f"GET /notes at {level['connections']} connections", level))
    for level in results.get("concurrency_reference", []):
        lines.append(_line(f"reference at {level['connections']} connections", level))
    raw = results.get("argon2_raw")
    if raw:
        for key in ("one_thread", "all_cores"):
            r = raw[key]
            lines.append(
                f"{'raw argon2, ' + str(r['threads']) + ' thread(s)':<36} {'':>5} "
                f"{r['per_second']:>10.1f}   verifications/s ({r['ms_each']:.1f} ms each; "
                f"m={r['memory_kib']} KiB, t={r['iterations']}, p={r['lanes']})"
            )
    soak = results.get("soak")
    if soak:
        lines += [
            "",
            f"soak: {soak['duration_s']:.0f} s, {soak['requests']} requests, "
            f"{soak['errors']} errors, "
            f"{soak.get('reauthenticated', 0)} refreshes after a role was taken away, "
            f"{soak.get('throttled_logins_retried', 0)} logins retried after a 429, "
            "p99 by window (ms): " + ", ".join(f"{w['p99_ms']:.1f}" for w in soak["windows"]),
            f"soak: server RSS {soak['rss_start_mib']:.1f} MiB at start, "
            f"{soak['rss_end_mib']:.1f} MiB at end",
        ]
    out = results.get("ratios", {})
    if out:
        lines += ["", f"{'target':<26} {'ratio':>8}  {'bound':<18} met"]
        for name, r in out.items():
            lines.append(
                f"{name:<26} {r['ratio']:>8}  {r['target']:<18} {'yes' if r['met'] else 'NO'}"
                f"   {r['what']}"
            )
        login = out.get("login_vs_raw_argon2", {})
        if "over_reference_login" in login:
            lines.append(
                f"{'':<26} the reference login made {login['reference_login_ratio']} of raw "
                f"argon2; logins made {login['over_reference_login']} of the reference's"
            )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    (bars, sweep), (latency, soak_axis) = axes

    endpoints = results["endpoints"]
    names = [LABELS.get(n, n) for n in endpoints]
    values = [r["rps"] for r in endpoints.values()]
    extra = {
        "POST /notes": results.get("create_note", {}).get("rps"),
        "POST /token (login)": results.get("login", {}).get("rps"),
    }
    for name, value in extra.items():
        if value is not None:
            names.append(name)
            values.append(value)
    bars.barh(names, values, color="tab:blue")
    bars.invert_yaxis()
    bars.set_xlabel("requests per second")
    bars.set_title(f"Throughput, {endpoints['notes']['connections']} connections, one worker")
    for index, value in enumerate(values):
        bars.text(value, index, f" {value:,.0f}", va="center", fontsize=8)

    levels = results["concurrency"]
    connections = [level["connections"] for level in levels]
    sweep.plot(
        connections, [level["rps"] for level in levels], "o-", color="tab:blue", label="notes-api"
    )
    reference = results.get("concurrency_reference")
    if reference:
        sweep.plot(
            connections,
            [level["rps"] for level in reference],
            "o:",
            color="tab:gray",
            label="reference",
        )
        sweep.legend(loc="lower left")
    sweep.set_xscale("log", base=2)
    sweep.set_xticks(connections, [str(c) for c in connections])
    sweep.set_xlabel("connections")
    sweep.set_ylabel("req/s", color="tab:blue")
    sweep.set_ylim(bottom=0)
    sweep.set_title("GET /notes?limit=20 vs concurrency")
    p99 = sweep.twinx()
    p99.plot(connections, [level["p99_ms"] for level in levels], "s--", color="tab:red")
    if reference:
        p99.plot(connections, [level["p99_ms"] for level in reference], "s:", color="salmon")
    p99.set_ylabel("p99 ms", color="tab:red")
    p99.set_yscale("log")

    logins = results["logins_in_flight"]
    groups = ["without logins", "with logins in flight"]
    for offset, key in ((-0.2, "p50_ms"), (0.2, "p99_ms")):
        data = [logins["without"][key], logins["with"][key]]
        latency.bar([i + offset for i in range(2)], data, width=0.4, label=key.replace("_ms", ""))
    latency.set_xticks(range(2), groups)
    latency.set_ylabel("ms")
    latency.set_title("GET /notes latency while logins run")
    latency.legend()

    soak = results.get("soak")
    if soak:
        times = [w["t_s"] for w in soak["windows"]]
        soak_axis.plot(times, [w["p99_ms"] for w in soak["windows"]], "o-", label="p99")
        soak_axis.plot(times, [w["p50_ms"] for w in soak["windows"]], ".-", label="p50")
        soak_axis.set_xlabel("seconds into the soak")
        soak_axis.set_ylabel("ms")
        soak_axis.set_title(
            f"Soak: mixed traffic, {soak['errors']} errors, RSS "
            f"{soak['rss_start_mib']:.0f} -> {soak['rss_end_mib']:.0f} MiB"
        )
        soak_axis.legend()
    else:
        soak_axis.set_axis_off()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
