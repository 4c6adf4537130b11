"""The host's plan refuses before anything changes: a host whose CPU cannot nest, a VM that lacks
what virtualization-based security needs, a switch the API path cannot set."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._hv_support import hv_support_meaning
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._inventory import host_cpu_nesting
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import host_plan
from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import load_fixture
from ansible_collections.nestedvirt.esxi.tests.unit.plugins.plugin_utils.plan.test_host_plan import vm

VBS_READY = {"firmware": "efi", "uefi.secureBoot.enabled": "TRUE"}


def facts(*vms, version="6.7.0", cpu=None):
    nesting = {"method": "vm", "host_vhv_allow": False}
    if cpu is not None:
        nesting.update(host_cpu_nesting(cpu))
    return {"version": version, "nesting": nesting, "vms": list(vms)}


def outcome(plan):
    return {entry["name"]: (entry["action"], entry["reason"]) for entry in plan["vms"]}


def test_a_host_that_cannot_nest_refuses_every_vm_before_any_power_operation():
    host = facts(
        vm("on", "1"),
        vm("off", "2", power="poweredOff"),
        vm("set", "3", vmx={"vhv.enable": "TRUE"}),
        cpu=load_fixture("6.7.0", "esxcli-hardware-cpu-global-get-no-nesting"),
    )
    plan = host_plan(host, ["on", "off", "set"])
    assert outcome(plan) == dict.fromkeys(("on", "off", "set"), ("refuse", "host_cannot_nest"))
    assert plan["batches"] == []  # nothing is shut down, written or booted
    text = plan["vms"][0]["reasons"][0]
    assert "HV Support: 1" in text and hv_support_meaning(1) in text


def test_turning_nesting_off_on_such_a_host_is_not_refused():
    host = facts(vm("set", "3", vmx={"vhv.enable": "TRUE"}), cpu="HV Support: 0\n")
    assert outcome(host_plan(host, ["set"], state="disabled")) == {"set": ("power_cycle", None)}


@pytest.mark.parametrize("cpu", [None, "", "Error: Unknown command or namespace hardware cpu global get\n"])
def test_an_unknown_cpu_answer_refuses_nothing(cpu):
    assert outcome(host_plan(facts(vm("on", "1"), cpu=cpu), ["on"])) == {"on": ("power_cycle", None)}


def test_a_host_that_can_nest_plans_as_before():
    host = facts(vm("on", "1"), cpu=load_fixture("9.0.0", "esxcli-hardware-cpu-global-get-reliable-memory"))
    assert outcome(host_plan(host, ["on"])) == {"on": ("power_cycle", None)}


def test_the_new_switches_are_off_by_default_and_set_when_asked():
    host = facts(vm("w", "1", vmx=VBS_READY))
    assert host_plan(host, ["w"])["vms"][0]["vmx_settings"] == {"vhv.enable": "TRUE"}
    extras = {"iommu": True, "vbs": True, "passthrough": True}
    assert host_plan(host, ["w"], extras=extras)["vms"][0]["vmx_settings"] == {
        "vhv.enable": "TRUE",
        "vvtd.enable": "TRUE",
        "vbs.enable": "TRUE",
        "vhv.allowPassthru": "TRUE",
    }
    # Turning nesting off removes them with it.
    done = facts(
        vm("w", "1", vmx=dict(VBS_READY, **{"vhv.enable": "TRUE", "vvtd.enable": "TRUE", "vbs.enable": "TRUE"}))
    )
    assert host_plan(done, ["w"], state="disabled")["vms"][0]["vmx_remove"] == [
        "vbs.enable",
        "vhv.enable",
        "vvtd.enable",
    ]


def test_vbs_with_every_precondition_is_planned():
    host = facts(vm("w", "1", vmx=VBS_READY))
    assert outcome(host_plan(host, ["w"], extras={"iommu": True, "vbs": True})) == {"w": ("power_cycle", None)}


def test_vbs_counts_an_iommu_already_on_in_the_vmx():
    host = facts(vm("w", "1", vmx=dict(VBS_READY, **{"vvtd.enable": "TRUE"})))
    assert outcome(host_plan(host, ["w"], extras={"vbs": True})) == {"w": ("power_cycle", None)}


@pytest.mark.parametrize(
    "version, hardware, vmx, extras, named",
    [
        ("6.5.0", 14, VBS_READY, {"iommu": True}, "ESXi 6.7 or later (the host runs 6.5.0)"),
        ("6.7.0", 13, VBS_READY, {"iommu": True}, "virtual hardware 14 or later (the VM has 13)"),
        ("6.7.0", 14, {"uefi.secureBoot.enabled": "TRUE"}, {"iommu": True}, "EFI firmware"),
        ("6.7.0", 14, {"firmware": "bios", "uefi.secureBoot.enabled": "TRUE"}, {"iommu": True}, "the VM has bios"),
        ("6.7.0", 14, {"firmware": "efi"}, {"iommu": True}, "EFI secure boot"),
        ("6.7.0", 14, {"firmware": "efi", "uefi.secureBoot.enabled": "FALSE"}, {"iommu": True}, "EFI secure boot"),
        ("6.7.0", 14, VBS_READY, {}, "the virtual IOMMU on (iommu)"),
    ],
)
def test_each_missing_vbs_precondition_is_named(version, hardware, vmx, extras, named):
    host = facts(vm("w", "1", hardware=hardware, vmx=vmx), version=version)
    plan = host_plan(host, ["w"], extras=dict(extras, vbs=True))
    assert outcome(plan) == {"w": ("refuse", "vbs_preconditions")}
    assert named in plan["vms"][0]["reasons"][0]
    assert plan["batches"] == []


def test_every_missing_vbs_precondition_is_named_at_once():
    host = facts(vm("w", "1", hardware=11), version="6.5.0")
    text = host_plan(host, ["w"], extras={"vbs": True})["vms"][0]["reasons"][0]
    for part in ("ESXi 6.7", "hardware 14", "EFI firmware", "secure boot", "IOMMU"):
        assert part in text


def test_vbs_needs_nesting_in_the_result():
    """On ESXi 5.0 nesting is host-wide (no per-VM vhv.enable): vbs is refused there anyway (5.0 < 6.7)."""
    host = facts(vm("w", "1", vmx=VBS_READY), version="5.0.0")
    host["nesting"]["method"] = "host"
    text = host_plan(host, ["w"], extras={"vbs": True, "iommu": True})["vms"][0]["reasons"][0]
    assert "nested hardware virtualization on" in text and "ESXi 6.7" in text


@pytest.mark.parametrize("method, refused", [("ssh", False), ("api", True), ("auto", True)])
def test_passthrough_is_refused_on_the_api_path(method, refused):
    plan = host_plan(facts(vm("p", "1")), ["p"], extras={"passthrough": True}, method=method)
    entry = plan["vms"][0]
    if refused:
        assert (entry["action"], entry["reason"]) == ("refuse", "switch_not_in_api")
        assert "vhv.allowPassthru" in entry["reasons"][0]
    else:
        assert entry["vmx_settings"]["vhv.allowPassthru"] == "TRUE"


def test_an_iommu_below_hardware_14_is_refused_not_written_to_be_ignored():
    plan = host_plan(facts(vm("old", "1", hardware=13)), ["old"], extras={"iommu": True})
    assert outcome(plan) == {"old": ("refuse", "hardware_too_old")}
    assert "below the 14 that iommu (vvtd.enable) needs" in plan["vms"][0]["reasons"][0]
    assert outcome(host_plan(facts(vm("old", "1", hardware=13)), ["old"])) == {"old": ("power_cycle", None)}


def test_switches_that_need_hardware_9_go_with_the_upgrade():
    old = facts(vm("old", "1", hardware=8))
    plan = host_plan(old, ["old"], extras={"vpmc": True, "passthrough": True}, upgrade_hardware=True)
    assert outcome(plan) == {"old": ("power_cycle", None)} and plan["vms"][0]["upgrade_hardware"]
