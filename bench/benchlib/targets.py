"""The performance targets (issue 13, design.md "Performance budget") as pure functions of the
summary that benchlib/summary.py derives from a run: no lab, no I/O, so tests/unit/bench checks them.

Each target is ``{name, goal, measured, met}``, plus ``cause`` (from the measurements) when it is
not met. ``met`` is None when this run did not measure it (``bench/run --only``)."""

from __future__ import annotations

import math

# A full enable: per ESXi host one round trip to read it and plan, then per batch of VMs at most
# three (shutdown + wait, edit + reload, power on + wait), whatever the number of VMs.
PER_HOST_ROUND_TRIPS = 1
PER_BATCH_ROUND_TRIPS = 3
FLOOR_SHARE = 0.10  # exact-floor run: overhead <= the bare playbook's wall + 10 % of the floor
IDLE_WALL_X_BARE = 1.5  # idempotent 200 VMs: wall <= 1.5x the bare playbook's
IDLE_MS_PER_EXTRA_VM = 10.0
IDLE_MEMORY_MB = 150.0
NAIVE_OVERHEAD_X = 0.5
COMMUNITY_WALL_X = 0.5
COMMUNITY_API_CALLS_X = 0.1  # through a vCenter: ours' API calls <= 0.1x community.vmware's (issue 16)
# The vCenter labs (bench/configs/vcenter-*.yml) as the summary keys them, and their names in the targets.
VCENTER_LABS = {"vc-1x4": "through a vCenter, 1 x 4 guests", "vc-2x4": "through a vCenter, 2 x 4 guests"}


# --- budgets and the exact floor ----------------------------------------------------------------


def batches(vms: int, batch: int | None) -> int:
    """How many batches a host's ``vms`` VMs to change take (batch None: all in one)."""
    if vms <= 0:
        return 0
    return 1 if not batch else math.ceil(vms / batch)


def round_trip_budget(vms: int, batch: int | None) -> int:
    """The most SSH round trips a full enable may send one host that has ``vms`` VMs to change."""
    return PER_HOST_ROUND_TRIPS + PER_BATCH_ROUND_TRIPS * batches(vms, batch)


def vm_floor(vm: dict, none_shutdown_s: float) -> float:
    """A guest: none VM's own shutdown + boot as the lab plays it: hostd powers it off
    ``shutdown_delay`` + ``none_shutdown_s`` after power.shutdown, and reports Tools running
    ``boot_seconds`` after power.on. Only such VMs (Tools on, running) have an exact floor."""
    running = vm.get("power", "on") in ("on", True)  # YAML 1.1 reads a bare `on` as true
    if vm.get("guest", "linux") != "none" or not vm.get("tools", True) or not running:
        raise ValueError("%s: the exact floor needs a running guest: none VM with Tools" % vm.get("name"))
    return float(vm.get("shutdown_delay", 0)) + none_shutdown_s + float(vm.get("boot_seconds", 0))


def exact_floor(hosts: list[dict], none_shutdown_s: float, batch: int | None = None) -> dict:
    """The floor of a lab config's guest: none VMs: hosts work in parallel; on one host, batches one
    after another, each as long as its slowest VM (the slowest VMs grouped together: the least sum)."""
    per_host = {}
    for host in hosts:
        times = sorted((vm_floor(vm, none_shutdown_s) for vm in host.get("vms", [])), reverse=True)
        size = batch or len(times) or 1
        per_host[host["name"]] = {
            "vms": len(times),
            "batches": batches(len(times), batch),
            "floor_s": sum(times[i] for i in range(0, len(times), size)),
        }
    return {
        "floor_s": max((h["floor_s"] for h in per_host.values()), default=0.0),
        "none_shutdown_s": none_shutdown_s,
        "batch": batch,
        "per_host": per_host,
    }


# --- the targets ----------------------------------------------------------------------------------


def _target(name: str, goal: str, measured: str | None, met: bool | None, cause: str = "") -> dict:
    out = {"name": name, "goal": goal, "measured": measured if measured is not None else "not measured", "met": met}
    if met is None:
        out["cause"] = "not measured in this run"
    elif not met:
        out["cause"] = cause
    return out


def _failed(row: dict) -> str:
    return "the run failed: %s" % "; ".join(row.get("failures") or ["rc %s" % row.get("rc")])


