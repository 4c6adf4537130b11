"""The enable-nesting playbook on an ESXi 9.0 host of a vCenter cluster (esxi-facts "Corrections").

Such a host lists a vCLS system VM with an empty datastore and an absolute path; host_info used to
fail on that row, so nothing worked there. The VMs are named by patterns and `all`, which must
never pick the vCLS VM; the lab's log of SSH commands shows what was sent.
"""

from __future__ import annotations

import pytest
from vsphere_lab import enable_nesting, lab_up

pytestmark = pytest.mark.lab

CONFIG = {
    "lab": {"ready_timeout": 120},
    "hosts": [
        {
            "name": "e90",
            "version": "9.0.0",
            "ssh": True,
            "clustered": True,
            "vms": [
                {"name": "ci-runner-1", "guest": "none", "power": "on"},
                {"name": "ci-runner-2", "guest": "none", "power": "off"},
                {"name": "db", "guest": "none", "power": "on", "vmx": {"vhv.enable": "TRUE"}},
            ],
        }
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_up(CONFIG, tmp_path_factory.mktemp("clustered-lab")) as running:
        yield running


def run_playbook(lab, tmp_path, wanted):
    return enable_nesting(lab, tmp_path, "e90", wanted)


def commands(lab):
    return [entry["command"] for entry in lab.commands("e90")]


def system_vm(lab):
    """hostd's view of the host's vCLS VM."""
    (vm,) = [vm for vm in lab.status("e90")["vms"] if vm["system"]]
    return vm


def test_host_info_lists_the_vcls_vm_as_a_system_vm(lab, tmp_path):
    run = lab.playbook("e90", [{"name": "facts", "nestedvirt.esxi.host_facts": {}}], tmp_path=tmp_path)
    assert run.rc == 0, run.output
    facts = run["facts"]["ansible_facts"]["nestedvirt_esxi"]
    assert (facts["version"], facts["update_level"], facts["nesting"]["method"]) == ("9.0.0", 0, "vm")
    (system,) = [vm for vm in facts["vms"] if vm["system"]]
    assert system["name"].startswith("vCLS-") and system["datastore"] == ""
    assert system["vmx_path"] == "/var/run/crx/infra/%s/%s.vmx" % (system["name"], system["name"])
    assert system["power_state"] == "poweredOn" and "virtualHW.version" in system["vmx"]


def test_patterns_and_all_change_exactly_the_vms_that_need_it_never_vcls(lab, tmp_path):
    system = system_vm(lab)
    before = len(commands(lab))
    first = run_playbook(lab, tmp_path / "pattern", ["ci-runner-*"])
    assert first.rc == 0, first.output
    for name, power in (("ci-runner-1", "poweredOn"), ("ci-runner-2", "poweredOff")):
        vm = lab.vm("e90", name)
        assert vm["nested_hv_enabled"] and vm["power"] == power
    again = run_playbook(lab, tmp_path / "all", ["all"])
    assert again.rc == 0, again.output
    assert again.recap()["e90"]["changed"] == 0
    sent = commands(lab)[before:]
    assert not any(system["name"] in command or "id=%s\n" % system["vmid"] in command for command in sent)
    after = system_vm(lab)
    assert after["power"] == "poweredOn" and not after["nested_hv_enabled"]
    assert lab.vm("e90", "db")["power"] == "poweredOn"  # already enabled: never power-cycled
