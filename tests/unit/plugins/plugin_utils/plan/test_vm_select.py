"""Selecting one VM by exact name or vmid."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._vm_select import (
    VmSelectionError,
    select_vm,
    select_vm_names,
)

VMS = [
    {"vmid": "1", "name": "web"},
    {"vmid": "2", "name": "db"},
    {"vmid": "3", "name": "db"},
    {"vmid": "4", "name": "Lab VM"},
]


def test_exact_name_and_vmid():
    assert select_vm(VMS, name="web")["vmid"] == "1"
    assert select_vm(VMS, vmid=4)["name"] == "Lab VM"


def test_ambiguous_name_lists_candidates():
    with pytest.raises(VmSelectionError, match=r"2 VMs are named 'db' \('db' \(vmid 2\), 'db' \(vmid 3\)\)"):
        select_vm(VMS, name="db")


def test_unknown_name_suggests_a_near_match_or_lists_the_host():
    with pytest.raises(VmSelectionError, match="did you mean 'Lab VM'"):
        select_vm(VMS, name="lab vm")
    with pytest.raises(VmSelectionError, match="the host has 'web'"):
        select_vm(VMS, name="nothing")
    with pytest.raises(VmSelectionError, match="no VMs"):
        select_vm([], vmid="9")


def test_exactly_one_selector():
    with pytest.raises(VmSelectionError):
        select_vm(VMS)
    with pytest.raises(VmSelectionError):
        select_vm(VMS, name="web", vmid="1")


FLEET = [
    {"vmid": "1", "name": "ci-runner-1", "system": False},
    {"vmid": "2", "name": "ci-runner-2", "system": False},
    {"vmid": "3", "name": "db", "system": False},
    {"vmid": "1698", "name": "vCLS-6b723342", "system": True},
]


def test_names_patterns_and_all():
    assert select_vm_names(FLEET, ["ci-runner-*"]) == ["ci-runner-1", "ci-runner-2"]
    assert select_vm_names(FLEET, ["db", "ci-runner-[2]", "db"]) == ["db", "ci-runner-2"]
    assert select_vm_names(FLEET, "all") == ["ci-runner-1", "ci-runner-2", "db"]
    assert select_vm_names(FLEET, ["gone"]) == ["gone"]  # looked up later, which says it is missing


def test_system_vms_only_by_their_exact_name():
    assert select_vm_names(FLEET, ["*"]) == ["ci-runner-1", "ci-runner-2", "db"]
    assert select_vm_names(FLEET, ["vCLS-*", "all"]) == ["ci-runner-1", "ci-runner-2", "db"]
    assert select_vm_names(FLEET, ["vCLS-6b723342"]) == ["vCLS-6b723342"]


@pytest.mark.parametrize("entry", ["", None, 3])
def test_bad_entries_are_refused(entry):
    with pytest.raises(VmSelectionError, match="non-empty name"):
        select_vm_names(FLEET, [entry])