def _unmeasured_pair(name: str, goal: str, ours: dict | None, other: dict | None, figure: str) -> dict | None:
    """The target's row when ours and a peer cannot be compared on ``figure``; None when they can."""
    if not ours or not other:
        return _target(name, goal, None, None)
    if not ours["ok"]:
        return _target(name, goal, "ours failed", False, _failed(ours))
    if other.get(figure) is None:
        return _target(name, goal, None, None)
    return None


def _s(seconds: float | None) -> str:
    return "?" if seconds is None else "%.1f s" % seconds


def coverage_note(row: dict) -> str:
    """A warning when the run's output names fewer VMs than the lab has (see measure.vms_in_output)."""
    named = row.get("vms_in_output")
    if not named or sum(named.values()) >= row["vms"]:
        return ""
    return " (its output names only %d of the %d VMs beside their host: %s)" % (
        sum(named.values()),
        row["vms"],
        ", ".join("%s %d" % kv for kv in sorted(named.items())),
    )


def _kinds(by_kind: dict) -> str:
    return ", ".join("%s %g" % kv for kv in by_kind.items())


def full_round_trips(label: str, row: dict | None, batch: int | None) -> dict:
    """Full enable: at most 1 + 3 per batch SSH round trips per ESXi host, none per VM."""
    goal = "<= %d + %d per batch SSH round trips per ESXi host, 0 per VM (batch: %s)" % (
        PER_HOST_ROUND_TRIPS,
        PER_BATCH_ROUND_TRIPS,
        batch or "all of a host's VMs",
    )
    name = "Full enable %s: SSH round trips" % label
    if not row:
        return _target(name, goal, None, None)
    hosts = row["per_host"]
    parts, over = [], []
    for host, h in sorted(hosts.items()):
        budget = round_trip_budget(h["changed_vms"], batch)
        parts.append(
            "%s %g for %d VMs in %d batch%s (budget %d)"
            % (
                host,
                h["round_trips"],
                h["changed_vms"],
                batches(h["changed_vms"], batch),
                "" if batches(h["changed_vms"], batch) == 1 else "es",
                budget,
            )
        )
        if h["round_trips"] > budget:
            per_vm = [k for k, n in h["by_kind"].items() if h["changed_vms"] > 1 and n == h["changed_vms"]]
            over.append(
                "%s sent %g round trips, %g over its budget of %d%s%s"
                % (
                    host,
                    h["round_trips"],
                    h["round_trips"] - budget,
                    budget,
                    " (%s)" % _kinds(h["by_kind"]) if h["by_kind"] else "",
                    "; sent once per VM instead of once per batch: " + ", ".join(per_vm) if per_vm else "",
                )
            )
    cause = "; ".join(([] if row["ok"] else [_failed(row)]) + over)
    return _target(name, goal, "; ".join(parts), row["ok"] and not over, cause)


def floor_overhead(row: dict | None) -> dict:
    """Exact-floor run: overhead (wall - floor) <= the bare playbook's wall + 10 % of the floor."""
    goal = "overhead (wall - exact floor) <= the bare playbook's wall + %d %% of the floor" % (100 * FLOOR_SHARE)
    name = "Exact floor %s: overhead" % (row or {}).get("label", "2 x 20")
    if not row or row.get("bare_wall_s") is None:
        return _target(name, goal, None, None)
    allowed = row["bare_wall_s"] + FLOOR_SHARE * row["floor_s"]
    measured = "%.1f s = %.1f s wall - %.1f s floor; allowed %.1f s (bare %.1f s + %.1f s)%s" % (
        row["overhead_s"],
        row["wall_s"],
        row["floor_s"],
        allowed,
        row["bare_wall_s"],
        FLOOR_SHARE * row["floor_s"],
        coverage_note(row),
    )
    met = row["overhead_s"] <= allowed
    ph = row.get("phases") or {}
    cause = (
        "%.1f s over the allowance. hostd's view: %.1f s from the start to the first shutdown (the whole bare "
        "playbook takes %.1f s); %.1f s from the first shutdown to the last VM ready for a %.1f s floor (%d of %d "
        "VMs cycled; the slowest VM's own shutdown + boot %.1f s, a VM off for up to %.1f s); %.1f s after the "
        "last VM was ready. %g SSH round trips (%s); %.1f s of controller CPU"
        % (
            row["overhead_s"] - allowed,
            ph.get("until_first_shutdown_s", 0),
            row["bare_wall_s"],
            ph.get("first_shutdown_to_last_ready_s", 0),
            row["floor_s"],
            ph.get("vms_cycled", 0),
            row["vms"],
            ph.get("slowest_guest_shutdown_boot_s", 0),
            ph.get("longest_off_s", 0),
            ph.get("after_last_ready_s", 0),
            row["ssh_total"],
            ", ".join("%s %g" % (h, v["round_trips"]) for h, v in sorted(row["per_host"].items())),
            row["controller_cpu_s"],
        )
    )
    if not row["ok"]:
        # A run that did not finish the job proves nothing about its overhead, whatever its wall.
        return _target(name, goal, measured, False, _failed(row) + ("" if met else ". " + cause))
    return _target(name, goal, measured, met, cause)


