"""An ESXi host and its VMs read through the vSphere API, turned into host_info's facts (no server
involved): the retrieval's result is built from pyvmomi's own objects, in the shape the
PropertyCollector returns, ``[(object, {path: value})]``; then the facts are planned as host_info's are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
import yaml
from pyVmomi import vim, vmodl

from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import HOST_CONFIG_PATH
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._host_read import (
    filter_specs,
    host_facts,
    vm_paths,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._vmx_fields import MARKER_KEY, MARKER_VALUE
from ansible_collections.nestedvirt.esxi.plugins.modules import host_info
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import host_plan

HOST = vim.HostSystem("host-10")
CLUSTER = vim.ClusterComputeResource("domain-c7")
DATACENTER = vim.Datacenter("datacenter-2")
VM_FOLDER = vim.Folder("group-v4")
FOLDER_A = vim.Folder("group-v20")
UUID = "5032C8A4-3C0E-5A10-A1B2-0C7E6E9F3A11"


def host_values(version="8.0.1", **values):
    found = {
        "name": "esxi01.example.com",
        "parent": CLUSTER,
        "runtime.connectionState": vim.HostSystem.ConnectionState.connected,
        "runtime.inMaintenanceMode": False,
        "capability.nestedHVSupported": True,
        "summary.config.product.version": version,
        "summary.config.product.build": "21495797",
    }
    found.update(values)
    return found


def vm_values(name, parent=FOLDER_A, power="poweredOn", marker=False, uuid=None, **values):
    found = {
        "name": name,
        "parent": parent,
        "config.instanceUuid": uuid or "5032c8a4-0000-0000-0000-%012d" % len(name),
        "config.version": "vmx-19",
        "config.files.vmPathName": "[datastore1] %s/%s.vmx" % (name, name),
        "config.guestId": "debian12_64Guest",
        "config.annotation": "",
        "config.template": False,
        "config.extraConfig": [vim.option.OptionValue(key="ethernet0.networkName", value="VM Network")]
        + ([vim.option.OptionValue(key=MARKER_KEY, value=MARKER_VALUE)] if marker else []),
        "runtime.powerState": getattr(vim.VirtualMachine.PowerState, power),
        "runtime.connectionState": "connected",
        "guest.toolsRunningStatus": "guestToolsRunning" if power == "poweredOn" else "guestToolsNotRunning",
        "guest.ipAddress": "192.0.2.50" if power == "poweredOn" else None,
        "config.firmware": "bios",
        "config.hardware.numCPU": 2,
        "config.hardware.memoryMB": 2048,
        "config.nestedHVEnabled": False,
        "config.vPMCEnabled": False,
        "config.flags.vvtdEnabled": False,
        "config.flags.vbsEnabled": False,
    }
    found.update(values)
    return found


def inventory(*vms, host=None, licenses=None):
    """A retrieval's result: the host, its cluster, the folders up to the datacenter, the VMs (and
    the license manager, as on a direct connection to an ESXi host)."""
    found = [
        (HOST, host or host_values()),
        (CLUSTER, {"name": "Lab"}),
        (DATACENTER, {"name": "DC1"}),
        (VM_FOLDER, {"name": "vm", "parent": DATACENTER}),
        (FOLDER_A, {"name": "A", "parent": VM_FOLDER}),
    ]
    found += list(vms)
    if licenses is not None:
        found.append(
            (
                vim.LicenseManager("LicenseManager"),
                {"licenses": [vim.LicenseManager.LicenseInfo(editionKey=key) for key in licenses]},
            )
        )
    return found


def facts_of(found, api_version="8.0.1.0", vcenter=True):
    return host_facts(found, HOST, "vcenter.example.com:443", api_version, vcenter)


FLEET = inventory(
    (vim.VirtualMachine("vm-42"), vm_values("Lab VM 1", uuid=UUID)),
    (vim.VirtualMachine("vm-7"), vm_values("top", parent=VM_FOLDER, power="poweredOff")),
    (vim.VirtualMachine("vm-100"), vm_values("template", **{"config.template": True})),
)


def vm_named(facts, name):
    return next(vm for vm in facts["vms"] if vm["name"] == name)


# --- the facts' shape ----------------------------------------------------------------------------


def test_the_facts_have_host_infos_shape():
    """Every field of host_info's documented sample, but the two the API has no such thing for."""
    sample = yaml.safe_load(host_info.RETURN)["host"]["contains"]
    facts = facts_of(FLEET)
    assert set(sample) <= set(facts)
    assert set(sample["nesting"]["sample"]) <= set(facts["nesting"])
    not_through_the_api = {"datastore", "vmx_md5"}  # see the report: host_info has them, the API path not
    assert set(sample["vms"]["sample"][0]) - not_through_the_api <= set(facts["vms"][0])


def test_the_host_and_its_release():
    facts = facts_of(FLEET)
    assert facts["source"] == "api"
    assert (facts["name"], facts["version"], facts["build"], facts["cluster"]) == (
        "esxi01.example.com",
        "8.0.1",
        "21495797",
        "Lab",
    )
    assert facts["host_state"] == {"connection_state": "connected", "in_maintenance_mode": False}
    assert facts["nesting"]["nested_hv_supported"] is True
    assert facts["nesting"]["hv_support"] is None  # the API has no such value


