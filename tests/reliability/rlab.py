"""The reliability suite's lab and how the cases drive it.

One lab per session (`esxilab up` on two free 127.0.X.0/24 nets). Plays run through the real
`ansible-playbook`, with the keep_results callback of tests/integration, against the inventory
`up` writes; the collection is the checkout itself (tests/conftest.py links it). The lab's own
records are the witnesses: its log of SSH commands, the files as the host's shell sees them,
and hostd's view of every VM.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = ROOT / "tests" / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

from labkit import hostd  # noqa: E402
from labkit.cli import run_esxilab  # noqa: E402

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxDocument, VmxError  # noqa: E402

BIN = Path(sys.executable).parent
CALLBACKS = ROOT / "tests" / "integration" / "callback_plugins"
PLAYBOOK = ROOT / "playbooks" / "enable_nesting.yml"


def esxilab(*args, timeout=300):
    return run_esxilab(*args, timeout=timeout)


def _listening_nets():
    """The 127.0.X nets something listens on (other developers' labs and tests)."""
    nets = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                address = socket.inet_ntoa(bytes.fromhex(fields[1].split(":")[0])[::-1])
                nets.add(address.rsplit(".", 1)[0])
    return nets


def free_networks(count=5):
    """Up to ``count`` (host_net, guest_net) pairs of unused 127.0.X.0/24 nets, in random order."""
    busy = _listening_nets()
    pairs = [x for x in range(2, 253, 2) if x != 10 and {"127.0.%d" % x, "127.0.%d" % (x + 1)}.isdisjoint(busy)]
    random.shuffle(pairs)
    return [("127.0.%d.0" % x, "127.0.%d.0" % (x + 1)) for x in pairs[:count]]


def _alive(pid, start):
    """Whether the process recorded as (pid, start time) still runs (a zombie does not)."""
    try:
        fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and fields[19] == str(start)


def dead_hosts(state):
    """Hosts of the lab in ``state`` whose namespace holder or sshd is gone (killed from outside)."""
    dead = set()
    for record in sorted((Path(state) / "pids").glob("*.pid")):
        key = record.stem
        parts = record.read_text().split()
        if key.endswith(("-ns", "-sshd")) and len(parts) == 2 and not _alive(int(parts[0]), parts[1]):
            dead.add(key.rsplit("-", 1)[0])
    return dead


def lab_down(state):
    """`esxilab down`, after forgetting the mount namespaces of hosts whose holder is gone.

    The kernel reuses namespace ids: `down` kills every process in each recorded namespace, so a
    recorded id whose namespace died could now be another lab's (seen on this shared machine).
    """
    for host in dead_hosts(state):
        (Path(state) / "pids" / ("%s.mntns" % host)).unlink(missing_ok=True)
    return esxilab("down", "--dir", state)


def start_lab(config, root):
    """`esxilab up` of ``config`` in a new directory under ``root``, on free nets."""
    up = None
    for attempt, (host_net, guest_net) in enumerate(free_networks()):
        state = root / ("state-%d-%d" % (os.getpid(), time.monotonic_ns()))
        path = root / ("lab-%d.yml" % attempt)
        config.setdefault("lab", {}).update(host_net=host_net, guest_net=guest_net)
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        up = esxilab("up", "--config", path, "--dir", state)
        if up.returncode == 0:
            return Lab(state)
        lab_down(state)
        if "lab addresses in use" not in up.stdout + up.stderr:
            break
    pytest.fail("esxilab up failed:\n%s\n%s" % (up and up.stdout, up and up.stderr))


@contextlib.contextmanager
def lab_up(config, root):
    """The lab of ``config``, stopped (and checked to leave nothing) afterwards."""
    lab = start_lab(config, root)
    lab.config, lab.root = config, root
    try:
        yield lab
    finally:
        down = lab_down(lab.state)
        shutil.rmtree(lab.control_dir, ignore_errors=True)
        assert down.returncode == 0, "esxilab down left something behind:\n%s\n%s" % (down.stdout, down.stderr)


class Run:
    """One ansible-playbook run: its rc, its output, each task's result by task name."""

    def __init__(self, rc, output, results, seconds):
        self.rc = rc
        self.output = output
        self.results = results
        self.seconds = seconds

    def __getitem__(self, name):
        return self.results[name]

    def failures(self):
        return {name: r.get("msg", "") for name, r in self.results.items() if r.get("failed") or r.get("unreachable")}


def _finished(rc, results, work, started):
    """The Run of an ended ansible-playbook: its output (work/output.txt) and kept results."""
    kept = json.loads(results.read_text()) if results.exists() else {}
    return Run(rc, (work / "output.txt").read_text(), kept, time.monotonic() - started)


class Lab:
    def __init__(self, state: Path) -> None:
        self._load(state)
        self.counter = 0
        self.config = self.root = None
        self.restarts = 0

    def restart(self):
        """Down and up again in a new directory (after something outside killed part of it)."""
        if self.config is None or self.restarts >= 3:
            pytest.fail("the lab in %s lost hosts %s to something outside" % (self.state, dead_hosts(self.state)))
        self.restarts += 1
        lab_down(self.state)
        shutil.rmtree(self.control_dir, ignore_errors=True)
        self._load(start_lab(self.config, self.root).state)

    def _load(self, state):
        self.state = Path(state)
        # SSH master connections of this lab's runs only (a short path: sockets have a length limit).
        self.control_dir = tempfile.mkdtemp(prefix="nvrel-cp-", dir="/tmp")
        self.inventory = self.state / "inventory.yml"
        groups = yaml.safe_load(self.inventory.read_text())["all"]["children"]
        self.hostvars = groups["esxi_hosts"]["hosts"]
        self.guests = (groups.get("nested_guests") or {}).get("hosts") or {}

    # --- the host, as its own shell sees it ------------------------------------------------

    def address(self, host):
        return self.hostvars[host]["ansible_host"]

    def ssh_argv(self, host, *options):
        """ssh to a host with the inventory's key and known_hosts (host keys checked)."""
        hv = self.hostvars[host]
        common = hv["ansible_ssh_common_args"].split()
        return ["ssh", "-T", "-i", hv["ansible_ssh_private_key_file"], *common, "-o", "BatchMode=yes", *options]

    def sh(self, host, command, stdin=b"", timeout=120, check=True):
        """Run ``command`` on the host over real SSH (logged by the lab like any other)."""
        done = subprocess.run(
            [*self.ssh_argv(host), "root@%s" % self.address(host), command],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError("on %s: %r failed (%d): %s" % (host, command[:200], done.returncode, done.stderr))
        return done

    def script(self, host, text, stdin=b"", timeout=300):
        """Run a long script on the host: sent as a file first (a command line has a size limit)."""
        self.sh(host, "cat > /tmp/nestedvirt-suite.sh", stdin=text.encode("utf-8", "surrogateescape"))
        return self.sh(
            host,
            "sh /tmp/nestedvirt-suite.sh; rc=$?; rm -f /tmp/nestedvirt-suite.sh; exit $rc",
            stdin=stdin,
            timeout=timeout,
        )

    def read(self, host, path):
        """A file's bytes on the host, or None when it does not exist."""
        done = self.sh(host, "if [ -f '%s' ]; then echo yes; cat '%s'; else echo no; fi" % (path, path))
        head, _newline, body = done.stdout.partition(b"\n")
        return body if head == b"yes" else None

    def write(self, host, path, data: bytes):
        self.sh(host, "cat > '%s'" % path, stdin=data)

    def listdir(self, host, directory):
        done = self.sh(host, "ls -a '%s'" % directory)
        return sorted(name for name in done.stdout.decode().split("\n") if name not in ("", ".", ".."))

    def read_with_listing(self, host, paths):
        """{path: (its bytes or None when missing, the names in its directory)} for several files,
        in one SSH command (``read`` and ``listdir`` of each, without a round trip apiece)."""
        token = "@@rlab-%d" % time.monotonic_ns()
        lines = []
        for n, path in enumerate(paths):
            quoted = "'%s'" % path.replace("'", "'\\''")
            directory = "'%s'" % path.rsplit("/", 1)[0].replace("'", "'\\''")
            lines += [
                "if [ -f %s ]; then echo '%s file %d yes'; cat %s; echo; else echo '%s file %d no'; fi"
                % (quoted, token, n, quoted, token, n),
                "echo '%s ls %d'; ls -a %s" % (token, n, directory),
            ]
        lines.append("echo '%s done'" % token)
        text = "\n".join(lines)
        out = (self.sh(host, text) if len(text) < 8192 else self.script(host, text)).stdout
        assert out.endswith(("%s done\n" % token).encode()), out[-500:]
        found = {}
        for n, path in enumerate(paths):
            head = ("%s file %d " % (token, n)).encode()
            start = out.index(head) + len(head)
            listing = ("\n%s ls %d\n" % (token, n)).encode()
            end = out.index(listing, start)
            exists, _newline, body = out[start:end].partition(b"\n")
            content = body if exists == b"yes" else None  # (the echo after cat ends it: the listing's "\n")
            names = out[end + len(listing) : out.index(token.encode(), end + len(listing))].decode()
            found[path] = (content, sorted(x for x in names.split("\n") if x not in ("", ".", "..")))
        return found

    def tree_digest(self, host, root="/vmfs/volumes"):
        """{path: md5} of every file under ``root`` on the host (what "nothing else touched" compares)."""
        done = self.sh(host, "find %s -type f -exec md5sum {} +" % root)
        return dict(reversed(line.split("  ", 1)) for line in done.stdout.decode().splitlines())

    # --- hostd and the lab's records ---------------------------------------------------------

    def vms(self, host):
        """hostd's view of every VM (power, nesting, the .vmx on disk), by name."""
        rc, out = hostd.request(self.address(host), ["lab", "inventory"], timeout=30)
        assert rc == 0, out
        return {vm["name"]: vm for vm in json.loads(out)["vms"]}

    def power(self, host, name):
        return self.vms(host)[name]["power"]

    def status(self, host):
        """`esxilab status` of one host: its VMs by name (what ``vms`` gives, plus ``nested_now``:
        whether a running VM runs with nesting, as read from the .vmx at its power-on) and the
        fault knobs still armed (``faults``: a drop_ssh rule that never matched is still there)."""
        rc, out = hostd.request(self.address(host), ["lab", "status"], timeout=30)
        assert rc == 0, out
        answer = json.loads(out)
        return {"vms": {vm["name"]: vm for vm in answer["vms"]}, "faults": answer["faults"]}

    def commands_since(self, host, seen):
        """The SSH commands the host ran after the first ``seen`` (``len(lab.commands(host))`` taken
        before), each with ``fault`` when a fault knob acted on it."""
        return self.commands(host)[seen:]

    def fault(self, host, knob, *args, at=None, delay=None, times=None):
        """`esxilab fault` at run time (README "Faults")."""
        options = []
        for name, value in (("--at", at), ("--delay", delay), ("--times", times)):
            if value is not None:
                options += [name, str(value)]
        done = esxilab("fault", "--dir", self.state, "--host", host, *options, knob, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def commands(self, host):
        """Every SSH command the host ran so far, in order (the lab's log)."""
        log = self.state / "logs" / ("%s.commands.jsonl" % host)
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]

    # --- ansible-playbook ----------------------------------------------------------------------

    def _prepare(self, tmp_path, play, extra_vars, flags, env):
        self.counter += 1
        work = tmp_path / ("run-%d-%d" % (self.counter, time.monotonic_ns()))
        work.mkdir(parents=True)
        if isinstance(play, (str, Path)):
            playbook = Path(play)
        else:
            playbook = work / "play.yml"
            playbook.write_text(yaml.safe_dump(play, sort_keys=False, allow_unicode=True))
        results = work / "results.json"
        argv = [str(BIN / "ansible-playbook"), "-i", str(self.inventory), str(playbook), *flags]
        if extra_vars:
            # A vars file, each string tagged !unsafe: names are data, never templates (as an admin
            # writes a VM name holding "{{" in an inventory).
            values = work / "vars.yml"
            values.write_text(
                "\n".join("%s: %s" % (key, _unsafe(value)) for key, value in extra_vars.items()) + "\n",
                encoding="utf-8",
            )
            argv += ["-e", "@%s" % values]
        environment = dict(
            os.environ,
            ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"),
            ANSIBLE_HOME=str(work / "ansible-home"),
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
            ANSIBLE_CALLBACKS_ENABLED="keep_results",
            KEEP_RESULTS_FILE=str(results),
            ANSIBLE_SSH_RETRIES="0",
            ANSIBLE_SSH_CONTROL_PATH_DIR=self.control_dir,
        )
        environment.update(env or {})
        return argv, environment, results, work

    def playbook(self, tmp_path, play, extra_vars=None, *flags, env=None, timeout=600):
        """Run a play (a list of plays, or a playbook path) to its end."""
        argv, environment, results, work = self._prepare(tmp_path, play, extra_vars, flags, env)
        started = time.monotonic()
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
            check=False,
        )
        (work / "output.txt").write_text(done.stdout + done.stderr)
        return _finished(done.returncode, results, work, started)

    def playbooks_at_once(self, tmp_path, plays, timeout=600):
        """Run several playbooks at the same time (separate ansible-playbook processes)."""
        started = time.monotonic()
        running = []
        for each in plays:
            argv, environment, results, work = self._prepare(tmp_path, each, None, (), None)
            output = open(work / "output.txt", "w")  # noqa: SIM115 - closed below
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=environment
            )
            running.append((process, output, results, work))
        runs = []
        for process, output, results, work in running:
            process.wait(timeout=timeout)
            output.close()
            runs.append(_finished(process.returncode, results, work, started))
        return runs

    def playbook_watched(self, tmp_path, play, host, when, then, extra_vars=None, timeout=300):
        """Start a play and call ``then(process)`` once, as soon as ``when(commands)`` is true,
        ``commands`` being the SSH commands ``host`` ran since the start; then let it end (a play
        still running at ``timeout`` is killed). Returns (whether ``then`` ran, the Run)."""
        argv, environment, results, work = self._prepare(tmp_path, play, extra_vars, (), None)
        seen = len(self.commands(host))
        started = time.monotonic()
        with open(work / "output.txt", "w") as output:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
        acted = False
        deadline = started + timeout
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if not acted and when([entry["command"] for entry in self.commands(host)[seen:]]):
                    then(process)
                    acted = True
                time.sleep(0.05)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        return acted, _finished(process.returncode, results, work, started)

    def playbook_killed(self, tmp_path, play, host, when, extra_vars=None, timeout=300):
        """Start a play and kill the controller (SIGKILL to the process group of the ansible-playbook
        this started: it and its workers) as soon as ``when(commands)`` is true. Returns whether it
        was killed (False: the play ended first)."""

        def kill(process):
            os.killpg(process.pid, signal.SIGKILL)

        return self.playbook_watched(tmp_path, play, host, when, kill, extra_vars, timeout)[0]


def _unsafe(value):
    """YAML for ``value`` with every string tagged !unsafe (JSON strings are YAML double-quoted strings)."""
    if isinstance(value, str):
        return "!unsafe %s" % json.dumps(value, ensure_ascii=False)  # no \\ud83d surrogates: YAML refuses them
    if isinstance(value, list):
        return "[%s]" % ", ".join(_unsafe(item) for item in value)
    return json.dumps(value)


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


_RECAP = re.compile(r"^(\S.*?)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def recap(run):
    """{inventory host: {ok, changed, unreachable, failed, skipped}} from the run's PLAY RECAP: how
    each host of a run that spans several ended (``rc`` is the whole run's)."""
    keys = ("ok", "changed", "unreachable", "failed", "skipped")
    return {m.group(1): dict(zip(keys, map(int, m.groups()[1:]), strict=True)) for m in _RECAP.finditer(run.output)}


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
    status = lab.status(host)["vms"]
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
    found = recap(run)
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
