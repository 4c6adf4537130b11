"""Validating a vmx request and planning the edit."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._edit import (
    check_path,
    normalize_request,
    plan_edit,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxError


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
        ({"a": "x\x00y"}, [], "NUL"),
        ({"a\x00": "x"}, [], "invalid key"),
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
        "old": {"before": "1", "after": None},  # ESXi reads the first definition
    }
    assert plan.conflicts == {"old": [{"line": 2, "value": "1"}, {"line": 3, "value": "2"}]}


def test_plan_for_a_missing_file_creates_it():
    plan = plan_edit(None, {"vhv.allow": "TRUE"}, [])
    assert plan.changed and plan.after_text == 'vhv.allow = "TRUE"\n'


def test_no_change_plan():
    plan = plan_edit('vhv.enable = "true"\n', {"vhv.enable": "TRUE"}, ["absent"])
    assert not plan.changed


def test_keys_that_differ_only_beyond_ascii_case_are_two_keys():
    settings, _remove = normalize_request({"É": 1, "é": 2}, [])
    assert settings == {"É": "1", "é": "2"}
    with pytest.raises(VmxError, match="twice"):
        normalize_request({"VHV.enable": 1, "vhv.ENABLE": 2}, [])


def test_a_file_esxi_cannot_read_is_refused_with_its_line_numbers():
    text = 'a = "1"\nx = a b\r\nb = 2\rjunk\n'
    with pytest.raises(VmxError, match=r"/vm.vmx line 2: syntax error.*'x = a b' \(and 1 more\)") as caught:
        plan_edit(text, {"vhv.enable": "TRUE"}, [], "/vm.vmx")
    assert caught.value.reason == "vmx_syntax_error"
    assert caught.value.details == {"syntax_errors": [{"line": 2, "text": "x = a b"}, {"line": 4, "text": "junk"}]}
    # removing a key does not get past it either
    with pytest.raises(VmxError, match="syntax error"):
        plan_edit(text, {}, ["a"])


def test_disagreeing_copies_are_rewritten_and_reported_even_when_the_first_holds_the_value():
    plan = plan_edit('vhv.enable = "TRUE"\nvhv.enable = "FALSE"\nx = 1\nx = 2\n', {"vhv.enable": "TRUE"}, [])
    assert plan.changed and plan.after_text == 'vhv.enable = "TRUE"\nx = 1\nx = 2\n'
    assert plan.values == {"vhv.enable": {"before": "TRUE", "after": "TRUE"}}
    assert plan.duplicates_removed == ['vhv.enable = "FALSE"']
    assert plan.conflicts == {
        "vhv.enable": [{"line": 1, "value": "TRUE"}, {"line": 2, "value": "FALSE"}],
        "x": [{"line": 3, "value": "1"}, {"line": 4, "value": "2"}],
    }


def test_agreeing_copies_are_no_conflict():
    plan = plan_edit('a = "TRUE"\na = true\n', {}, [])
    assert not plan.changed and plan.conflicts == {}
