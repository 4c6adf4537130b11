"""Measuring: the real guests' floor, one ansible-playbook run (wall, CPU, memory, the VMs' phases
as hostd saw them), and what the run sent to the hosts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from labkit import hostd

from .lab import Lab, LabError, wait_tools
from .paths import PLAYBOOK_TIMEOUT, ROOT, SAMPLE_S, WORK

# --- the floor --------------------------------------------------------------------------------

# One command per guest on its host: shut down, wait until off, power on, wait until Tools
# run and report an address; markers print the moments (the controller timestamps them).
CYCLE = (
    "id={vmid}; echo @start; vim-cmd vmsvc/power.shutdown $id >/dev/null 2>&1; "
    'while :; do case "$(vim-cmd vmsvc/power.getstate $id 2>&1)" in *"Powered off"*) break;; esac; sleep 0.2; done; '
    "echo @off; vim-cmd vmsvc/power.on $id >/dev/null 2>&1; "
    'while :; do g=$(vim-cmd vmsvc/get.guest $id 2>&1); case "$g" in *guestToolsRunning*) '
    'case "$g" in *"   ipAddress = \\""*) break;; esac;; esac; sleep 0.2; done; echo @ready'
)
CYCLE_TIMEOUT = 300


def _cycle_ssh(lab: Lab, host: str, vm: dict, marks: dict[str, float]) -> None:
    """CYCLE over one SSH session to the host (logged by the lab like any command)."""
    proc = subprocess.Popen(
        lab.ssh_argv(host, "-o", "ControlMaster=no", "-o", "ConnectTimeout=20")
        + ["root@%s" % lab.address(host), CYCLE.format(vmid=vm["vmid"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("@"):
                marks[line.strip()[1:]] = time.monotonic()
        proc.wait(timeout=CYCLE_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _cycle_hostd(lab: Lab, host: str, vm: dict, marks: dict[str, float]) -> None:
    """CYCLE's vim-cmd calls sent straight to the host's hostd (the lab's request protocol, the one
    the host's own vim-cmd uses), for a host whose SSH is off: no sshd, no shell, same 0.2 s polls."""

    def vim_cmd(*argv: str) -> str:
        return hostd.request(lab.address(host), ["vim-cmd", *argv], timeout=30)[1]

    vmid = str(vm["vmid"])
    deadline = time.monotonic() + CYCLE_TIMEOUT
    marks["start"] = time.monotonic()
    vim_cmd("vmsvc/power.shutdown", vmid)
    while "Powered off" not in vim_cmd("vmsvc/power.getstate", vmid):
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)
    marks["off"] = time.monotonic()
    vim_cmd("vmsvc/power.on", vmid)
    while True:
        guest = vim_cmd("vmsvc/get.guest", vmid)
        if "guestToolsRunning" in guest and '   ipAddress = "' in guest:
            break
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)
    marks["ready"] = time.monotonic()


def measure_floor(lab: Lab) -> dict:
    """Cycle every Linux guest at once, directly on its host: one SSH command per guest, or, on a
    host whose SSH is off (a vCenter lab), the same vim-cmd calls through hostd's own protocol; the
    slowest guest's time is the floor."""
    guests = lab.linux_vms()
    times: dict[str, dict] = {}
    via = {host: "ssh" if lab.ssh_on(host) else "hostd" for host in lab.hosts}

    def cycle(host: str, vm: dict) -> None:
        marks: dict[str, float] = {}
        try:
            (_cycle_ssh if via[host] == "ssh" else _cycle_hostd)(lab, host, vm, marks)
        except (OSError, ValueError):
            return
        if {"start", "off", "ready"} <= marks.keys():
            times[vm["name"]] = {
                "shutdown_s": marks["off"] - marks["start"],
                "boot_s": marks["ready"] - marks["off"],
                "total_s": marks["ready"] - marks["start"],
            }

    threads = [threading.Thread(target=cycle, args=(host, vm)) for host, vm in guests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CYCLE_TIMEOUT + 30)
    if len(times) != len(guests):
        raise LabError("floor: %d of %d guests did not cycle" % (len(guests) - len(times), len(guests)))
    slowest = max(times, key=lambda name: times[name]["total_s"])
    wait_tools(lab)
    return {
        "floor_s": times[slowest]["total_s"],
        "slowest": slowest,
        "guests": times,
        "via": sorted(set(via.values())),
    }


# --- measuring one ansible-playbook run --------------------------------------------------------


