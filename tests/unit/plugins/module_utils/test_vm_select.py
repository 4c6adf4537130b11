"""Selecting one VM by exact name or vmid."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vm_select import VmSelectionError, select_vm

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
