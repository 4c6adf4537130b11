"""The markdown of bench/results/latest.md: the tables and notes of the summary (benchlib/summary.py)
of bench/run's results, and the target verdicts.
"""

from __future__ import annotations

from benchlib.summary import _ratio, summarize
from benchlib.targets import FLOOR_SHARE, coverage_note, round_trip_budget

TOOL_NAMES = {
    "ours-ssh": "nestedvirt.esxi, SSH path (default)",
    "ours-api": "nestedvirt.esxi, API path (`enable_nesting_method=api`)",
    "naive": "naive playbook (bench/peers/naive.yml)",
    "community": "community.vmware (bench/peers/community_vmware.yml)",
}


def _f(value, fmt="%.1f", none="–"):
    return none if value is None else fmt % value


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _max_per_host(row: dict) -> str:
    hosts = row.get("per_host") or {}
    return _f(max((h["round_trips"] for h in hosts.values()), default=None), "%g")


def _budget(row: dict, batch: int | None) -> str:
    hosts = row.get("per_host") or {}
    return _f(max((round_trip_budget(h["changed_vms"], batch) for h in hosts.values()), default=None), "%g")


def render(results: dict) -> str:
    summary = summarize(results)
    targets = summary.pop("targets")
    machine, settings, versions = results["machine"], results["settings"], results["versions"]
    batch = settings.get("batch")
    commit = versions.get("commit") or "?"
    shown = {k: v for k, v in versions.items() if k not in ("commit", "dirty", "dirty_paths")}
    lines = [
        "# Benchmark results",
        "",
        "Measured by `make bench` (bench/run) on %s, %s (%d CPUs: %s; %.0f GiB; kernel %s%s)."
        % (
            results["date"],
            machine["description"],
            machine["cpus"],
            machine["cpu_model"],
            machine["memory_gib"],
            machine["kernel"],
            "" if not machine.get("kvm") else "; /dev/kvm present",
        ),
        "Commit measured: `%s`%s." % (commit, " **with uncommitted changes**" if versions.get("dirty") else ""),
        "Load average (1 min) %.2f at the start, %.2f at the end: the machine is shared, so absolute times "
        "vary; the ratios compare runs made minutes apart on the same lab configuration. Whole benchmark: %.0f s."
        % (settings["load_1min_at_start"], settings.get("load_1min_at_end", 0), settings.get("bench_wall_s", 0)),
        "Versions: %s. Ansible forks: %d for every playbook. Batch: %s. The 1 x 4 comparison ran %d round(s), "
        "tool order rotating; figures are medians of the runs that succeeded. Scenarios run: %s."
        % (
            ", ".join("%s %s" % kv for kv in shown.items()),
            settings["forks"],
            "`-e nestedvirt_batch=%d`" % batch if batch else "the playbook's default (all of a host's VMs at once)",
            settings["rounds"],
            ", ".join(settings.get("scenarios") or []) or "?",
        ),
        "",
        "**Floor** (real guests): the slowest guest's graceful shutdown + boot until VMware Tools report its "
        "address, measured directly (one SSH command per guest running vim-cmd power.shutdown, a 0.2 s poll "
        "until off, power.on, a 0.2 s poll of get.guest; all guests at once) right before and right after each "
        "tool's run on the same fresh lab; the mean of the two. **Exact floor** (guest: none VMs): what the lab "
        "plays, known in advance: hostd powers such a VM off shutdown_delay + its own fixed shutdown time after "
        "power.shutdown, and reports Tools boot_seconds after power.on. **Overhead** = wall - floor. "
        "**Bare playbook** (bench/baseline/bare.yml): one raw round trip per ESXi host, same inventory and "
        "forks, right before and after ours on the same lab; the mean. **Round trips**: SSH commands the lab's "
        "hosts logged during the run; the **budget** per host is 1 + 3 per batch. **API calls**: requests "
        "through a counting proxy in front of the vSphere API the tool talks to (the host's own, or the "
        "vCenter's). **Through a vCenter** (bench/configs/vcenter-*.yml): the same hosts and guests, managed "
        "by the lab's vCenter, SSH off on every host; both tools go through the vCenter, and the floor's "
        "vim-cmd calls go to each host's hostd over the lab's own request protocol (what the host's vim-cmd "
        "uses) instead of over SSH, with the same 0.2 s polls. **Memory**: the ansible-playbook process "
        "tree's peak (PSS summed over the tree, sampled every 0.2 s).",
        "",
    ]

    def full_table(config: str, title: str) -> None:
        rows = summary["full"].get(config) or {}
        if not rows:
            return
        lines.extend(
            [
                "## %s" % title,
                "",
                "| tool | wall | floor | overhead | SSH round trips | per host (most) | budget per host | API calls "
                "| per VM | controller memory | controller CPU |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
        )
        for tool, row in rows.items():
            if row is None:
                continue
            lines.append(
                "| %s | %s s | %s s | %s s (%s %%) | %s | %s | %s | %s | %s | %s MB | %s s |"
                % (
                    TOOL_NAMES[tool],
                    _f(row["wall_s"]),
                    _f(row["floor_s"]),
                    _f(row["overhead_s"]),
                    _f(row["overhead_pct"], "%.0f"),
                    _f(row["ssh_total"], "%g"),
                    _max_per_host(row),
                    _budget(row, batch) if tool.startswith("ours-ssh") else "–",
                    _f(row["api_total"], "%g"),
                    _f(row["api_per_vm"], "%g"),
                    _f(row["memory_mb"], "%.0f"),
                    _f(row["controller_cpu_s"]),
                )
            )
        lines.append("")
        for tool, row in rows.items():
            if row is None:
                continue
            notes = []
            if row["ssh_by_kind"]:
                notes.append("SSH: " + ", ".join("%s %d" % kv for kv in row["ssh_by_kind"].items()))
            if row["api_top"]:
                notes.append(
                    "API: " + ", ".join("%s %d" % kv for kv in row["api_top"]) + (", ..." if row["api_total"] else "")
                )
            ph = row.get("phases")
            if ph:
                notes.append(
                    "phases (hostd's view): %.1f s until the first shutdown, slowest guest's shutdown + boot %.1f s "
                    "in the run, a VM off for up to %.1f s, %.1f s after the last guest was ready"
                    % (
                        ph["until_first_shutdown_s"],
                        ph["slowest_guest_shutdown_boot_s"],
                        ph["longest_off_s"],
                        ph["after_last_ready_s"],
                    )
                )
            if row.get("rerun"):
                rr = row["rerun"]
                notes.append(
                    "re-run on the same lab (nothing to change, guests verified): %.1f s, %g SSH round trips, "
                    "%g power operations" % (rr["wall_s"], rr["ssh_total"], rr["power_operations"])
                )
            if row.get("floor_via") and row["floor_via"] != ["ssh"]:
                notes.append("floor measured via %s" % " and ".join(row["floor_via"]))
            if row["api_shimmed"]:
                notes.append(
                    "lab gaps bridged by the proxy: " + ", ".join("%s x%d" % kv for kv in row["api_shimmed"].items())
                )
            if row["retried"]:
                notes.append("measured again after a failed attempt: " + "; ".join(row["retried"]))
            if row["failures"]:
                notes.append("**failed runs**: " + "; ".join(row["failures"]))
            lines.append("- %s (%d run%s): %s" % (tool, row["runs"], "" if row["runs"] == 1 else "s", "; ".join(notes)))
        lines.append("")

    full_table("1x4", "1. Full enable, side by side: 1 host x 4 Linux guests")
    full_table("2x4", "1. Full enable: 2 hosts x 4 Linux guests")
    full_table("vc-1x4", "1. Full enable through a vCenter, side by side: 1 host x 4 Linux guests, SSH off")
    full_table("vc-2x4", "1. Full enable through a vCenter: 2 hosts x 4 Linux guests, SSH off")

    for row in summary["floor"].values():
        floor = row["floor"]
        lines.extend(
            [
                "## 2. Full enable, exact floor: %s VMs (guest: none, selected by name, verify off)" % row["label"],
                "",
                "| VMs | wall | exact floor | overhead | allowed overhead | bare playbook | SSH round trips "
                "| per host (most) | budget per host | controller memory | controller CPU |",
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
                "| %d on %d hosts | %.1f s | %.1f s | %.1f s | %s | %s | %g | %s | %s | %.0f MB | %.1f s |"
                % (
                    row["vms"],
                    row["hosts"],
                    row["wall_s"],
                    row["floor_s"],
                    row["overhead_s"],
                    _f(
                        None if row["bare_wall_s"] is None else row["bare_wall_s"] + FLOOR_SHARE * row["floor_s"],
                        "%.1f s",
                    ),
                    _f(row["bare_wall_s"], "%.1f s"),
                    row["ssh_total"],
                    _max_per_host(row),
                    _budget(row, batch),
                    row["memory_mb"],
                    row["controller_cpu_s"],
                ),
                "",
            ]
        )
        notes = [
            "selected with `nestedvirt_vms: [%s]`%s" % (row["selected_by"], coverage_note(row)),
            "exact floor %.1f s: per host %s (shutdown_delay + %.1f s of hostd's own + boot_seconds, batches one "
            "after another)"
            % (
                floor["floor_s"],
                ", ".join(
                    "%s %.1f s for %d VMs in %d batch(es)" % (h, v["floor_s"], v["vms"], v["batches"])
                    for h, v in floor["per_host"].items()
                ),
                floor["none_shutdown_s"],
            ),
            "SSH: " + ", ".join("%s %d" % kv for kv in row["ssh_by_kind"].items()),
            "bare playbook before / after: %s s" % " / ".join("%.1f" % w for w in row["bare_walls_s"]),
        ]
        ph = row.get("phases")
        if ph:
            notes.append(
                "phases (hostd's view): %.1f s until the first shutdown, %.1f s from the first shutdown to the last "
                "VM ready (%d VMs cycled; the slowest VM's own shutdown + boot %.1f s), a VM off for up to %.1f s, "
                "%.1f s after the last VM was ready"
                % (
                    ph["until_first_shutdown_s"],
                    ph.get("first_shutdown_to_last_ready_s", 0),
                    ph["vms_cycled"],
                    ph["slowest_guest_shutdown_boot_s"],
                    ph["longest_off_s"],
                    ph["after_last_ready_s"],
                )
            )
        if row["retried"]:
            notes.append("measured again after a failed attempt: " + "; ".join(row["retried"]))
        if row["failures"]:
            notes.append("**failed**: " + "; ".join(row["failures"]))
        lines.extend(["- " + note for note in notes] + [""])

    idem = summary["idempotent"]
    if idem:
        lines.extend(
            [
                "## 3. Idempotent run, every VM already enabled (2 hosts, guest: none, selected by name, verify off)",
                "",
                "| VMs | wall | bare playbook | x bare | SSH round trips | per host | power operations | ms per VM "
                "| controller memory | bare's memory | controller CPU |",
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
        )
        for count, row in sorted(idem.items(), key=lambda kv: int(kv[0])):
            lines.append(
                "| %s | %.1f s | %s | %s | %d | %g | %d | %.0f | %.0f MB | %s | %.1f s |%s"
                % (
                    count,
                    row["wall_s"],
                    _f(row["bare_wall_s"], "%.1f s"),
                    _f(_ratio(row["wall_s"], row["bare_wall_s"]), "%.2fx"),
                    row["ssh_total"],
                    row["ssh_per_host"],
                    row["power_operations"],
                    row["ms_per_vm"],
                    row["memory_mb"],
                    _f(row["bare_memory_mb"], "%.0f MB"),
                    row["controller_cpu_s"],
                    "" if row["ok"] else " **failed**: " + "; ".join(row["failures"]),
                )
            )
        for count, row in sorted(idem.items(), key=lambda kv: int(kv[0])):
            if coverage_note(row):
                lines.append("")
                lines.append("Note: the %s-VM run%s." % (count, coverage_note(row)))
        growth = summary.get("idempotent_growth")
        if growth:
            lines.extend(
                [
                    "",
                    "Growth from 20 to 200 VMs: round trips %d -> %d; %.1f ms of wall time and %.1f ms of controller "
                    "CPU per extra VM."
                    % (
                        growth["ssh_20"],
                        growth["ssh_200"],
                        growth["wall_ms_per_extra_vm"],
                        growth["cpu_ms_per_extra_vm"],
                    ),
                ]
            )
        lines.append("")

    if summary["ratios"]:
        lines.extend(
            [
                "## 4. Ratios (same run; 1 host x 4 guests unless named)",
                "",
                "| ratio | wall time | overhead | SSH round trips | API calls |",
                "| --- | ---: | ---: | ---: | ---: |",
            ]
        )
        for name, ratio in summary["ratios"].items():
            lines.append(
                "| %s | %s | %s | %s | %s |"
                % (
                    name,
                    _f(ratio["wall"], "%.2fx"),
                    _f(ratio["overhead"], "%.2fx"),
                    _f(ratio["ssh_round_trips"], "%.2fx"),
                    _f(ratio["api_calls"], "%.2fx"),
                )
            )
        lines.append("")

    after = {
        tool: (row.get("phases") or {}).get("after_last_ready_s")
        for tool, row in (summary["full"].get("1x4") or {}).items()
        if row
    }
    lines.extend(
        [
            "## How to read it",
            "",
            "- The guests are QEMU TCG machines on the same 2 cores as the controller, so the controller's own CPU "
            "time slows the guests down: a tool's guests may take longer to shut down and boot inside its run than "
            "in the floor measurement (the phases above show both). The exact-floor lab has no QEMU guests: its "
            "floor does not move with the load, so its overhead is the tool's alone.",
            "- QEMU's port forward accepts a TCP connection to a guest at once, even while the guest boots, and the "
            "connection completes only when the guest's SYN retransmission (1, 2, 4 ... s back-off) finds its sshd "
            "listening. A tool that connects to a guest during its boot (the naive playbook's and community.vmware's "
            "wait_for, the API path's verify) waits for that; the SSH path first waits on the host for VMware Tools "
            "and the address. Time from the last guest ready (hostd's view) to the run's end: %s."
            % (", ".join("%s %s s" % (tool, _f(value)) for tool, value in after.items()) or "–"),
            "- community.vmware reads every VM property through pyVmomi's Fetch. The lab's simulator (Debian's "
            "govmomi vcsim), on a host and in the vCenter alike, panics on a Fetch of an unset property "
            "(VirtualMachine.snapshot); the counting proxy answers it as ESXi and vCenter do (an empty value) and "
            'counts each time ("lab gaps bridged" above). The simulator now reports VMware Tools from hostd '
            "itself, so the proxy no longer patches the Tools status. Its shutdown wait polls every 15 s "
            "(community.vmware's wait_for_poweroff), hence the long time its VMs stay off.",
            "- Through a vCenter (SSH off on every host) ours reads each host and its VMs in one retrieval and "
            "changes them in batches through the vCenter's API, with no SSH at all; community.vmware goes VM by "
            "VM through the same vCenter, naming the datacenter, with validate_certs false.",
            "- The exact-floor and idempotent labs select their VMs on the ESXi hosts by name (`nestedvirt_vms`), "
            "as a fleet user does, and have no OS to look into, so they run with `-e enable_nesting_verify=false`; "
            "the real guests are inventory hosts and are verified.",
            "",
        ]
    )
    lines.extend(["## Targets", "", "| target | goal | measured | met | cause |", "| --- | --- | --- | --- | --- |"])
    for target in targets:
        lines.append(
            "| %s | %s | %s | %s | %s |"
            % (
                _cell(target["name"]),
                _cell(target["goal"]),
                _cell(target["measured"]),
                {True: "met", False: "**missed**", None: "not measured"}[target["met"]],
                _cell(target.get("cause", "")),
            )
        )
    lines.append("")
    return "\n".join(lines)
