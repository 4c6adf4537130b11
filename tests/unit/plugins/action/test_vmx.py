"""nestedvirt.esxi.vmx end to end through ansible, `-c local`, the shell being `busybox sh` with
only BusyBox applets on PATH (as on ESXi)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ANSIBLE = Path(sys.executable).parent / "ansible"
ISSUE_SAMPLE = b'\xef\xbb\xbfVHV.Enable = "false"\r\n# a comment\r\ndisplayName = "a |22quoted|22 name"\r\n'


@pytest.fixture
def run_vmx(busybox_bin, tmp_path):
    def run(args, *flags):
        tree = tmp_path / "results"
        env = dict(
            os.environ,
            PATH=str(busybox_bin),
            ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
            ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        )
        done = subprocess.run(
            [str(ANSIBLE), "localhost", "-c", "local", "-e", "ansible_shell_executable=%s" % (busybox_bin / "sh")]
            + ["-m", "nestedvirt.esxi.vmx", "-a", json.dumps(args), "--tree", str(tree), *flags],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        result = json.loads((tree / "localhost").read_text())
        result["stdout"] = done.stdout  # the diff is shown there, not kept in the result
        result["failed"] = done.returncode != 0
        return result

    return run


def test_issue_sample_check_apply_idempotent(run_vmx, tmp_path):
    path = tmp_path / "vm.vmx"
    path.write_bytes(ISSUE_SAMPLE)
    args = {"path": str(path), "settings": {"vhv.enable": True}}

    checked = run_vmx(args, "--check", "--diff")
    assert checked["changed"] is True
    assert checked["values"] == {"vhv.enable": {"before": "false", "after": "TRUE"}}
    assert '-\ufeffVHV.Enable = "false"' in checked["stdout"] and '+\ufeffVHV.Enable = "TRUE"' in checked["stdout"]
    assert path.read_bytes() == ISSUE_SAMPLE

    applied = run_vmx(args)
    assert applied["changed"] is True
    assert path.read_bytes() == ISSUE_SAMPLE.replace(b'"false"', b'"TRUE"')

    again = run_vmx(args)
    assert again["changed"] is False
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
    assert result["changed"] and result["values"] == {"vhv.enable": {"before": "TRUE", "after": "TRUE"}}
    assert result["duplicates_removed"] == ['VHV.enable = "FALSE"']
    assert result["conflicts"] == {
        "vhv.enable": [{"line": 1, "value": "TRUE"}, {"line": 3, "value": "FALSE"}],
        "x": [{"line": 2, "value": "1"}, {"line": 4, "value": "2"}],  # not touched: left, and warned about
    }
    assert path.read_bytes() == b'vhv.enable = "TRUE"\nx = "1"\nx = "2"\n'
    again = run_vmx(args)
    assert again["changed"] is False and list(again["conflicts"]) == ["x"]
