"""nestedvirt.esxi.vmx (path mode) in process: the plugin's commands run under `busybox sh` with only
BusyBox applets on PATH (as on ESXi), on real files in the test's temporary directory."""

import difflib
from pathlib import Path

import pytest

ISSUE_SAMPLE = b'\xef\xbb\xbfVHV.Enable = "false"\r\n# a comment\r\ndisplayName = "a |22quoted|22 name"\r\n'


@pytest.fixture
def run_vmx(run_action):
    def run(args, check=False, diff=False):
        result = run_action("vmx", args, check=check, diff=diff)
        result.setdefault("failed", False)
        return result

    return run


def shown_diff(result):
    """The diff lines as the callback shows them (unified, before -> after)."""
    diff = result["diff"]
    return list(difflib.unified_diff(diff["before"].splitlines(), diff["after"].splitlines(), lineterm=""))


def test_issue_sample_check_apply_idempotent(run_vmx, tmp_path):
    path = tmp_path / "vm.vmx"
    path.write_bytes(ISSUE_SAMPLE)
    args = {"path": str(path), "settings": {"vhv.enable": True}}

    checked = run_vmx(args, check=True, diff=True)
    assert checked["changed"] is True
    assert checked["key_values"] == {"vhv.enable": {"before": "false", "after": "TRUE"}}
    assert checked["diff"]["before_header"] == checked["diff"]["after_header"] == str(path)
    lines = shown_diff(checked)
    assert '-\ufeffVHV.Enable = "false"' in lines and '+\ufeffVHV.Enable = "TRUE"' in lines
    assert path.read_bytes() == ISSUE_SAMPLE

    applied_without_diff = run_vmx(args, check=True)
    assert applied_without_diff["changed"] is True and "diff" not in applied_without_diff

    applied = run_vmx(args)
    assert applied["changed"] is True
    assert path.read_bytes() == ISSUE_SAMPLE.replace(b'"false"', b'"TRUE"')

    again = run_vmx(args, diff=True)
    assert again["changed"] is False and "diff" not in again
    assert path.read_bytes() == ISSUE_SAMPLE.replace(b'"false"', b'"TRUE"')


def test_backup_and_duplicates(run_vmx, tmp_path):
    path = tmp_path / "vm.vmx"
    path.write_text('vhv.enable = "FALSE"\nvhv.enable = "FALSE"\n')
    result = run_vmx({"path": str(path), "settings": {"vhv.enable": True}, "backup": True})
    assert result["duplicates_removed"] == ['vhv.enable = "FALSE"']
    assert Path(result["backup_file"]).read_text() == 'vhv.enable = "FALSE"\nvhv.enable = "FALSE"\n'
    assert path.read_text() == 'vhv.enable = "TRUE"\n'


def test_create_makes_etc_vmware_config(run_vmx, tmp_path):
    path = tmp_path / "config"
    missing = run_vmx({"path": str(path), "settings": {"vhv.allow": True}})
    assert missing["failed"] and "does not exist" in missing["msg"] and "create: true" in missing["msg"]
    created = run_vmx({"path": str(path), "settings": {"vhv.allow": True}, "create": True})
    assert created["changed"] and path.read_text() == 'vhv.allow = "TRUE"\n'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"path": "relative.vmx", "settings": {"a": 1}}, "must be absolute"),
        ({"path": "{dir}", "settings": {"a": 1}}, "is a directory"),
        ({"path": "{dir}/binary.vmx", "settings": {"a": 1}}, "not a text file"),
        ({"path": "{dir}/vm.vmx", "settings": {"bad key": 1}}, "invalid key"),
        ({"path": "{dir}/vm.vmx", "settings": {"": 1}}, "invalid key"),
        ({"path": "{dir}/vm.vmx", "settings": {'a"b': 1}}, "invalid key"),
        ({"path": "{dir}/vm.vmx", "remove": ["a#b"]}, "invalid key"),
        ({"path": "{dir}/vm.vmx", "settings": {"a": "x\u0000y"}}, "NUL"),
    ],
)
def test_bad_input_fails_clearly_and_touches_nothing(run_vmx, tmp_path, args, message):
    (tmp_path / "vm.vmx").write_text('a = "1"\n')
    (tmp_path / "binary.vmx").write_bytes(b"\x7fELF\x00\x01")
    args = {key: value.format(dir=tmp_path) if key == "path" else value for key, value in args.items()}
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    result = run_vmx(args)
    assert result["failed"] and message in result["msg"]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_a_file_esxi_cannot_read_is_refused_before_any_edit(run_vmx, tmp_path):
    path = tmp_path / "vm.vmx"
    original = b'.encoding = "UTF-8"\r\nvhv.enable = "FALSE"\r\nethernet0.present = TRUE FALSE\r\n'
    path.write_bytes(original)
    result = run_vmx({"path": str(path), "settings": {"vhv.enable": True}})
    assert result["failed"] and result["reason"] == "vmx_syntax_error"
    assert "line 3: syntax error" in result["msg"]
    assert result["syntax_errors"] == [{"line": 3, "text": "ethernet0.present = TRUE FALSE"}]
    assert path.read_bytes() == original and sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["vm.vmx"]


def test_disagreeing_duplicates_are_rewritten_to_one_line_and_reported(run_vmx, tmp_path):
    path = tmp_path / "vm.vmx"
    path.write_bytes(b'vhv.enable = "TRUE"\nx = "1"\nVHV.enable = "FALSE"\nx = "2"\n')
    args = {"path": str(path), "settings": {"vhv.enable": True}}
    result = run_vmx(args)
    assert result["changed"] and result["key_values"] == {"vhv.enable": {"before": "TRUE", "after": "TRUE"}}
    assert result["duplicates_removed"] == ['VHV.enable = "FALSE"']
    assert result["conflicts"] == {
        "vhv.enable": [{"line": 1, "value": "TRUE"}, {"line": 3, "value": "FALSE"}],
        "x": [{"line": 2, "value": "1"}, {"line": 4, "value": "2"}],  # not touched: left, and warned about
    }
    assert path.read_bytes() == b'vhv.enable = "TRUE"\nx = "1"\nx = "2"\n'
    assert result["warnings"] == [
        "%s defines 'x' 2 times with different values (lines 2, 4); ESXi uses the first (line 2)" % path
    ]
    again = run_vmx(args)
    assert again["changed"] is False and list(again["conflicts"]) == ["x"]


def test_a_file_changed_between_read_and_write_is_read_and_planned_again(run_action, tmp_path, monkeypatch):
    from ansible_collections.nestedvirt.esxi.plugins.action import vmx

    path = tmp_path / "vm.vmx"
    path.write_text('a = "1"\n')
    real = vmx.ActionModule._read_and_plan
    reads = []

    def read_then_change(self, *args):
        found, plan = real(self, *args)
        reads.append(found.md5)
        if len(reads) == 1:
            path.write_text('a = "1"\nb = "2"\n')  # another run's edit lands after this read
        return found, plan

    monkeypatch.setattr(vmx.ActionModule, "_read_and_plan", read_then_change)
    result = run_action("vmx", {"path": str(path), "settings": {"vhv.enable": True}})
    assert result["changed"] and len(reads) == 2 and reads[0] != reads[1]
    assert path.read_text() == 'a = "1"\nb = "2"\nvhv.enable = "TRUE"\n'  # the other edit kept
