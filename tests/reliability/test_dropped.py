"""A dropped SSH connection in the middle of a run (issue 18): at each host command of the cycle
(the shutdown, the .vmx write's rename, its reload, the power-on, the write's lock), before the
command runs and after it ran, for one VM and for a batch of two VMs of a host. The run itself
should finish (each command is sent again on a new connection, and each is safe to run again);
in any case the next run, the fault gone, must leave every VM in its power state from before,
its .vmx as asked, hostd holding what the file says, and nothing beside the .vmx. Also: issue
18's own reproduction, and a VM whose .vmx hostd never reloaded."""

from __future__ import annotations

import re

import pytest
from lab_config import DROP_ATS, DROP_POINTS, DROP_SIZES, ISSUE_HOST, ISSUE_VMS, drop_host, drop_vm_names
from rlab import (
    check,
    command_kind,
    counts,
    describe,
    ended,
    nesting_run,
    on_off,
    states,
    summaries,
    vm_inventory,
    vmx_path,
)

pytestmark = pytest.mark.lab

# The drop_ssh PATTERN (a regex searched in the SSH command's text) of each command, from the
# scripts the plugins send: vm_power.py (vmsvc/power.shutdown, vmsvc/power.on), remote_file.py
# (the rename, `mv -f "$t" "$f"`), vm_config.py (`vim_cmd vmsvc/reload`), host_lock.py (`mkdir
# "$lock"`). The rename, the reload and the lock are all in the one write command today (and the
# power-on of a VM with a restart marker reloads too): --times 1 hits the first command that matches.
PATTERNS = {
    "shutdown": r"vmsvc/power\.shutdown",
    "rename": "mv ",
    "reload": "vmsvc/reload",
    "power-on": r"vmsvc/power\.on",
    "lock": "mkdir",
}
LABELS = {
    "shutdown": "the shutdown (`power.shutdown`)",
    "rename": "the .vmx write's rename (`mv `)",
    "reload": "the reload (`vmsvc/reload`)",
    "power-on": "the power-on (`power.on`)",
    "lock": "the write's lock (`mkdir`)",
}
AT_TEXT = {"start": "before the command runs", "end": "after the command ran, before its answer"}
SIZE_TEXT = {1: "one VM", 2: "a batch of two VMs of the host"}
NUMBERS = {point: n for n, point in enumerate(PATTERNS, 1)}  # case J<n>-<at>[-batch]
FORKS = ("--forks", "8")  # every VM of a run at once (6 at most)
STALE_HOST = drop_host("start", 1)
STALE_VMS = ["stale-off", "stale-on"]


def ident(point, at, size):
    return "J%d-%s%s" % (NUMBERS[point], at, "-batch" if size > 1 else "")


# --- the drops: each command of the cycle, four ways at once ----------------------------------------------


@pytest.fixture(scope="module")
def dropped(lab, tmp_path_factory):
    """For each command of the cycle, one run with the drop armed on the four rdrop hosts (a drop
    before or after the command; one VM or a batch of two); then, every fault cleared, the next
    run of each of those VMs (one run per nesting state asked: the runs take the most time)."""
    tmp_path = tmp_path_factory.mktemp("dropped")
    hosts = {(at, size): drop_host(at, size) for at in DROP_ATS for size in DROP_SIZES}
    group_of_hosts = ":".join(hosts.values())
    # {(point, at, size): {inventory name: VM name}}: the VMs as hosts of the VM play.
    members = {
        (point,) + key: {"%s_%s" % (host, name): name for name in drop_vm_names(point, *key)}
        for point in DROP_POINTS
        for key, host in hosts.items()
    }

    def run(group, cases, wanted):
        inventory = {member: (drop_host(*c[1:]), name) for c in cases for member, name in members[c].items()}
        flags = vm_inventory(tmp_path / ("%s.yml" % group), group, inventory) + FORKS
        state = "enabled" if wanted else "disabled"
        extra = {"nestedvirt_guest_group": group, "enable_nesting_state": state}
        return nesting_run(lab, tmp_path, group_of_hosts, [], *flags, **extra)

    def labels(c):
        # The ESXi host's recap: its VMs are changed by the host's own tasks (they are no play
        # hosts of their own, unless verified), and the lab shows each VM's end state.
        return {drop_host(*c[1:]): "host %s" % drop_host(*c[1:])}

    def vms_of(cases):
        return {
            host: [n for c in cases if drop_host(*c[1:]) == host for n in members[c].values()]
            for host in hosts.values()
        }

    def read(cases, bystander=False):
        """{case: states of its VMs} (one round trip per host); with ``bystander``, also {host: its bystander}."""
        found = {
            host: states(lab, host, (["bystander"] if bystander else []) + names)
            for host, names in vms_of(cases).items()
        }
        by_case = {c: {n: found[drop_host(*c[1:])][n] for n in members[c].values()} for c in cases}
        return (by_case, {host: found[host]["bystander"] for host in found}) if bystander else by_case

    records = {}
    bystanders = None
    for point, nested_before in DROP_POINTS.items():
        cases = [(point,) + key for key in hosts]
        if bystanders is None:
            before, bystanders = read(cases, bystander=True)
        else:
            before = read(cases)
        seen = {host: len(lab.commands(host)) for host in hosts.values()}
        for (at, _size), host in hosts.items():
            lab.fault(host, "drop_ssh", PATTERNS[point], at=at, times=1)
        faulted = run("dropped_%s" % point.replace("-", "_"), cases, not nested_before)
        for c in cases:
            host = drop_host(*c[1:])
            sent = lab.commands_since(host, seen[host])
            records[c] = {
                "host": host,
                "wanted": not nested_before,
                "before": before[c],
                "drops": [command_kind(entry["command"]) for entry in sent if entry.get("fault")],
                "commands": len(sent),
                "still_armed": lab.status(host)["faults"]["drop_ssh"],
                "faulted": faulted,
                "faulted_ended": ended(faulted, labels(c)),
            }
        for host in hosts.values():
            lab.fault(host, "clear")
        for c, after in read(cases).items():
            records[c]["after_fault"] = after
    for wanted in (True, False):
        cases = [c for c in records if records[c]["wanted"] == wanted]
        clean = run("dropped_then_%s" % on_off(wanted), cases, wanted)
        found, bystanders_now = read(cases, bystander=True)
        for c in cases:
            records[c].update(clean=clean, clean_ended=ended(clean, labels(c)), after_clean=found[c])
    for c in records:
        before, after = bystanders[records[c]["host"]], bystanders_now[records[c]["host"]]
        records[c]["bystander_touched"] = [key for key in ("power", "md5") if before[key] != after[key]]
    return records