class VmSampler(threading.Thread):
    """hostd's view of each VM every SAMPLE_S: when it stopped, went off, on, and had Tools again."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(daemon=True)
        self.lab = lab
        self.stop = threading.Event()
        self.events: dict[str, dict[str, float]] = {}
        self._last: dict[str, tuple[str, bool]] = {}

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            now = time.monotonic()
            try:
                status = self.lab.fleet()
            except (OSError, RuntimeError, ValueError):
                continue
            for host, vms in status.items():
                for vm in vms:
                    key = "%s/%s" % (host, vm["name"])
                    state = (vm["power"], bool(vm["tools_running"]))
                    before = self._last.get(key)
                    self._last[key] = state
                    if before is None or before == state:
                        continue
                    seen = self.events.setdefault(key, {})
                    if before == ("poweredOn", True) and state[0] == "poweredOn" and not state[1]:
                        seen.setdefault("shutdown", now)
                    if before[0] == "poweredOn" and state[0] == "poweredOff":
                        seen.setdefault("shutdown", now)
                        seen.setdefault("off", now)
                    if before[0] == "poweredOff" and state[0] == "poweredOn":
                        seen.setdefault("on", now)
                    if state == ("poweredOn", True) and "on" in seen:
                        seen.setdefault("ready", now)


class TreeMemory(threading.Thread):
    """Peak memory of a process and all its descendants: PSS and RSS summed over the tree."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_pss_kb = 0
        self.peak_rss_kb = 0
        self.peak_processes = 0

    def tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def run(self) -> None:
        while True:
            pss = rss = 0
            pids = self.tree()
            for pid in pids:
                with contextlib.suppress(OSError, ValueError):
                    for line in Path("/proc/%d/smaps_rollup" % pid).read_text().splitlines():
                        if line.startswith("Pss:"):
                            pss += int(line.split()[1])
                        elif line.startswith("Rss:"):
                            rss += int(line.split()[1])
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_processes = max(self.peak_processes, len(pids))
            if self.stop.wait(SAMPLE_S):
                return


def run_playbook(argv: list[str], env: dict, log: Path, lab: Lab, sample_vms: bool = True) -> dict:
    """Run one ansible-playbook; wall time, exit, CPU, memory, and the VMs' phases."""
    sampler = VmSampler(lab) if sample_vms else None
    if sampler:
        sampler.start()
        time.sleep(SAMPLE_S * 2)  # the sampler has seen every VM once
    load_before = os.getloadavg()[0]
    with log.open("w") as out:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=WORK, start_new_session=True)
        memory = TreeMemory(proc.pid)
        memory.start()
        timer = threading.Timer(PLAYBOOK_TIMEOUT, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        end = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
    memory.stop.set()
    memory.join()
    if sampler:
        sampler.stop.set()
        sampler.join()
    result = {
        "rc": proc.returncode,
        "wall_s": end - start,
        "controller_cpu_s": usage.ru_utime + usage.ru_stime,
        "memory": {
            "tree_peak_pss_mb": memory.peak_pss_kb / 1024,
            "tree_peak_rss_mb": memory.peak_rss_kb / 1024,
            "largest_process_maxrss_mb": usage.ru_maxrss / 1024,
            "peak_processes": memory.peak_processes,
        },
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "log": str(log.relative_to(ROOT)),
    }
    if sampler:
        result["phases"] = phases(sampler.events, start, end)
    return result


def phases(events: dict[str, dict[str, float]], start: float, end: float) -> dict | None:
    """Where the wall time went, from hostd's view of the VMs (None if no VM was power-cycled)."""
    cycled = {vm: e for vm, e in events.items() if {"shutdown", "off", "on", "ready"} <= e.keys()}
    if not cycled:
        return None
    guest = {vm: (e["off"] - e["shutdown"]) + (e["ready"] - e["on"]) for vm, e in cycled.items()}
    return {
        "vms_cycled": len(cycled),
        "until_first_shutdown_s": min(e["shutdown"] for e in cycled.values()) - start,
        "slowest_guest_shutdown_boot_s": max(guest.values()),
        "longest_off_s": max(e["on"] - e["off"] for e in cycled.values()),
        "after_last_ready_s": end - max(e["ready"] for e in cycled.values()),
        # From the first shutdown to the last VM ready: the floor's span when every VM cycles at once.
        "first_shutdown_to_last_ready_s": max(e["ready"] for e in cycled.values())
        - min(e["shutdown"] for e in cycled.values()),
    }


# --- what a run changed (its round trips: harness.roundtrips) ---------------------------------


def nesting_state(lab: Lab) -> dict[str, bool]:
    """Per VM: running with nesting exposed (Linux guests) / vhv.enable set (guest: none)."""
    out = {}
    for host, vms in lab.fleet().items():
        for vm in vms:
            if vm.get("guest") == "linux":
                out["%s/%s" % (host, vm["name"])] = bool(
                    vm["power"] == "poweredOn" and vm.get("nested_now") and vm["tools_running"]
                )
            else:
                out["%s/%s" % (host, vm["name"])] = bool(vm.get("nested_hv_enabled"))
    return out


def vms_in_output(log: Path, status: dict[str, list[dict]]) -> dict[str, int]:
    """Per ESXi host, how many of its VMs the run's output names on a line with the host's name: a
    selection by name that silently skipped a host's VMs shows here (nothing on the hosts would, when
    there is nothing to change). Information only: the playbook's wording is its own."""
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    out = {}
    for host, vms in status.items():
        lines = [line for line in text if host in line]
        out[host] = sum(1 for vm in vms if any(vm["name"] in line for line in lines))
    return out
