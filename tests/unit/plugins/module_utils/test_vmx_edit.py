"""Validating a vmx request and planning the edit."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vmx_edit import (
    check_path,
    normalize_request,
    plan_edit,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vmx_format import VmxError


@pytest.mark.parametrize("path", ["", "relative/x.vmx", "x.vmx", "/vmfs/volumes/ds/", "/a/..", "/a/\x00b"])
def test_bad_paths_are_refused(path):
    with pytest.raises(VmxError):
        check_path(path)


def test_yaml_values_become_vmware_text():
    settings, remove = normalize_request({"vhv.enable": True, "x": False, "numvcpus": 4, "a": "b"}, ["old"])
    assert settings == {"vhv.enable": "TRUE", "x": "FALSE", "numvcpus": "4", "a": "b"}
    assert remove == ["old"]


@pytest.mark.parametrize(
    ("settings", "remove", "message"),
    [
        ({"a b": 1}, [], "invalid key"),
        ({"": 1}, [], "invalid key"),
        ({"a": None}, [], "must be a string, number or boolean"),
        ({"a": [1]}, [], "must be a string, number or boolean"),
        ({"A": 1, "a": 2}, [], "twice"),
        ({"a": 1}, ["A"], "both in settings and in remove"),
        ({}, ["a=b"], "invalid key"),
    ],
)
def test_bad_requests_are_refused(settings, remove, message):
    with pytest.raises(VmxError, match=message):
        normalize_request(settings, remove)


def test_plan_reports_before_and_after_of_each_touched_key():
    plan = plan_edit('vhv.enable = "FALSE"\nold = "1"\nold = "2"\n', {"vhv.enable": "TRUE", "new": "x"}, ["old"])
    assert plan.changed
    assert plan.after_text == 'vhv.enable = "TRUE"\nnew = "x"\n'
    assert plan.values == {
        "vhv.enable": {"before": "FALSE", "after": "TRUE"},
        "new": {"before": None, "after": "x"},
        "old": {"before": "2", "after": None},
    }


def test_plan_for_a_missing_file_creates_it():
    plan = plan_edit(None, {"vhv.allow": "TRUE"}, [])
    assert plan.changed and plan.after_text == 'vhv.allow = "TRUE"\n'


def test_no_change_plan():
    plan = plan_edit('vhv.enable = "true"\n', {"vhv.enable": "TRUE"}, ["absent"])
    assert not plan.changed
