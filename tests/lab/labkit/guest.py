"""One lab guest: a real QEMU machine (TCG) booting the image from guestimage.

The guest's SSH port is forwarded from ``<address>:22`` (a 127.0.20.j loopback address) by
QEMU's user-mode network; the guest itself is always 10.0.2.15. Nesting is the CPU model:
``qemu64`` exposes ``svm`` (TCG emulates AMD-V), ``qemu64,-svm`` does not.

The emulated VMware Tools channel is a virtio-serial port named ``org.nestedvirt.tools`` whose
host end is a unix socket in the work directory. The guest's agent writes ``ready`` once its SSH
server listens; ``shutdown`` written to it powers the guest off cleanly. A guest without Tools
has no such port, so nothing answers there.

A guest of kind ``esxi`` is the same machine told so on its kernel command line (``lab.kind=esxi``):
its init puts the shims of ``tests/lab/guest/esxi`` first, so its shell answers ``uname -s``,
``vmware -v`` and ``esxcli hardware cpu global get`` as a nested ESXi does, the last from the
CPU flags QEMU gives it.

Files in the work directory: ``console.log`` (serial console), ``qemu.log`` (QEMU's stderr),
``qmp.sock`` and ``tools.sock``. Only the Python standard library is used.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

from .guestimage import GuestImage

QEMU = "qemu-system-x86_64"
TOOLS_PORT_NAME = "org.nestedvirt.tools"
_MAX_LINE = 4096  # the tools reader keeps at most this much of an unfinished line
_COMMAND_LINE_MAX = 2048  # x86 COMMAND_LINE_SIZE


class GuestError(RuntimeError):
    pass


class Guest:
    def __init__(
        self,
        *,
        name: str,
        address: str,
        image: GuestImage,
        authorized_key: str,
        vcpus: int,
        memsize_mb: int,
        workdir: Path,
        tools: bool = True,
        kind: str = "linux",
    ) -> None:
        addr = ipaddress.ip_address(address)
        if addr.version != 4 or not addr.is_loopback:
            raise ValueError(f"guest address must be an IPv4 loopback address, not {address!r}")
        if vcpus < 1:
            raise ValueError("vcpus must be at least 1")
        if memsize_mb < 128:
            raise ValueError("memsize_mb must be at least 128 (Debian's kernel and the initramfs)")
        if kind not in ("linux", "esxi"):
            raise ValueError(f"kind must be linux or esxi, not {kind!r}")
        self.name = name
        self.address = address
        self.image = image
        self.authorized_key = authorized_key.strip() + "\n"
        self.vcpus = vcpus
        self.memsize_mb = memsize_mb
        self.workdir = Path(workdir)
        self.tools = tools
        self.kind = kind
        self.nested: bool | None = None

        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._tools_sock: socket.socket | None = None
        self._tools_ready = threading.Event()
        self._shutdown_sent = False
        self._reader: threading.Thread | None = None
        self.ready_at: float | None = None  # seconds from start() to the agent's `ready`
        self._started_at = 0.0

    # --- paths ---------------------------------------------------------------------------

    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"

    @property
    def qemu_log(self) -> Path:
        return self.workdir / "qemu.log"

    @property
    def qmp_socket(self) -> Path:
        return self.workdir / "qmp.sock"

    @property
    def tools_socket(self) -> Path:
        return self.workdir / "tools.sock"

    # --- lifecycle -----------------------------------------------------------------------

    def command_line(self, nested: bool) -> list[str]:
        """QEMU's argv; socket and log paths are relative to the work directory (QEMU's cwd)."""
        hostname = re.sub(r"[^A-Za-z0-9-]", "-", self.name)[:63].strip("-") or "guest"
        key = base64.b64encode(self.authorized_key.encode()).decode()
        # cryptomgr.notests: skip the crypto self-tests (~0.5 s of emulated CPU).
        append = (
            f"console=ttyS0 quiet panic=-1 cryptomgr.notests=1 lab.name={hostname} lab.kind={self.kind} lab.key={key}"
        )
        if len(append) >= _COMMAND_LINE_MAX:
            raise ValueError("authorized_key too long for the kernel command line")
        options = [
            ("-name", hostname),
            # q35: its PCI interrupt routing costs ~0.8 s less emulated ACPI than i440fx (pc).
            ("-machine", "q35"),
            ("-accel", "tcg"),
            ("-cpu", "qemu64" if nested else "qemu64,-svm"),
            ("-smp", str(self.vcpus)),
            ("-m", str(self.memsize_mb)),
            ("-display", "none"),
            ("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"),
            ("-kernel", str(self.image.kernel)),
            ("-initrd", str(self.image.initrd)),
            ("-append", append),
            ("-serial", "file:console.log"),
            ("-qmp", "unix:qmp.sock,server=on,wait=off"),
            # restrict=on: the guest reaches nothing; only the forwarded SSH port comes in.
            ("-netdev", f"user,id=net0,restrict=on,hostfwd=tcp:{self.address}:22-:22"),
            ("-device", "virtio-net-pci,netdev=net0,romfile="),
            # Entropy: without it the guest's dropbear waits seconds for the random pool.
            ("-object", "rng-random,id=rng0,filename=/dev/urandom"),
            ("-device", "virtio-rng-pci,rng=rng0"),
        ]
        if self.tools:
            options += [
                ("-device", "virtio-serial-pci,id=vser0"),
                ("-chardev", "socket,id=tools,path=tools.sock,server=on,wait=off"),
                ("-device", f"virtserialport,bus=vser0.0,chardev=tools,name={TOOLS_PORT_NAME}"),
            ]
        argv = [QEMU, "-nodefaults", "-no-user-config", "-no-reboot"]
        for option, value in options:
            argv += [option, value]
        return argv

    def start(self, nested: bool) -> int:
        """Start QEMU without waiting for the guest; returns QEMU's pid."""
        if self.is_running():
            raise GuestError(f"guest {self.name} is already running (pid {self._proc.pid})")
        self.join_reader()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for sock in (self.qmp_socket, self.tools_socket):
            sock.unlink(missing_ok=True)
        argv = self.command_line(nested)
        self.nested = nested
        self._tools_ready.clear()
        self._shutdown_sent = False
        self.ready_at = None
        with open(self.qemu_log, "wb") as err:
            self._started_at = time.monotonic()
            self._proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        if self.tools:
            self._reader = threading.Thread(
                target=self._read_tools, args=(self._proc,), name=f"tools-{self.name}", daemon=True
            )
            self._reader.start()
        return self._proc.pid

    @property
    def pid(self) -> int | None:
        """QEMU's pid while it runs, else None."""
        return self._proc.pid if self.is_running() else None

    @property
    def exit_code(self) -> int | None:
        """QEMU's exit status once it has exited (0 after a guest poweroff), else None."""
        return None if self._proc is None else self._proc.poll()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait_exit(self, timeout: float) -> bool:
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        self.join_reader()
        return True

    def power_off(self) -> None:
        """Hard power-off: QMP `quit`, then SIGKILL of our QEMU if it lingers."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            self.join_reader()
            return
        try:
            self._qmp("quit")
            asked = True
        except (OSError, ValueError):  # QMP not up yet (or gone): no point in waiting
            asked = False
        if not asked or not self.wait_exit(5):
            proc.kill()  # SIGKILL to our own child (Popen knows whether it was reaped already)
            proc.wait()
        self.join_reader()

    def join_reader(self) -> None:
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(5)
            if not reader.is_alive():
                self._reader = None

    # --- Tools ---------------------------------------------------------------------------

    @property
    def tools_running(self) -> bool:
        return self.tools and self._tools_ready.is_set() and not self._shutdown_sent and self.is_running()

    @property
    def ip(self) -> str | None:
        return self.address if self.tools_running else None

    def wait_tools(self, timeout: float) -> bool:
        """True once the agent has said `ready`; False on timeout, without Tools or if QEMU exits."""
        if not self.tools:
            return False
        deadline = time.monotonic() + timeout
        while True:
            if self.tools_running:
                return True
            left = deadline - time.monotonic()
            if left <= 0 or not self.is_running():
                return False
            self._tools_ready.wait(min(left, 0.1))

    def request_shutdown(self) -> bool:
        """Ask the guest's agent for a clean poweroff; False when no agent runs (as ESXi refuses)."""
        if not self.tools_running:
            return False
        with self._lock:
            sock = self._tools_sock
            if sock is None:
                return False
            try:
                sock.sendall(b"shutdown\n")
            except OSError:
                return False
            self._shutdown_sent = True
        return True

    def _read_tools(self, proc: subprocess.Popen) -> None:
        """Background reader of the Tools socket; ends when QEMU exits."""
        while proc.poll() is None:
            try:
                sock = _connect_unix(self.tools_socket, timeout=0.2)
            except OSError:
                time.sleep(0.05)
                continue
            with self._lock:
                self._tools_sock = sock
            buf = b""
            try:
                while proc.poll() is None:
                    try:
                        data = sock.recv(1024)
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    buf += data
                    *lines, buf = buf.split(b"\n")
                    buf = buf[-_MAX_LINE:]
                    for line in lines:
                        if line.strip() == b"ready" and not self._tools_ready.is_set():
                            self.ready_at = time.monotonic() - self._started_at
                            self._tools_ready.set()
            finally:
                with self._lock:
                    self._tools_sock = None
                    self._tools_ready.clear()
                sock.close()
            time.sleep(0.05)

    # --- QMP -----------------------------------------------------------------------------

    def _qmp(self, command: str, timeout: float = 5.0) -> dict:
        with _connect_unix(self.qmp_socket, timeout=timeout) as sock, sock.makefile("rwb") as f:
            _qmp_reply(f, None)  # greeting
            for cmd in ("qmp_capabilities", command):
                f.write(json.dumps({"execute": cmd}).encode() + b"\n")
                f.flush()
                reply = _qmp_reply(f, cmd)
            return reply


def _qmp_reply(f, cmd: str | None) -> dict:
    while True:
        line = f.readline()
        if not line:
            if cmd == "quit":  # QEMU may close before answering
                return {}
            raise ValueError("QMP connection closed")
        msg = json.loads(line)
        if cmd is None and "QMP" in msg:
            return msg
        if "return" in msg or "error" in msg:
            if "error" in msg:
                raise ValueError(f"QMP {cmd}: {msg['error']}")
            return msg
        # events are skipped


def _connect_unix(path: Path, timeout: float) -> socket.socket:
    """Connect to a unix socket, also when its path is longer than sun_path allows."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if len(os.fsencode(path)) < 100:
            sock.connect(os.fspath(path))
        else:
            dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                sock.connect(f"/proc/self/fd/{dirfd}/{path.name}")
            finally:
                os.close(dirfd)
    except BaseException:
        sock.close()
        raise
    return sock