def test_nesting_is_per_vm_from_5_1():
    nesting = facts_of(inventory(host=host_values("5.1.0")), api_version="5.1")["nesting"]
    assert (nesting["method"], nesting["key"], nesting["path"], nesting["min_hardware_version"]) == (
        "vm",
        "vhv.enable",
        None,
        9,
    )


def test_nesting_is_host_wide_on_5_0():
    nesting = facts_of(inventory(host=host_values("5.0.0")), api_version="5.0")["nesting"]
    assert (nesting["method"], nesting["key"], nesting["path"], nesting["min_hardware_version"]) == (
        "host",
        "vhv.allow",
        HOST_CONFIG_PATH,
        None,
    )


def test_an_unknown_capability_is_none_not_false():
    found = inventory(host=host_values(**{"capability.nestedHVSupported": None}))
    assert facts_of(found)["nesting"]["nested_hv_supported"] is None


def test_each_vm_by_its_moid_uuid_and_inventory_path_templates_left_out():
    facts = facts_of(FLEET)
    assert [vm["name"] for vm in facts["vms"]] == ["top", "Lab VM 1"]  # by moid: vm-7, vm-42; no template
    lab = vm_named(facts, "Lab VM 1")
    assert (lab["vmid"], lab["moid"]) == ("vm-42", "vm-42")
    assert lab["instance_uuid"] == UUID.lower()
    assert lab["path"] == "DC1/vm/A/Lab VM 1"
    assert vm_named(facts, "top")["path"] == "DC1/vm/top"


def test_each_vm_reads_as_host_info_reads_it():
    lab = vm_named(facts_of(FLEET), "Lab VM 1")
    # a plain str, not the pyVmomi enum (a str subclass the facts would carry into Ansible)
    assert lab["power_state"] == "poweredOn" and not isinstance(lab["power_state"], vim.VirtualMachine.PowerState)
    assert lab["tools_running_status"] == "guestToolsRunning"
    assert lab["hardware_version"] == 19
    assert lab["datastore_path"] == "[datastore1] Lab VM 1/Lab VM 1.vmx"
    assert lab["ip_address"] == "192.0.2.50"
    assert lab["vmx"] == {
        "vhv.enable": "FALSE",
        "vpmc.enable": "FALSE",
        "vvtd.enable": "FALSE",
        "vbs.enable": "FALSE",
        "firmware": "bios",
        "numvcpus": "2",
        "memsize": "2048",
    }
    assert (lab["nested_hv_enabled"], lab["restart_pending"], lab["system"]) == (False, False, False)


def test_an_unreadable_hardware_version_is_none():
    found = inventory((vim.VirtualMachine("vm-42"), vm_values("a", **{"config.version": "vmx-future"})))
    assert facts_of(found)["vms"][0]["hardware_version"] is None


def test_the_marker_makes_the_restart_pending():
    found = inventory((vim.VirtualMachine("vm-42"), vm_values("a", marker=True)))
    vm = facts_of(found)["vms"][0]
    assert vm["restart_pending"] is True
    assert MARKER_KEY not in vm["vmx"]


def test_nesting_on_reads_as_enabled():
    found = inventory((vim.VirtualMachine("vm-42"), vm_values("a", **{"config.nestedHVEnabled": True})))
    vm = facts_of(found)["vms"][0]
    assert vm["vmx"]["vhv.enable"] == "TRUE" and vm["nested_hv_enabled"] is True


def test_a_broken_folder_chain_gives_no_path():
    orphan = vim.Folder("group-v99")  # not in the retrieval
    found = inventory((vim.VirtualMachine("vm-42"), vm_values("a", parent=orphan)))
    assert facts_of(found)["vms"][0]["path"] is None


# --- whether the API takes writes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("editions", "vcenter", "writable"),
    [
        (["esxBasic"], False, False),  # the free license, read straight from the host
        (["esxBasic"], True, True),  # a host in a vCenter is licensed
        (["esxEnterprisePlus"], False, True),
        (["esxBasic", "esxEnterprisePlus"], False, True),
        ([], False, True),  # nothing says it is free
        (None, False, True),  # no license manager read
    ],
)
def test_only_the_free_license_on_a_direct_connection_is_read_only(editions, vcenter, writable):
    api = facts_of(inventory(licenses=editions), vcenter=vcenter)["api"]
    assert api["writable"] is writable
    assert api["editions"] == sorted(editions or [])
    assert api["vcenter"] is vcenter
    assert (api["endpoint"], api["version"]) == ("vcenter.example.com:443", "8.0.1.0")


# --- what is read on each API version ---------------------------------------------------------------


def test_no_nesting_fields_below_api_5_1():
    paths = vm_paths("5.0")
    assert not [path for path in paths if "nestedHV" in path or "vPMC" in path or path.startswith("config.flags.")]
    assert "config.extraConfig" in paths and "runtime.powerState" in paths


