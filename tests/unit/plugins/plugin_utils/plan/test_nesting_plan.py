"""The per-VM plan, from host_info facts."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._nesting_plan import PlanError, nesting_plan
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._vm_select import VmSelectionError


def facts(method="vm", host_allow=False, **vm):
    base = {"vmid": "1", "name": "vm1", "hardware_version": 10, "power_state": "poweredOn", "vmx": {}}
    base.update(vm)
    nesting = {"method": method, "min_hardware_version": 9 if method == "vm" else None, "host_vhv_allow": host_allow}
    return {"nesting": nesting, "vms": [base]}


def test_a_configured_vm_needs_nothing():
    plan = nesting_plan(facts(vmx={"vhv.enable": "true"}), "vm1")
    assert not plan["needs_change"] and not plan["needs_power_cycle"] and plan["reasons"] == []


def test_a_running_vm_without_the_key_needs_a_power_cycle():
    plan = nesting_plan(facts(), "vm1")
    assert plan["vmx_settings"] == {"vhv.enable": "TRUE"}
    assert plan["needs_change"] and plan["needs_power_cycle"]


def test_an_off_vm_needs_no_power_cycle():
    assert not nesting_plan(facts(power_state="poweredOff"), "vm1")["needs_power_cycle"]


def test_a_vm_an_interrupted_run_left_off_is_powered_on_again():
    configured = {"vhv.enable": "TRUE"}
    plan = nesting_plan(facts(power_state="poweredOff", restart_pending=True, vmx=configured), "vm1")
    assert plan["resume_power_on"] and not plan["needs_change"] and not plan["stale_restart_marker"]
    assert plan["reasons"] == ["an interrupted run powered the VM off to change it; it is powered on again"]
    plan = nesting_plan(facts(power_state="poweredOff", restart_pending=True), "vm1")
    assert plan["resume_power_on"] and plan["needs_change"] and not plan["needs_power_cycle"]


def test_a_restart_marker_of_a_running_vm_is_stale():
    plan = nesting_plan(facts(restart_pending=True, vmx={"vhv.enable": "TRUE"}), "vm1")
    assert plan["stale_restart_marker"] and not plan["resume_power_on"] and not plan["needs_change"]
    plan = nesting_plan(facts(power_state="suspended", restart_pending=True), "vm1")
    assert not plan["stale_restart_marker"] and not plan["resume_power_on"]


def test_old_hardware_is_flagged():
    plan = nesting_plan(facts(hardware_version=8), "vm1")
    assert plan["needs_upgrade"] and "below the 9" in plan["reasons"][-1]


def test_extras():
    plan = nesting_plan(facts(vmx={"vhv.enable": "TRUE"}), "vm1", vpmc=True, hide_hypervisor=True, hardware_mmu=True)
    assert plan["vmx_settings"] == {
        "vpmc.enable": "TRUE",
        "hypervisor.cpuid.v0": "FALSE",
        "monitor.virtual_mmu": "hardware",
        "monitor.virtual_exec": "hardware",
    }


def test_disabled_removes_what_enabled_sets():
    vmx = {"vhv.enable": "TRUE", "vpmc.enable": "TRUE", "monitor.virtual_mmu": "hardware"}
    plan = nesting_plan(facts(vmx=vmx), "vm1", state="disabled")
    assert plan["vmx_remove"] == ["monitor.virtual_mmu", "vhv.enable", "vpmc.enable"]
    assert nesting_plan(facts(), "vm1", state="disabled")["needs_change"] is False


def test_esxi_50_uses_the_host_switch():
    plan = nesting_plan(facts(method="host", hardware_version=8), "vm1")
    assert plan["host_settings"] == {"vhv.allow": "TRUE"} and plan["vmx_settings"] == {}
    assert plan["needs_power_cycle"] and not plan["needs_upgrade"]
    assert not nesting_plan(facts(method="host", host_allow=True), "vm1")["needs_change"]
    plan = nesting_plan(facts(method="host", host_allow=True), "vm1", host_switch_changed=True)
    assert plan["needs_power_cycle"] and plan["host_settings"] == {}


def test_errors():
    with pytest.raises(PlanError, match="run nestedvirt.esxi.host_info"):
        nesting_plan(None, "vm1")
    with pytest.raises(VmSelectionError):
        nesting_plan(facts(), "nope")


def test_a_vm_whose_hostd_holds_an_older_copy_is_reloaded_never_left_as_is():
    # Off: reloaded, no power cycle; the file already says what is wanted, so nothing is written.
    plan = nesting_plan(facts(power_state="poweredOff", vmx={"vhv.enable": "TRUE"}, hostd_stale=["vhv.enable"]), "vm1")
    assert plan["reload_pending"] and plan["needs_change"] and not plan["needs_power_cycle"]
    assert [reason for reason in plan["reasons"] if "must lose" in reason or "needs" in reason] == []
    # Running, disabling: power-cycled with the key removed again after the power-off.
    plan = nesting_plan(facts(hostd_stale=["vhv.enable"]), "vm1", state="disabled")
    assert plan["reload_pending"] and plan["needs_power_cycle"] and plan["vmx_remove"] == ["vhv.enable"]
    # A stale key the run does not manage (vpmc without the option) is only reloaded.
    plan = nesting_plan(facts(vmx={"vhv.enable": "TRUE"}, hostd_stale=["vpmc.enable"]), "vm1")
    assert plan["reload_pending"] and plan["vmx_settings"] == {} and plan["vmx_remove"] == []