def _case(point, at, size):
    title = "The SSH connection drops at %s, %s (%s)" % (LABELS[point], AT_TEXT[at], SIZE_TEXT[size])
    name = ident(point, at, size)
    return pytest.param(point, at, size, marks=[pytest.mark.case(name, title, promise="down")], id=name)


@pytest.mark.parametrize(
    ("point", "at", "size"), [_case(point, at, size) for point in PATTERNS for at in DROP_ATS for size in DROP_SIZES]
)
def test_dropped_connection(dropped, lab, case, point, at, size):
    record = dropped[(point, at, size)]
    host, wanted, before = record["host"], record["wanted"], record["before"]
    case.inject(
        "`esxilab fault --host %s --at %s --times 1 drop_ssh '%s'`, then the enable-nesting playbook with"
        " enable_nesting_state=%s on %s (%s; powered on, hardware 14), in one run with the three other"
        " cases of this command (on hosts of their own); then `esxilab fault --host %s clear` and the playbook"
        " again (one run for every case asking the same state)"
        % (
            host,
            at,
            PATTERNS[point],
            "enabled" if wanted else "disabled",
            SIZE_TEXT[size],
            ", ".join(sorted(before)),
            host,
        )
    )
    case.observe(
        "the connection dropped at: %s"
        % ("; ".join(sorted(set(record["drops"]))) or "NOTHING (no command matched; still armed)")
    )
    case.observe("the run with the drop: " + describe(record["faulted_ended"], record["after_fault"], before, wanted))
    case.observe("the next run: " + describe(record["clean_ended"], record["after_clean"], before, wanted))
    case.observe(
        "the host's bystander VM: %s"
        % ("untouched" if not record["bystander_touched"] else "CHANGED (%s)" % ", ".join(record["bystander_touched"]))
    )
    case.detail(
        "%s: %d SSH commands in the run with the drop, dropped: %s; that run rc %d in %.0f s, the next rc %d in %.0f s"
        % (
            host,
            record["commands"],
            record["drops"],
            record["faulted"].rc,
            record["faulted"].seconds,
            record["clean"].rc,
            record["clean"].seconds,
        )
    )
    case.files_lost, case.vms_left_down = counts(before, [record["after_fault"], record["after_clean"]], wanted)
    assert record["drops"], "drop_ssh %r matched no command of the run (still armed: %s)" % (
        PATTERNS[point],
        record["still_armed"],
    )
    assert not record["bystander_touched"]
    # The next run, fault cleared, reaches the right end state whatever the faulted run left.
    check("the next run", record["clean_ended"], record["after_clean"], before, wanted, record["clean"], lab)
    # The run with the drop finishes by itself: each command is sent again on a new connection.
    check(
        "the run with the drop", record["faulted_ended"], record["after_fault"], before, wanted, record["faulted"], lab
    )


# --- issue 18 as reported ----------------------------------------------------------------------------------