def idle_wall(row: dict | None) -> dict:
    """Idempotent 200 VMs on 2 hosts: wall <= 1.5x the bare playbook's."""
    goal = "wall <= %gx the bare playbook's (one raw round trip per ESXi host)" % IDLE_WALL_X_BARE
    name = "Idempotent %s VMs: wall" % ((row or {}).get("vms") or 200)
    if not row or row.get("bare_wall_s") is None:
        return _target(name, goal, None, None)
    ratio = row["wall_s"] / row["bare_wall_s"]
    measured = "%.1f s = %.2fx the bare playbook's %.1f s%s" % (
        row["wall_s"],
        ratio,
        row["bare_wall_s"],
        coverage_note(row),
    )
    if not row["ok"]:
        return _target(name, goal, measured, False, _failed(row))
    cause = (
        "%.1f s over %.1f s (%gx bare). The hosts are not the difference: %g SSH round trips vs the bare "
        "playbook's %g. It is the controller: %.1f s of controller CPU vs the bare playbook's %.1f s, %.0f ms of "
        "wall per VM, up to %d processes"
        % (
            row["wall_s"] - IDLE_WALL_X_BARE * row["bare_wall_s"],
            IDLE_WALL_X_BARE * row["bare_wall_s"],
            IDLE_WALL_X_BARE,
            row["ssh_total"],
            row["bare_ssh_total"],
            row["controller_cpu_s"],
            row["bare_controller_cpu_s"],
            row["ms_per_vm"],
            row["processes"],
        )
    )
    return _target(name, goal, measured, ratio <= IDLE_WALL_X_BARE, cause)


def idle_growth(small: dict | None, large: dict | None) -> list[dict]:
    """From 20 to 200 already-enabled VMs: at most 10 ms and 0 round trips per extra VM."""
    wall_goal = "<= %g ms of wall per extra VM" % IDLE_MS_PER_EXTRA_VM
    trips_goal = "0 SSH round trips per extra VM"
    if not small or not large:
        return [
            _target("Idempotent 20 -> 200 VMs: wall per extra VM", wall_goal, None, None),
            _target("Idempotent 20 -> 200 VMs: round trips per extra VM", trips_goal, None, None),
        ]
    label = "Idempotent %d -> %d VMs" % (small["vms"], large["vms"])
    extra = large["vms"] - small["vms"]
    ms = 1000 * (large["wall_s"] - small["wall_s"]) / extra
    cpu_ms = 1000 * (large["controller_cpu_s"] - small["controller_cpu_s"]) / extra
    trips = (large["ssh_total"] - small["ssh_total"]) / extra
    ok = small["ok"] and large["ok"]
    failed = _failed(small if not small["ok"] else large)
    wall = _target(
        label + ": wall per extra VM",
        wall_goal,
        "%.1f ms (%.1f s -> %.1f s)%s" % (ms, small["wall_s"], large["wall_s"], coverage_note(large)),
        ok and ms <= IDLE_MS_PER_EXTRA_VM,
        failed
        if not ok
        else "%.1f ms of controller CPU per extra VM; round trips %g -> %g, so the growth is on the controller; "
        "the bare playbook took %s and %s on the two labs (the noise between them)"
        % (cpu_ms, small["ssh_total"], large["ssh_total"], _s(small["bare_wall_s"]), _s(large["bare_wall_s"])),
    )
    rt = _target(
        label + ": round trips per extra VM",
        trips_goal,
        "%g (%g -> %g)" % (trips, small["ssh_total"], large["ssh_total"]),
        ok and trips <= 0,
        failed
        if not ok
        else "%g more round trips for %d more VMs (%s with %d VMs)"
        % (large["ssh_total"] - small["ssh_total"], extra, _kinds(large["ssh_by_kind"]), large["vms"]),
    )
    return [wall, rt]


