"""A .vmx or /etc/vmware/config is the old or the new content, never partial, whatever happens to
the connection or the writing process; the next run completes the job."""

from __future__ import annotations

import re

import pytest
from rlab import md5, play, vmx_task

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import (
    RemoteFile,
    RemoteFileError,
    md5_hex,
    parse_write,
    write_command,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._edit import plan_edit

pytestmark = pytest.mark.lab

VMX = "/vmfs/volumes/datastore1/%s/%s.vmx"
WRITE_PATTERN = "nestedvirt-write-v1"  # only the write command carries it


def expected_after(before: bytes, settings) -> bytes:
    return plan_edit(before.decode(), settings, []).after_text.encode()


def leftovers(lab, host, directory):
    return [name for name in lab.listdir(host, directory) if "nestedvirt-" in name]


def drop_case(lab, case, tmp_path, host, task, path, settings, at, label=""):
    """Drop the SSH session of the write (before it runs or after it ran): the task sends the write
    again on a new connection and completes; a second run then has nothing to do."""
    before = lab.read(host, path)
    new = expected_after(before, settings)
    lab.fault(host, "drop_ssh", WRITE_PATTERN, at=at, times=1)
    case.inject(
        "`esxilab fault --at %s drop_ssh %s`: the SSH session of the write command is killed %s"
        % (at, WRITE_PATTERN, "before the command runs" if at == "start" else "after it ran, before its answer")
    )
    first = lab.playbook(tmp_path, play(host, [task]))
    dropped = lab.read(host, path)
    unreachable = "UNREACHABLE!" in first.output
    resent = "sending the command again" in first.output
    found = {before: "the old content, byte for byte", new: "the new content"}.get(dropped, "NEITHER old nor new")
    case.observe(
        label
        + "first run: rc %d, changed=%s, %s; the file is %s"
        % (
            first.rc,
            first["edit"].get("changed"),
            "the host unreachable"
            if unreachable
            else ("the write sent again after the drop" if resent else "no drop seen"),
            found,
        )
    )
    second = lab.playbook(tmp_path, play(host, [task]))
    final = lab.read(host, path)
    left = leftovers(lab, host, path.rsplit("/", 1)[0])
    case.observe(
        label
        + "second run: rc %d, changed=%s; the file is %s; leftovers beside it: %s"
        % (
            second.rc,
            second["edit"].get("changed"),
            "the expected new content" if final == new else "NOT the expected content",
            ", ".join(left) or "none",
        )
    )
    case.files_lost = int(dropped not in (before, new) or final != new or bool(left))
    assert first.rc == 0 and resent and not unreachable, first.output
    assert first["edit"]["changed"] is True and dropped == new
    assert second.rc == 0, second.output
    assert second["edit"]["changed"] is False
    assert final == new and not left
    return first, second


@pytest.mark.case("A1", "SSH connection drops before the .vmx write runs", promise="atomic")
def test_vmx_drop_before_write(lab, case, tmp_path):
    task = vmx_task("edit", vm="drop-start", settings={"vhv.enable": True})
    drop_case(lab, case, tmp_path, "r67", task, VMX % ("drop-start", "drop-start"), {"vhv.enable": "TRUE"}, "start")


@pytest.mark.case("A2", "SSH connection drops after the .vmx write ran, before its answer", promise="atomic")
def test_vmx_drop_after_write(lab, case, tmp_path):
    task = vmx_task("edit", vm="drop-end", settings={"vhv.enable": True})
    drop_case(lab, case, tmp_path, "r67", task, VMX % ("drop-end", "drop-end"), {"vhv.enable": "TRUE"}, "end")
    cached = lab.vms("r67")["drop-end"]["nested_hv_enabled"]
    case.observe("hostd reloaded the new .vmx in the dropped run: %s" % ("yes" if cached else "NO"))
    assert cached


@pytest.mark.case("A3", "SSH connection drops around the /etc/vmware/config write (ESXi 5.0)", promise="atomic")
def test_host_config_drops(lab, case, tmp_path):
    path = "/etc/vmware/config"
    for at, key in (("start", "nestedvirt.drop.start"), ("end", "nestedvirt.drop.end")):
        task = vmx_task("edit", path=path, settings={key: True})
        drop_case(lab, case, tmp_path, "r50", task, path, {key: "TRUE"}, at, "dropped at %s, " % at)


def crash_variants(command):
    """The write script with `kill -9 $$` after each of its lines: the writing process dies there."""
    lines = command.split("\n")
    return ["\n".join(lines[: i + 1] + ["kill -9 $$"] + lines[i + 1 :]) for i in range(len(lines))]


def crash_matrix(lab, host, directory, name, old: bytes, new: bytes, after: bytes):
    """Kill the write of ``new`` over ``old`` after each line of its script, each on a copy of its
    own (``directory``/<n>/``name``), on the host; then the next write (of ``after``), as the
    module would send it, with a stale lock removed by the command its error names.
    Returns (points, killed, outcomes, lost)."""
    found_old = RemoteFile("%s/0/%s" % (directory, name), "file", content=old.decode(), md5=md5_hex(old.decode()))
    count = len(crash_variants(write_command(found_old, new.decode(), "x")[0]))
    setup = ["rm -rf %s" % directory]
    for n in range(count):
        path = "%s/%d/%s" % (directory, n, name)
        found = RemoteFile(path, "file", content=old.decode(), md5=md5_hex(old.decode()))
        command, _stdin = write_command(found, new.decode(), "crash%d" % n)
        setup += ["mkdir -p %s/%d" % (directory, n), "cat > %s/%d.sh <<'EOF_%d'" % (directory, n, n)]
        setup += [crash_variants(command)[n], "EOF_%d" % n]
    setup += ["cat > %s/new" % directory]
    lab.script(host, "\n".join(setup), stdin=new)
    # The crashes: each copy starts as the old file, its write is killed at its own point.
    run = ["d=%s" % directory]
    for n in range(count):
        run += [
            "printf '%%s' '%s' > $d/%d/%s" % (old.decode().replace("'", "'\\''"), n, name),
            'sh $d/%d.sh < $d/new > /dev/null 2>&1; echo "@@ %d rc=$?"' % (n, n),
        ]
    results = dict(re.findall(r"@@ (\d+) rc=(\d+)", lab.script(host, "\n".join(run)).stdout.decode()))
    killed = sum(results.get(str(n)) == "137" for n in range(count))
    states = state_of_copies(lab, host, directory, name, count)
    outcomes = {"old": 0, "new": 0, "other": 0}
    for n in range(count):
        outcomes[{md5(old): "old", md5(new): "new"}.get(states[n]["md5"], "other")] += 1
    # The next run, as the module sends it: the write of ``after`` over what each copy holds.
    pending = list(range(count))
    stale = 0
    for _round in range(2):
        commands, messages = [], {}
        for n in pending:
            content = old if states[n]["md5"] == md5(old) else new
            path = "%s/%d/%s" % (directory, n, name)
            found = RemoteFile(path, "file", content=content.decode(), md5=md5_hex(content.decode()))
            command, _stdin = write_command(found, after.decode(), "next%d" % n, lock_wait=1)
            commands += ["echo '@@@out %d'" % n, "( %s ) < $d/after 2>&1" % command]
        answer = lab.script(host, "\n".join(["d=%s" % directory, "cat > $d/after"] + commands), stdin=after)
        outputs = dict(
            (int(part.split("\n", 1)[0]), part.split("\n", 1)[1])
            for part in answer.stdout.decode().split("@@@out ")[1:]
        )
        retry = []
        for n in pending:
            try:
                parse_write("%s/%d/%s" % (directory, n, name), outputs[n], lock_wait=1)
            except RemoteFileError as error:
                assert error.reason == "locked" and "stale lock" in str(error), (n, str(error))
                messages[n] = str(error).rsplit("remove the lock on the host with: ", 1)[1]
                retry.append(n)
        if not retry:
            break
        stale += len(retry)
        lab.sh(host, "\n".join(messages[n] for n in retry))  # what the admin is told to run
        pending = retry
    final = state_of_copies(lab, host, directory, name, count)
    lost = sum(final[n]["md5"] != md5(after) or bool(final[n]["extra"]) for n in range(count))
    lab.sh(host, "rm -rf %s" % directory)
    return count, killed, outcomes, lost, stale


def state_of_copies(lab, host, directory, name, count):
    lines = ["d=%s" % directory]
    for n in range(count):
        lines += [
            'set -- $(md5sum < $d/%d/%s); echo "@@ %d md5=$1"' % (n, name, n),
            'for e in $(ls -a $d/%d); do case $e in .|..|%s) ;; *) echo "@@ %d extra=$e";; esac; done' % (n, name, n),
        ]
    states = {n: {"md5": None, "extra": []} for n in range(count)}
    for n, key, value in re.findall(r"@@ (\d+) (md5|extra)=(\S+)", lab.script(host, "\n".join(lines)).stdout.decode()):
        if key == "md5":
            states[int(n)]["md5"] = value
        else:
            states[int(n)]["extra"].append(value)
    return states


@pytest.mark.case(
    "A4-{target}", "The writing process is killed after each line of the write script ({target})", promise="atomic"
)
@pytest.mark.parametrize(("host", "target"), [("r67", "vmx"), ("r50", "config")])
def test_write_killed_at_every_line(lab, case, host, target):
    if target == "vmx":
        old = lab.read(host, VMX % ("crash-vm", "crash-vm"))
        directory, name = "/vmfs/volumes/datastore1/crash-vm/crash", "crash-vm.vmx"
    else:
        old = lab.read(host, "/etc/vmware/config")
        directory, name = "/etc/vmware/crash", "config"
    new = expected_after(old, {"vhv.enable": "TRUE", "vhv.allow": "TRUE"})
    after = expected_after(new, {"nestedvirt.next": "TRUE"})
    count, killed, outcomes, lost, stale = crash_matrix(lab, host, directory, name, old, new, after)
    case.inject(
        "on %s, for each of the %d lines of the write script of a %s, a copy of the file whose write runs"
        " with `kill -9 $$` inserted after that line (SIGKILL: no trap runs); then the next write as the module"
        " sends it" % (host, count, "copy of a .vmx" if target == "vmx" else "copy of /etc/vmware/config")
    )
    case.observe(
        "%d writes killed (the others ended before their kill point); afterwards %d copies held the old content, "
        "%d the new one, %d anything else" % (killed, outcomes["old"], outcomes["new"], outcomes["other"])
    )
    case.observe(
        "next write: %d copies had a stale lock of the killed run, reported with the `rm -rf` command to remove it; "
        "after running that command the write completed everywhere: %d of %d copies end with the expected "
        "content and nothing beside them" % (stale, count - lost, count)
    )
    case.files_lost = outcomes["other"] + lost
    assert killed >= 20  # the lines on the path of an uncontended write; the rest wait for a lock
    assert outcomes["other"] == 0 and lost == 0
    assert stale > 0
