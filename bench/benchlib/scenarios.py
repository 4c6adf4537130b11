"""The scenarios: each starts a lab of its own from bench/configs and measures one or more runs on it.

full_enable   real Linux guests, nesting off: the measured floor (CYCLE, before and after), the
              tool's run, optionally a re-run on the same lab.
exact_floor   guest: none VMs, nesting off, with fixed shutdown_delay and boot_seconds, selected
              on their ESXi hosts by name (nestedvirt_vms): the floor is known exactly
              (targets.exact_floor), no guest to verify; the bare playbook before and after.
idempotent    guest: none VMs already enabled, selected by name: nothing to change; the bare
              playbook before and after.
"""

from __future__ import annotations

import shutil
import statistics

import yaml
from harness import roundtrips

# hostd's own part of a guest: none VM's shutdown, read from the lab rather than restated here
# (importing harness put the lab's labkit on sys.path).
from labkit.hostd import NONE_SHUTDOWN_SECONDS

from . import targets
from .lab import Lab, LabError, wait_tools
from .measure import measure_floor, nesting_state, run_playbook, vms_in_output
from .paths import CONFIGS, WORK, say
from .tools import Tools, api_counts, proxies_for, uses_api

VERIFY_OFF = ["-e", "enable_nesting_verify=false"]  # guest: none VMs have no OS to look into


def _run_dir(label: str):
    run_dir = WORK / "runs" / label
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    return run_dir


def _changed_by_host(status: dict[str, list[dict]]) -> dict[str, int]:
    """Per host, the VMs a full enable has to change (nesting not yet in their configuration)."""
    return {host: sum(1 for vm in vms if not vm.get("nested_hv_enabled")) for host, vms in status.items()}


def full_enable(tools: Tools, config: str, tool: str, label: str, idempotent_rerun: bool = False) -> dict:
    """A fresh lab: floor, the tool's run, (a re-run), floor again; every VM must end nested."""
    say("%s: %s on a fresh lab" % (config, tool))
    run_dir = _run_dir(label)
    with Lab(label, CONFIGS / ("%s.yml" % config)) as lab:
        proxies = proxies_for(lab, run_dir / "proxy") if uses_api(tool) else {}
        try:
            inventory = lab.write_inventory(run_dir / "inventory.yml", proxies=proxies)
            status = lab.fleet()
            vm_names = {vm["name"] for vms in status.values() for vm in vms}
            floor_before = measure_floor(lab)
            for proxy in proxies.values():
                proxy.take()
                proxy.shimmed.clear()
            sizes = roundtrips.sizes(lab.state, lab.hosts)
            argv, env = tools.argv_env(tool, inventory, run_dir / "ansible-home", [])
            run = run_playbook(argv, env, run_dir / "run.log", lab)
            run["ssh_round_trips"] = roundtrips.count(lab.hosts, roundtrips.since(lab.state, sizes), vm_names)
            run["api_calls"] = api_counts(proxies)
            run["changed_vms_by_host"] = _changed_by_host(status)
            state = nesting_state(lab)
            run["vms"] = len(state)
            run["vms_nested_after"] = sum(state.values())
            run["ok"] = run["rc"] == 0 and all(state.values())
            say(
                "  %s: rc %d, %.1f s, %d SSH commands, %d API calls, %d/%d nested"
                % (
                    tool,
                    run["rc"],
                    run["wall_s"],
                    run["ssh_round_trips"]["total"],
                    run["api_calls"]["total"],
                    run["vms_nested_after"],
                    run["vms"],
                )
            )
            rerun = None
            if idempotent_rerun:
                sizes = roundtrips.sizes(lab.state, lab.hosts)
                rerun = run_playbook(argv, env, run_dir / "rerun.log", lab)
                rerun["ssh_round_trips"] = roundtrips.count(lab.hosts, roundtrips.since(lab.state, sizes), vm_names)
                rerun["api_calls"] = api_counts(proxies)
                rerun["ok"] = rerun["rc"] == 0 and all(nesting_state(lab).values())
                rerun.pop("phases", None)
                say("  re-run: %.1f s, %d SSH commands" % (rerun["wall_s"], rerun["ssh_round_trips"]["total"]))
            floor_after = measure_floor(lab)
        finally:
            for proxy in proxies.values():
                proxy.stop()
    floor = (floor_before["floor_s"] + floor_after["floor_s"]) / 2
    run.update(
        tool=tool,
        lab_up_s=lab.up_s,
        hosts=len(lab.hosts),
        floor_s=floor,
        floor_before=floor_before,
        floor_after=floor_after,
        overhead_s=run["wall_s"] - floor,
        overhead_pct=100 * (run["wall_s"] - floor) / floor,
    )
    if rerun is not None:
        run["idempotent_rerun"] = rerun
    return run


