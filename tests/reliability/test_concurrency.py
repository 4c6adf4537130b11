"""Two runs changing the same host at once: the lock beside each file makes them take turns, no
update is lost, and a lock left by a killed run is detected and explained (never broken)."""

from __future__ import annotations

import subprocess
import time

import pytest
from rlab import normalize, play, vmx_path, vmx_task

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._lock import lock_path
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import (
    RemoteFile,
    md5_hex,
    write_command,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxDocument

pytestmark = pytest.mark.lab

WRITE_MARK = "nestedvirt-write-v1"


def keys_of(data: bytes):
    return {key for key in VmxDocument.parse(data.decode()).keys() if key.startswith("nestedvirt.")}


def one_writer(label, keys):
    """A playbook of one run: on r67 the .vmx of VM `shared`, on r50 /etc/vmware/config, one key per task."""
    vmx = [{"name": "facts", "nestedvirt.esxi.host_facts": {}}]
    vmx += [vmx_task("vmx %s" % key, vm="shared", settings={key: True}) for key in keys]
    config = [vmx_task("config %s" % key, path="/etc/vmware/config", settings={key: True}) for key in keys]
    return play("r67", vmx, "Run %s: the .vmx" % label) + play("r50", config, "Run %s: the host config" % label)


@pytest.mark.case("E1", "Two runs change the same .vmx and the same /etc/vmware/config at once", promise="lock")
def test_two_runs_at_once(lab, case, tmp_path):
    keys = {label: ["nestedvirt.%s%d" % (label, n) for n in range(4)] for label in ("a", "b")}
    seen = {host: len(lab.commands(host)) for host in ("r67", "r50")}
    case.inject(
        "two ansible-playbook processes started together; each sets 4 keys of its own, one task per key, in the"
        " .vmx of VM shared (r67) and in /etc/vmware/config (r50, ESXi 5.0)"
    )
    runs = lab.playbooks_at_once(tmp_path, [one_writer(label, names) for label, names in keys.items()])
    vmx, config = lab.read("r67", vmx_path("shared")), lab.read("r50", "/etc/vmware/config")
    wanted = set(keys["a"]) | set(keys["b"])
    writes = {host: sum(WRITE_MARK in c["command"] for c in lab.commands(host)[seen[host] :]) for host in seen}
    case.observe("both runs: rc %s" % " and ".join(str(run.rc) for run in runs))
    case.observe(
        "keys present at the end: %d of 8 in the .vmx, %d of 8 in /etc/vmware/config"
        % (len(keys_of(vmx) & wanted), len(keys_of(config) & wanted))
    )
    case.detail(
        "write commands for the 8 changes of each file: %d (.vmx), %d (config)" % (writes["r67"], writes["r50"])
    )
    case.observe(
        "where the two runs' writes crossed, the md5 check refused the later one (the file had changed since its"
        " read) and the module read, planned and wrote again"
    )
    left = [n for n in lab.listdir("r67", vmx_path("shared").rsplit("/", 1)[0]) if "nestedvirt" in n]
    left += [n for n in lab.listdir("r50", "/etc/vmware") if "nestedvirt" in n]
    case.observe("locks or temporary files left: %s" % (left or "none"))
    case.files_lost = len(wanted - keys_of(vmx)) + len(wanted - keys_of(config)) + len(left)
    assert all(run.rc == 0 for run in runs), [run.output[-2000:] for run in runs]
    assert keys_of(vmx) >= wanted and keys_of(config) >= wanted and not left


def holder_command(lab, host, path, after_lock):
    """A real write of ``path`` by "another controller", changed to do ``after_lock`` once it holds
    the lock (sleep: a slow writer; kill -9 $$: a writer killed while holding it)."""
    old = lab.read(host, path).decode()
    new = old + 'nestedvirt.holder = "TRUE"\n'
    found = RemoteFile(path, "file", content=old, md5=md5_hex(old))
    owner = {"controller": "other-controller", "controller_pid": "4242"}
    command, stdin = write_command(found, new, "holder", owner=owner)
    marker = "\nrm -f -- "  # the first line run under the lock
    assert marker in command
    command = command.replace(marker, "\n%s%s" % (after_lock, marker), 1)
    lab.sh(host, "cat > /tmp/holder.sh", stdin=command.encode())
    lab.sh(host, "cat > /tmp/holder.in", stdin=stdin)
    return old, new


def wait_for_lock(lab, host, path, timeout=20):
    lock = lock_path(path)
    name = lock.rsplit("/", 1)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name in lab.listdir(host, lock.rsplit("/", 1)[0]):
            return
        time.sleep(0.2)
    raise AssertionError("the holder never took the lock")


@pytest.mark.case("E2", "A run finds the file locked by another run that is still writing", promise="lock")
def test_busy_lock(lab, case, tmp_path):
    host, path = "r67", vmx_path("slow-lock")
    old, _new = holder_command(lab, host, path, "sleep 14")
    holder = subprocess.Popen(
        [*lab.ssh_argv(host), "root@%s" % lab.address(host), "sh /tmp/holder.sh < /tmp/holder.in"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_lock(lab, host, path)
        case.inject(
            "another writer (controller other-controller, pid 4242) takes the lock of VM slow-lock's .vmx and holds"
            " it 14 s before writing its own key"
        )
        impatient = lab.playbook(
            tmp_path, play(host, [vmx_task("edit", vm="slow-lock", settings={"a": 1}, lock_timeout=2)])
        )
        during = lab.read(host, path).decode()
        case.observe(
            "a run with lock_timeout 2 failed after waiting on the host (rc %d): %s; the file was %s"
            % (
                impatient.rc,
                normalize(impatient["edit"].get("msg", ""), lab),
                "untouched" if during == old else "CHANGED",
            )
        )
        patient = lab.playbook(
            tmp_path, play(host, [vmx_task("edit", vm="slow-lock", settings={"nestedvirt.patient": True})])
        )
        out, _err = holder.communicate(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    final = lab.read(host, path)
    case.observe(
        "a run with the default lock_timeout (30 s) waited its turn, then found the file changed by the holder,"
        " read it again and wrote (rc %d); the holder %s; the file ends with %s"
        % (
            patient.rc,
            "finished its write" if WRITE_MARK + " ok" in out.decode() else "FAILED",
            "both keys" if keys_of(final) >= {"nestedvirt.holder", "nestedvirt.patient"} else "NOT both keys",
        )
    )
    case.files_lost = int(during != old) + int(not keys_of(final) >= {"nestedvirt.holder", "nestedvirt.patient"})
    message = impatient["edit"].get("msg", "")
    assert impatient.rc != 0 and "is being changed by another run" in message
    assert "held by controller other-controller (pid 4242)" in message and "Waited 2 s" in message
    assert during == old
    assert patient.rc == 0 and WRITE_MARK + " ok" in out.decode()
    assert keys_of(final) >= {"nestedvirt.holder", "nestedvirt.patient"}


@pytest.mark.case("E3", "A run finds the lock of a run that was killed while writing", promise="lock")
def test_stale_lock(lab, case, tmp_path):
    host, path = "r67", vmx_path("stale-lock")
    old, _new = holder_command(lab, host, path, "kill -9 $$")
    lab.sh(host, "sh /tmp/holder.sh < /tmp/holder.in", check=False)
    case.inject("a writer of VM stale-lock's .vmx is killed (SIGKILL) while it holds the lock, before writing")
    task = vmx_task("edit", vm="stale-lock", settings={"vhv.enable": True})
    first = lab.playbook(tmp_path, play(host, [task]))
    message = first["edit"].get("msg", "")
    command = message.rsplit("remove the lock on the host with: ", 1)[-1]
    case.observe(
        "the next run failed (rc %d) without waiting out its lock_timeout: %s" % (first.rc, normalize(message, lab))
    )
    after_first = lab.read(host, path).decode()
    lab.sh(host, command)
    second = lab.playbook(tmp_path, play(host, [task]))
    final = lab.read(host, path).decode()
    left = [n for n in lab.listdir(host, path.rsplit("/", 1)[0]) if "nestedvirt" in n]
    case.observe(
        "the file was %s; after the admin ran the command the message gives, the run completed (rc %d); "
        "left beside the file: %s" % ("untouched" if after_first == old else "CHANGED", second.rc, left or "nothing")
    )
    case.files_lost = int(after_first != old) + int('vhv.enable = "TRUE"' not in final) + len(left)
    assert first.rc != 0 and "stale lock from a run that was killed" in message
    assert command == "rm -rf -- %s" % lock_path(path)
    assert after_first == old and second.rc == 0 and not left
    assert 'vhv.enable = "TRUE"' in final
