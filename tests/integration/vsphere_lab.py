"""The lab the vSphere API modules are tested against, and how the tests drive it.

Plays run through the real `ansible-playbook` against the inventory `esxilab up` writes: every
ESXi host there carries its API connection as `nestedvirt_api_*` variables, which each play
hands to the modules once, through module_defaults on the collection's action group.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = ROOT / "tests" / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

from labkit import hostd  # noqa: E402
from labkit.addresses import free_networks  # noqa: E402
from labkit.cli import run_esxilab  # noqa: E402
from labkit.labd import State  # noqa: E402

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

LAB_CONFIG = {
    "lab": {"ready_timeout": 120},  # host_net and guest_net: see lab_up
    "hosts": [
        {
            "name": "lic70",
            "version": "7.0.3",
            "ssh": False,
            "api": True,
            "license": "licensed",
            "vms": [
                {"name": "off vm", "guest": "none", "power": "off"},
                {"name": "on vm", "guest": "none", "power": "on"},
                {"name": "stubborn", "guest": "none", "power": "on", "ignore_shutdown": True},
                {"name": "no tools", "guest": "none", "power": "on", "tools": False},
                {"name": "timid", "guest": "none", "power": "on", "ignore_shutdown": True},
                {"name": "running", "guest": "none", "power": "on"},
                {"name": "old hw", "guest": "none", "power": "off", "hardware_version": 8},
                {"name": "twin", "guest": "none", "power": "off"},
                {"name": "twin", "guest": "none", "power": "off", "path": "twin2/twin.vmx"},
                {"name": "client", "guest": "none", "power": "on"},
            ],
        },
        {
            "name": "free80",
            "version": "8.0.1",
            "ssh": False,
            "api": True,
            "license": "free",
            "vms": [
                {"name": "free off", "guest": "none", "power": "off"},
                {"name": "free on", "guest": "none", "power": "on"},
            ],
        },
        {
            "name": "nohv55",
            "version": "5.5.0",
            "api": True,
            "nested_hv_supported": False,
            "vms": [{"name": "nohv vm", "guest": "none", "power": "off"}],
        },
        {"name": "esxi50", "version": "5.0.0", "api": True, "vms": [{"name": "vm50", "guest": "none", "power": "off"}]},
    ],
}

MODULE_DEFAULTS = {
    "group/nestedvirt.esxi.vsphere": {
        "hostname": "{{ nestedvirt_api_hostname }}",
        "port": "{{ nestedvirt_api_port }}",
        "username": "{{ nestedvirt_api_username }}",
        "password": "{{ nestedvirt_api_password }}",
        "ca_file": "{{ nestedvirt_api_ca_file }}",
        "validate_certs": "{{ nestedvirt_api_validate_certs }}",
    }
}


def esxilab(*args, timeout=300):
    return run_esxilab(*args, timeout=timeout)


@contextlib.contextmanager
def lab_up(raw, root):
    """`esxilab up` of the config `raw` in root/state, on 127.0.X.0/24 nets nothing listens on.

    Other developers' labs may be up on this machine (on the default nets, the lab suite's or nets
    of their own); a random pick among the free pairs makes meeting one that starts at the same
    time unlikely, and `up` is tried on the next pair (five at most) if the addresses were taken
    anyway. Yields the Lab; `down` must leave nothing behind.
    """
    config, state = root / "lab.yml", root / "state"
    started = time.monotonic()
    for candidate in itertools.islice(free_networks(raw, shuffle=True), 5):
        config.write_text(yaml.safe_dump(candidate, sort_keys=False))
        up = esxilab("up", "--config", config, "--dir", state)
        if up.returncode == 0 or "lab addresses in use" not in up.stdout + up.stderr:
            break  # up, or failed for a reason other nets will not cure
    if up.returncode != 0:
        esxilab("down", "--dir", state)
        pytest.fail("esxilab up failed (%d):\n%s\n%s" % (up.returncode, up.stdout, up.stderr))
    print("\nlab up in %.1f s (%s)" % (time.monotonic() - started, state))
    try:
        yield Lab(state)
    finally:
        down = esxilab("down", "--dir", state)
        assert down.returncode == 0, "esxilab down left something behind:\n%s\n%s" % (down.stdout, down.stderr)


def api(module, register, check_mode=False, ignore_errors=False, **args):
    """A task running a vSphere module of the collection on the controller, registered as ``register``."""
    task = {"name": register, "nestedvirt.esxi.%s" % module: args, "delegate_to": "localhost", "register": register}
    # The name is how the result comes back (callback_plugins/keep_results.py); register lets later tasks use it.
    if check_mode:
        task["check_mode"] = True
    if ignore_errors:
        task["ignore_errors"] = True
    return task


class Run:
    def __init__(self, results, output, rc):
        self.results = results
        self.output = output
        self.rc = rc

    def __getitem__(self, name):
        return self.results[name]


class Lab:
    def __init__(self, state: Path) -> None:
        self.state = State(state)
        self.inventory = self.state.inventory
        hosts = yaml.safe_load(self.inventory.read_text())["all"]["children"]["esxi_hosts"]["hosts"]
        self.hostvars = hosts

    def address(self, host: str) -> str:
        return self.hostvars[host]["ansible_host"]

    def password(self, host: str) -> str:
        return self.state.api_password(host).read_text().strip()

    def vm(self, host: str, name: str) -> dict:
        """hostd's own view of a VM (what the .vmx and the VM's process say), not the API's."""
        rc, out = hostd.request(self.address(host), ["lab", "inventory"], timeout=30)
        assert rc == 0, out
        return next(v for v in json.loads(out)["vms"] if v["name"] == name)

    def ssh_service(self, host: str) -> dict:
        rc, out = hostd.request(self.address(host), ["lab", "status"], timeout=30)
        assert rc == 0, out
        return json.loads(out)["ssh"]

    def api_calls(self, host: str) -> list[str]:
        """What the API simulator asked hostd to change so far (power and vmx writes), in order."""
        log = self.state.api_dir(host) / "vsphere.log"
        return [line.split("hostd ", 1)[1] for line in log.read_text().splitlines() if "hostd [" in line]

    def playbook(self, host, tasks, *flags, tmp_path, env=None, timeout=300) -> Run:
        """Run ``tasks`` in a play on ``host``; each task's result comes back under the task's name."""
        stamp = time.monotonic_ns()
        results_file = tmp_path / ("results-%d.json" % stamp)
        play = [
            {
                "name": "Test play",
                "hosts": host,
                "gather_facts": False,
                "module_defaults": MODULE_DEFAULTS,
                "tasks": tasks,
            }
        ]
        playbook = tmp_path / ("play-%d.yml" % stamp)
        playbook.write_text(yaml.safe_dump(play, sort_keys=False))
        environment = dict(
            os.environ,
            ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
            ANSIBLE_HOME=str(tmp_path / "ansible-home"),
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).with_name("callback_plugins")),
            ANSIBLE_CALLBACKS_ENABLED="keep_results",
            KEEP_RESULTS_FILE=str(results_file),
        )
        environment.update(env or {})
        done = subprocess.run(
            [str(ANSIBLE_PLAYBOOK), "-i", str(self.inventory), str(playbook), *flags],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
            check=False,
        )
        output = done.stdout + done.stderr
        if not results_file.exists():
            pytest.fail("the play ended without its results:\n%s" % output)
        return Run(json.loads(results_file.read_text()), output, done.returncode)


def port_open(address: str, port: int = 22, timeout: float = 1.0) -> bool:
    try:
        socket.create_connection((address, port), timeout=timeout).close()
        return True
    except OSError:
        return False


ENABLE_NESTING = ROOT / "playbooks" / "enable-nesting.yml"


def enable_nesting(lab, tmp_path, host, vms, timeout=300):
    """The enable-nesting playbook with ``vms`` (names, patterns or all) listed on ESXi ``host``.

    The VMs have no guest OS (guest: none): no address to wait for, nothing to verify inside.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    extra = tmp_path / "vms.yml"
    extra.write_text(yaml.safe_dump({"all": {"children": {"esxi_hosts": {"hosts": {host: {"nestedvirt_vms": vms}}}}}}))
    env = dict(
        os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home")
    )
    argv = [str(ANSIBLE_PLAYBOOK), "-i", str(lab.inventory), "-i", str(extra), str(ENABLE_NESTING)]
    argv += ["-e", "enable_nesting_wait_for_ip=false", "-e", "enable_nesting_verify=false"]
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