@pytest.mark.case(
    "J6", "Issue 18: the connection drops at the first .vmx rename while two VMs are turned off", promise="down"
)
def test_issue_18(lab, case, tmp_path):
    host, names = ISSUE_HOST, ISSUE_VMS
    initial = states(lab, host, names)
    enable = nesting_run(lab, tmp_path, host, names, enable_nesting_state="enabled")
    before = states(lab, host, names)
    case.inject(
        "issue 18's steps on ESXi 6.7 host %s with VMs %s (powered on, hardware 14, no guest OS): the playbook"
        " turns nesting on; then `esxilab fault --host %s --at start --times 1 drop_ssh 'mv '` and the playbook"
        " turns it off; then `esxilab fault --host %s clear` and the same run" % (host, " and ".join(names), host, host)
    )
    case.observe("turning nesting on first: " + describe(ended(enable), before, initial, True))
    seen = len(lab.commands(host))
    lab.fault(host, "drop_ssh", "mv ", at="start", times=1)
    faulted = nesting_run(lab, tmp_path, host, names, enable_nesting_state="disabled")
    drops = [command_kind(entry["command"]) for entry in lab.commands_since(host, seen) if entry.get("fault")]
    lab.fault(host, "clear")
    after_fault = states(lab, host, names)
    clean = nesting_run(lab, tmp_path, host, names, enable_nesting_state="disabled")
    after_clean = states(lab, host, names)
    case.observe("the connection dropped at: %s" % ("; ".join(sorted(set(drops))) or "NOTHING"))
    case.observe("the run with the drop: " + describe(ended(faulted), after_fault, before, False))
    case.observe("the next run: " + describe(ended(clean), after_clean, before, False))
    case.detail("the run with the drop: rc %d, %d drops, failures %s" % (faulted.rc, len(drops), faulted.failures()))
    case.files_lost, case.vms_left_down = counts(before, [after_fault, after_clean], False)
    check("turning nesting on first", ended(enable), before, initial, True, enable, lab)
    assert drops
    check("the next run", ended(clean), after_clean, before, False, clean, lab)
    check("the run with the drop", ended(faulted), after_fault, before, False, faulted, lab)


# --- hostd's stale copy, on its own -------------------------------------------------------------------------


@pytest.mark.case(
    "J7", "A .vmx already as asked that hostd never reloaded (hostd holds the old nesting)", promise="atomic"
)
def test_stale_hostd(lab, case, tmp_path):
    host, names = STALE_HOST, STALE_VMS
    vmids = {name: vm["vmid"] for name, vm in lab.vms(host).items() if name in names}
    for name in names:
        raw = lab.read(host, vmx_path(name))
        lab.write(host, vmx_path(name), raw.rstrip(b"\n") + b'\nvhv.enable = "TRUE"\n')
    # stale-on is then powered on as an admin would: it runs with the file's nesting, while hostd
    # keeps its old copy (and writes that back at the next power-off).
    lab.sh(host, "vim-cmd vmsvc/power.on %s" % vmids["stale-on"])
    prepared = states(lab, host, names)
    case.inject(
        'VMs stale-off and stale-on (powered off, nesting off): `vhv.enable = "TRUE"` appended to each .vmx with no'
        " `vim-cmd vmsvc/reload`; stale-on then powered on with `vim-cmd vmsvc/power.on`. Then the playbook turns"
        " nesting on, which the files already say; then each VM power-cycled by hand (vim-cmd power.off/power.on)"
    )
    case.observe(
        "before the run: %s"
        % "; ".join(
            "%s %s, nesting %s in the .vmx and %s in hostd%s"
            % (
                name,
                state["power"],
                on_off(state["file"]),
                on_off(state["hostd"]),
                ", running with nesting %s" % on_off(state["running_nested"]) if state["power"] == "poweredOn" else "",
            )
            for name, state in prepared.items()
        )
    )
    run = nesting_run(lab, tmp_path, host, ["stale-*"], enable_nesting_state="enabled")
    after = states(lab, host, names)
    said = {name: re.sub(r"^.*?\): ", "", summaries(run).get(name, "NOT IN THE SUMMARY")) for name in names}
    # What hostd holds is what a power-off writes back: cycle each VM by hand, as an admin would.
    for name in names:
        order = ("off", "on") if after[name]["power"] == "poweredOn" else ("on", "off")
        for op in order:
            lab.sh(host, "vim-cmd vmsvc/power.%s %s" % (op, vmids[name]))
    cycled = states(lab, host, names)
    case.observe("the run's summary: %s" % "; ".join("%s: %s" % item for item in said.items()))
    case.observe("after the run: " + describe(ended(run), after, prepared, True))
    case.observe(
        "after the power cycle by hand: %s"
        % "; ".join("%s: nesting %s in the .vmx" % (name, on_off(cycled[name]["file"])) for name in names)
    )
    case.files_lost, case.vms_left_down = counts(prepared, [after, cycled], True)
    assert prepared["stale-off"]["file"] and not prepared["stale-off"]["hostd"], prepared
    assert prepared["stale-on"]["running_nested"] and not prepared["stale-on"]["hostd"], prepared
    assert not any(text.startswith("nothing to do") for text in said.values()), said
    check("the run", ended(run), after, prepared, True, run, lab)
    assert all(cycled[name]["file"] and cycled[name]["hostd"] for name in names), cycled