def idle_memory(row: dict | None) -> dict:
    """Idempotent 200 VMs: the controller's peak memory <= 150 MB."""
    goal = "controller peak memory <= %g MB (PSS of the ansible-playbook process tree)" % IDLE_MEMORY_MB
    name = "Idempotent %s VMs: controller memory" % ((row or {}).get("vms") or 200)
    if not row:
        return _target(name, goal, None, None)
    measured = "%.0f MB" % row["memory_mb"]
    bare = row.get("bare_memory_mb")
    cause = (
        "%.0f MB over %d processes at the peak (the largest single process %.0f MB); the bare playbook on the same "
        "lab with the same forks peaks at %s, what Ansible alone costs here"
        % (row["memory_mb"], row["processes"], row["largest_process_mb"], "?" if bare is None else "%.0f MB" % bare)
    )
    if not row["ok"]:
        cause = _failed(row)
    return _target(name, goal, measured, row["ok"] and row["memory_mb"] <= IDLE_MEMORY_MB, cause)


def versus_naive(ours: dict | None, naive: dict | None) -> dict:
    """1 x 4 real guests: ours' overhead <= 0.5x the naive playbook's."""
    goal = "overhead <= %gx the naive playbook's" % NAIVE_OVERHEAD_X
    name = "Full enable 1 x 4 guests: overhead vs the naive playbook"
    unmeasured = _unmeasured_pair(name, goal, ours, naive, "overhead_s")
    if unmeasured:
        return unmeasured
    ratio = ours["overhead_s"] / naive["overhead_s"] if naive["overhead_s"] > 0 else math.inf
    measured = "%.2fx (%.1f s vs %.1f s)" % (ratio, ours["overhead_s"], naive["overhead_s"])
    ph = ours.get("phases") or {}
    cause = (
        "ours would need at most %.1f s of overhead over its %.1f s floor and took %.1f s: %.1f s until the first "
        "shutdown, VMs off for up to %.1f s, %.1f s after the last guest was ready, the slowest guest's shutdown + "
        "boot %.1f s inside the run vs %.1f s alone; %g SSH round trips (the naive playbook's: %g)"
        % (
            NAIVE_OVERHEAD_X * naive["overhead_s"],
            ours["floor_s"],
            ours["overhead_s"],
            ph.get("until_first_shutdown_s", 0),
            ph.get("longest_off_s", 0),
            ph.get("after_last_ready_s", 0),
            ph.get("slowest_guest_shutdown_boot_s", 0),
            ours["floor_s"],
            ours["ssh_total"],
            naive["ssh_total"],
        )
    )
    return _target(name, goal, measured, ratio <= NAIVE_OVERHEAD_X, cause)


def versus_community(ours: dict | None, community: dict | None, label: str = "1 x 4 guests") -> dict:
    """Real guests (1 x 4 by default; ``label`` names the lab): ours' wall <= 0.5x community.vmware's."""
    goal = "wall <= %gx community.vmware's" % COMMUNITY_WALL_X
    name = "Full enable %s: wall vs community.vmware" % label
    unmeasured = _unmeasured_pair(name, goal, ours, community, "wall_s")
    if unmeasured:
        return unmeasured
    ratio = ours["wall_s"] / community["wall_s"]
    measured = "%.2fx (%.1f s vs %.1f s)" % (ratio, ours["wall_s"], community["wall_s"])
    allowed = COMMUNITY_WALL_X * community["wall_s"]
    if allowed < ours["floor_s"]:
        cause = "half of community.vmware's wall (%.1f s) is below ours' floor alone (%.1f s)" % (
            allowed,
            ours["floor_s"],
        )
    else:
        cause = "ours would have to finish in %.1f s: its overhead would have to fall from %.1f s to %.1f s" % (
            allowed,
            ours["overhead_s"],
            allowed - ours["floor_s"],
        )
    ph = ours.get("phases") or {}
    if ph:
        cause += (
            " (hostd's view: %.1f s until the first shutdown, the slowest guest's shutdown + boot %.1f s in the run, "
            "a VM off for up to %.1f s, %.1f s after the last guest was ready)"
            % (
                ph.get("until_first_shutdown_s", 0),
                ph.get("slowest_guest_shutdown_boot_s", 0),
                ph.get("longest_off_s", 0),
                ph.get("after_last_ready_s", 0),
            )
        )
    return _target(name, goal, measured, ratio <= COMMUNITY_WALL_X, cause)


