"""A simulated ESXi host's private namespace and its real OpenSSH sshd.

Per host, labd starts one *namespace holder*: `unshare --mount --uts` running a setup script and
then `sleep infinity`. Inside that mount namespace only:

    /run                          a small tmpfs (hides the real /run; holds sshd's privsep dir)
    /run/esxilab/root             bind of STATE/hosts/<host>/root (the ChrootDirectory: every
                                  component root-owned, as sshd demands, wherever STATE lives)
    .../dev/{null,zero,...,pts}   binds of the real devices
    .../vmfs/volumes/<uuid>       one tmpfs per datastore (size_mb), so `datastore_full` can shrink
                                  it to its current use (pages and inodes): creating a file or
                                  growing one past its last 4 KiB page fails with ENOSPC
    /etc/passwd, /etc/shadow      binds of lab files: root's shell is /bin/sh, home /

The UTS namespace carries the host name (`hostname`, the 6.x prompt). sshd itself is started with
`nsenter` into both namespaces whenever TSM-SSH runs, and stopped (listener only; open sessions
stay, as on ESXi) when it stops. hostd reaches the host's files through /proc/<holder>/root.
When the last process of the namespace ends, its mounts are gone: nothing is mounted outside.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

from .config import SSH_PORT, Host

NS_ROOT = "/run/esxilab/root"
SSHD = "/usr/sbin/sshd"
DATASTORE_INODES = 65536


class SshdError(RuntimeError):
    pass


def ns_id(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (field 3 first), None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2 :].split()


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal one process that may already be gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def processes_in(ns: str, owner: Path | None = None) -> list[int]:
    """Processes in mount namespace `ns`; with `owner` (a lab's state directory or one host's
    directory in it), only the processes of that lab.

    Once a lab's namespace is gone the kernel may give its id to another lab's namespace, so the
    id alone proves nothing. A process is the lab's if its root is one of the lab's host roots (an
    SSH session chrooted there: same device and inode), or if its namespace's mounts name the lab's
    directory (the holder, which bind-mounts the host root from there).
    """
    roots = set()
    if owner is not None:
        for root in [Path(owner) / "root", *Path(owner).glob("hosts/*/root")]:
            with contextlib.suppress(OSError):
                info = root.stat()
                roots.add((info.st_dev, info.st_ino))
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or ns_id(int(entry)) != ns:
            continue
        if owner is not None:
            try:
                info = os.stat(f"/proc/{entry}/root")
                mounts = Path(f"/proc/{entry}/mountinfo").read_text()
            except OSError:
                continue  # gone already
            if (info.st_dev, info.st_ino) not in roots and str(owner) + "/" not in mounts:
                continue
        out.append(int(entry))
    return out


def _q(path: Path | str) -> str:
    return '"' + str(path) + '"' if " " in str(path) else str(path)


def write_host_files(host: Host, hostdir: Path, authorized_keys: Path) -> None:
    """sshd_config, the namespace setup script, passwd and shadow for one host."""
    if str(hostdir.resolve()).startswith("/run/"):
        raise SshdError("the lab state directory must not be under /run (each host mounts its own /run)")
    # sshd needs its privilege separation user from the real passwd as well
    privsep = [ln for ln in Path("/etc/passwd").read_text().splitlines() if ln.startswith("sshd:")]
    privsep = privsep or ["sshd:x:102:65534::/run/sshd:/usr/sbin/nologin"]
    (hostdir / "passwd").write_text("root:x:0:0:Administrator:/:/bin/sh\n" + privsep[0] + "\n")
    (hostdir / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (hostdir / "shadow").chmod(0o600)
    (hostdir / "sshd_config").write_text(f"""# sshd of the simulated ESXi host {host.name} (tests/lab/labkit/sshd.py)
ListenAddress {host.address}:{SSH_PORT}
HostKey {_q(hostdir / "ssh_host_ed25519_key")}
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile {_q(authorized_keys)}
StrictModes no
ChrootDirectory {NS_ROOT}
ForceCommand /bin/.lab-login
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PermitUserEnvironment no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
LoginGraceTime 30
LogLevel INFO
""")
    binds = " ".join(["null", "zero", "random", "urandom", "tty"])
    mounts = "\n".join(
        f"mount -t tmpfs -o mode=0755,size={ds.size_mb}m,nr_inodes={DATASTORE_INODES} esxilab-datastore "
        f"$R/vmfs/volumes/{shlex.quote(ds.uuid)}"
        for ds in host.datastores
    )
    (hostdir / "ns-setup.sh").write_text(f"""#!/bin/sh
