"""The lab of one bench scenario, over tests/harness: started from a bench config, its hosts' SSH
checked, its inventory written with the counting proxy and the scenario's host vars."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import yaml
from harness import lab as harness_lab
from harness.lab import LabError
from harness.ports import ssh_banner

from .paths import WORK, say

__all__ = ["Lab", "LabError", "wait_tools"]


class Lab(harness_lab.Lab):
    """One lab started from a bench config; the state directory is .tmp/bench/labs/<name>."""

    def __init__(self, name: str, config: Path) -> None:  # the harness's load() runs in up()
        self.name = name
        self.config = config
        self.state = WORK / "labs" / name
        self.up_s = 0.0

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
            harness_lab.down(self.state)
            shutil.rmtree(self.state)
        self.state.parent.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load(self.config.read_text())
        config["lab"] = {"ready_timeout": 300, **config.get("lab", {})}
        self.up_s = harness_lab.up(config, self.state)
        self.load(self.state)
        for host, address in self.hosts.items():
            if self.ssh_on(host) and not ssh_banner(address):
                raise LabError("lab %s: %s (%s) is up but its SSH does not answer" % (self.name, host, address))

    def down(self) -> None:
        done = harness_lab.down(self.state)
        if done.returncode != 0:
            say("esxilab down %s: %s" % (self.name, (done.stdout + done.stderr).strip()[-500:]))

    def ssh_on(self, host: str) -> bool:
        """Whether the host's SSH runs (the config's ``ssh``; a vCenter lab's hosts have it off)."""
        return bool(self.hostvars[host].get("esxilab_ssh_at_start", True))

    @property
    def api_hosts(self) -> list[str]:
        return [name for name, hv in self.hostvars.items() if "nestedvirt_api_port" in hv]

    @property
    def vcenters(self) -> dict[str, dict]:
        """{vCenter: its inventory vars} (group vcenters of the inventory `up` wrote)."""
        children = yaml.safe_load(self.inventory.read_text())["all"]["children"]
        return (children.get("vcenters") or {}).get("hosts") or {}

    def linux_vms(self) -> list[tuple[str, dict]]:
        """(host, VM) of every VM with a Linux guest (hostd's view)."""
        return [(host, vm) for host, vms in self.fleet().items() for vm in vms if vm.get("guest") == "linux"]

    def write_inventory(
        self,
        path: Path,
        proxies: dict | None = None,
        extra_guests: dict | None = None,
        host_vars: dict | None = None,
    ) -> Path:
        """The lab's inventory, with each API endpoint (an ESXi host's own, a vCenter) pointed at its
        counting proxy (``proxies``: {endpoint: CountingProxy}: its port, and its certificate as the
        CA), extra guests, and ``host_vars`` (such as nestedvirt_vms) set on every ESXi host."""
        inventory = yaml.safe_load(self.inventory.read_text())
        children = inventory["all"]["children"]
        endpoints = {**children["esxi_hosts"]["hosts"], **((children.get("vcenters") or {}).get("hosts") or {})}
        for name, proxy in (proxies or {}).items():
            endpoints[name]["nestedvirt_api_hostname"] = proxy.address[0]
            endpoints[name]["nestedvirt_api_port"] = proxy.address[1]
            endpoints[name]["nestedvirt_api_ca_file"] = str(proxy.cert)
        for hv in children["esxi_hosts"]["hosts"].values():
            hv.update(host_vars or {})
        if extra_guests is not None:
            children["nested_guests"]["hosts"] = extra_guests
        path.write_text(yaml.safe_dump(inventory, sort_keys=False, width=1000))
        return path


def wait_tools(lab: Lab, timeout: float = 60) -> None:
    """Until hostd reports Tools in every running VM (for a Linux guest the lab has rescanned its SSH
    key then; a guest: none VM has Tools boot_seconds after its power-on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vms = [vm for vms in lab.fleet().values() for vm in vms]
        if all(vm["tools_running"] or vm["power"] != "poweredOn" or not vm.get("tools", True) for vm in vms):
            return
        time.sleep(0.2)
