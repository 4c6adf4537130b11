"""The rows bench/results' tables show, from bench/run's raw runs: per tool and lab configuration
the medians of the runs that succeeded (when the 1 x 4 comparison ran several rounds), the worst
case per ESXi host, the exact-floor and idempotent rows, the ratios of ours to the peers, and the
target verdicts (benchlib/targets.py). Nothing here is estimated: every figure is derived from a
measured run.
"""

from __future__ import annotations

import statistics

from benchlib.targets import evaluate


def _median(runs: list[dict], get) -> float | None:
    values = [get(run) for run in runs if run.get("ok")]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _per_host(runs: list[dict]) -> dict:
    """Per ESXi host: the most round trips any good run sent it (the worst case; with its kinds), and
    how many of its VMs needed the change."""
    out: dict[str, dict] = {}
    for run in [r for r in runs if r.get("ok")] or runs:
        changed = run.get("changed_vms_by_host") or {}
        for host, h in run["ssh_round_trips"]["by_host"].items():
            total = h.get("total", h["host_level"] + h["per_vm"])  # older results lack "total"
            if host not in out or total > out[host]["round_trips"]:
                out[host] = {
                    "round_trips": total,
                    "changed_vms": changed.get(host, run["vms"] // max(run["hosts"], 1)),
                    "by_kind": h.get("by_kind", {}),
                }
    return out


def _via(floor: dict) -> list[str]:
    """How a floor measurement reached the hosts (results older than the vCenter labs: SSH)."""
    return floor.get("via", ["ssh"])


def _failures(runs: list[dict]) -> list[str]:
    return [
        "%s (rc %s, %s)"
        % (r["log"], r["rc"], r.get("end_state") or "%s/%s done" % (r.get("vms_nested_after", "?"), r.get("vms", "?")))
        for r in runs
        if not r.get("ok")
    ]


def _full_row(runs: list[dict]) -> dict | None:
    if not runs:
        return None
    ok = [run for run in runs if run.get("ok")]
    first = (ok or runs)[0]
    row = {
        "runs": len(runs),
        "ok_runs": len(ok),
        "ok": len(ok) == len(runs),
        "wall_s": _median(runs, lambda r: r["wall_s"]),
        "floor_s": _median(runs, lambda r: r["floor_s"]),
        "overhead_s": _median(runs, lambda r: r["overhead_s"]),
        "overhead_pct": _median(runs, lambda r: r["overhead_pct"]),
        "vms": runs[0]["vms"],
        "hosts": runs[0]["hosts"],
        "ssh_total": _median(runs, lambda r: r["ssh_round_trips"]["total"]),
        "ssh_max": max(r["ssh_round_trips"]["total"] for r in runs),  # every run, a failed one too
        "per_host": _per_host(runs),
        "ssh_by_kind": first["ssh_round_trips"]["by_kind"],
        "api_total": _median(runs, lambda r: r["api_calls"]["total"]),
        "api_per_vm": _median(runs, lambda r: r["api_calls"]["total"] / r["vms"]),
        "api_top": sorted(first["api_calls"]["by_method"].items(), key=lambda kv: -kv[1])[:4],
        "api_by_method": first["api_calls"]["by_method"],
        "api_shimmed": first["api_calls"].get("shimmed", {}),
        "memory_mb": _median(runs, lambda r: r["memory"]["tree_peak_pss_mb"]),
        "largest_process_mb": _median(runs, lambda r: r["memory"]["largest_process_maxrss_mb"]),
        "controller_cpu_s": _median(runs, lambda r: r["controller_cpu_s"]),
        "phases": first.get("phases"),
        "floor_via": sorted({via for r in runs for f in ("floor_before", "floor_after") for via in _via(r[f])}),
        "retried": [a["error"] for r in runs for a in r.get("failed_attempts", [])],
        "failures": _failures(runs),
    }
    reruns = [run["idempotent_rerun"] for run in runs if "idempotent_rerun" in run]
    if reruns:
        row["rerun"] = {
            "wall_s": _median(reruns, lambda r: r["wall_s"]),
            "ssh_total": _median(reruns, lambda r: r["ssh_round_trips"]["total"]),
            "ssh_per_vm": _median(reruns, lambda r: r["ssh_round_trips"]["per_vm"]),
            "power_operations": _median(reruns, lambda r: r["ssh_round_trips"]["power_operations"]),
            "ok": all(r.get("ok") for r in reruns),
        }
    return row


def _bare(run: dict) -> dict:
    bare = run.get("bare") or {}
    return {
        "bare_wall_s": bare.get("wall_s"),
        "bare_walls_s": [r["wall_s"] for r in bare.get("runs", [])],
        "bare_controller_cpu_s": bare.get("controller_cpu_s"),
        "bare_memory_mb": bare.get("memory_mb"),
        "bare_ssh_total": bare.get("ssh_total"),
    }


def _common(run: dict) -> dict:
    """What the floor and idle rows share: one run of ours and the bare playbook beside it."""
    return {
        "ok": bool(run.get("ok")),
        "rc": run["rc"],
        "vms": run["vms"],
        "hosts": run["hosts"],
        "wall_s": run["wall_s"],
        "ssh_total": run["ssh_round_trips"]["total"],
        "ssh_by_kind": run["ssh_round_trips"]["by_kind"],
        "power_operations": run["ssh_round_trips"]["power_operations"],
        "controller_cpu_s": run["controller_cpu_s"],
        "memory_mb": run["memory"]["tree_peak_pss_mb"],
        "largest_process_mb": run["memory"]["largest_process_maxrss_mb"],
        "processes": run["memory"]["peak_processes"],
        "selected_by": run.get("selected_by"),
        "vms_in_output": run.get("vms_in_output"),
        "retried": [a["error"] for a in run.get("failed_attempts", [])],
        "failures": _failures([run]),
        **_bare(run),
    }


def _floor_row(label: str, run: dict) -> dict:
    return {
        **_common(run),
        "label": label,
        "floor_s": run["floor_s"],
        "floor": run["floor"],
        "overhead_s": run["overhead_s"],
        "per_host": _per_host([run]),
        "phases": run.get("phases"),
    }


def _idle_row(run: dict) -> dict:
    return {
        **_common(run),
        "ssh_per_host": run["ssh_round_trips"]["total"] / run["hosts"],
        "ms_per_vm": 1000 * run["wall_s"] / run["vms"],
        "power_unchanged": run.get("power_unchanged"),
    }


def _ratio(a, b):
    return a / b if a is not None and b else None


def summarize(results: dict) -> dict:
    full = {
        config: {tool: _full_row(runs) for tool, runs in tools.items() if runs}
        for config, tools in results["full"].items()
    }
    floors = {
        config: _floor_row(config.replace("x", " x "), run) for config, run in (results.get("floor") or {}).items()
    }
    idem = {count: _idle_row(run) for count, run in results["idempotent"].items()}
    growth = None
    if "20" in idem and "200" in idem:
        small, large = idem["20"], idem["200"]
        extra = large["vms"] - small["vms"]
        growth = {
            "wall_ms_per_extra_vm": 1000 * (large["wall_s"] - small["wall_s"]) / extra,
            "cpu_ms_per_extra_vm": 1000 * (large["controller_cpu_s"] - small["controller_cpu_s"]) / extra,
            "round_trips_per_extra_vm": (large["ssh_total"] - small["ssh_total"]) / extra,
            "ssh_20": small["ssh_total"],
            "ssh_200": large["ssh_total"],
        }

    ratios = {}
    pairs = [("1x4", ours, peer) for ours in ("ours-ssh", "ours-api") for peer in ("naive", "community")]
    pairs += [(config, "ours-api", "community") for config in ("vc-1x4", "vc-2x4")]
    for config, ours, peer in pairs:
        side = full.get(config) or {}
        if side.get(ours) and side.get(peer):
            name = "%s / %s" % (ours, peer)
            if config != "1x4":
                name = "%s (vCenter %s)" % (name, config[3:].replace("x", " x "))
            ratios[name] = {
                "wall": _ratio(side[ours]["wall_s"], side[peer]["wall_s"]),
                "overhead": _ratio(side[ours]["overhead_s"], side[peer]["overhead_s"]),
                "ssh_round_trips": _ratio(side[ours]["ssh_total"], side[peer]["ssh_total"]),
                "api_calls": _ratio(side[ours]["api_total"], side[peer]["api_total"]),
            }
    summary = {"full": full, "floor": floors, "idempotent": idem, "idempotent_growth": growth, "ratios": ratios}
    summary["targets"] = evaluate(summary, (results.get("settings") or {}).get("batch"))
    return summary
