"""labd: the supervisor of one lab (one per state directory).

`esxilab up` builds everything first, then starts `python -m labkit.labd --dir STATE` detached
(stdout/stderr to STATE/labd.log). labd owns every process of the lab: per host the namespace
holder, sshd (while TSM-SSH runs), the vSphere API simulator (`api: true`) and the QEMU guests
(started by hostd on power-on); per vCenter the simulator in its vCenter mode, started once its
hosts' hostd serve. Each child's pid and start time (field 22 of /proc/PID/stat) are
recorded in STATE/pids/<key>.pid, each host namespace in STATE/pids/<host>.mntns. hostd runs as
threads in this process. labd writes STATE/ready once every powered-on guest is reachable, or
STATE/failed with the reason; it stops everything on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from . import config as cfgmod
from .hostd import Hostd
from .sshd import HostNamespace, Sshd, proc_stat, processes_in

# --- state directory ----------------------------------------------------------------------------


class State:
    """Paths inside a lab's state directory."""

    def __init__(self, root: Path) -> None:
        self.root = r = Path(root).resolve()
        self.config = r / "config.json"  # the resolved config labd runs
        self.build = r / "build.json"  # what `up` built: guest image, vSphere binary
        self.ready = r / "ready"
        self.failed = r / "failed"
        self.log = r / "labd.log"
        self.inventory = r / "inventory.yml"
        self.known_hosts = r / "known_hosts"
        self.pids = r / "pids"
        self.logs = r / "logs"
        self.keys = r / "keys"
        self.secrets = r / "secrets"
        self.hosts_dir = r / "hosts"
        self.guests_dir = r / "guests"
        self.vcenters_dir = r / "vcenters"

    @property
    def key(self) -> Path:
        return self.keys / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.keys / "authorized_keys"

    def host(self, name: str) -> Path:
        return self.hosts_dir / name

    def vcenter_dir(self, name: str) -> Path:
        """A vCenter's simulator: cert.pem, vsphere.log, its private datastore directories."""
        return self.vcenters_dir / name

    def api_password(self, host: str) -> Path:
        """A host's or a vCenter's API password."""
        return self.secrets / f"{host}.api_password"

    def api_dir(self, host: str) -> Path:
        return self.host(host) / "api"

    def commands_log(self, host: str) -> Path:
        return self.logs / f"{host}.commands.jsonl"


# --- pids -------------------------------------------------------------------------------------


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat: with the pid, it names one process for good."""
    fields = proc_stat(pid)
    return int(fields[19]) if fields else None


class Pids:
    """STATE/pids/<key>.pid: "<pid> <start time>"; a pid counts only while its start time matches."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def record(self, key: str, pid: int) -> None:
        st = start_time(pid)
        with self.lock:
            tmp = self.dir / f".{key}.tmp"
            tmp.write_text(f"{pid} {st}\n")
            tmp.rename(self.dir / f"{key}.pid")

    def forget(self, key: str) -> None:
        with self.lock:
            (self.dir / f"{key}.pid").unlink(missing_ok=True)

    def entries(self) -> dict[str, tuple[int, int | None]]:
        out = {}
        for f in sorted(self.dir.glob("*.pid")):
            try:
                pid, st = f.read_text().split()
                out[f.stem] = (int(pid), None if st == "None" else int(st))
            except (OSError, ValueError):
                continue
        return out

    def alive(self) -> dict[str, int]:
        return {k: pid for k, (pid, st) in self.entries().items() if st is not None and start_time(pid) == st}

    def namespaces(self) -> dict[str, str]:
        out = {}
        for f in self.dir.glob("*.mntns"):
            out[f.stem] = f.read_text().strip()
        return out


# --- known_hosts ----------------------------------------------------------------------------------


class KnownHosts:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def replace(self, address: str, lines: list[str]) -> None:
        with self.lock:
            old = self.path.read_text().splitlines() if self.path.exists() else []
            keep = [ln for ln in old if ln.split(" ", 1)[0] != address]
            tmp = self.path.with_name(".known_hosts.tmp")
            tmp.write_text("".join(ln + "\n" for ln in keep + lines))
            tmp.rename(self.path)


def keyscan(address: str, timeout: float = 3.0) -> list[str]:
    r = subprocess.run(
        ["ssh-keyscan", "-T", str(int(max(timeout, 1))), "-t", "ed25519", address],
        capture_output=True,
        text=True,
        timeout=timeout + 10,
    )
    return [ln for ln in r.stdout.splitlines() if ln.startswith(address + " ")]


# --- one host ---------------------------------------------------------------------------------------


