"""vm_power and host_info against what real hosts do when things go wrong (esxi-facts "Corrections").

A failed power-on reports ESXi's own messages; a power.on that says it failed while the VM did
power on is read again and is no failure; a transient vim-cmd failure (hostd's login failing,
a vim-cmd crash) is tried once more on the host, in the same round trip.
"""

from __future__ import annotations

import pytest
from vsphere_lab import lab_up

pytestmark = pytest.mark.lab

CONFIG = {
    "lab": {"ready_timeout": 120},
    "hosts": [
        {
            "name": "f90",
            "version": "9.0.0",
            "ssh": True,
            "clustered": True,
            "vms": [
                {"name": "refused", "guest": "none", "power": "off"},
                {"name": "misreported", "guest": "none", "power": "off"},
                {"name": "plain", "guest": "none", "power": "off"},
            ],
        }
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_up(CONFIG, tmp_path_factory.mktemp("faults-lab")) as running:
        yield running


def fault(lab, *knob):
    lab.fault("f90", *knob)


def power_on(lab, name, tmp_path):
    task = {"name": "step", "nestedvirt.esxi.vm_power": {"name": name, "state": "poweredon", "wait_for_ip": False}}
    return lab.playbook(
        "f90", [{"name": "facts", "nestedvirt.esxi.host_facts": {}}, dict(task, ignore_errors=True)], tmp_path=tmp_path
    )


def test_a_refused_power_on_says_what_esxi_said(lab, tmp_path):
    fault(lab, "power_on_fails", "refused", "1")
    run = power_on(lab, "refused", tmp_path)
    step = run["step"]
    assert step["failed"] and step["power_state"] == "poweredOff"
    assert "GenericVmConfigFault: This host does not support AMD-V." in step["msg"]
    assert "VHV disabled" in step["msg"]


def test_a_misreported_power_on_is_read_again(lab, tmp_path):
    fault(lab, "power_on_misreports", "misreported", "1")
    step = power_on(lab, "misreported", tmp_path)["step"]
    assert not step.get("failed") and step["power_state"] == "poweredOn" and step["changed"]


@pytest.mark.parametrize("kind", ["ssl", "reset", "localhost", "bad_alloc", "mo_not_found"])
def test_transient_vim_cmd_failures_are_tried_once_more(lab, tmp_path, kind):
    fault(lab, "vim_cmd_transient", kind, "1", "getallvms")
    run = lab.playbook("f90", [{"name": "facts", "nestedvirt.esxi.host_facts": {}}], tmp_path=tmp_path)
    assert run.rc == 0, run.output
    names = [vm["name"] for vm in run["facts"]["ansible_facts"]["nestedvirt_esxi"]["vms"]]
    assert {"refused", "misreported", "plain"} <= set(names) and any(name.startswith("vCLS-") for name in names)
