"""Batches (issue 13): several VMs of one ESXi host changed in one batch, each step one host-side
command for all of them (the shutdown, the .vmx writes, the power-on), with a fault or a kill in the
middle of the batch. Every VM ends in its power state from before the run (or the next run, clean,
brings it there), each .vmx is its old or its new content, hostd holds what the file says, nothing
is left beside a .vmx after the clean run, and the host's bystander VM is untouched. Also:
`nestedvirt_batch` bounds how many VMs are down at once.
"""

from __future__ import annotations

import pytest
from lab_config import BATCH_CASES, BATCH_HOST
from rlab import (
    PLAYBOOK,
    command_kind,
    counts,
    describe,
    ended,
    failure_message,
    nesting_run,
    nesting_vars,
    normalize,
    problems,
    states,
    wrong,
)

pytestmark = pytest.mark.lab

HOST = BATCH_HOST
DATASTORES = {name: store for vms in BATCH_CASES.values() for name, _power, store in vms if store != "datastore1"}
MARKER = "nestedvirt-power-on-pending"  # restart_marker.NAME
# A slow VM keeps its batch's shutdown command waiting on the host, so a fault set as soon as a
# fast one is off lands after every restart marker is written and before the batch's writes (the
# controller sends the write about half a second after the shutdown command returns).
SLOW = {"write-fails": ["wf-1", "wf-2"], "fills-up": ["fu-2", "fu-3"]}
SLOW_SECONDS = 3
SHUTDOWN_TIMEOUT = 3  # the stubborn case's enable_nesting_shutdown_timeout


def names(key):
    return [vm[0] for vm in BATCH_CASES[key]]


def read(lab, vms):
    return states(lab, HOST, vms, DATASTORES)


def shut_down(lab, vms):
    """A ``when`` of playbook_watched: the batch's shutdown was sent and hostd shows ``vms`` off."""

    def when(commands):
        if not any("power.shutdown" in c for c in commands):
            return False
        status = lab.vm_status(HOST)
        return all(status[name]["power"] == "poweredOff" for name in vms)

    return when


def _datastore(knob, store, trigger):
    def run(lab, tmp_path, key):
        return lab.playbook_watched(
            tmp_path,
            PLAYBOOK,
            HOST,
            shut_down(lab, trigger),
            lambda _process: lab.fault(HOST, knob, store, "on"),
            nesting_vars(HOST, names(key)),
        )

    return run


def _drop(pattern, at):
    def run(lab, tmp_path, key):
        lab.fault(HOST, "drop_ssh", pattern, at=at, times=1)
        return True, nesting_run(lab, tmp_path, HOST, names(key))

    return run


def _kill(lab, tmp_path, key):
    running = [name for name, power, _store in BATCH_CASES[key] if power == "on"]
    killed = lab.playbook_killed(tmp_path, PLAYBOOK, HOST, shut_down(lab, running), nesting_vars(HOST, names(key)))
    return killed, None  # no Run: its output ends where it was killed


def _stubborn(lab, tmp_path, key):
    lab.fault(HOST, "ignore_shutdown", "st-1", "on")
    return True, nesting_run(lab, tmp_path, HOST, names(key), enable_nesting_shutdown_timeout=SHUTDOWN_TIMEOUT)


RUNS = {
    "write-fails": _datastore("datastore_readonly", "ro-store", ["wf-ro"]),
    "fills-up": _datastore("datastore_full", "fill-store", ["fu-1"]),
    "drop-write": _drop("nestedvirt-write-v1", "end"),
    "drop-power-on": _drop(r"vmsvc/power\.on", "start"),
    "killed": _kill,
    "stubborn": _stubborn,
}


@pytest.fixture(scope="module")
def batches(lab, tmp_path_factory):
    """Each case's batch run with its fault (one after the other: they share the host), every fault
    cleared after it; then one clean run of all their VMs (one batch), as an admin runs again."""
    tmp_path = tmp_path_factory.mktemp("batches")
    everyone = [name for key in RUNS for name in names(key)]
    before = read(lab, ["bystander", *everyone])
    records = {}
    for key, start in RUNS.items():
        for name in SLOW.get(key, ()):
            lab.fault(HOST, "shutdown_delay", name, SLOW_SECONDS)
        seen = len(lab.commands(HOST))
        try:
            acted, run = start(lab, tmp_path, key)
        finally:
            lab.fault(HOST, "clear")  # faults, delays, a drop rule that never matched
        sent = lab.commands_since(HOST, seen)
        records[key] = {
            "before": {name: before[name] for name in names(key)},
            "acted": acted,
            "run": run,
            "sent": [command_kind(entry["command"]) for entry in sent],
            "drops": [command_kind(entry["command"]) for entry in sent if entry.get("fault")],
            "after_fault": read(lab, names(key)),
        }
    clean = nesting_run(lab, tmp_path, HOST, everyone)
    after = read(lab, ["bystander", *everyone])
    touched = [key for key in ("power", "md5") if before["bystander"][key] != after["bystander"][key]]
    for key, record in records.items():
        record.update(clean=clean, after_clean={name: after[name] for name in names(key)}, bystander=touched)
    return records


