"""The lab suite's shared lab: `esxilab up` once per session (suite-lab.yml, on free nets through
tests/harness), `down` at the end.

`down` must leave nothing behind; the session teardown fails the run when it does. The ``Lab`` here
is the suite's own: it reaches hosts and guests by the lab's config, as the lab's tests need.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

LAB_DIR = Path(__file__).resolve().parents[1]
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

from harness import lab as harness_lab  # noqa: E402
from harness import roundtrips  # noqa: E402
from labkit import config as cfgmod  # noqa: E402
from labkit import hostd  # noqa: E402
from labkit.cli import run_esxilab  # noqa: E402

SUITE_CONFIG = Path(__file__).with_name("suite-lab.yml")


def esxilab(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return run_esxilab(*args, timeout=timeout)


class Lab:
    """A running lab, as the tests use it."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.config = cfgmod.load(state / "config.json")

    def host(self, name: str) -> cfgmod.Host:
        return self.config.host(name)

    def ssh_argv(self, address: str, command: str, *extra: str) -> list[str]:
        return [
            "ssh",
            "-o",
            f"UserKnownHostsFile={self.state / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-i",
            str(self.state / "keys" / "id_ed25519"),
            *extra,
            f"root@{address}",
            command,
        ]

    def ssh(self, host: str, command: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
        """Run one command on an ESXi host (by name) or a guest (by inventory name) over SSH."""
        address = self.address(host)
        r = subprocess.run(self.ssh_argv(address, command), capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{host}: {command!r} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def address(self, name: str) -> str:
        for h in self.config.hosts:
            if h.name == name:
                return h.address
        for _, vm in self.config.guests():
            if vm.inventory_name == name:
                return vm.address
        raise KeyError(name)

    def hostd(self, host: str, *argv: str) -> tuple[int, str]:
        return hostd.request(self.host(host).address, list(argv), timeout=60)

    def status(self, host: str) -> dict:
        rc, out = self.hostd(host, "lab", "status")
        assert rc == 0, out
        return json.loads(out)

    def vm_status(self, host: str, vmid: int) -> dict:
        return next(v for v in self.status(host)["vms"] if v["vmid"] == vmid)

    def power(self, host: str, vmid: int) -> str:
        rc, out = self.hostd(host, "vim-cmd", "vmsvc/power.getstate", str(vmid))
        return out.splitlines()[-1] if rc == 0 else out

    def wait_power(self, host: str, vmid: int, state: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.power(host, vmid) != state:
            assert time.monotonic() < deadline, f"{host} vmid {vmid} not {state!r} after {timeout} s"
            time.sleep(0.2)

    def wait_tools(self, host: str, vmid: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not self.vm_status(host, vmid)["tools_running"]:
            assert time.monotonic() < deadline, f"{host} vmid {vmid}: no Tools after {timeout} s"
            time.sleep(0.3)

    def commands(self, host: str) -> list[dict]:
        return roundtrips.commands(self.state, host)

    def fault(self, host: str, *argv: str) -> None:
        rc, out = self.hostd(host, "lab", "fault", *argv)
        assert rc == 0, out


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    state = tmp_path_factory.mktemp("esxilab-suite")
    seconds = harness_lab.up(yaml.safe_load(SUITE_CONFIG.read_text()), state)
    print(f"\nlab suite: up in {seconds:.1f} s ({state})")
    yield Lab(state)
    r = harness_lab.down(state)
    assert r.returncode == 0, f"esxilab down left something behind:\n{r.stdout}\n{r.stderr}"
