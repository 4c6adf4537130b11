"""The enable-nesting playbook on a host whose CPU cannot nest (refused before any power operation)
and on a nested ESXi guest's port group (relaxed, read back, idempotent, the vSwitch left as it was)."""

from __future__ import annotations

import re

import pytest
from harness import roundtrips
from vsphere_lab import enable_nesting, lab_up

pytestmark = pytest.mark.lab

CONFIG = {
    "lab": {"ready_timeout": 120},
    "hosts": [
        {
            "name": "nonest",
            "version": "6.7.0",
            "ssh": True,
            "nested_hv_supported": False,
            "vms": [{"name": "victim", "guest": "none", "power": "on"}],
        },
        {
            "name": "outer",
            "version": "8.0.1",
            "ssh": True,
            "vms": [
                {
                    "name": "nested esxi",
                    "guest": "none",
                    "power": "off",
                    "guest_os": "vmkernel8Guest",
                    "vmx": {"ethernet0.networkName": "VM Network", "ethernet1.networkName": "VM Network"},
                },
            ],
        },
    ],
}
POLICY = "esxcli network vswitch standard %s policy security get %s"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_up(CONFIG, tmp_path_factory.mktemp("host-ability-lab")) as running:
        yield running


def test_a_host_that_cannot_nest_refuses_before_any_power_operation(lab, tmp_path):
    vmx_before = lab.vm("nonest", "victim")
    powered = roundtrips.power_operations(lab.state)
    run = enable_nesting(lab, tmp_path, "nonest", ["victim"])
    assert run.rc != 0
    assert "victim (host_cannot_nest)" in run.output and "HV Support: 1" in run.output
    assert roundtrips.power_operations(lab.state) == powered
    vm = lab.vm("nonest", "victim")
    assert vm["power"] == "poweredOn" and vm == vmx_before


def test_a_nested_esxi_guests_port_group_is_relaxed_once(lab, tmp_path):
    def policies():
        return {
            target: lab.sh("outer", POLICY % (kind, option)).stdout.decode()
            for target, kind, option in (
                ("vSwitch0", "", "-v vSwitch0"),
                ("VM Network", "portgroup", "-p 'VM Network'"),
                ("Management Network", "portgroup", "-p 'Management Network'"),
            )
        }

    before = policies()
    assert "Allow Promiscuous: false" in before["VM Network"]
    flags = ("-e", "enable_nesting_nested_esxi_network=true")
    run = enable_nesting(lab, tmp_path / "first", "outer", ["nested esxi"], *flags)
    assert run.rc == 0, run.output
    after = policies()
    assert "Allow Promiscuous: true" in after["VM Network"] and "Allow Forged Transmits: true" in after["VM Network"]
    assert "Override Vswitch Allow Promiscuous: true" in after["VM Network"]
    assert after["vSwitch0"] == before["vSwitch0"] and after["Management Network"] == before["Management Network"]
    assert lab.vm("outer", "nested esxi")["nested_hv_enabled"] is True

    again = enable_nesting(lab, tmp_path / "again", "outer", ["nested esxi"], *flags)
    assert again.rc == 0, again.output
    assert re.search(r"^outer +: ok=\d+ +changed=0 ", again.output, re.M), again.output
    assert policies() == after