class HostRuntime:
    """The process side of one ESXi host, as hostd sees it (hostd.Runtime)."""

    def __init__(self, lab: "Labd", host: cfgmod.Host) -> None:
        self.lab = lab
        self.host = host
        st = lab.state
        self.ns = HostNamespace(host, st.host(host.name), st.logs / f"{host.name}.ns.log")
        self.guard = None
        if host.guards_exec:  # execInstalledOnly (8.0 and later): labkit.execguard
            from .execguard import Guard

            self.guard = Guard(st.host(host.name) / "root", note=lambda text: print(f"{host.name}: {text}", flush=True))
        self.sshd = Sshd(host, self.ns, st.host(host.name), st.logs / f"{host.name}.sshd.log", lab.pids, self.guard)
        self.hostd = Hostd(host, self, st.commands_log(host.name))
        self.api: subprocess.Popen | None = None
        self.ssh_lock = threading.Lock()

    # hostd.Runtime
    @property
    def root(self) -> Path:
        return self.ns.root

    def ssh_start(self) -> None:
        with self.ssh_lock:
            self.sshd.start()

    def ssh_stop(self) -> None:
        with self.ssh_lock:
            self.sshd.stop()

    def ssh_running(self) -> bool:
        return self.sshd.running()

    def ssh_listener_pid(self) -> int | None:
        return self.sshd.pid

    def record_pid(self, key: str, pid: int) -> None:
        self.lab.pids.record(f"{self.host.name}-{key}", pid)

    def forget_pid(self, key: str) -> None:
        self.lab.pids.forget(f"{self.host.name}-{key}")

    def in_host(self, pid: int) -> bool:
        return self.ns.contains(pid)

    def set_datastore_full(self, uuid: str, full: bool) -> None:
        self.ns.set_datastore_full(uuid, full)

    def set_datastore_readonly(self, uuid: str, readonly: bool) -> None:
        self.ns.set_datastore_readonly(uuid, readonly)

    def make_guest(self, vm: cfgmod.VM):
        from .guest import Guest

        return Guest(
            name=vm.name,
            address=vm.address,
            image=self.lab.guest_image(),
            authorized_key=self.lab.state.authorized_keys.read_text().strip(),
            vcpus=vm.numvcpus,
            memsize_mb=vm.memsize,
            workdir=self.lab.state.guests_dir / vm.inventory_name,
            tools=vm.tools,
            kind=vm.shell,
        )

    def guest_ready(self, vm: cfgmod.VM, guest) -> bool:
        """Wait until the guest's SSH answers, then record its (per-boot) host key."""
        deadline = time.monotonic() + self.lab.lab.ready_timeout
        if vm.tools and not guest.wait_tools(self.lab.lab.ready_timeout):
            return False
        while time.monotonic() < deadline and guest.is_running():
            lines = keyscan(vm.address)
            if lines:
                self.lab.known_hosts.replace(vm.address, lines)
                return True
            time.sleep(0.3)
        return False

    # lifecycle
    def start(self) -> None:
        pid = self.ns.start()
        self.lab.pids.record(f"{self.host.name}-ns", pid)
        (self.lab.pids.dir / f"{self.host.name}.mntns").write_text(self.ns.ns + "\n")
        self.hostd.start()
        if self.host.ssh:
            self.ssh_start()

    def start_api(self) -> None:
        from .vsphere import start_vsphere_sim

        st = self.lab.state
        workdir = st.api_dir(self.host.name)
        workdir.mkdir(parents=True, exist_ok=True)
        binary = Path(self.lab.build["vsphere_sim"])
        self.api = start_vsphere_sim(
            binary,
            listen=f"{self.host.address}:{cfgmod.API_PORT}",
            hostd=f"{self.host.address}:{cfgmod.HOSTD_PORT}",
            license=self.host.license,
            username=self.host.api_username,
            password=st.api_password(self.host.name).read_text().strip(),
            workdir=workdir,
        )
        self.lab.pids.record(f"{self.host.name}-api", self.api.pid)

    def stop(self) -> None:
        if self.api is not None:
            from .vsphere import stop_vsphere_sim

            stop_vsphere_sim(self.api)
        self.lab.pids.forget(f"{self.host.name}-api")
        self.hostd.stop()
        self.ssh_stop()
        self.ns.kill_all()
        if self.guard is not None:
            self.guard.stop()
        self.lab.pids.forget(f"{self.host.name}-ns")


# --- one vCenter -------------------------------------------------------------------------------------


