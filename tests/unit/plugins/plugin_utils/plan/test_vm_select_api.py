"""Selecting one VM among facts read through the vSphere API: by name, inventory path or instance
UUID; a name two VMs share is refused, naming both, never guessed."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import host_plan
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._vm_select import VmSelectionError, select_vm

WEB_UUID = "5032c8a4-3c0e-5a10-a1b2-0c7e6e9f3a11"
DB_LINUX_UUID = "5032aaaa-0000-0000-0000-000000000001"
DB_WINDOWS_UUID = "5032bbbb-0000-0000-0000-000000000002"


def api_vm(name, moid, folder, uuid):
    """A VM as vsphere_host_facts gives it (instance UUIDs lower-cased)."""
    return {
        "vmid": moid,
        "moid": moid,
        "name": name,
        "path": "DC1/vm/%s/%s" % (folder, name),
        "instance_uuid": uuid,
        "power_state": "poweredOn",
        "tools_running_status": "guestToolsRunning",
        "hardware_version": 19,
        "vmx": {"vhv.enable": "FALSE"},
    }


VMS = [
    api_vm("web", "vm-42", "Linux", WEB_UUID),
    api_vm("db", "vm-43", "Linux", DB_LINUX_UUID),
    api_vm("db", "vm-44", "Windows", DB_WINDOWS_UUID),
]


def test_by_name():
    assert select_vm(VMS, name="web")["vmid"] == "vm-42"


@pytest.mark.parametrize("path", ["DC1/vm/Windows/db", "/DC1/vm/Windows/db"])
def test_by_inventory_path_with_or_without_a_leading_slash(path):
    assert select_vm(VMS, name=path)["vmid"] == "vm-44"


@pytest.mark.parametrize("uuid", [DB_LINUX_UUID, DB_LINUX_UUID.upper()])
def test_by_instance_uuid_in_any_case(uuid):
    assert select_vm(VMS, name=uuid)["vmid"] == "vm-43"


def test_a_path_is_the_whole_path_not_a_part_of_it():
    with pytest.raises(VmSelectionError) as raised:
        select_vm(VMS, name="Windows/db")
    assert raised.value.reason == "vm_not_found"


def test_a_shared_name_is_ambiguous_and_names_both_paths_and_uuids():
    with pytest.raises(VmSelectionError) as raised:
        select_vm(VMS, name="db")
    error = raised.value
    assert error.reason == "vm_ambiguous"
    message = str(error)
    assert message.startswith("2 VMs are named 'db'")
    for text in ("'DC1/vm/Linux/db'", DB_LINUX_UUID, "'DC1/vm/Windows/db'", DB_WINDOWS_UUID):
        assert text in message
    assert message.endswith("select one by its inventory path or instance UUID")


def test_facts_read_over_ssh_still_say_select_one_by_vmid():
    ssh_vms = [{"vmid": "2", "name": "db"}, {"vmid": "3", "name": "db"}]
    with pytest.raises(VmSelectionError) as raised:
        select_vm(ssh_vms, name="db")
    assert raised.value.reason == "vm_ambiguous"
    assert str(raised.value) == "2 VMs are named 'db' ('db' (vmid 2), 'db' (vmid 3)); select one by vmid"


def test_the_host_plan_refuses_a_shared_name_as_ambiguous_and_plans_the_others():
    facts = {"version": "8.0.1", "nesting": {"method": "vm", "nested_hv_supported": True}, "vms": VMS}
    plan = host_plan(facts, ["db", "web", "ghost"], method="api")
    reasons = dict((entry["name"], (entry["action"], entry["reason"])) for entry in plan["vms"])
    assert reasons == {
        "db": ("refuse", "vm_ambiguous"),
        "web": ("power_cycle", None),
        "ghost": ("refuse", "vm_not_found"),
    }
    ambiguous = plan["vms"][0]
    assert DB_LINUX_UUID in ambiguous["reasons"][0] and DB_WINDOWS_UUID in ambiguous["reasons"][0]
    assert [entry["name"] for batch in plan["batches"] for entry in batch] == ["web"]