def bare(tools: Tools, lab: Lab, inventory, run_dir, name: str) -> dict:
    """The bare playbook once: one raw round trip per ESXi host, the same inventory and forks."""
    sizes = roundtrips.sizes(lab.state, lab.hosts)
    argv, env = tools.argv_env("bare", inventory, run_dir / "ansible-home-bare", [])
    run = run_playbook(argv, env, run_dir / ("%s.log" % name), lab, sample_vms=False)
    run["ssh_round_trips"] = roundtrips.count(lab.hosts, roundtrips.since(lab.state, sizes), set())
    run["ok"] = run["rc"] == 0 and run["ssh_round_trips"]["total"] == len(lab.hosts)
    return run


def bare_summary(runs: list[dict]) -> dict:
    """The bare playbook measured before and after a run on the same lab: the mean of the two, so a
    cold first start or a load spike weighs half."""
    ok = [r for r in runs if r["ok"]]
    if not ok:
        raise LabError("the bare playbook failed: %s" % ", ".join(r["log"] for r in runs))
    return {
        "runs": runs,
        "wall_s": statistics.fmean(r["wall_s"] for r in ok),
        "controller_cpu_s": statistics.fmean(r["controller_cpu_s"] for r in ok),
        "memory_mb": max(r["memory"]["tree_peak_pss_mb"] for r in ok),
        "ssh_total": max(r["ssh_round_trips"]["total"] for r in ok),
    }


def exact_floor(tools: Tools, config: str, label: str, pattern: str) -> dict:
    """guest: none VMs with fixed delays, selected by ``pattern`` on their hosts: ours enables them
    all; wall - the exact floor is pure overhead. The bare playbook runs before and after."""
    say("%s: ours on a fresh lab (exact floor, VMs selected by name)" % config)
    run_dir = _run_dir(label)
    floor = targets.exact_floor(
        yaml.safe_load((CONFIGS / ("%s.yml" % config)).read_text())["hosts"], NONE_SHUTDOWN_SECONDS, tools.batch
    )
    with Lab(label, CONFIGS / ("%s.yml" % config)) as lab:
        inventory = lab.write_inventory(run_dir / "inventory.yml", host_vars={"nestedvirt_vms": [pattern]})
        wait_tools(lab)  # power.shutdown needs Tools: they run boot_seconds after the lab started the VMs
        status = lab.fleet()
        vm_names = {vm["name"] for vms in status.values() for vm in vms}
        bare_runs = [bare(tools, lab, inventory, run_dir, "bare-before")]
        sizes = roundtrips.sizes(lab.state, lab.hosts)
        argv, env = tools.argv_env("ours-ssh", inventory, run_dir / "ansible-home", VERIFY_OFF)
        run = run_playbook(argv, env, run_dir / "run.log", lab)
        run["ssh_round_trips"] = roundtrips.count(lab.hosts, roundtrips.since(lab.state, sizes), vm_names)
        run["vms_in_output"] = vms_in_output(run_dir / "run.log", status)
        after = [vm for vms in lab.fleet().values() for vm in vms]
        # Done means running nested, with Tools again: where the floor itself ends.
        nested = [vm for vm in after if vm["power"] == "poweredOn" and vm["nested_now"]]
        run["vms_nested_after"] = sum(1 for vm in nested if vm["tools_running"])
        run["end_state"] = "%d of %d VMs running nested at the end, %d of them with Tools" % (
            len(nested),
            len(after),
            run["vms_nested_after"],
        )
        bare_runs.append(bare(tools, lab, inventory, run_dir, "bare-after"))
    run.update(
        tool="ours-ssh",
        lab_up_s=lab.up_s,
        hosts=len(lab.hosts),
        vms=len(after),
        selected_by=pattern,
        changed_vms_by_host=_changed_by_host(status),
        floor_s=floor["floor_s"],
        floor=floor,
        overhead_s=run["wall_s"] - floor["floor_s"],
        bare=bare_summary(bare_runs),
    )
    run["ok"] = run["rc"] == 0 and run["vms_nested_after"] == run["vms"]
    say(
        "  rc %d, %.1f s over a %.1f s floor (overhead %.1f s), %d SSH commands, %s; bare playbook %.1f s"
        % (
            run["rc"],
            run["wall_s"],
            run["floor_s"],
            run["overhead_s"],
            run["ssh_round_trips"]["total"],
            run["end_state"],
            run["bare"]["wall_s"],
        )
    )
    return run