class VCenterRuntime:
    """One vCenter: the vSphere simulator in its vCenter mode, reading and changing its hosts
    through their hostd (the lab's request protocol, never SSH)."""

    def __init__(self, lab: "Labd", vc: cfgmod.VCenter) -> None:
        self.lab = lab
        self.vc = vc
        self.proc: subprocess.Popen | None = None

    @property
    def pid_key(self) -> str:
        return f"{self.vc.name}-vcenter"

    def start(self) -> None:
        from .vsphere import start_vsphere_sim

        st, vc = self.lab.state, self.vc
        self.proc = start_vsphere_sim(
            Path(self.lab.build["vsphere_sim"]),
            listen=f"{vc.address}:{cfgmod.API_PORT}",
            hostd={h: f"{self.lab.lab.host(h).address}:{cfgmod.HOSTD_PORT}" for h in vc.hosts},
            license="licensed",
            username=vc.username,
            password=st.api_password(vc.name).read_text().strip(),
            workdir=st.vcenter_dir(vc.name),
            vcenter=(vc.datacenter, vc.cluster),
        )
        self.lab.pids.record(self.pid_key, self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            from .vsphere import stop_vsphere_sim

            stop_vsphere_sim(self.proc)
        self.lab.pids.forget(self.pid_key)


# --- the supervisor -------------------------------------------------------------------------------


class Labd:
    def __init__(self, state_dir: Path) -> None:
        self.state = State(state_dir)
        self.lab = cfgmod.load(self.state.config)
        self.build = json.loads(self.state.build.read_text()) if self.state.build.exists() else {}
        self.pids = Pids(self.state.pids)
        self.known_hosts = KnownHosts(self.state.known_hosts)
        self.hosts = [HostRuntime(self, h) for h in self.lab.hosts]
        self.vcenters = [VCenterRuntime(self, vc) for vc in self.lab.vcenters]
        self.stop_event = threading.Event()
        self._image = None

    def guest_image(self):
        if self._image is None:
            from .guestimage import GuestImage

            gi = self.build["guest_image"]
            self._image = GuestImage(Path(gi["kernel"]), Path(gi["initrd"]), gi["kernel_version"])
        return self._image

    def start(self) -> None:
        t0 = time.monotonic()
        for h in self.hosts:
            h.start()
            print(f"labd: host {h.host.name} up ({h.host.address})", flush=True)
        for h in self.hosts:
            if h.host.api:  # start_vsphere_sim returns once the API serves
                h.start_api()
        for vc in self.vcenters:  # after its hosts' hostd serve
            vc.start()
            print(f"labd: vCenter {vc.vc.name} up ({vc.vc.address}: {', '.join(vc.vc.hosts)})", flush=True)
        deadline = t0 + self.lab.ready_timeout
        pending = [(h, vm) for h in self.hosts for vm in h.hostd.vms.values()]
        while time.monotonic() < deadline and not self.stop_event.is_set():
            pending = [(h, vm) for h, vm in pending if not vm.ready.is_set()]
            if not pending:
                break
            time.sleep(0.1)
        else:
            if self.stop_event.is_set():
                raise RuntimeError("stopped while starting")
            waiting = [f"{h.host.name}/{vm.name}" for h, vm in pending]
            raise RuntimeError(f"not ready after {self.lab.ready_timeout:.0f} s: {', '.join(waiting)}")
        took = time.monotonic() - t0
        self.state.ready.write_text(json.dumps({"pid": os.getpid(), "seconds": round(took, 2)}) + "\n")
        print(f"labd: ready in {took:.1f} s", flush=True)

    def stop(self) -> None:
        for h in [*self.vcenters, *reversed(self.hosts)]:
            try:
                h.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                traceback.print_exc()
        self.state.ready.unlink(missing_ok=True)
        print("labd: stopped", flush=True)

    def run(self) -> int:
        def on_signal(signum, frame):
            self.stop_event.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        rc = 0
        try:
            self.start()
            while not self.stop_event.wait(1.0):
                if not self.state.config.exists():  # nobody could `esxilab down` this lab any more
                    print("labd: the state directory is gone; stopping", flush=True)
                    break
        except Exception as e:  # noqa: BLE001 - reported to the CLI through STATE/failed
            traceback.print_exc()
            self.state.failed.write_text(f"{e}\n")
            rc = 1
        self.stop()
        for h in self.hosts:
            if h.ns.ns and processes_in(h.ns.ns):
                print(f"labd: processes left in {h.host.name}'s namespace", flush=True)
        return rc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="labd")
    p.add_argument("--dir", required=True, type=Path)
    args = p.parse_args(argv)
    return Labd(args.dir).run()


if __name__ == "__main__":
    sys.exit(main())
