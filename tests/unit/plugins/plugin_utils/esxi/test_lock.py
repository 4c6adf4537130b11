"""The host-side lock of remote_file's write: the scripts run for real under `busybox sh`."""

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._lock import (
    OWNER_MARK,
    VERDICT_MARK,
    acquire_lines,
    lock_path,
    locked_message,
    parse_owner,
    remove_command,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import (
    RemoteFileError,
    parse_read,
    parse_write,
    read_command,
    write_command,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxDocument

OLD = 'config.version = "8"\nvhv.enable = "FALSE"\n'
NEW = 'config.version = "8"\nvhv.enable = "TRUE"\n'
OWNER = {"controller": "ctl.example", "controller_pid": "4242"}


def read(busybox_sh, path):
    done = busybox_sh(read_command(str(path)))
    return parse_read(str(path), done.stdout.decode("utf-8", "surrogateescape"), done.returncode, done.stderr.decode())


def write(busybox_sh, found, content, wait=2, tag="tok"):
    command, stdin = write_command(found, content, tag, lock_wait=wait, owner=OWNER)
    done = busybox_sh(command, stdin=stdin)
    parse_write(found.path, done.stdout.decode(), done.returncode, done.stderr.decode(), lock_wait=wait)


def hold(path, pid, started=None, owner=True):
    """A lock as another run leaves it: held by host pid ``pid`` since ``started``."""
    lock = lock_path(str(path))
    subprocess.run(["mkdir", lock], check=True)
    if owner:
        started = int(time.time()) if started is None else started
        text = "controller=other.example\ncontroller_pid=77\nhost_pid=%d\nstarted=%d\n" % (pid, started)
        (path.parent / (".%s.nestedvirt-lock" % path.name) / "owner").write_text(text)
    return lock


@pytest.fixture
def live_pid():
    """A process that exists for the test's duration (the holder of a busy lock)."""
    process = subprocess.Popen(["sleep", "60"])
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture
def dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_lock_path_and_remove_command_are_beside_the_file_and_quoted():
    assert lock_path("/vmfs/volumes/ds/vm/vm.vmx") == "/vmfs/volumes/ds/vm/.vm.vmx.nestedvirt-lock"
    assert lock_path("/etc/vmware/config") == "/etc/vmware/.config.nestedvirt-lock"
    assert remove_command("/vmfs/volumes/ds/it's $(x)/a.vmx") == (
        "rm -rf -- '/vmfs/volumes/ds/it'\"'\"'s $(x)/.a.vmx.nestedvirt-lock'"
    )


def test_a_write_takes_and_drops_the_lock(busybox_sh, tmp_path):
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    found = read(busybox_sh, path)
    command, stdin = write_command(found, NEW, "tok", owner=OWNER)
    # Look inside at the moment of the rename: the lock is there, with its owner.
    spy = command.replace('mv -f "$t" "$f"', 'cat "$lock/owner" > %s.seen; mv -f "$t" "$f"' % path, 1)
    done = busybox_sh(spy, stdin=stdin)
    parse_write(str(path), done.stdout.decode(), done.returncode)
    seen = dict(line.split("=", 1) for line in (tmp_path / "vm.vmx.seen").read_text().splitlines())
    assert seen["controller"] == "ctl.example" and seen["controller_pid"] == "4242"
    assert seen["host_pid"].isdigit() and abs(int(seen["started"]) - time.time()) < 30
    assert path.read_text() == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vm.vmx", "vm.vmx.seen"]


@pytest.mark.parametrize("failure", ["changed_meanwhile", "verify"])
def test_a_failed_write_drops_the_lock_too(busybox_sh, tmp_path, failure):
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    found = read(busybox_sh, path)
    if failure == "changed_meanwhile":
        path.write_text(OLD + "x = 1\n")
        with pytest.raises(RemoteFileError, match="changed on the host") as error:
            write(busybox_sh, found, NEW)
    else:
        command, stdin = write_command(found, NEW, "tok", owner=OWNER)
        done = busybox_sh(command, stdin=stdin[:-3])  # the content arrives cut short
        with pytest.raises(RemoteFileError, match="did not verify") as error:
            parse_write(str(path), done.stdout.decode(), done.returncode)
    assert error.value.reason == failure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vm.vmx"]


def test_a_busy_lock_is_waited_for_then_named(busybox_sh, tmp_path, live_pid):
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    found = read(busybox_sh, path)
    hold(path, live_pid)
    started = time.monotonic()
    with pytest.raises(RemoteFileError) as error:
        write(busybox_sh, found, NEW, wait=1)
    assert 0.9 < time.monotonic() - started < 10
    message = str(error.value)
    assert error.value.reason == "locked"
    assert "is being changed by another run" in message and "Waited 1 s on the host" in message
    assert "controller other.example (pid 77), on the host as pid %d" % live_pid in message
    assert "rm -rf" not in message  # a live holder's lock is not for removing
    assert path.read_text() == OLD
    assert (tmp_path / ".vm.vmx.nestedvirt-lock" / "owner").exists()  # never broken


def test_a_writer_waits_its_turn_and_then_writes(busybox_sh, tmp_path, live_pid):
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    found = read(busybox_sh, path)
    lock = hold(path, live_pid)
    release = threading.Timer(1.0, subprocess.run, (["rm", "-rf", lock],), {"check": True})
    release.start()
    started = time.monotonic()
    write(busybox_sh, found, NEW, wait=20)
    release.join()
    assert time.monotonic() - started >= 0.9
    assert path.read_text() == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vm.vmx"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("gone", "stale lock from a run that was killed or lost its connection"),
        ("old", "longer ago than the 900 s any write takes"),
        ("noinfo", "has held no owner information for 1 s"),
    ],
)
def test_a_stale_lock_is_explained_with_the_command_that_removes_it(
    busybox_sh, tmp_path, live_pid, dead_pid, case, expected
):
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)
    found = read(busybox_sh, path)
    if case == "gone":
        hold(path, dead_pid)
    elif case == "old":
        hold(path, live_pid, started=int(time.time()) - 3600)
    else:
        hold(path, 0, owner=False)
    started = time.monotonic()
    with pytest.raises(RemoteFileError) as error:
        write(busybox_sh, found, NEW, wait=1)
    if case != "noinfo":
        assert time.monotonic() - started < 1  # no need to wait for what will not change
    message = str(error.value)
    assert expected in message and "Nothing was written" in message
    command = message.rsplit("remove the lock on the host with: ", 1)[1]
    assert command == remove_command(str(path))
    assert path.read_text() == OLD
    assert busybox_sh(command).returncode == 0
    write(busybox_sh, found, NEW)
    assert path.read_text() == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vm.vmx"]


