"""What real hosts do beyond the first facts (esxi-facts "Corrections and additions"): vCLS system
VMs on clustered hosts, power-on failures and transient vim-cmd failures (fault knobs), power.reset.
The exact texts are fixtures that test_formats compares; here: the behaviour around them."""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import load_fixture

pytestmark = pytest.mark.lab

H = "esxi90"
KNOBS = 5  # the esxi90 VM the knob tests power on and off


def vcls(lab, host: str) -> dict:
    return next(vm for vm in lab.status(host)["vms"] if vm.get("system"))


@pytest.mark.parametrize("host", ["esxi803", "esxi90"])
def test_a_vcls_vm_is_a_real_vm_outside_every_datastore(lab, host):
    vm = vcls(lab, host)
    path = f"/var/run/crx/infra/{vm['name']}/{vm['name']}.vmx"
    assert vm["vmx_datastore_path"] == f"[] {path}" and vm["power"] == "poweredOn" and vm["tools_running"]
    summary = lab.ssh(host, f"vim-cmd vmsvc/get.summary {vm['vmid']}", check=True).stdout
    assert f'vmPathName = "[] {path}"' in summary and 'powerState = "poweredOn"' in summary
    assert f'displayName = "{vm["name"]}"' in lab.ssh(host, f"cat {path}", check=True).stdout  # the file is there
    state = lab.ssh(host, f"vim-cmd vmsvc/power.getstate {vm['vmid']}").stdout
    assert state == "Retrieved runtime info\nPowered on\n"
    # the vSphere simulator (vcsim models VMs on datastores only) does not see it
    assert vm["vmid"] not in [v["vmid"] for v in json.loads(lab.hostd(host, "lab", "inventory")[1])["vms"]]


def test_status_lists_system_vms(lab):
    from conftest import esxilab

    out = esxilab("status", "--dir", lab.state).stdout
    assert re.search(r"\n +1698  'vCLS-[0-9a-f-]+'  poweredOn  vmx-21  system VM \[\] /var/run/crx/infra/", out)


def test_power_on_fails_and_misreports(lab):
    try:
        lab.fault(H, "power_on_fails", "knobs", "1")
        r = lab.ssh(H, f"vim-cmd vmsvc/power.on {KNOBS}")
        assert r.returncode == 1 and "Power on failed: (vim.fault.GenericVmConfigFault) {" in r.stdout
        assert 'message = "This host does not support AMD-V.\n"' in r.stdout and lab.power(H, KNOBS) == "Powered off"
        lab.fault(H, "power_on_misreports", "all")
        r = lab.ssh(H, f"vim-cmd vmsvc/power.on {KNOBS}; echo rc=$?; vim-cmd vmsvc/power.getstate {KNOBS}")
        assert r.stdout == "Powering on VM:\nPower on failed\nrc=1\nRetrieved runtime info\nPowered on\n"  # it did
        assert lab.ssh(H, f"vim-cmd vmsvc/power.off {KNOBS}").stdout == "Powering off VM:\n"  # the knobs are spent
        assert lab.ssh(H, f"vim-cmd vmsvc/power.on {KNOBS}").stdout == "Powering on VM:\n"
        # a configured rule with times: 0 hits every time
        assert lab.ssh(H, "vim-cmd vmsvc/power.on 4").stdout == load_fixture(
            "9.0.0", "vim-cmd-vmsvc-power.on-failed-capture"
        )
        assert lab.status(H)["faults"]["power_on_fails"] == [{"vm": "nested-esxi", "times": 0, "left": -1}]
    finally:
        lab.hostd(H, "vim-cmd", "vmsvc/power.off", str(KNOBS))


def test_power_reset(lab):
    before = lab.ssh(H, f"vim-cmd vmsvc/power.on {KNOBS}; vim-cmd vmsvc/get.summary {KNOBS}").stdout
    try:
        r = lab.ssh(H, f"vim-cmd vmsvc/power.reset {KNOBS}; echo rc=$?; vim-cmd vmsvc/power.getstate {KNOBS}")
        assert r.stdout == "rc=0\nRetrieved runtime info\nPowered on\n"
        boot = re.compile(r'bootTime = "([^"]+)"')
        after = lab.ssh(H, f"vim-cmd vmsvc/get.summary {KNOBS}").stdout
        assert boot.search(before) and boot.search(after)
    finally:
        lab.hostd(H, "vim-cmd", "vmsvc/power.off", str(KNOBS))


@pytest.mark.parametrize(
    "kind, rc, sign",
    [
        ("ssl", 1, "Failed to login: SSL Exception: "),
        ("reset", 1, "Failed to login: Connection reset by peer"),
        ("localhost", 1, "Connect to localhost failed"),
        ("bad_alloc", 134, "terminate called after throwing an instance of 'std::bad_alloc'"),
    ],
)
def test_a_transient_failure_comes_once(lab, kind, rc, sign):
    lab.fault(H, "vim_cmd_transient", kind, "1", r"^vmsvc/power\.getstate\s1$")
    first = lab.ssh(H, "vim-cmd vmsvc/getallvms >/dev/null; vim-cmd vmsvc/power.getstate 1")  # no match first
    assert first.returncode == rc and first.stdout == "" and first.stderr.startswith(sign)
    assert lab.ssh(H, "vim-cmd vmsvc/power.getstate 1").stdout == "Retrieved runtime info\nPowered on\n"
    assert lab.status(H)["faults"]["vim_cmd_transient"] == []


def test_managed_object_not_found_is_a_fault_block(lab):
    lab.fault(H, "vim_cmd_transient", "mo_not_found")
    r = lab.ssh(H, "vim-cmd vmsvc/get.guest 1")
    assert r.returncode == 1 and r.stdout.startswith("(vmodl.fault.ManagedObjectNotFound) {\n")
    assert "guestToolsRunning" in lab.ssh(H, "vim-cmd vmsvc/get.guest 1").stdout