def unsettled(after, before):
    """What is wrong with each VM after a run whatever it changed: its power state is not the one
    from before, its .vmx is unreadable, hostd or the running VM does not hold what the file says."""
    bad = {}
    for name, state in after.items():
        found = [text for text in wrong(state, before[name], state["file"]) if not text.startswith("beside")]
        if found:
            bad[name] = found
    return bad


def written(after, before):
    """(VMs whose .vmx is as asked, VMs whose .vmx is unchanged byte for byte)."""
    return (
        [name for name, state in after.items() if state["file"] and not before[name]["file"]],
        [name for name, state in after.items() if state["md5"] == before[name]["md5"]],
    )


def judge(case, record, injected, killed=False):
    """The case's observations and counts, and what every case asserts: each .vmx its old or its
    new content, valid; after the run with the fault (unless killed) each VM in its power state from
    before with hostd agreeing with its file; the clean run right; the bystander untouched.
    Returns the failure message of the run with the fault."""
    before, after_fault, after_clean = record["before"], record["after_fault"], record["after_clean"]
    run, clean = record["run"], record["clean"]
    message = normalize(failure_message(run)) if run is not None and run.rc else ""
    case.inject(
        "the enable-nesting playbook (nesting on) on VMs %s of host %s, all in one batch: %s; then every fault"
        " cleared and the playbook again (one run for the VMs of all the batch cases)"
        % (", ".join("%s (%s)" % (name, state["power"]) for name, state in before.items()), HOST, injected)
    )
    case.observe(
        "commands the run sent: %s%s"
        % (", ".join(record["sent"]), "; dropped: %s" % ", ".join(record["drops"]) if record["drops"] else "")
    )
    done, unchanged = written(after_fault, before)
    bad = {} if killed else unsettled(after_fault, before)
    case.observe(
        "the run with the fault: %s; .vmx as asked: %s; unchanged, byte for byte: %s; %s%s"
        % (
            "killed" if killed else ended(run)[0],
            ", ".join(done) or "none",
            ", ".join(unchanged) or "none",
            "each VM in its power state from before, hostd holding what its .vmx says"
            if not bad
            else "; ".join("VM %s: %s" % (name, ", ".join(found)) for name, found in sorted(bad.items())),
            "".join(
                "; beside %s: %s" % (name, ", ".join(state["beside"]))
                for name, state in after_fault.items()
                if state["beside"]
            ),
        )
    )
    if message:
        case.observe("its failure: %s" % message)
    case.observe("the next run: " + describe(ended(clean), after_clean, before, True))
    torn = [n for n, s in after_fault.items() if s["md5"] not in (before[n]["md5"], after_clean[n]["md5"])]
    case.observe(
        "each .vmx after the run with the fault: %s; the host's bystander VM: %s"
        % (
            "its old or its new content" if not torn else "NEITHER its old nor its new content: %s" % torn,
            "untouched" if not record["bystander"] else "CHANGED (%s)" % ", ".join(record["bystander"]),
        )
    )
    if run is not None:
        case.detail("the run with the fault: rc %d in %.0f s; the next %.0f s" % (run.rc, run.seconds, clean.seconds))
    files, down = counts(before, [after_fault, after_clean], True)
    case.files_lost = files + len(torn)
    # A killed run leaves its VMs down by design: the next run's end state is what counts.
    case.vms_left_down = counts(before, [after_clean], True)[1] if killed else down
    assert record["acted"], "the fault was not injected during the run"
    assert not torn and not bad and not record["bystander"], (torn, bad, record["bystander"])
    assert clean.rc == 0 and not problems(after_clean, before, True), describe(ended(clean), after_clean, before, True)
    return message


@pytest.mark.case(
    "K1", "One VM's .vmx write fails in the middle of a batch (its datastore turns read-only)", promise="down"
)
def test_one_write_fails(batches, case):
    record = batches["write-fails"]
    message = judge(
        case,
        record,
        "`esxilab fault datastore_readonly ro-store on` (the datastore of wf-ro alone) as soon as the batch's"
        " shutdown has powered wf-ro off, while it still waits for wf-1 and wf-2 (shutdown_delay %d s)" % SLOW_SECONDS,
    )
    done, unchanged = written(record["after_fault"], record["before"])
    assert done == ["wf-1", "wf-2", "wf-off"] and unchanged == ["wf-ro"], (done, unchanged)
    assert record["run"].rc != 0 and "could not create the lock beside /vmfs/volumes/ro-store/wf-ro/" in message
    assert not any(name in message for name in ("wf-1", "wf-2", "wf-off")), message
    # The role's own failure, at its end: "<host>: <VM> (<reason>): <message> (the VM was powered back on)".
    assert "wf-ro (lock): " in message and "(the VM was powered back on)" in message, message


