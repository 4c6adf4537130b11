"""Start and stop a lab (tests/lab/esxilab), and a running lab as the tests and bench see it.

``up`` brings a lab config up in a state directory, on free nets (``ports``), trying the next pair
when another lab took the addresses in between; ``down`` stops it; ``running`` does both around a
block and checks that `down` left nothing. ``Lab`` reads the inventory `up` wrote and talks to each
host's hostd (the lab's own TCP protocol, not SSH) and to the host over real SSH.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

import yaml
from labkit import hostd
from labkit.cli import run_esxilab
from labkit.labd import State

from . import hostfiles, ports, roundtrips


class LabError(RuntimeError):
    """The lab itself failed: it did not come up, `down` left something, hostd did not answer."""


def esxilab(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """tests/lab/esxilab with ``args``, its output captured."""
    return run_esxilab(*args, timeout=timeout)


def up(config: dict, state: Path, tries: int = 5, timeout: float = 600) -> float:
    """`esxilab up` of ``config`` (a CONFIG.yml mapping) in ``state``, on free nets; its config goes
    beside, to <state>.yml. Returns the seconds it took; raises LabError when it did not come up."""
    state = Path(state)
    path = state.with_name(state.name + ".yml")
    failed = []
    for candidate in ports.free_configs(config, tries):
        path.write_text(yaml.safe_dump(candidate, sort_keys=False, allow_unicode=True))
        started = time.monotonic()
        done = esxilab("up", "--config", path, "--dir", state, timeout=timeout)
        if done.returncode == 0:
            return time.monotonic() - started
        down(state)
        failed.append("%s\n%s" % (done.stdout[-1500:], done.stderr[-1500:]))
        if "lab addresses in use" not in done.stdout + done.stderr:
            break  # not a clash with another lab: other nets will not help
    raise LabError("esxilab up failed:\n%s" % ("\n".join(failed) or "no free 127.0.X.0/24 nets"))


def _alive(pid: int, start: str) -> bool:
    """Whether the process recorded as (pid, start time) still runs (a zombie does not)."""
    try:
        fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and fields[19] == str(start)


def dead_hosts(state: Path) -> set[str]:
    """Hosts of the lab in ``state`` whose namespace holder or sshd is gone (killed from outside)."""
    dead = set()
    for record in sorted(State(state).pids.glob("*.pid")):
        parts = record.read_text().split()
        if record.stem.endswith(("-ns", "-sshd")) and len(parts) == 2 and not _alive(int(parts[0]), parts[1]):
            dead.add(record.stem.rsplit("-", 1)[0])
    return dead


def down(state: Path) -> subprocess.CompletedProcess:
    """`esxilab down`, after forgetting the mount namespaces of hosts whose holder is gone.

    The kernel reuses namespace ids: `down` kills every process in each recorded namespace, so a
    recorded id whose namespace died could now be another lab's (seen on this shared machine).
    """
    for host in dead_hosts(state):
        (State(state).pids / ("%s.mntns" % host)).unlink(missing_ok=True)
    return esxilab("down", "--dir", state)


@contextlib.contextmanager
def running(config: dict, state: Path, lab_class=None):
    """The lab of ``config`` up in ``state`` (a ``lab_class``, default Lab), down afterwards; raises
    LabError when `down` left something behind."""
    seconds = up(config, state)
    print("\nlab up in %.1f s (%s)" % (seconds, state))
    try:
        yield (lab_class or Lab)(state)
    finally:
        done = down(state)
        if done.returncode != 0:
            raise LabError("esxilab down left something behind:\n%s\n%s" % (done.stdout, done.stderr))


class Lab:
    """A running lab: ``state`` (its directory), ``paths`` (labkit's names for what is in it),
    ``inventory`` (the file `up` wrote), ``hostvars`` of its ESXi hosts, ``guests`` (inventory
    hosts of its Linux guests)."""

    def __init__(self, state: Path) -> None:
        self.load(state)

    def load(self, state: Path) -> None:
        self.state = Path(state)
        self.paths = State(self.state)
        self.inventory = self.paths.inventory
        groups = yaml.safe_load(self.inventory.read_text())["all"]["children"]
        self.hostvars = groups["esxi_hosts"]["hosts"]
        self.guests = (groups.get("nested_guests") or {}).get("hosts") or {}

    @property
    def hosts(self) -> dict[str, str]:
        """{ESXi host: its address}."""
        return {name: hv["ansible_host"] for name, hv in self.hostvars.items()}

    def address(self, host: str) -> str:
        return self.hostvars[host]["ansible_host"]

    def password(self, host: str) -> str:
        """The host's vSphere API password (kept out of the inventory)."""
        return self.paths.api_password(host).read_text().strip()

    # --- the host over SSH ------------------------------------------------------------------------

    def ssh_argv(self, host: str, *options: str) -> list[str]:
        """ssh to a host with the inventory's key and known_hosts (host keys checked), no destination."""
        hv = self.hostvars[host]
        common = hv["ansible_ssh_common_args"].split()
        return ["ssh", "-T", "-i", hv["ansible_ssh_private_key_file"], *common, "-o", "BatchMode=yes", *options]

    def sh(self, host: str, command: str, stdin: bytes = b"", timeout: float = 120, check: bool = True):
        """Run ``command`` on the host over real SSH (logged by the lab like any other); bytes out."""
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

    # The host's files as its shell sees them (hostfiles), as methods.
    read, write, listdir, read_with_listing, tree_digest, script = (
        hostfiles.read,
        hostfiles.write,
        hostfiles.listdir,
        hostfiles.read_with_listing,
        hostfiles.tree_digest,
        hostfiles.script,
    )

    # --- what the lab logged ----------------------------------------------------------------------

    def commands(self, host: str) -> list[dict]:
        """Every SSH command the host ran so far, in order (the lab's log)."""
        return roundtrips.commands(self.state, host)

    def api_calls(self, host: str) -> list[str]:
        """What the vSphere simulator asked the host's hostd to change so far, in order."""
        return roundtrips.api_calls(self.state, host)

    # --- hostd and the fault knobs -----------------------------------------------------------------

    def hostd(self, host: str, *argv: str, timeout: float = 30) -> dict:
        """A `lab ...` request to the host's hostd, its JSON answer."""
        rc, out = hostd.request(self.address(host), list(argv), timeout=timeout)
        if rc != 0:
            raise LabError("hostd %s of %s: %s" % (" ".join(argv), host, out))
        return json.loads(out)

    def status(self, host: str) -> dict:
        """`lab status` of one host: its VMs (with ``nested_now``), its SSH service, the faults armed."""
        return self.hostd(host, "lab", "status")

    def vm_status(self, host: str) -> dict[str, dict]:
        """``status``'s VMs by name: hostd's view plus ``nested_now`` (whether a running VM runs
        with nesting, as read from the .vmx at its power-on)."""
        return {vm["name"]: vm for vm in self.status(host)["vms"]}

    def vms(self, host: str) -> dict[str, dict]:
        """hostd's view of every VM (power, nesting, the .vmx on disk), by name."""
        return {vm["name"]: vm for vm in self.hostd(host, "lab", "inventory")["vms"]}

    def vm(self, host: str, name: str) -> dict:
        """hostd's view of the first VM named ``name`` (what the .vmx and the VM's process say)."""
        return next(vm for vm in self.hostd(host, "lab", "inventory")["vms"] if vm["name"] == name)

    def fleet(self) -> dict[str, list[dict]]:
        """hostd's status of every VM, per host."""
        return {host: self.status(host)["vms"] for host in self.hostvars}

    def fault(self, host: str, knob: str, *args, at=None, delay=None, times=None) -> str:
        """`esxilab fault` at run time (tests/lab/README.md "Faults")."""
        options = []
        for name, value in (("--at", at), ("--delay", delay), ("--times", times)):
            if value is not None:
                options += [name, str(value)]
        done = esxilab("fault", "--dir", self.state, "--host", host, *options, knob, *args)
        if done.returncode != 0:
            raise AssertionError(done.stdout + done.stderr)
        return done.stdout