def test_no_lock_where_nothing_can_be_created(busybox_sh, tmp_path):
    found = read(busybox_sh, tmp_path / "missing-dir" / "config")
    with pytest.raises(RemoteFileError, match="could not create the lock") as error:
        write(busybox_sh, found, NEW)
    assert error.value.reason == "lock"


def test_concurrent_writers_lose_no_update(busybox_sh, tmp_path):
    """Four writers, each adding its own keys by read-modify-write with the module's retry: every
    key of every writer is in the file at the end."""
    path = tmp_path / "vm.vmx"
    path.write_text(OLD)

    def writer(number):
        for key in range(4):
            for _attempt in range(20):
                try:  # the read too: it may catch another writer's rename half-way (md5 mismatch)
                    found = read(busybox_sh, path)
                    document = VmxDocument.parse(found.content)
                    document.set("writer%d.key%d" % (number, key), "TRUE")
                    write(busybox_sh, found, document.render(), wait=20, tag="w%dk%d" % (number, key))
                    break
                except RemoteFileError as error:
                    assert error.reason == "changed_meanwhile", str(error)
            else:
                raise AssertionError("writer %d never got its turn" % number)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))
    final = VmxDocument.parse(path.read_text())
    assert {key for key in final.keys() if key.startswith("writer")} == {
        "writer%d.key%d" % (n, k) for n in range(4) for k in range(4)
    }
    assert final.get("vhv.enable") == "FALSE"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vm.vmx"]


def test_parse_owner_and_messages_survive_odd_owner_files():
    lines = [
        "%s controller=a host = with spaces" % OWNER_MARK,
        "%s started=nonsense" % OWNER_MARK,
        "%s why=gone age=" % VERDICT_MARK,
    ]
    info = parse_owner(lines)
    assert info["controller"] == "a host = with spaces" and info["why"] == "gone"
    message = locked_message("/f", lines)
    assert "an unknown time" in message and "rm -rf -- /.f.nestedvirt-lock" in message
    assert "did not say by whom" in locked_message("/f", ["garbage"])


def test_owner_values_cannot_break_out_of_the_owner_file(busybox_sh, tmp_path):
    hostile = {"controller": "x'; touch %s/pwned; echo '\nstarted=1" % tmp_path, "controller_pid": "$(id)"}
    lines = acquire_lines(str(tmp_path / "f"), "fail", owner=hostile)
    done = busybox_sh("fail() { echo fail $1; exit 1; }\n" + "\n".join(lines))
    assert done.returncode == 0, done
    owner = (tmp_path / ".f.nestedvirt-lock" / "owner").read_text().splitlines()
    assert owner[0].startswith("controller=x'; touch ") and owner[1] == "controller_pid=$(id)"
    assert len(owner) == 4 and not (tmp_path / "pwned").exists()