@pytest.mark.case(
    "K2", "The datastore fills up in the middle of a batch, after its shutdown, before its writes", promise="down"
)
def test_datastore_fills_up(batches, case):
    record = batches["fills-up"]
    message = judge(
        case,
        record,
        "`esxilab fault datastore_full fill-store on` (the datastore of every VM of the batch) as soon as the"
        " batch's shutdown has powered fu-1 off, while it still waits for fu-2 and fu-3 (shutdown_delay %d s)"
        % SLOW_SECONDS,
    )
    done, unchanged = written(record["after_fault"], record["before"])
    assert not done and unchanged == names("fills-up"), (done, unchanged)
    assert record["run"].rc != 0 and all("/%s/" % name in message for name in names("fills-up")), message


def _finishes(record):
    """A dropped command is sent again: the run itself finishes, every VM as asked."""
    done, _unchanged = written(record["after_fault"], record["before"])
    assert record["drops"], "no command was dropped"
    assert record["run"].rc == 0 and done == list(record["before"]), (record["run"].failures(), done)


@pytest.mark.case(
    "K3", "The SSH connection drops after a batch's .vmx write ran, before its answer (3 VMs)", promise="down"
)
def test_write_dropped(batches, case):
    record = batches["drop-write"]
    judge(case, record, "`esxilab fault drop_ssh --at end --times 1 nestedvirt-write-v1` (the batch's write command)")
    _finishes(record)


@pytest.mark.case("K4", "The SSH connection drops at a batch's power-on, before it runs (3 VMs)", promise="down")
def test_power_on_dropped(batches, case):
    record = batches["drop-power-on"]
    judge(case, record, "`esxilab fault drop_ssh --at start --times 1 'vmsvc/power\\.on'` (the batch's power-on)")
    _finishes(record)


@pytest.mark.case("K5", "The controller is killed after a batch's shutdown (3 VMs on, 1 off)", promise="interrupt")
def test_killed_after_shutdown(batches, case):
    record = batches["killed"]
    judge(
        case,
        record,
        "SIGKILL to ansible-playbook and its workers as soon as the batch's shutdown was sent and hostd shows k-1,"
        " k-2 and k-3 off",
        killed=True,
    )
    off = [name for name, state in record["after_fault"].items() if state["power"] == "poweredOff"]
    marked = [name for name, state in record["after_fault"].items() if MARKER in state["beside"]]
    case.observe("after the kill: off %s; a restart marker beside %s" % (", ".join(off), ", ".join(marked)))
    assert marked == ["k-1", "k-2", "k-3"], marked


@pytest.mark.case(
    "K6", "nestedvirt_batch=2 on 5 running VMs: hostd never shows more than 2 of them off", promise="down"
)
def test_batch_limit(lab, case, tmp_path):
    vms = names("limit")
    before = read(lab, ["bystander", *vms])
    seen, samples = len(lab.commands(HOST)), []

    def sample(_commands):
        status = lab.vm_status(HOST)
        samples.append(tuple(name for name in vms if status[name]["power"] != "poweredOn"))
        return False  # never acts: samples hostd until the run ends

    _acted, run = lab.playbook_watched(
        tmp_path, PLAYBOOK, HOST, sample, None, nesting_vars(HOST, vms, nestedvirt_batch=2)
    )
    shutdowns = [command_kind(entry["command"]) for entry in lab.commands_since(HOST, seen)].count("the shutdown")
    after = read(lab, ["bystander", *vms])
    ours = {name: after[name] for name in vms}
    most = max(map(len, samples), default=0)
    # The sets seen off together, less those seen on the way (one VM off a moment before the other).
    together = sorted(down for down in set(samples) if down and not any(set(down) < set(other) for other in samples))
    case.inject("the enable-nesting playbook (nesting on) with `-e nestedvirt_batch=2` on running VMs %s" % vms)
    case.observe(
        "hostd's view, sampled while the run ran: at most %d of the VMs off at once; the sets seen off: %s; %d"
        " shutdown commands" % (most, ", ".join("+".join(down) for down in together), shutdowns)
    )
    case.observe("the run: " + describe(ended(run), ours, before, True))
    case.detail("%d samples of hostd in %.0f s" % (len(samples), run.seconds))
    case.files_lost, case.vms_left_down = counts(before, [ours], True)
    assert run.rc == 0 and not problems(ours, before, True), run.failures()
    assert most == 2 and shutdowns == 3, (samples, shutdowns)
    assert all(after["bystander"][key] == before["bystander"][key] for key in ("power", "md5"))


@pytest.mark.case("K7", "One VM of a batch does not shut down (its guest ignores the request)", promise="down")
def test_one_shutdown_fails(batches, case):
    record = batches["stubborn"]
    message = judge(
        case,
        record,
        "VM st-1 with `esxilab fault ignore_shutdown st-1 on` (power.shutdown succeeds, the guest stays up),"
        " enable_nesting_shutdown_timeout=%d" % SHUTDOWN_TIMEOUT,
    )
    done, unchanged = written(record["after_fault"], record["before"])
    assert record["run"].rc != 0 and "did not shut down within %d s" % SHUTDOWN_TIMEOUT in message, message
    # st-1 stays up and unchanged; the others of its batch are written all the same.
    assert unchanged == ["st-1"] and done == ["st-2", "st-3"], (done, unchanged)
    assert "st-1 (shutdown_timeout): " in message, message
