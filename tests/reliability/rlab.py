"""The reliability suite's lab and how the cases drive it, over tests/harness.

One lab per session (harness.lab: `esxilab up` on free 127.0.X.0/24 nets). Plays run through the
real `ansible-playbook` (harness.ansible) against the inventory `up` writes; the collection is the
checkout itself (tests/conftest.py links it). The lab's own records are the witnesses: its log of SSH
commands, the files as the host's shell sees them, and hostd's view of every VM. What is here is the
suite's own: a lab restarted when something outside killed part of it, runs watched and killed
mid-way, and how a run's end state is judged, VM by VM.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from harness import ROOT, ansible
from harness import lab as harness_lab
from harness.ansible import recap

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxDocument, VmxError

PLAYBOOK = ROOT / "playbooks" / "enable_nesting.yml"


def start_lab(config, root):
    """A new state directory under ``root`` with the lab of ``config`` up in it."""
    state = root / ("state-%d-%d" % (os.getpid(), time.monotonic_ns()))
    harness_lab.up(config, state)
    return state


@contextlib.contextmanager
def lab_up(config, root):
    """The lab of ``config``, stopped (and checked to leave nothing) afterwards."""
    lab = Lab(start_lab(config, root), config, root)
    try:
        yield lab
    finally:
        down = harness_lab.down(lab.state)
        shutil.rmtree(lab.control_dir, ignore_errors=True)
        assert down.returncode == 0, "esxilab down left something behind:\n%s\n%s" % (down.stdout, down.stderr)


class Lab(harness_lab.Lab):
    """The harness's lab, with SSH master connections of its own runs, and restarted (in a new
    directory, at most three times) when something outside killed some of its hosts."""

    def __init__(self, state: Path, config=None, root=None) -> None:
        self.counter = 0
        self.config, self.root = config, root
        self.restarts = 0
        super().__init__(state)

    def load(self, state):
        super().load(state)
        # SSH master connections of this lab's runs only (a short path: sockets have a length limit).
        self.control_dir = tempfile.mkdtemp(prefix="nvrel-cp-", dir="/tmp")

    def restart(self):
        """Down and up again in a new directory (after something outside killed part of it)."""
        if self.config is None or self.restarts >= 3:
            dead = harness_lab.dead_hosts(self.state)
            pytest.fail("the lab in %s lost hosts %s to something outside" % (self.state, dead))
        self.restarts += 1
        harness_lab.down(self.state)
        shutil.rmtree(self.control_dir, ignore_errors=True)
        self.load(start_lab(self.config, self.root))

    def power(self, host, name):
        return self.vms(host)[name]["power"]

    def commands_since(self, host, seen):
        """The SSH commands the host ran after the first ``seen`` (``len(lab.commands(host))`` taken
        before), each with ``fault`` when a fault knob acted on it."""
        return self.commands(host)[seen:]

    # --- ansible-playbook ----------------------------------------------------------------------

    def job(self, tmp_path, play, extra_vars=None, *flags, env=None):
        self.counter += 1
        work = tmp_path / ("run-%d-%d" % (self.counter, time.monotonic_ns()))
        settings = {"ANSIBLE_SSH_RETRIES": "0", "ANSIBLE_SSH_CONTROL_PATH_DIR": self.control_dir}
        return ansible.Job(work, self.inventory, play, *flags, extra_vars=extra_vars, env={**settings, **(env or {})})

    def playbook(self, tmp_path, play, extra_vars=None, *flags, env=None, timeout=600):
        """Run a play (a list of plays, or a playbook path) to its end."""
        return self.job(tmp_path, play, extra_vars, *flags, env=env).run(timeout)

    def playbooks_at_once(self, tmp_path, plays, timeout=600):
        """Run several playbooks at the same time (separate ansible-playbook processes)."""
        jobs = [self.job(tmp_path, each) for each in plays]
        running = [(job, job.start()) for job in jobs]
        return [job.finish(process, timeout) for job, process in running]

    def playbook_watched(self, tmp_path, play, host, when, then, extra_vars=None, timeout=300):
        """Start a play and call ``then(process)`` once, as soon as ``when(commands)`` is true,
        ``commands`` being the SSH commands ``host`` ran since the start; then let it end (a play
        still running at ``timeout`` is killed). Returns (whether ``then`` ran, the Run)."""
        job = self.job(tmp_path, play, extra_vars)
        seen = len(self.commands(host))
        process = job.start()
        acted = False
        deadline = job.started + timeout
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if not acted and when([entry["command"] for entry in self.commands(host)[seen:]]):
                    then(process)
                    acted = True
                time.sleep(0.05)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        return acted, job.finish(process, 30)

    def playbook_killed(self, tmp_path, play, host, when, extra_vars=None, timeout=300):
        """Start a play and kill the controller (SIGKILL to the process group of the ansible-playbook
        this started: it and its workers) as soon as ``when(commands)`` is true. Returns whether it
        was killed (False: the play ended first)."""

        def kill(process):
            os.killpg(process.pid, signal.SIGKILL)

        return self.playbook_watched(tmp_path, play, host, when, kill, extra_vars, timeout)[0]


def md5(data):
    return hashlib.md5(data, usedforsecurity=False).hexdigest() if data is not None else None


def play(hosts, tasks, name="Reliability case"):
    return [{"name": name, "hosts": hosts, "gather_facts": False, "tasks": tasks}]


def vmx_task(name, vm=None, path=None, delegate_to=None, **args):
    module = dict(args)
    if vm is not None:
        module["vm"] = vm
    if path is not None:
        module["path"] = path
    task = {"name": name, "nestedvirt.esxi.vmx": module}
    if delegate_to:
        task["delegate_to"] = delegate_to
    return task


def normalize(text, lab=None):
    """An error message as the report shows it: no times, pids or temporary paths."""
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "<time>", text)
    text = re.sub(r"\(\d+ s ago\)", "(<n> s ago)", text)
    text = re.sub(r"pid \d+", "pid <n>", text)
    if lab is not None:
        text = text.replace(str(lab.state), "STATE")
    text = re.sub(r"127\.0\.\d+\.\d+", "<lab address>", text)
    return " ".join(text.split())


def code(text, limit=160):
    """``text`` as a Markdown code span, shortened and with control characters escaped (for the report)."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    shown = "".join(named.get(c, "\\x%02x" % ord(c)) if ord(c) < 32 else c for c in text)
    suffix = ""
    if len(shown) > limit:
        shown, suffix = "%s ... %s" % (shown[: limit - 40], shown[-20:]), " (%d bytes in all)" % len(text.encode())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", shown)), default=0) + 1)
    return "%s %s %s%s" % (fence, shown, fence, suffix)


