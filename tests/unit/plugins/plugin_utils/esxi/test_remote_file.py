"""Reading and atomically replacing a file with BusyBox sh: the scripts run for real under `busybox sh`."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import (
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


def write(busybox_sh, found, content, backup=None, wait=30):
    command, stdin = write_command(found, content, "tok123", backup, lock_wait=wait)
    done = busybox_sh(command, stdin=stdin)
    parse_write(found.path, done.stdout.decode(), done.returncode, done.stderr.decode(), lock_wait=wait)


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
    with pytest.raises(RemoteFileError, match="md5 mismatch") as mismatch:
        parse_read("/f", header + OLD.replace("\n", "\r\n"))
    assert mismatch.value.reason == "changed_meanwhile"  # the vmx module reads again
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


def _killed_write(busybox_bin, path, found, big, owner=None):
    """Start the write of ``big`` and kill it (every process of its session) half-way."""
    command, stdin = write_command(found, big, "interrupted", owner=owner)
    process = subprocess.Popen(
        [str(busybox_bin / "sh"), "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={"PATH": str(busybox_bin)},
        start_new_session=True,
    )
    process.stdin.write(stdin[: len(stdin) // 2])
    process.stdin.flush()
    temp = path.parent / (".vm.vmx" + ".nestedvirt-tmp.interrupted")
    deadline = time.monotonic() + 10
    while (not temp.exists() or temp.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # killed on the host: every process of the session goes
    process.wait()
    process.stdin.close()
    assert path.read_text() == OLD
    assert temp.exists() and 0 < temp.stat().st_size < len(stdin)
    return command, stdin


BIG = NEW + "".join('pad%d = "%s"\n' % (i, "x" * 60) for i in range(2000))


def test_killed_write_leaves_the_old_file_a_stale_lock_and_the_next_run_explains_it(busybox_bin, busybox_sh, tmp_path):
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    big = BIG
    # Another run (another controller process) was killed while writing.
    _killed_write(busybox_bin, path, read(busybox_sh, path), big, owner={"controller": "ctl", "controller_pid": "1"})

    # The lock of the killed run is reported, never broken silently ...
    with pytest.raises(RemoteFileError, match="stale lock from a run that was killed") as error:
        write(busybox_sh, read(busybox_sh, path), big)
    assert error.value.reason == "locked"
    assert path.read_text() == OLD
    remove = str(error.value).rsplit("remove the lock on the host with: ", 1)[1]
    assert remove == "rm -rf -- %s" % (tmp_path / ".vm.vmx.nestedvirt-lock")
    # ... and once the admin ran the command it gives, the next write completes and cleans up.
    assert busybox_sh(remove).returncode == 0
    write(busybox_sh, read(busybox_sh, path), big)
    assert path.read_text() == big
    assert [p.name for p in tmp_path.iterdir()] == ["vm.vmx"]


def test_a_write_sent_again_after_a_drop_takes_back_its_own_lock_and_completes(busybox_bin, busybox_sh, tmp_path):
    # This controller process lost its session half-way through the write; the command it sends
    # again after reconnecting finds its own stale lock (its holder gone), takes it and completes.
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    command, stdin = _killed_write(busybox_bin, path, read(busybox_sh, path), BIG)
    answer = busybox_sh(command, stdin)
    parse_write(str(path), answer.stdout.decode(), answer.returncode, answer.stderr.decode())
    assert path.read_text() == BIG
    assert [p.name for p in tmp_path.iterdir()] == ["vm.vmx"]
    # Sent once more (the answer was lost too): the file holds the new content, success again.
    answer = busybox_sh(command, stdin)
    parse_write(str(path), answer.stdout.decode(), answer.returncode, answer.stderr.decode())
    assert path.read_text() == BIG


def test_a_dropped_connection_does_not_stop_the_write_half_way(busybox_bin, busybox_sh, tmp_path):
    # The client goes away after sending everything: SIGHUP, stdout closed (SIGPIPE at the first
    # output). The write goes on to its end and drops its lock.
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    command, stdin = write_command(read(busybox_sh, path), NEW, "dropped")
    # The signal comes while the lock is held, before the new content is written.
    command = command.replace('cat > "$t"', 'sleep 1; cat > "$t"', 1)
    process = subprocess.Popen(
        [str(busybox_bin / "sh"), "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={"PATH": str(busybox_bin)},
        start_new_session=True,
    )
    process.stdin.write(stdin)
    process.stdin.close()
    process.stdout.close()
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGHUP)
    process.wait(timeout=20)
    assert path.read_text() == NEW
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


def crash_variants(command):
    """The write script killed (SIGKILL, as on a host losing the process) after each of its lines."""
    lines = command.split("\n")
    return [(index, "\n".join(lines[: index + 1] + ["kill -9 $$"] + lines[index + 1 :])) for index in range(len(lines))]


@pytest.mark.parametrize("exists", [True, False], ids=["replace", "create"])
def test_a_write_killed_after_any_line_leaves_old_or_new_and_the_next_run_completes(busybox_sh, tmp_path, exists):
    fired = 0
    template = write_command(RemoteFile("/x/vm.vmx", "missing"), NEW, "tok")[0]
    for index, _script in crash_variants(template):
        work = tmp_path / str(index)
        work.mkdir()
        path = work / "vm.vmx"
        if exists:
            path.write_text(OLD)
        found = read(busybox_sh, path)
        command, stdin = write_command(found, NEW, "tok")
        variants = dict(crash_variants(command))
        if index not in variants:
            continue
        assert busybox_sh("set -n\n" + variants[index]).returncode == 0
        done = busybox_sh(variants[index], stdin=stdin)
        fired += done.returncode == -9
        after = path.read_text() if path.exists() else None
        assert after in ((OLD if exists else None), NEW), (index, after)
        # The next write: a stale lock is explained; with it removed as told, the write completes
        # (and removes what the killed one left). wait=0: a lock killed before its owner file is
        # called stale once the clock moves on (test_lock waits the full second for that case).
        for _attempt in range(2):
            try:
                write(busybox_sh, read(busybox_sh, path), NEW + "next = 1\n", wait=0)
                break
            except RemoteFileError as error:
                assert error.reason == "locked" and "stale lock" in str(error), (index, str(error))
                assert busybox_sh(str(error).rsplit(": ", 1)[1]).returncode == 0
        assert path.read_text() == NEW + "next = 1\n", index
        assert [p.name for p in work.iterdir()] == ["vm.vmx"], index
    assert fired > 20  # most kill points are on the path a write takes
