"""esxilab down: stop a lab (labd first, then every recorded process still alive, then any
process left in a host's namespace; never by name) and verify nothing is left."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from .. import config as cfgmod
from .. import sshd
from ..addresses import listeners
from ..labd import Pids, State, start_time
from .common import labd_pid, say


def down(state: State, quiet: bool = False) -> list[str]:
    """Stop the lab in `state`; return what is left (empty when clean)."""
    pids = Pids(state.pids) if state.pids.is_dir() else None
    namespaces = pids.namespaces() if pids else {}
    lpid = labd_pid(state)
    if lpid:
        if not quiet:
            say(f"esxilab: stopping labd (pid {lpid})")
        os.kill(lpid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and labd_pid(state):
            time.sleep(0.1)
    if pids:
        entries = pids.entries()
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            left = {k: e for k, e in entries.items() if e[1] is not None and start_time(e[0]) == e[1]}
            if not left:
                break
            for k, (pid, st) in left.items():
                if not quiet:
                    say(f"esxilab: {'terminating' if sig == signal.SIGTERM else 'killing'} {k} (pid {pid})")
                if start_time(pid) == st:
                    sshd.kill(pid, sig)
            end = time.monotonic() + wait
            while time.monotonic() < end and any(start_time(p) == s for p, s in left.values()):
                time.sleep(0.05)
        for ns in namespaces.values():  # open SSH sessions of a host whose supervisor died
            for p in sshd.processes_in(ns, owner=state.root):
                sshd.kill(p)
    # verify
    left = []
    if pids:
        left += [f"process {k} (pid {p})" for k, p in pids.alive().items()]
        for ns in namespaces.values():
            time.sleep(0.05)
            left += [f"process {p} in a host namespace" for p in sshd.processes_in(ns, owner=state.root)]
    try:
        lab = cfgmod.load(state.config) if state.config.exists() else None
    except cfgmod.ConfigError:
        lab = None
    if lab:
        left += [f"listener {x}" for x in listeners(set(lab.addresses()))]
    root = str(state.root)
    left += [
        f"mount {ln.split()[1]}"
        for ln in Path("/proc/mounts").read_text().splitlines()
        if root in ln.split()[1] or root in ln.split()[0]
    ]
    if not left and pids:
        for f in list(state.pids.iterdir()):
            f.unlink()
        state.ready.unlink(missing_ok=True)
    return left


def cmd_down(args) -> int:
    state = State(args.dir)
    if not state.root.exists():
        say(f"esxilab: {state.root} does not exist; nothing to stop")
        return 0
    left = down(state)
    if left:
        say("esxilab: NOT clean, left behind:\n  " + "\n  ".join(left))
        return 1
    say("esxilab: down; no process, listener or mount left")
    return 0
