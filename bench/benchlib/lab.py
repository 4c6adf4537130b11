"""The lab: one started from a bench config, hostd's view of its VMs, the SSH commands its hosts logged."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import yaml

from .paths import ESXILAB, HOSTD_PORT, WORK, say


def hostd(address: str, argv: list[str], timeout: float = 30.0) -> tuple[int, str]:
    """One request to a simulated host's hostd (the lab's private TCP protocol, not SSH)."""
    data = f"{len(argv)}\n".encode() + b"".join(a.encode() + b"\0" for a in argv)
    with socket.create_connection((address, HOSTD_PORT), timeout=timeout) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    head, _newline, body = b"".join(chunks).partition(b"\n")
    return int(head), body.decode("utf-8", "replace")


def listening_nets() -> set[str]:
    """127.0.X prefixes something listens on (other labs run on this machine too)."""
    found = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                address = socket.inet_ntoa(bytes.fromhex(fields[1].split(":")[0])[::-1])
                found.add(address.rsplit(".", 1)[0])
    return found


def free_nets():
    """(host_net, guest_net) pairs of unused 127.0.X.0/24 networks, in random order, at most 5."""
    busy = listening_nets()
    unused = [n for n in range(120, 250, 2) if f"127.0.{n}" not in busy and f"127.0.{n + 1}" not in busy]
    random.shuffle(unused)
    for third in unused[:5]:
        yield f"127.0.{third}.0", f"127.0.{third + 1}.0"


class LabError(RuntimeError):
    """The lab itself failed (did not come up, a host's sshd is gone): worth one more attempt."""


class Lab:
    """One lab started from a bench config; the state directory is .tmp/bench/labs/<name>."""

    def __init__(self, name: str, config: Path) -> None:
        self.name = name
        self.config = config
        self.state = WORK / "labs" / name
        self.up_s = 0.0
        self.hosts: dict[str, str] = {}  # name -> address
        self.api_hosts: list[str] = []
        self.inventory: dict = {}

    def __enter__(self) -> Lab:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.down()

    def up(self) -> None:
        if self.state.exists():
            subprocess.run(
                [str(ESXILAB), "down", "--dir", str(self.state)], capture_output=True, timeout=120, check=False
            )
            shutil.rmtree(self.state)
        self.state.parent.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load(self.config.read_text())
        errors = []
        for host_net, guest_net in free_nets():
            config["lab"] = {**config.get("lab", {}), "host_net": host_net, "guest_net": guest_net}
            config["lab"].setdefault("ready_timeout", 300)
            resolved = self.state.parent / f"{self.name}.config.yml"
            resolved.write_text(yaml.safe_dump(config, sort_keys=False))
            start = time.monotonic()
            done = subprocess.run(
                [str(ESXILAB), "up", "--config", str(resolved), "--dir", str(self.state)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode == 0:
                self.up_s = time.monotonic() - start
                break
            errors.append(done.stdout[-1500:] + done.stderr[-1500:])
            if "in use" not in done.stdout + done.stderr:
                break  # not a clash with another lab: trying other nets will not help
        else:
            errors.append("no free 127.0.X.0/24 pair")
        if not (self.state / "ready").exists():
            raise LabError("esxilab up %s failed:\n%s" % (self.name, "\n".join(errors)))
        self.inventory = yaml.safe_load((self.state / "inventory.yml").read_text())
        esxi = self.inventory["all"]["children"]["esxi_hosts"]["hosts"]
        self.hosts = {name: hv["ansible_host"] for name, hv in esxi.items()}
        self.api_hosts = [name for name, hv in esxi.items() if "nestedvirt_api_port" in hv]
        for host, address in self.hosts.items():
            if not ssh_banner(address):
                raise LabError("lab %s: %s (%s) is up but its SSH does not answer" % (self.name, host, address))

    def down(self) -> None:
        done = subprocess.run(
            [str(ESXILAB), "down", "--dir", str(self.state)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            say("esxilab down %s: %s" % (self.name, (done.stdout + done.stderr).strip()[-500:]))

    def status(self) -> dict[str, list[dict]]:
        """hostd's view of every VM, per host."""
        out = {}
        for host, address in self.hosts.items():
            rc, text = hostd(address, ["lab", "status"])
            if rc != 0:
                raise LabError("hostd status of %s: %s" % (host, text))
            out[host] = json.loads(text)["vms"]
        return out

    def guests(self) -> list[tuple[str, dict]]:
        return [(host, vm) for host, vms in self.status().items() for vm in vms if vm.get("guest") == "linux"]

    def log_sizes(self) -> dict[str, int]:
        sizes = {}
        for host in self.hosts:
            path = self.state / "logs" / f"{host}.commands.jsonl"
            sizes[host] = path.stat().st_size if path.exists() else 0
        return sizes

    def commands_since(self, sizes: dict[str, int]) -> list[tuple[str, dict]]:
        """The SSH commands the hosts logged since ``sizes`` (log_sizes), as (host, entry)."""
        found = []
        for host, offset in sizes.items():
            path = self.state / "logs" / f"{host}.commands.jsonl"
            if not path.exists():
                continue
            with path.open("rb") as log:
                log.seek(offset)
                for line in log.read().decode("utf-8", "replace").splitlines():
                    if line.strip():
                        found.append((host, json.loads(line)))
        return found

    def ssh_argv(self, address: str) -> list[str]:
        return [
            "ssh",
            "-i",
            str(self.state / "keys" / "id_ed25519"),
            "-o",
            "UserKnownHostsFile=%s" % (self.state / "known_hosts"),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlMaster=no",
            "-o",
            "ConnectTimeout=20",
            "root@%s" % address,
        ]

    def write_inventory(
        self,
        path: Path,
        api_port: int | None = None,
        ca_file: Path | None = None,
        extra_guests: dict | None = None,
        host_vars: dict | None = None,
    ) -> Path:
        """The lab's inventory, with the API pointed at the counting proxy, extra guests, and
        ``host_vars`` (such as nestedvirt_vms) set on every ESXi host."""
        inventory = json.loads(json.dumps(self.inventory))
        children = inventory["all"]["children"]
        for hv in children["esxi_hosts"]["hosts"].values():
            if api_port and "nestedvirt_api_port" in hv:
                hv["nestedvirt_api_port"] = api_port
                hv["nestedvirt_api_ca_file"] = str(ca_file)
            hv.update(host_vars or {})
        if extra_guests is not None:
            children["nested_guests"]["hosts"] = extra_guests
        path.write_text(yaml.safe_dump(inventory, sort_keys=False, width=1000))
        return path


def ssh_banner(address: str, timeout: float = 60) -> bool:
    """True once an SSH server greets on address:22 (bounded), so no tool meets a host still starting."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((address, 22), timeout=5) as conn:
            conn.settimeout(5)
            if conn.recv(64).startswith(b"SSH-"):
                return True
        time.sleep(0.5)
    return False


def wait_tools(lab: Lab, timeout: float = 60) -> None:
    """Until hostd reports Tools in every running VM (for a Linux guest the lab has rescanned its SSH
    key then; a guest: none VM has Tools boot_seconds after its power-on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vms = [vm for vms in lab.status().values() for vm in vms]
        if all(vm["tools_running"] or vm["power"] != "poweredOn" or not vm.get("tools", True) for vm in vms):
            return
        time.sleep(0.2)
