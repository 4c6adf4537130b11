"""nestedvirt.esxi.vm_nested_hv run in process, without a server: how the VM is selected.

The lab's vSphere simulator covers the rest (tests/integration/test_vsphere_modules.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

CONNECTION = {"hostname": "127.0.0.1", "username": "root", "password": "pw-Not-Shown-3"}


def test_a_vm_must_be_named(run_module):
    result = run_module("vm_nested_hv", dict(CONNECTION))
    assert result["failed"]
    assert result["msg"] == "one of the following is required: name, moid"


def test_name_and_moid_exclude_each_other(run_module):
    result = run_module("vm_nested_hv", dict(CONNECTION, name="Lab VM 1", moid="1"))
    assert result["failed"]
    assert result["msg"] == "parameters are mutually exclusive: name|moid"


def test_ca_file_without_validation_is_warned_about(run_module, tmp_path):
    args = dict(CONNECTION, name="x", port=1, validate_certs=False, ca_file=str(tmp_path / "ca.pem"))
    result = run_module("vm_nested_hv", args)
    assert result["failed"] and "connection refused" in result["msg"]
    assert "ca_file is ignored because validate_certs is false" in result["warnings"]
    assert CONNECTION["password"] not in result["output"]
