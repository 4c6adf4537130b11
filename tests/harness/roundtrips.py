"""What a lab's hosts were asked: the SSH commands each logged (logs/<host>.commands.jsonl), what
kind each is, how many round trips a run cost; the vSphere simulator's changes (its vsphere.log).

As a command (the molecule scenarios): ``python -m harness.roundtrips power-operations STATE_DIR``
prints how many power operations the lab's hosts were sent so far.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from labkit.labd import State

# The text that starts a progress poll (plugin_utils/esxi/_action.py PROGRESS_MARK): a long wait's
# polls are counted apart from the round trips.
PROGRESS_MARK = "nestedvirt-progress"
POWER = re.compile(r"vmsvc/power\.(on|off|shutdown)\b")

_VMID = re.compile(r"\bid='?\d+'?|vmsvc/[A-Za-z_.]+ +'?\d+(?![\d>])")
# What an SSH command does, first match wins (ours' scripts, the naive playbook's raw commands).
# Power commands come before the .vmx ones: ours' power-on script may reload first (a restart
# marker left by an interrupted run), so it names vmsvc/reload too.
_KINDS = [
    ("host facts", re.compile(r"@@nestedvirt version")),
    ("shutdown + wait", re.compile(r"vmsvc/power\.shutdown\b.*(while|until)", re.S)),
    ("shutdown", re.compile(r"vmsvc/power\.shutdown\b")),
    ("power on + wait", re.compile(r"vmsvc/power\.on\b.*get\.guest", re.S)),
    ("power on", re.compile(r"vmsvc/power\.on\b")),
    (".vmx write + reload", re.compile(r"vmsvc/reload\b")),
    (".vmx read", re.compile(r"nestedvirt-read")),
    ("find the .vmx", re.compile(r"\bfind /")),
    ("append to the .vmx", re.compile(r">>")),
    ("list VMs", re.compile(r"vmsvc/getallvms")),
    ("poll the power state", re.compile(r"vmsvc/power\.getstate")),
]


def commands(state: Path, host: str, offset: int = 0) -> list[dict]:
    """The host's logged SSH commands (each {"command": ..., "fault": ... when a knob acted}), in
    order, from byte ``offset`` of its log (``sizes``)."""
    log = State(state).commands_log(host)
    if not log.exists():
        return []
    with log.open("rb") as stream:
        stream.seek(offset)
        text = stream.read().decode("utf-8", "replace")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sizes(state: Path, hosts) -> dict[str, int]:
    """{host: the size of its command log now}: where ``since`` starts."""
    logs = {host: State(state).commands_log(host) for host in hosts}
    return {host: log.stat().st_size if log.exists() else 0 for host, log in logs.items()}


def since(state: Path, marks: dict[str, int]) -> list[tuple[str, dict]]:
    """The commands the hosts logged after ``marks`` (``sizes``), as (host, entry)."""
    return [(host, entry) for host, offset in marks.items() for entry in commands(state, host, offset)]


def kind(text: str) -> str:
    """What one SSH command does (``_KINDS``), or "other"."""
    return next((name for name, pattern in _KINDS if pattern.search(text)), "other")


def count(hosts, sent: list[tuple[str, dict]], vm_names: set[str]) -> dict:
    """Round trips, in all and by host: by kind, and split into host-level ones and those naming a VM
    (a batch command naming several VMs counts once, as the round trip it is); progress polls apart."""
    per_host = {host: {"total": 0, "host_level": 0, "per_vm": 0, "by_kind": {}, "progress": 0} for host in hosts}
    kinds: dict[str, int] = {}
    progress = [(host, entry) for host, entry in sent if PROGRESS_MARK in entry.get("command", "")]
    for host, _entry in progress:
        per_host[host]["progress"] += 1
    sent = [(host, entry) for host, entry in sent if PROGRESS_MARK not in entry.get("command", "")]
    for host, entry in sent:
        text = entry.get("command", "")
        what = kind(text)
        kinds[what] = kinds.get(what, 0) + 1
        mine = per_host[host]
        mine["by_kind"][what] = mine["by_kind"].get(what, 0) + 1
        mine["total"] += 1
        about_vm = bool(_VMID.search(text)) or ".vmx" in text or any(name in text for name in vm_names)
        mine["per_vm" if about_vm else "host_level"] += 1
    return {
        "progress_polls": len(progress),
        "total": len(sent),
        "host_level": sum(v["host_level"] for v in per_host.values()),
        "per_vm": sum(v["per_vm"] for v in per_host.values()),
        "power_operations": sum(1 for _host, entry in sent if POWER.search(entry.get("command", ""))),
        "by_kind": kinds,
        "by_host": per_host,
    }


def power_operations(state: Path) -> int:
    """How many power operations (on, off, shutdown) the lab's hosts were sent so far: over SSH, and
    through a vSphere API (a host's own simulator or a vCenter's, which hand them to hostd)."""
    logs = sorted(State(state).logs.glob("*.commands.jsonl"))
    hosts = [log.name.removesuffix(".commands.jsonl") for log in logs]
    over_ssh = sum(
        1 for _host, entry in since(state, dict.fromkeys(hosts, 0)) if POWER.search(entry.get("command", ""))
    )
    api_logs = sorted(Path(state).glob("hosts/*/api/vsphere.log")) + sorted(Path(state).glob("vcenters/*/vsphere.log"))
    through_api = sum(
        1
        for log in api_logs
        for line in log.read_text(errors="replace").splitlines()
        if "hostd [" in line and POWER.search(line)
    )
    return over_ssh + through_api


def api_calls(state: Path, host: str) -> list[str]:
    """What the vSphere simulator asked the host's hostd to change so far (power, .vmx writes), in order."""
    log = State(state).api_dir(host) / "vsphere.log"
    return [line.split("hostd ", 1)[1] for line in log.read_text().splitlines() if "hostd [" in line]


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.split("\n\n", maxsplit=1)[0]
    parser = argparse.ArgumentParser(prog="python -m harness.roundtrips", description=summary)
    parser.add_argument("what", choices=["power-operations"])
    parser.add_argument("state", type=Path, help="the lab's state directory")
    args = parser.parse_args(argv)
    print(power_operations(args.state))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
