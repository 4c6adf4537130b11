"""The esxilab commands on a running lab: status, log (the hosts' command logs), fault (hostd's
fault knobs at run time) and ssh (to a host or a guest)."""

from __future__ import annotations

import json
import os
import sys

from .. import config as cfgmod
from .. import hostd as hostdmod
from ..labd import Pids, State
from .common import CliError, labd_pid, load_lab, say, ssh_options


def cmd_status(args) -> int:
    state = State(args.dir)
    lab = load_lab(state)
    pid = labd_pid(state)
    if not pid:
        say(f"lab in {state.root}: down")
        return 3
    say(f"lab in {state.root}: up (labd pid {pid})")
    for h in lab.hosts:
        try:
            rc, out = hostdmod.request(h.address, ["lab", "status"], timeout=10)
            st = json.loads(out)
        except (OSError, ValueError) as e:
            say(f"  {h.name}: hostd not answering: {e}")
            continue
        ssh = "running" if st["ssh"]["running"] else "stopped"
        api = f"  api https://{h.address}:{cfgmod.API_PORT} ({h.license})" if h.api else ""
        say(f"  {h.name}  ESXi {h.version} build-{h.build}  {h.address}  ssh {ssh} (policy {st['ssh']['policy']}){api}")
        for vm in st["vms"]:
            if vm.get("invalid"):
                say(f"    {vm['vmid']:>4}  {vm['name']!r}  (invalid)")
                continue
            extra = [f"system VM {vm['vmx_datastore_path']}"] if vm.get("system") else []
            if vm["guest"] == "linux":
                extra.append(f"guest {vm['address']}")
            if vm["power"] == "poweredOn":
                extra.append("tools running" if vm["tools_running"] else "tools not running")
                extra.append("nested" if vm["nested_now"] else "not nested")
            say(
                f"    {vm['vmid']:>4}  {vm['name']!r}  {vm['power']}  vmx-{vm['hardware_version']:02d}  "
                + "  ".join(extra)
            )
        faults = {k: v for k, v in st["faults"].items() if v}
        if faults:
            say(f"    faults: {json.dumps(faults, ensure_ascii=False)}")
    alive = Pids(state.pids).alive()
    for vc in lab.vcenters:
        running = "running" if f"{vc.name}-vcenter" in alive else "NOT running"
        say(
            f"  vCenter {vc.name}  https://{vc.address}:{cfgmod.API_PORT}  {running}  "
            f"datacenter {vc.datacenter}  cluster {vc.cluster}  hosts {', '.join(vc.hosts)}"
        )
    return 0


def cmd_log(args) -> int:
    state = State(args.dir)
    lab = load_lab(state)
    names = [args.host] if args.host else [h.name for h in lab.hosts]
    for n in names:
        lab.host(n)
    entries = []
    for n in names:
        f = state.commands_log(n)
        if f.exists():
            entries += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    entries.sort(key=lambda e: e["epoch"])
    if args.count:
        for n in names:
            say(f"{n} {sum(1 for e in entries if e['host'] == n)}")
        return 0
    for e in entries:
        if args.json:
            say(json.dumps(e, ensure_ascii=False))
            continue
        cmd = "(interactive login)" if e.get("interactive") else e["command"].replace("\\", "\\\\").replace("\n", "\\n")
        fault = f"  [{e['fault']}]" if e.get("fault") else ""
        say(f"{e['time']}  {e['host']}  {cmd}{fault}")
    return 0


def cmd_fault(args) -> int:
    state = State(args.dir)
    lab = load_lab(state)
    h = lab.host(args.host)
    if not labd_pid(state):
        raise CliError("the lab is down")
    a = list(args.args)
    if args.knob == "drop_ssh":
        if len(a) != 1:
            raise CliError("drop_ssh takes one PATTERN (and --at/--delay/--times)")
        a += [args.at, str(args.delay), str(args.times)]
    rc, out = hostdmod.request(h.address, ["lab", "fault", args.knob, *a], timeout=30)
    sys.stdout.write(out)
    return rc


def cmd_ssh(args) -> int:
    state = State(args.dir)
    lab = load_lab(state)
    address = None
    for h in lab.hosts:
        if h.name == args.name:
            address = h.address
    for _, vm in lab.guests():
        if vm.inventory_name == args.name:
            address = vm.address
    if address is None:
        raise CliError(f"no host or guest named {args.name!r}")
    argv = ["ssh", *ssh_options(state), "-o", "BatchMode=yes", f"root@{address}", *args.command]
    os.execvp("ssh", argv)  # noqa: S606 - replaces esxilab with the ssh client, as intended
    return 127
