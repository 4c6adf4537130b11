"""What the vSphere API modules decide from what they read (no server involved)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.module_utils._switch_checks import VbsPreconditionsError
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._errors import (
    HardwareVersionError,
    NestedHvUnsupportedError,
    PowerStateError,
    UnsupportedError,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._plan import (
    api_at_least,
    hardware_version,
    nested_hv_restricted_hint,
    plan_nested_hv,
    plan_service,
    service_view,
    ssh_restricted_hint,
)

# --- SSH service --------------------------------------------------------------------------------


def test_starting_a_stopped_service():
    actions, after = plan_service({"running": False, "policy": "off"}, state="started")
    assert actions == [("start",)]
    assert after == {"state": "started", "policy": "off"}


def test_the_policy_is_set_before_starting():
    actions, after = plan_service({"running": False, "policy": "off"}, state="started", policy="on")
    assert actions == [("policy", "on"), ("start",)]
    assert after == {"state": "started", "policy": "on"}


def test_nothing_to_do():
    assert plan_service({"running": True, "policy": "automatic"}, state="started", policy="automatic") == (
        [],
        {"state": "started", "policy": "automatic"},
    )


def test_reading_only():
    assert plan_service({"running": True, "policy": "on"}) == ([], {"state": "started", "policy": "on"})


def test_view_is_what_restores_the_service():
    assert service_view({"running": False, "policy": "automatic"}) == {"state": "stopped", "policy": "automatic"}


services = st.fixed_dictionaries({"running": st.booleans(), "policy": st.sampled_from(["on", "off", "automatic"])})
states = st.sampled_from([None, "started", "stopped"])
policies = st.sampled_from([None, "on", "off", "automatic"])


def simulate(found, actions):
    running, policy = found["running"], found["policy"]
    for action in actions:
        if action[0] == "policy":
            policy = action[1]
        else:
            running = action[0] == "start"
    return {"running": running, "policy": policy}


@given(services, states, policies)
def test_service_plans_reach_their_after_and_are_idempotent(found, state, policy):
    actions, after = plan_service(found, state, policy)
    reached = simulate(found, actions)
    assert service_view(reached) == after
    assert plan_service(reached, state, policy) == ([], after)
    assert len(actions) == len(set(actions)) <= 2


@given(services, services)
def test_giving_back_before_restores_the_found_state(found, meanwhile):
    view = service_view(found)
    actions = plan_service(meanwhile, view["state"], view["policy"])[0]
    assert simulate(meanwhile, actions) == found


def test_ssh_hint_names_the_manual_ways():
    hint = ssh_restricted_hint()
    assert "DCUI (Troubleshooting Options > Enable SSH)" in hint
    assert "Host Client (Host > Actions > Services > Enable Secure Shell (SSH))" in hint
    assert "nestedvirt.esxi.vmx" in hint


# --- versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [("vmx-08", 8), ("vmx-9", 9), ("vmx-21", 21), ("vmx-", None), ("9", None), (None, None), ("vmx-1a", None)],
)
def test_hardware_versions(text, number):
    assert hardware_version(text) == number


@pytest.mark.parametrize(
    ("api", "minimum", "expected"),
    [
        ("5.0", "5.1", False),
        ("5.1", "5.1", True),
        ("5.5", "5.1", True),
        ("6.7.3", "5.1", True),
        ("7.0.3.0", "5.1", True),
        ("4.1", "5.1", False),
        ("5.1.0", "5.1", True),
        ("10.0", "9.1", True),
    ],
)
def test_api_versions_compare_numerically(api, minimum, expected):
    assert api_at_least(api, minimum) is expected


# --- nested HV ----------------------------------------------------------------------------------


def vm(**changes):
    facts = dict(
        name="Lab VM 1",
        vmid="7",
        api_version="7.0.3.0",
        power_state="poweredOff",
        version="vmx-19",
        nested_hv_enabled=False,
        vpmc_enabled=None,
        host_nested_hv_supported=True,
    )
    facts.update(changes)
    return facts


def test_off_vm_gets_nested_hv():
    plan = plan_nested_hv(vm(), True)
    assert plan.changed and not plan.power_cycle
    assert plan.spec == {"nestedHVEnabled": True}
    off = {"vpmc_enabled": False, "iommu_enabled": False, "vbs_enabled": False}
    assert plan.before == dict(off, nested_hv_enabled=False)
    assert plan.after == dict(off, nested_hv_enabled=True)


def test_already_set_changes_nothing_even_when_running():
    plan = plan_nested_hv(vm(nested_hv_enabled=True, power_state="poweredOn"), True, power_cycle=True)
    assert not plan.changed and not plan.power_cycle and plan.spec == {}


def test_vpmc_is_left_alone_unless_asked():
    assert plan_nested_hv(vm(nested_hv_enabled=True, vpmc_enabled=True), True).spec == {}
    plan = plan_nested_hv(vm(nested_hv_enabled=True), True, vpmc_enabled=True)
    assert plan.spec == {"vPMCEnabled": True}
    assert plan.after == {"nested_hv_enabled": True, "vpmc_enabled": True, "iommu_enabled": False, "vbs_enabled": False}


VBS_READY = dict(host_version="6.7.0", version="vmx-14", firmware="efi", secure_boot=True)


def test_iommu_and_vbs_go_into_the_flags():
    plan = plan_nested_hv(vm(**VBS_READY), True, iommu_enabled=True, vbs_enabled=True)
    assert plan.spec == {"nestedHVEnabled": True, "flags.vvtdEnabled": True, "flags.vbsEnabled": True}
    assert plan.after["iommu_enabled"] and plan.after["vbs_enabled"]
    # Left alone unless asked; already on: nothing to do.
    assert plan_nested_hv(vm(nested_hv_enabled=True, iommu_enabled=True), True).spec == {}


@pytest.mark.parametrize(
    "change, iommu, named",
    [
        ({"host_version": "6.5.0"}, True, "ESXi 6.7 or later"),
        ({"version": "vmx-13"}, True, "virtual hardware 14 or later (the VM has 13)"),
        ({"firmware": "bios"}, True, "EFI firmware"),
        ({"secure_boot": False}, True, "EFI secure boot"),
        ({}, None, "the virtual IOMMU on"),
    ],
)
def test_vbs_through_the_api_checks_its_preconditions_first(change, iommu, named):
    with pytest.raises(VbsPreconditionsError, match=re.escape(named)) as raised:
        plan_nested_hv(vm(**dict(VBS_READY, **change)), True, iommu_enabled=iommu, vbs_enabled=True)
    assert raised.value.reason == "vbs_preconditions"


def test_vbs_needs_nesting_on_in_the_result_through_the_api():
    with pytest.raises(VbsPreconditionsError, match="nested hardware virtualization on"):
        plan_nested_hv(vm(**VBS_READY), False, iommu_enabled=True, vbs_enabled=True)


def test_a_restricted_hint_names_the_vmx_keys_of_flags():
    hint = nested_hv_restricted_hint("w", False, {"flags.vvtdEnabled": True, "nestedHVEnabled": True})
    assert "settings: {nestedHVEnabled: true" not in hint and "vvtd.enable: true" in hint and "vhv.enable: true" in hint


def test_running_vm_needs_power_cycle():
    with pytest.raises(
        PowerStateError, match="'Lab VM 1' is powered on; nestedHVEnabled can only change .*power_cycle"
    ):
        plan_nested_hv(vm(power_state="poweredOn"), True)
    plan = plan_nested_hv(vm(power_state="poweredOn"), True, power_cycle=True)
    assert plan.power_cycle and plan.spec == {"nestedHVEnabled": True}


def test_suspended_vm_is_never_power_cycled():
    with pytest.raises(PowerStateError, match="is suspended; .* not power-cycled"):
        plan_nested_hv(vm(power_state="suspended"), True, power_cycle=True)


def test_host_without_support():
    with pytest.raises(NestedHvUnsupportedError, match="capability.nestedHVSupported is false"):
        plan_nested_hv(vm(host_nested_hv_supported=False), True)


def test_old_hardware_names_the_upgrade():
    with pytest.raises(HardwareVersionError) as caught:
        plan_nested_hv(vm(version="vmx-08"), True)
    assert "virtual hardware version 8 (vmx-08); nested HV needs 9 or later" in str(caught.value)
    assert "vim-cmd vmsvc/upgrade 7 vmx-09" in str(caught.value)
    with pytest.raises(HardwareVersionError, match="vmsvc/upgrade <vmid> vmx-09"):
        plan_nested_hv(vm(version="vmx-04", vmid=None), True)


def test_requirements_hold_even_when_the_flag_is_already_set():
    # vhv.enable on hardware 8 does nothing: saying "ok" would hide that nesting does not work.
    with pytest.raises(HardwareVersionError):
        plan_nested_hv(vm(version="vmx-08", nested_hv_enabled=True), True)


def test_turning_nesting_off_needs_no_support():
    plan = plan_nested_hv(vm(version="vmx-08", host_nested_hv_supported=False, nested_hv_enabled=True), False)
    assert plan.spec == {"nestedHVEnabled": False}


def test_unknown_hardware_version_is_left_to_the_host():
    assert plan_nested_hv(vm(version="vmx-future"), True).spec == {"nestedHVEnabled": True}


def test_esxi_50_points_at_vhv_allow():
    with pytest.raises(UnsupportedError, match=r"ESXi 5.0 has no per-VM .*/etc/vmware/config.*vhv.allow"):
        plan_nested_hv(vm(api_version="5.0"), True)


def test_free_license_hint_spells_out_the_ssh_path():
    hint = nested_hv_restricted_hint("Lab VM 1", False, {"nestedHVEnabled": True, "vPMCEnabled": False})
    assert hint.startswith(
        'Use the SSH path instead, which the license does not restrict: run nestedvirt.esxi.vmx with vm: "Lab VM 1" '
        "and settings: {vhv.enable: true, vpmc.enable: false}"
    )
    assert "DCUI (Troubleshooting Options > Enable SSH)" in hint
    assert "Host Client (Host > Actions > Services > Enable Secure Shell (SSH))" in hint
    running = nested_hv_restricted_hint("x", True, {"nestedHVEnabled": True})
    assert "shut it down with nestedvirt.esxi.vm_power (state: shutdown), then run nestedvirt.esxi.vmx" in running


@pytest.mark.parametrize("name", ["a: b", 'say "hi"', "back\\slash", "tab\there", "ünï"])
def test_the_vm_name_in_the_hint_reads_back_as_yaml(name):
    hint = nested_hv_restricted_hint(name, False, {"nestedHVEnabled": True})
    quoted = hint.split("vm: ", 1)[1].split(" and settings:", 1)[0]
    assert yaml.safe_load("vm: %s" % quoted) == {"vm": name}