def _methods(by_method: dict) -> str:
    return ", ".join("%s %g" % kv for kv in sorted(by_method.items(), key=lambda kv: (-kv[1], kv[0])))


def api_calls_vs_community(ours: dict | None, community: dict | None, label: str) -> dict:
    """Through a vCenter: ours' vSphere API calls <= 0.1x community.vmware's for the same job."""
    goal = "API calls <= %gx community.vmware's" % COMMUNITY_API_CALLS_X
    name = "Full enable %s: API calls vs community.vmware" % label
    unmeasured = _unmeasured_pair(name, goal, ours, community, "api_total")
    if unmeasured:
        return unmeasured
    ratio = ours["api_total"] / community["api_total"] if community["api_total"] else math.inf
    measured = "%.3fx (%g vs %g calls; %.1f vs %.1f per VM)" % (
        ratio,
        ours["api_total"],
        community["api_total"],
        ours["api_per_vm"],
        community["api_per_vm"],
    )
    cause = "ours would have to make at most %.0f calls and made %g: %s (community.vmware: %s)" % (
        COMMUNITY_API_CALLS_X * community["api_total"],
        ours["api_total"],
        _methods(ours.get("api_by_method") or dict(ours.get("api_top") or [])),
        _methods(community.get("api_by_method") or dict(community.get("api_top") or [])),
    )
    return _target(name, goal, measured, ratio <= COMMUNITY_API_CALLS_X, cause)


def no_ssh(rows: dict[str, dict | None]) -> dict:
    """Through a vCenter (SSH off on every host): ours sends the ESXi hosts no SSH round trip at all.
    ``rows``: {lab label: ours' row}; every run counts (the most any run sent)."""
    goal = "0 SSH round trips to the ESXi hosts (every run)"
    name = "Full enable through a vCenter: ours' SSH round trips"
    measured_rows = {label: row for label, row in rows.items() if row}
    if not measured_rows:
        return _target(name, goal, None, None)
    measured = "; ".join("%s: %g" % (label, row["ssh_max"]) for label, row in measured_rows.items())
    sent = [
        "%s: %g (%s)" % (label, row["ssh_max"], _kinds(row["ssh_by_kind"]) or "see the run's log")
        for label, row in measured_rows.items()
        if row["ssh_max"]
    ]
    failed = [_failed(row) for row in measured_rows.values() if not row["ok"]]
    cause = "; ".join(failed + (["SSH reached the hosts: " + "; ".join(sent)] if sent else []))
    return _target(name, goal, measured, not sent and not failed, cause)


def evaluate(summary: dict, batch: int | None = None) -> list[dict]:
    """Every target, in the order of issue 13's list."""
    full, idem, floors = summary["full"], summary["idempotent"], summary.get("floor", {})
    out = [
        full_round_trips("1 x 4", (full.get("1x4") or {}).get("ours-ssh"), batch),
        full_round_trips("2 x 4", (full.get("2x4") or {}).get("ours-ssh"), batch),
        full_round_trips("2 x 20", floors.get("2x20"), batch),
        floor_overhead(floors.get("2x20")),
        idle_wall(idem.get("200")),
        *idle_growth(idem.get("20"), idem.get("200")),
        idle_memory(idem.get("200")),
    ]
    side = full.get("1x4") or {}
    out.append(versus_naive(side.get("ours-ssh"), side.get("naive")))
    out.append(versus_community(side.get("ours-ssh"), side.get("community")))
    # Through a vCenter (issue 16): ours' API path beside community.vmware, SSH off on every host.
    for config, label in VCENTER_LABS.items():
        vc = full.get(config) or {}
        out.append(api_calls_vs_community(vc.get("ours-api"), vc.get("community"), label))
        out.append(versus_community(vc.get("ours-api"), vc.get("community"), label))
    out.append(no_ssh({label: (full.get(config) or {}).get("ours-api") for config, label in VCENTER_LABS.items()}))
    return out
