"""ESXi 8's execInstalledOnly on a simulated host: executing a file that is not installed fails.

On ESXi 8.0 and later the VMkernel runs only files that belong to an installed VIB: a script or
binary a user wrote (in /tmp, on a datastore, anywhere) fails to exec with EPERM, so the shell
prints `sh: /tmp/x.sh: Operation not permitted` (esxi-facts "Corrections ... Shell"). Commands
sent to `sh -c` or piped into `sh` still run, and so does `sh FILE` (the program exec'd is the
installed /bin/sh, which only reads the file).

The lab gets the real errno, and so the real message and exit status of whatever program tried
the exec, from a seccomp filter with user notification (Linux 5.5+): the host's sshd is started
under a filter that hands every execve/execveat to a thread in labd (`Guard`). For a process whose
root is the host's root (an SSH session, chrooted), the thread resolves the path in that process's
view and answers EPERM unless the file is one of the host's installed files (everything under the
system directories when labd started: /bin, /sbin, /usr, /lib, /opt); every other exec continues
untouched (sshd's own re-exec, nsenter). Nothing but the host's sshd and its children is filtered.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import select
import socket
import struct
import threading
from pathlib import Path

SYS_SECCOMP = 317  # x86_64
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
AUDIT_ARCH_X86_64 = 0xC000003E
NR_EXECVE, NR_EXECVEAT = 59, 322
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000

# ioctl numbers: _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, resp), _IOW('!', 2, __u64)
NOTIF = struct.Struct("<QIIiIQ6Q")  # id, pid, flags, then struct seccomp_data: nr, arch, ip, args[6]
RESP = struct.Struct("<QqiI")  # id, val, error, flags
IOCTL_RECV = 0xC0000000 | (NOTIF.size << 16) | (0x21 << 8) | 0
IOCTL_SEND = 0xC0000000 | (RESP.size << 16) | (0x21 << 8) | 1
IOCTL_ID_VALID = 0x40000000 | (8 << 16) | (0x21 << 8) | 2

SYSTEM_DIRS = ("bin", "sbin", "usr", "lib", "lib64", "opt")


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
PROGRAM = b"".join(
    [
        _bpf(LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _bpf(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),  # other ABIs: allow
        _bpf(LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        _bpf(JEQ_K, 2, 0, NR_EXECVE),
        _bpf(JEQ_K, 1, 0, NR_EXECVEAT),
        _bpf(RET_K, 0, 0, SECCOMP_RET_ALLOW),
        _bpf(RET_K, 0, 0, SECCOMP_RET_USER_NOTIF),
    ]
)


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_filter() -> int:
    """In the calling process: install the filter; return the listener fd (its notifications)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(PROGRAM, len(PROGRAM))
    prog = _Fprog(len(PROGRAM) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(
        ctypes.c_long(SYS_SECCOMP),
        ctypes.c_long(SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(SECCOMP_FILTER_FLAG_NEW_LISTENER),
        ctypes.byref(prog),
    )
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"seccomp: {os.strerror(e)}")
    return fd


def installed_files(root: Path) -> set[tuple[int, int]]:
    """(device, inode) of every regular file under the root's system directories."""
    found = set()
    for d in SYSTEM_DIRS:
        for dirpath, _dirs, files in os.walk(root / d):
            for name in files:
                with contextlib.suppress(OSError):
                    st = os.stat(os.path.join(dirpath, name))
                    found.add((st.st_dev, st.st_ino))
    return found


class Guard:
    """execInstalledOnly for one host: `preexec()` for the sshd Popen, a thread per filter."""

    def __init__(self, root: Path, note=print) -> None:
        self.root = Path(root)  # the host root as labd sees it
        self.note = note
        st = os.stat(self.root)
        self.root_id = (st.st_dev, st.st_ino)
        self.allowed = installed_files(self.root)
        self.stopping = threading.Event()
        self.denied = 0

    def preexec(self):
        """A (preexec_fn, pass_fds) pair: the child installs the filter and hands its listener to
        a thread of ours that is already waiting (the child's own exec is its first notification)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        t = threading.Thread(target=self._receive, args=(ours,), name="execguard", daemon=True)
        t.start()

        def child() -> None:
            fd = install_filter()
            socket.send_fds(theirs, [b"L"], [fd])
            os.close(fd)

        return child, theirs

    def _receive(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(30)
            _msg, fds, _flags, _addr = socket.recv_fds(sock, 1, 1)
        except OSError as e:
            self.note(f"execguard: no listener from the child: {e}")
            return
        finally:
            sock.close()
        if fds:
            self.serve(fds[0])

    def serve(self, fd: int) -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        try:
            while not self.stopping.is_set():
                events = poller.poll(500)
                if not events:
                    continue
                if events[0][1] & select.POLLIN:
                    self._one(fd)
                elif events[0][1] & (select.POLLHUP | select.POLLERR):
                    return  # every filtered process is gone
        finally:
            os.close(fd)

    def _one(self, fd: int) -> None:
        buf = bytearray(NOTIF.size)
        try:
            fcntl.ioctl(fd, IOCTL_RECV, buf, True)
        except OSError:
            return  # the caller died meanwhile
        nid, pid, _flags, nr, _arch, _ip, *args = NOTIF.unpack(buf)
        deny = False
        try:
            deny = self._denied(pid, nr, args)
            fcntl.ioctl(fd, IOCTL_ID_VALID, struct.pack("<Q", nid))
        except OSError:
            deny = False
        if deny:
            self.denied += 1
            resp = RESP.pack(nid, 0, -errno.EPERM, 0)
        else:
            resp = RESP.pack(nid, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, IOCTL_SEND, bytearray(resp), True)

    def _denied(self, pid: int, nr: int, args: list[int]) -> bool:
        st = os.stat(f"/proc/{pid}/root")
        if (st.st_dev, st.st_ino) != self.root_id:
            return False  # not a process of the host's shell (sshd, nsenter)
        if nr == NR_EXECVE:
            dirfd, addr, flags = AT_FDCWD, args[0], 0
        else:
            dirfd, addr, flags = ctypes.c_int(args[0] & 0xFFFFFFFF).value, args[1], args[4]
        path = _read_string(pid, addr)
        if path.startswith(b"/"):
            target = f"/proc/{pid}/root".encode() + path
        else:
            base = f"/proc/{pid}/cwd" if dirfd == AT_FDCWD else f"/proc/{pid}/fd/{dirfd}"
            target = base.encode() + (b"/" + path if path else b"")
            if not path and not flags & AT_EMPTY_PATH:
                return False
        try:
            st = os.stat(target)
        except OSError:
            return False  # the kernel reports the real error
        return (st.st_dev, st.st_ino) not in self.allowed and os.path.isfile(target)

    def stop(self) -> None:
        self.stopping.set()


def _read_string(pid: int, addr: int, limit: int = 4096) -> bytes:
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        mem.seek(addr)
        data = mem.read(limit)
    return data.split(b"\0", 1)[0]