def test_the_nesting_fields_but_no_flags_below_6_7():
    paths = vm_paths("6.5")
    assert {"config.nestedHVEnabled", "config.vPMCEnabled"} <= set(paths)
    assert not [path for path in paths if path.startswith("config.flags.")]


def test_every_field_from_6_7():
    paths = vm_paths("6.7.1")
    assert {
        "config.nestedHVEnabled",
        "config.vPMCEnabled",
        "config.flags.vvtdEnabled",
        "config.flags.vbsEnabled",
    } <= set(paths)
    assert len(paths) == len(set(paths))


def test_the_retrieval_reads_the_vm_paths_of_its_api_and_the_license_only_when_asked():
    specs = filter_specs(vmodl.query.PropertyCollector, vim, HOST, "6.5")
    assert len(specs) == 1
    by_type = dict((spec.type, list(spec.pathSet)) for spec in specs[0].propSet)
    assert by_type[vim.VirtualMachine] == vm_paths("6.5")
    assert specs[0].objectSet[0].obj is HOST
    with_license = filter_specs(vmodl.query.PropertyCollector, vim, HOST, "6.5", vim.LicenseManager("LicenseManager"))
    assert [list(spec.pathSet) for spec in with_license[1].propSet] == [["licenses"]]


# --- the facts plan as host_info's do --------------------------------------------------------------


def plan_actions(found, names=None):
    facts = facts_of(found)
    plan = host_plan(facts, names or [vm["name"] for vm in facts["vms"]], method="api")
    return plan, dict((entry["name"], (entry["action"], entry["reason"])) for entry in plan["vms"])


def test_the_facts_plan_as_host_infos_do():
    found = inventory(
        (vim.VirtualMachine("vm-1"), vm_values("runs without nesting")),
        (vim.VirtualMachine("vm-2"), vm_values("runs with nesting", **{"config.nestedHVEnabled": True})),
        (
            vim.VirtualMachine("vm-3"),
            vm_values("left off", power="poweredOff", marker=True, **{"config.nestedHVEnabled": True}),
        ),
        (vim.VirtualMachine("vm-4"), vm_values("stale marker", marker=True, **{"config.nestedHVEnabled": True})),
    )
    plan, actions = plan_actions(found)
    assert actions == {
        "runs without nesting": ("power_cycle", None),
        "runs with nesting": ("nothing", None),
        "left off": ("resume", None),
        "stale marker": ("remove_marker", None),
    }
    cycled = next(entry for entry in plan["vms"] if entry["action"] == "power_cycle")
    assert cycled["vmx_settings"] == {"vhv.enable": "TRUE"}
    assert cycled["handle"]["vmid"] == "vm-1" and cycled["handle"]["instance_uuid"].startswith("5032c8a4-")


def test_a_vm_is_planned_by_its_inventory_path():
    _plan, actions = plan_actions(FLEET, ["/DC1/vm/A/Lab VM 1"])
    assert actions == {"Lab VM 1": ("power_cycle", None)}


HOST_REFUSALS = [
    ({"runtime.inMaintenanceMode": True}, "host_in_maintenance", "maintenance mode"),
    ({"runtime.connectionState": vim.HostSystem.ConnectionState.disconnected}, "host_disconnected", "disconnected"),
    ({"runtime.connectionState": vim.HostSystem.ConnectionState.notResponding}, "host_disconnected", "notResponding"),
    ({"capability.nestedHVSupported": False}, "host_cannot_nest", "capability.nestedHVSupported"),
]


@pytest.mark.parametrize(("host", "reason", "named"), HOST_REFUSALS, ids=[case[1] for case in HOST_REFUSALS])
def test_a_host_that_cannot_take_the_change_refuses_every_vm_and_shuts_none_down(host, reason, named):
    found = inventory(
        (vim.VirtualMachine("vm-1"), vm_values("runs without nesting")),
        (vim.VirtualMachine("vm-2"), vm_values("off", power="poweredOff")),
        (vim.VirtualMachine("vm-3"), vm_values("left off", power="poweredOff", marker=True)),
        host=host_values(**host),
    )
    plan, actions = plan_actions(found)
    assert set(actions.values()) == {("refuse", reason)}
    assert len(plan["refused"]) == 3
    assert plan["batches"] == []  # no step, so nothing is shut down (or powered on)
    for entry in plan["refused"]:
        assert named in entry["reasons"][0]


def test_an_inaccessible_vm_is_refused_not_configured():
    inaccessible = {
        "name": "gone",
        "parent": FOLDER_A,
        "runtime.powerState": vim.VirtualMachine.PowerState.poweredOff,
        "runtime.connectionState": "inaccessible",
    }
    facts = facts_of(inventory((vim.VirtualMachine("vm-9"), inaccessible)))
    entry = host_plan(facts, ["gone"], method="api", upgrade_hardware=True)["vms"][0]
    assert (entry["action"], entry["reason"]) == ("refuse", "vm_unreadable")
    assert "inaccessible" in entry["reasons"][0]