# Runs inside the new mount+UTS namespace of ESXi host {host.name} (see sshd.py), then holds it.
set -eu
hostname {shlex.quote(host.name)}
mount -t tmpfs -o mode=0755,size=4m esxilab-run /run
mkdir -p /run/sshd {NS_ROOT}
chmod 0755 /run/sshd /run/esxilab
mount --bind {shlex.quote(str(hostdir / "root"))} {NS_ROOT}
mount --bind {shlex.quote(str(hostdir / "passwd"))} /etc/passwd
mount --bind {shlex.quote(str(hostdir / "shadow"))} /etc/shadow
R={NS_ROOT}
for d in {binds}; do mount --bind /dev/$d $R/dev/$d; done
mount --bind /dev/pts $R/dev/pts
{mounts}
echo ready
exec sleep infinity </dev/null >/dev/null 2>&1
""")


class HostNamespace:
    def __init__(self, host: Host, hostdir: Path, log: Path) -> None:
        self.host = host
        self.hostdir = hostdir
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.ns: str | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def root(self) -> Path:
        return Path(f"/proc/{self.pid}/root{NS_ROOT}")

    def start(self, timeout: float = 20.0) -> int:
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--uts",
                    "--propagation",
                    "private",
                    "--",
                    "/bin/sh",
                    str(self.hostdir / "ns-setup.sh"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        line = b""
        os.set_blocking(self.proc.stdout.fileno(), False)
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                chunk = self.proc.stdout.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                line += chunk
                if b"ready\n" in line:
                    break
            time.sleep(0.02)
        self.proc.stdout.close()
        if b"ready\n" not in line:
            self.stop()
            raise SshdError(f"host {self.host.name}: namespace setup failed; see {self.log}:\n" + _tail(self.log))
        self.ns = ns_id(self.proc.pid)
        return self.proc.pid

    def nsenter(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--mount=/proc/{self.pid}/ns/mnt", f"--uts=/proc/{self.pid}/ns/uts", "--", *argv]

    def contains(self, pid: int) -> bool:
        return self.ns is not None and ns_id(pid) == self.ns

    def set_datastore_full(self, uuid: str, full: bool) -> None:
        ds = next(d for d in self.host.datastores if d.uuid == uuid)
        path = self.root / "vmfs" / "volumes" / uuid
        if full:  # no page and no inode left: creating or growing a file fails with ENOSPC
            st = os.statvfs(path)
            size = max((st.f_blocks - st.f_bfree) * st.f_frsize, 4096)
            inodes = max(st.f_files - st.f_ffree, 1)
        else:
            size, inodes = ds.size_mb << 20, DATASTORE_INODES
        self._remount(uuid, f"size={size},nr_inodes={inodes}")

    def set_datastore_readonly(self, uuid: str, readonly: bool) -> None:
        self._remount(uuid, "ro" if readonly else "rw")

    def _remount(self, uuid: str, options: str) -> None:
        """Remount a datastore's tmpfs inside the host's mount namespace with ``options``."""
        ds = next(d for d in self.host.datastores if d.uuid == uuid)
        r = subprocess.run(
            self.nsenter(["mount", "-o", "remount," + options, f"{NS_ROOT}/vmfs/volumes/{uuid}"]),
            capture_output=True,
            text=True,
            timeout=10,
        )
        if r.returncode != 0:
            raise SshdError(f"datastore {ds.name}: remount failed: {r.stderr.strip()}")

    def kill_all(self) -> None:
        """Stop every process of this namespace (open SSH sessions, the holder)."""
        if self.ns is None:
            return
        for _ in range(3):
            pids = processes_in(self.ns, owner=self.hostdir)
            if not pids:
                break
            for p in pids:
                kill(p)
            time.sleep(0.05)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Sshd:
    """TSM-SSH of one host: a real sshd listening on <address>:22 while the service runs."""

    def __init__(self, host: Host, ns: HostNamespace, hostdir: Path, log: Path, pids, guard=None) -> None:
        self.host = host
        self.guard = guard  # a labkit.execguard.Guard (execInstalledOnly) or None
        self.ns = ns
        self.config = hostdir / "sshd_config"
        self.log = log
        self.pids = pids
        self.proc: subprocess.Popen | None = None
        self.key = f"{host.name}-sshd"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running() else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running():
            return
        preexec, keep = self.guard.preexec() if self.guard else (None, None)
        try:
            with open(self.log, "ab") as err:
                self.proc = subprocess.Popen(
                    self.ns.nsenter([SSHD, "-D", "-e", "-f", str(self.config)]),
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    start_new_session=True,
                    preexec_fn=preexec,  # noqa: PLW1509 - installs the execInstalledOnly filter
                    pass_fds=(keep.fileno(),) if keep else (),
                )
        finally:
            if keep:
                keep.close()
        self.pids.record(self.key, self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection((self.host.address, SSH_PORT), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SshdError(f"host {self.host.name}: sshd did not start listening; see {self.log}:\n" + _tail(self.log))

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.pids.forget(self.key)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""