def nesting_vars(host, names, **extra):
    """Extra vars for the collection's enable_nesting playbook on VMs of ``host`` listed by name (no
    guest SSH: the lab's `guest: none` VMs have none, so no verify and no wait for an address)."""
    return dict(
        {
            "nestedvirt_esxi_group": host,
            "nestedvirt_guest_group": "nested_guests_by_name",
            "nestedvirt_vms": names,
            "enable_nesting_verify": False,
            "enable_nesting_wait_for_ip": False,
        },
        **extra,
    )


def vm_inventory(path, group, vms):
    """An inventory file of VMs as hosts of ``group`` (``vms``: {inventory name: (ESXi host, VM
    name)}), as an admin lists them (nested_guests); the lab's own inventory lists only its Linux
    guests. Returns the ansible-playbook flags that add it to the lab's inventory.

    One run over VMs of several ESXi hosts needs it: the playbook's `nestedvirt_vms` is turned into
    hosts by add_host, which runs once per play (for its first host), not once per ESXi host."""
    hosts = {name: {"nestedvirt_esxi_host": host, "nestedvirt_vm_name": vm} for name, (host, vm) in vms.items()}
    Path(path).write_text(yaml.safe_dump({"all": {"children": {group: {"hosts": hosts}}}}, allow_unicode=True))
    return ("-i", str(path))


def nesting_run(lab, tmp_path, host, names, *flags, **extra):
    """The enable_nesting playbook run to its end with ``nesting_vars``."""
    return lab.playbook(tmp_path, PLAYBOOK, nesting_vars(host, names, **extra), *flags)


def summaries(run):
    """{VM name: what the playbook's summary says was done to it} (``nothing to do``, ``changed: ...``)."""
    shown = {}
    for name, result in run.results.items():
        if name.endswith("Show what happened to each VM"):
            for item in result.get("results", []):
                vm = (item.get("item") or {}).get("vm")
                if vm is not None:
                    shown[vm] = item.get("msg", "")
    return shown


def vmx_path(name, datastore="datastore1"):
    return "/vmfs/volumes/%s/%s/%s.vmx" % (datastore, name.replace("/", "%2f"), name.replace("/", "%2f"))


def failure_message(run):
    """The message the play ended with (the role's own, else the failing task's)."""
    failures = run.failures()
    for name, message in failures.items():
        if name.endswith("Fail for the VMs that could not be changed"):
            return message
    return next(iter(failures.values()), "")


# --- a run's end state, VM by VM (how the dropped and batch cases judge a run) ----------------------


def command_kind(command):
    """What an SSH command of the collection is, by the scripts' own markers. The power commands
    come first: a batch's shutdown also reads each .vmx once off, a power-on may reload first."""
    text = command or ""
    for needle, kind in (
        ("vmware -lv", "host_info"),
        ("nestedvirt-write-v1", "the .vmx write (lock, rename, reload)"),
        ("vmsvc/power.shutdown", "the shutdown"),
        ("vmsvc/power.on", "the power-on"),
        ("nestedvirt-read-v1", "the .vmx read"),
        ("vmsvc/reload", "a reload"),
    ):
        if needle in text:
            return kind
    return "another command (%s)" % text[:40]


