"""Reading and atomically replacing a file with BusyBox sh: the scripts run for real under `busybox sh`."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.nestedvirt.esxi.plugins.module_utils.remote_file import (
    READ_MARK,
    RemoteFile,
    RemoteFileError,
    md5_hex,
    parse_read,
    parse_write,
    read_command,
    temp_prefix,
    write_command,
)

OLD = 'config.version = "8"\nvhv.enable = "FALSE"\n'
NEW = 'config.version = "8"\nvhv.enable = "TRUE"\n'


def read(busybox_sh, path):
    done = busybox_sh(read_command(str(path)))
    return parse_read(str(path), done.stdout.decode("utf-8", "surrogateescape"), done.returncode, done.stderr.decode())


def write(busybox_sh, found, content, backup=None):
    command, stdin = write_command(found, content, "tok123", backup)
    done = busybox_sh(command, stdin=stdin)
    parse_write(found.path, done.stdout.decode(), done.returncode, done.stderr.decode())


def test_read_returns_exact_bytes_even_when_not_utf8(busybox_sh, tmp_path):
    path = tmp_path / "odd name $(x) 'q'.vmx"
    raw = b'\xef\xbb\xbfa = "\xff\xfe"\r\nno final newline'
    path.write_bytes(raw)
    found = read(busybox_sh, path)
    assert found.exists and found.content.encode("utf-8", "surrogateescape") == raw


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (Path.mkdir, "is a directory"),
        (lambda p: p.symlink_to("/etc/hostname"), "symbolic link"),
        (os.mkfifo, "not a regular file"),
    ],
)
def test_read_refuses_what_is_not_a_file(busybox_sh, tmp_path, make, message):
    path = tmp_path / "x.vmx"
    make(path)
    with pytest.raises(RemoteFileError, match=message):
        read(busybox_sh, path)


def test_read_of_a_missing_file_says_whether_its_directory_exists(busybox_sh, tmp_path):
    assert read(busybox_sh, tmp_path / "none.vmx").parent_exists
    assert not read(busybox_sh, tmp_path / "nodir" / "none.vmx").parent_exists


def test_parse_read_rejects_damaged_transport_and_garbage():
    header = READ_MARK + " state=file md5=" + md5_hex(OLD) + "\n"
    assert parse_read("/f", "banner\n" + header + OLD).content == OLD
    with pytest.raises(RemoteFileError, match="md5 mismatch"):
        parse_read("/f", header + OLD.replace("\n", "\r\n"))
    with pytest.raises(RemoteFileError, match="Permission denied"):
        parse_read("/f", "", 1, "sh: Permission denied")
    with pytest.raises(RemoteFileError, match="unexpected answer"):
        parse_read("/f", READ_MARK + " state=weird\n")


def test_write_replaces_keeping_mode_and_makes_a_backup(busybox_sh, tmp_path):
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    path.chmod(0o640)
    found = read(busybox_sh, path)
    write(busybox_sh, found, NEW, backup=str(path) + ".bak")
    assert path.read_text() == NEW
    assert (path.stat().st_mode & 0o777) == 0o640
    assert (tmp_path / "vm.vmx.bak").read_text() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vm.vmx", "vm.vmx.bak"]


def test_write_creates_a_missing_file(busybox_sh, tmp_path):
    path = tmp_path / "config"
    write(busybox_sh, read(busybox_sh, path), 'vhv.allow = "TRUE"\n')
    assert path.read_text() == 'vhv.allow = "TRUE"\n'
    assert (path.stat().st_mode & 0o777) == 0o644


def test_write_refuses_when_the_file_changed_since_read(busybox_sh, tmp_path):
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    found = read(busybox_sh, path)
    path.write_text(OLD + 'other = "1"\n')
    with pytest.raises(RemoteFileError, match="changed on the host"):
        write(busybox_sh, found, NEW)
    assert path.read_text() == OLD + 'other = "1"\n'
    # and a file that appeared after a read found it missing
    missing = read(busybox_sh, tmp_path / "new")
    (tmp_path / "new").write_text("x")
    with pytest.raises(RemoteFileError, match="changed on the host"):
        write(busybox_sh, missing, NEW)


def test_write_with_no_answer_is_reported_as_old_or_new_never_partial():
    with pytest.raises(RemoteFileError, match="never partial"):
        parse_write("/f", "", 255, "Connection reset by peer")


def test_interrupted_write_leaves_the_old_file_and_the_next_run_cleans_up(busybox_bin, busybox_sh, tmp_path):
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    found = read(busybox_sh, path)
    big = NEW + "".join('pad%d = "%s"\n' % (i, "x" * 60) for i in range(2000))
    command, stdin = write_command(found, big, "interrupted")
    process = subprocess.Popen(
        [str(busybox_bin / "sh"), "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={"PATH": str(busybox_bin)},
        start_new_session=True,
    )
    process.stdin.write(stdin[: len(stdin) // 2])
    process.stdin.flush()
    temp = tmp_path / (".vm.vmx" + ".nestedvirt-tmp.interrupted")
    deadline = time.monotonic() + 10
    while (not temp.exists() or temp.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the connection dies: every process of the session goes
    process.wait()
    process.stdin.close()
    assert path.read_text() == OLD
    assert temp.exists() and 0 < temp.stat().st_size < len(stdin)

    write(busybox_sh, read(busybox_sh, path), big)
    assert path.read_text() == big
    assert [p.name for p in tmp_path.iterdir()] == ["vm.vmx"]


def test_a_full_filesystem_fails_the_write_and_keeps_the_file(tmp_path, busybox_bin):
    # A 64 KiB tmpfs in a private mount namespace stands in for a full datastore.
    data = tmp_path / "ds"
    data.mkdir()
    path = data / "vm.vmx"
    found = RemoteFile(str(path), "file", content=OLD, md5=md5_hex(OLD))
    command, stdin = write_command(found, NEW + "x" * 200_000, "full")
    outer = (
        "mount -t tmpfs -o size=64k tmpfs {d} && printf '%s' '{old}' > {d}/vm.vmx && "
        '{sh} -c "$0"; echo rc=$?; cat {d}/vm.vmx; ls -a {d}'
    ).format(d=data, old=OLD.replace('"', '"'), sh=busybox_bin / "sh")
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", outer, command],
        input=stdin,
        capture_output=True,
        env={"PATH": "%s:/usr/bin:/bin" % busybox_bin},
        check=False,
    )
    out = done.stdout.decode()
    with pytest.raises(RemoteFileError, match="datastore full or read-only"):
        parse_write(str(path), out, 1, done.stderr.decode())
    assert OLD in out.split("rc=1\n", 1)[1]
    assert ".vm.vmx.nestedvirt-tmp" not in out


def test_temp_prefix_is_hidden_beside_the_file():
    assert temp_prefix("/vmfs/volumes/ds/vm/vm.vmx") == "/vmfs/volumes/ds/vm/.vm.vmx.nestedvirt-tmp."