def idempotent(tools: Tools, config: str, label: str) -> dict:
    """Every VM already enabled, selected on its host by name (nestedvirt_vms: [all]), as a fleet user
    runs it: ours once over all of them; the bare playbook before and after."""
    say("%s: ours, idempotent (VMs selected by name)" % config)
    run_dir = _run_dir(label)
    with Lab(label, CONFIGS / ("%s.yml" % config)) as lab:
        inventory = lab.write_inventory(run_dir / "inventory.yml", host_vars={"nestedvirt_vms": ["all"]})
        status = lab.fleet()
        vm_names = {vm["name"] for vms in status.values() for vm in vms}
        before = nesting_state(lab)
        if not all(before.values()):
            raise RuntimeError("%s: not every VM starts enabled" % config)
        bare_runs = [bare(tools, lab, inventory, run_dir, "bare-before")]
        sizes = roundtrips.sizes(lab.state, lab.hosts)
        argv, env = tools.argv_env("ours-ssh", inventory, run_dir / "ansible-home", VERIFY_OFF)
        run = run_playbook(argv, env, run_dir / "run.log", lab, sample_vms=False)
        run["ssh_round_trips"] = roundtrips.count(lab.hosts, roundtrips.since(lab.state, sizes), vm_names)
        run["vms_in_output"] = vms_in_output(run_dir / "run.log", status)
        after = lab.fleet()
        run["power_unchanged"] = all([v["power"] for v in after[h]] == [v["power"] for v in status[h]] for h in status)
        run["ok"] = run["rc"] == 0 and run["power_unchanged"] and all(nesting_state(lab).values())
        bare_runs.append(bare(tools, lab, inventory, run_dir, "bare-after"))
    run.update(
        tool="ours-ssh",
        vms=len(before),
        hosts=len(lab.hosts),
        lab_up_s=lab.up_s,
        selected_by="all",
        bare=bare_summary(bare_runs),
    )
    say(
        "  %d VMs: rc %d, %.1f s, %d SSH commands; bare playbook %.1f s"
        % (run["vms"], run["rc"], run["wall_s"], run["ssh_round_trips"]["total"], run["bare"]["wall_s"])
    )
    return run


def attempts(measure, *args, **kwargs) -> dict:
    """A measurement, tried once more when it fails: the machine is shared, and other people's test
    runs have been seen to take a lab's sshd down. Failed attempts stay in the result."""
    failed = []
    for attempt in (1, 2):
        try:
            result = measure(*args, **kwargs)
        except LabError as error:
            failed.append({"error": str(error)[-2000:]})
            say("  attempt %d: %s" % (attempt, str(error).splitlines()[0]))
            continue
        if result.get("ok") or attempt == 2:
            result["failed_attempts"] = failed
            return result
        failed.append({"error": "rc %s, see %s" % (result["rc"], result["log"]), "result": result})
        say("  attempt %d failed (rc %s, %s); once more" % (attempt, result["rc"], result["log"]))
    raise LabError("two attempts failed: %s" % [f["error"] for f in failed])