def on_off(*values):
    words = tuple("on" if value else "off" for value in values)
    return words if len(words) > 1 else words[0]


def states(lab, host, names, datastores=None):
    """Each VM as the host shows it: power, nesting in its .vmx and in hostd (and in the running VM),
    what lies beside its .vmx; two round trips for all of them. ``datastores``: {VM name: its
    datastore} where that is not datastore1."""
    status = lab.vm_status(host)
    paths = {name: vmx_path(name, (datastores or {}).get(name, "datastore1")) for name in names}
    files = lab.read_with_listing(host, list(paths.values()))
    found = {}
    for name in names:
        raw, beside = files[paths[name]]
        try:
            in_file = VmxDocument.parse(raw.decode()).holds("vhv.enable", "TRUE") if raw is not None else None
        except (VmxError, UnicodeDecodeError):
            in_file = None  # unreadable: a file lost
        found[name] = {
            "power": status[name]["power"],
            "file": in_file,
            "hostd": status[name]["nested_hv_enabled"],
            "running_nested": status[name]["nested_now"],
            "beside": [n for n in beside if "nestedvirt" in n],
            "md5": md5(raw),
        }
    return found


def wrong(state, before, wanted):
    """What is wrong with one VM after a run (empty when nothing is)."""
    found = []
    if state["power"] != before["power"]:
        found.append("%s (was %s)" % (state["power"], before["power"]))
    if state["file"] is None:
        found.append("its .vmx unreadable or missing")
    elif state["file"] != wanted:
        found.append("nesting %s in its .vmx" % on_off(state["file"]))
    if state["file"] is not None and state["hostd"] != state["file"]:
        found.append("hostd holds nesting %s, the .vmx %s" % on_off(state["hostd"], state["file"]))
    if state["power"] == "poweredOn" and state["running_nested"] != wanted:
        found.append("it runs with nesting %s" % on_off(state["running_nested"]))
    if state["beside"]:
        found.append("beside its .vmx: %s" % ", ".join(state["beside"]))
    return found


def problems(after, before, wanted):
    return {name: found for name, found in ((n, wrong(after[n], before[n], wanted)) for n in after) if found}


def ended(run, hosts=None):
    """(text, ok): how a run ended; for ``hosts`` ({inventory host: label}, a case's part of a run
    that spans several cases), how each of them ended, by the run's recap."""
    if hosts is None:
        return "rc %d" % run.rc, run.rc == 0
    found = recap(run.output)
    bad = []
    for host, label in hosts.items():
        counts = found.get(host)
        if counts is None:
            bad.append("%s missing from the recap" % label)
        elif counts["unreachable"] or counts["failed"]:
            bad.append("%s %s" % (label, "UNREACHABLE" if counts["unreachable"] else "FAILED"))
    return ("its tasks all ok" if not bad else "; ".join(bad)), not bad


def describe(outcome, after, before, wanted):
    """A run as the report shows it: how it ended, then the VMs, each named only when something is wrong."""
    bad = problems(after, before, wanted)
    text = "%s; %d of %d VMs right (%s as before, nesting %s in the .vmx as asked, hostd agreeing, nothing beside)" % (
        outcome[0],
        len(after) - len(bad),
        len(after),
        "/".join(sorted({before[name]["power"] for name in after})),
        on_off(wanted),
    )
    return text + "".join("; VM %s: %s" % (name, ", ".join(found)) for name, found in sorted(bad.items()))


def counts(before, runs, wanted):
    """(files lost, VMs left down) over the runs of a case, each VM counted once.

    Files lost: a .vmx unreadable, or whose nesting hostd does not hold (hostd writes its own copy
    back at the next power-off: the update is lost), or after the last run not as asked or with
    something beside it. VMs left down: on before the case, off after one of its runs."""
    lost, down = set(), set()
    for index, after in enumerate(runs):
        for name, state in after.items():
            if state["file"] is None or state["hostd"] != state["file"]:
                lost.add(name)
            if index == len(runs) - 1 and (state["file"] != wanted or state["beside"]):
                lost.add(name)
            if before[name]["power"] == "poweredOn" and state["power"] != "poweredOn":
                down.add(name)
    return len(lost), len(down)


def check(case_name, outcome, after, before, wanted, run, lab):
    """The assertion of one run: it ended ok and left every VM right."""
    bad = problems(after, before, wanted)
    assert outcome[1] and not bad, "%s: %s\n%s" % (
        case_name,
        describe(outcome, after, before, wanted),
        normalize("; ".join("%s: %s" % item for item in run.failures().items()), lab)[:3000],
    )
