"""The lab the integration tests run against (tests/harness), and how they drive it.

Plays run through the real `ansible-playbook` against the inventory `esxilab up` writes: every
ESXi host there carries its API connection as `nestedvirt_api_*` variables, which each play
hands to the modules once, through module_defaults on the collection's action group.
"""

from __future__ import annotations

import time

import pytest
import yaml
from harness import ROOT, ansible
from harness import lab as harness_lab

LAB_CONFIG = {
    "lab": {"ready_timeout": 120},  # host_net and guest_net: see harness.lab.up
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
                {"name": "batch a", "guest": "none", "power": "on"},
                {"name": "batch b", "guest": "none", "power": "on"},
                {"name": "batch stubborn", "guest": "none", "power": "on", "ignore_shutdown": True},
                {"name": "batch no tools", "guest": "none", "power": "on", "tools": False},
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
ENABLE_NESTING = ROOT / "playbooks" / "enable-nesting.yml"


def lab_up(raw, root):
    """The lab of config ``raw`` up in root/state (harness.lab.running), down afterwards."""
    return harness_lab.running(raw, root / "state", Lab)


def api(module, register, check_mode=False, ignore_errors=False, **args):
    """A task running a vSphere module of the collection on the controller, registered as ``register``."""
    task = {"name": register, "nestedvirt.esxi.%s" % module: args, "delegate_to": "localhost", "register": register}
    # The name is how the result comes back (harness callback keep_results); register lets later tasks use it.
    if check_mode:
        task["check_mode"] = True
    if ignore_errors:
        task["ignore_errors"] = True
    return task


class Lab(harness_lab.Lab):
    def ssh_service(self, host: str) -> dict:
        return self.status(host)["ssh"]

    def playbook(self, host, tasks, *flags, tmp_path, env=None, timeout=300) -> ansible.Run:
        """Run ``tasks`` in a play on ``host``; each task's result comes back under the task's name."""
        play = [
            {
                "name": "Test play",
                "hosts": host,
                "gather_facts": False,
                "module_defaults": MODULE_DEFAULTS,
                "tasks": tasks,
            }
        ]
        job = ansible.Job(tmp_path / ("run-%d" % time.monotonic_ns()), self.inventory, play, *flags, env=env)
        run = job.run(timeout)
        if not job.results.exists():
            pytest.fail("the play ended without its results:\n%s" % run.output)
        return run


def enable_nesting(lab, tmp_path, host, vms, *flags, timeout=300) -> ansible.Run:
    """The enable-nesting playbook with ``vms`` (names, patterns or all) listed on ESXi ``host``;
    ``flags``: more ansible-playbook arguments (``-e`` role variables).

    The VMs have no guest OS (guest: none): no address to wait for, nothing to verify inside.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    extra = tmp_path / "vms.yml"
    extra.write_text(yaml.safe_dump({"all": {"children": {"esxi_hosts": {"hosts": {host: {"nestedvirt_vms": vms}}}}}}))
    flags = ["-e", "enable_nesting_wait_for_ip=false", "-e", "enable_nesting_verify=false", *flags]
    return ansible.Job(tmp_path, [lab.inventory, extra], ENABLE_NESTING, *flags).run(timeout)
