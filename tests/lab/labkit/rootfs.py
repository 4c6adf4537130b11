"""Build a simulated ESXi host's root: BusyBox, /vmfs/volumes, /etc/vmware, the host commands.

The root is what the host's sshd chroots into (tests/lab/labkit/sshd.py). Its BusyBox is Debian's
busybox-static, whose shell runs applets by name even without a symlink on PATH ("standalone
shell"). So the applets a release lacks are renamed inside a cached copy of the binary (each
hidden name in the applet table becomes a nonsense name of the same length), and so is ash's
`command` builtin, which ESXi's ash lacks. Everything else comes from tests/lab/host/ (sh
scripts) and the host's config.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import vmxfile
from .config import CACHE_DIR, HOSTD_PORT, LAB_DIR, Host

BUSYBOX = Path("/bin/busybox")
HOST_FILES = LAB_DIR / "host"
PATCH_FORMAT = 1

# BusyBox applets an ESXi 5.x-9.0 shell has (intersected with what Debian's BusyBox offers).
_ESXI_APPLET_WORDS = """
[ [[ ash awk basename cat chgrp chmod chown chvt clear cmp cp crond cut date dd diff dirname
dnsdomainname du echo egrep env expr false fdisk fgrep find getty grep gunzip gzip head hexdump
hostname kill ln logger login ls lzop md5sum mkdir mkfifo mknod mktemp more mv nc nslookup od passwd
printf pwd readlink renice rm rmdir sed seq setsid sh sha1sum sha256sum sha512sum sleep sort stat
stty sync tail tar tee test time timeout touch tr true uniq unzip usleep vi watch wc which xargs
zcat
"""
ESXI_APPLETS = frozenset(_ESXI_APPLET_WORDS.split())
MISSING = {"6.5.0": {"tr"}}  # esxi-facts "Shell environment": `tr` is missing on 6.5
SCRIPTED = {"uname", "df"}  # answered by lab scripts, so BusyBox's own applet is hidden

DEV_NODES = ("null", "zero", "random", "urandom", "tty")

ETC_VMWARE_CONFIG = [
    ("libdir", "/usr/lib/vmware"),
    ("authd.proxy.nfc", "vmware-hostd:ha-nfc"),
    ("authd.proxy.nfcssl", "vmware-hostd:ha-nfcssl"),
    ("authd.proxy.vpxa-nfcssl", "vmware-vpxa:vpxa-nfcssl"),
    ("authd.proxy.vpxa-nfc", "vmware-vpxa:vpxa-nfc"),
    ("authd.fullpath", "/sbin/authd"),
]

BUILD_DATES = {
    5: "Oct 28 2011 23:50:12",
    6: "Jan 25 2020 02:30:41",
    7: "Aug 10 2022 21:02:36",
    8: "Apr 25 2023 09:30:13",
    9: "Jun 17 2025 10:12:44",
}


class RootfsError(RuntimeError):
    pass


def applets_for(host: Host) -> set[str]:
    return set(ESXI_APPLETS) - MISSING.get(host.version, set()) - SCRIPTED


def _applet_blob(data: bytes) -> tuple[int, int]:
    start = data.find(b"[\x00[[\x00")
    if start < 0 or data.find(b"[\x00[[\x00", start + 1) >= 0:
        raise RootfsError(f"{BUSYBOX}: cannot find its applet name table")
    return start, data.find(b"\x00\x00", start)


def available_applets() -> set[str]:
    data = BUSYBOX.read_bytes()
    start, end = _applet_blob(data)
    return {n.decode() for n in data[start:end].split(b"\x00")}


def patched_busybox(keep: set[str], command_builtin: bool) -> Path:
    """A cached copy of BusyBox whose applets outside `keep` (and maybe `command`) are hidden."""
    if not BUSYBOX.is_file():
        raise RootfsError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    data = BUSYBOX.read_bytes()
    start, end = _applet_blob(data)
    names = data[start:end].split(b"\x00")
    hide = sorted(n.decode() for n in names if n.decode() not in keep)
    key = hashlib.sha256(data + repr((PATCH_FORMAT, hide, command_builtin)).encode()).hexdigest()[:16]
    out = CACHE_DIR / "busybox" / key / "busybox"
    if out.is_file():
        return out
    blob = b"\x00".join(_hidden_names(names, keep))
    data = data[:start] + blob + data[end:]
    if not command_builtin:
        # ash's builtin table is sorted and binary-searched: "comman~" keeps the order
        # (chdir < comman~ < continue) and no longer matches `command`.
        if data.count(b"\x002command\x00") != 1:
            raise RootfsError("cannot find ash's `command` builtin in BusyBox to remove it")
        data = data.replace(b"\x002command\x00", b"\x002comman~\x00")
    tmp = out.parent.with_name(out.parent.name + ".tmp") / "busybox"  # BusyBox needs its name
    shutil.rmtree(tmp.parent, ignore_errors=True)
    tmp.parent.mkdir(parents=True)
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    _validate(tmp, keep, hide, command_builtin)
    shutil.rmtree(out.parent, ignore_errors=True)
    tmp.parent.rename(out.parent)
    return out


def _next_same_length(b: bytes) -> bytes:
    """The smallest printable string of len(b) bytes that sorts after b."""
    arr = bytearray(b)
    for i in reversed(range(len(arr))):
        if arr[i] < 0x7E:
            arr[i] = max(arr[i] + 1, 0x21)
            return bytes(arr[: i + 1]) + b"!" * (len(arr) - i - 1)
    raise RootfsError(f"no printable successor of {b!r}")


def _hidden_names(names: list[bytes], keep: set[str]) -> list[bytes]:
    """Rename the applets outside `keep` (same lengths, so the table's offsets hold) such that the
    table stays sorted (BusyBox searches it as sorted) and no new name is a real applet name.
    SCRIPTED names must be hidden (their scripts would never run otherwise)."""
    original = set(names)
    out: list[bytes] = []
    for i, name in enumerate(names):
        if name.decode() in keep:
            out.append(name)
            continue
        prev = out[-1] if out else b""
        limit = next((n for n in names[i + 1 :] if n.decode() in keep), b"\xff")
        # the smallest string of the same length that sorts after the previous entry
        cand = (
            (prev + b"!" * (len(name) - len(prev))) if len(prev) < len(name) else _next_same_length(prev[: len(name)])
        )
        while cand in original:
            cand = _next_same_length(cand)
        # No room between its kept neighbours (e.g. `w` between `vi` and `watch`): the applet stays
        # reachable by name (ash's standalone lookup) but gets no symlink on PATH.
        out.append(cand if cand < limit else name)
    if out != sorted(out) or len(set(out)) != len(out):
        raise RootfsError("hiding BusyBox applets would unsort its name table")
    stuck = {n.decode() for n in set(names) & set(out)} - keep
    if stuck & (SCRIPTED | {a for m in MISSING.values() for a in m}):
        raise RootfsError(f"cannot hide BusyBox applets {sorted(stuck)} keeping its table sorted")
    return out


def _validate(bb: Path, keep: set[str], hide: list[str], command_builtin: bool) -> None:
    def runs(name: str) -> bool:
        r = subprocess.run([str(bb), name, "--help"], capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        return b"applet not found" not in r.stdout + r.stderr

    bad = [n for n in sorted(keep) if n not in ("[", "[[") and not runs(n)]
    bad += [n for n in sorted(SCRIPTED | {"tr"}) if n in hide and runs(n)]
    r = subprocess.run([str(bb), "sh", "-c", "command -v sh"], capture_output=True, timeout=10)
    if (r.returncode == 0) != command_builtin:
        bad.append("command")
    if bad:
        raise RootfsError(f"patched BusyBox misbehaves for: {' '.join(bad)}")


def _template(name: str, **subst: str) -> str:
    text = (HOST_FILES / name).read_text()
    for k, v in subst.items():
        text = text.replace(f"@{k}@", v)
    left = re.search(r"@[A-Z_]+@", text)
    if left:
        raise RootfsError(f"{name}: no value for {left.group(0)}")
    return text


def _write(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    path.chmod(mode)


def etc_vmware_config(host: Host) -> bytes:
    vmx = vmxfile.Vmx()
    for k, v in ETC_VMWARE_CONFIG:
        vmx.set(k, v)
    for k, v in host.etc_vmware_config.items():
        vmx.set(k, v)
    return vmx.render()


def build_root(host: Host, root: Path) -> None:
    """Create the host's root directory (everything but the VMs, which hostd registers)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    root.chmod(0o755)
    applets = applets_for(host) & available_applets()
    bb = patched_busybox(applets, host.command_builtin)
    for d in (
        "bin",
        "sbin",
        "etc/vmware",
        "dev/pts",
        "tmp",
        "var/log",
        "var/run",
        "usr/bin",
        "vmfs/volumes",
        "opt",
        "scratch",
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
        (root / d).chmod(0o755)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(bb, root / "bin" / "busybox")
    for name in sorted(applets):
        os.symlink("busybox", root / "bin" / name)
    addr = {"HOSTD_ADDR": host.address, "HOSTD_PORT": str(HOSTD_PORT)}
    py = host.python_stand_in
    python_df = host.vtuple[:2] == (6, 5) and py is not None  # 6.5's df is a Python script
    for prog, where in (("vim-cmd", "bin"), ("vmware", "bin"), ("df", "bin"), ("esxcli", "sbin")):
        name = ".lab-df" if prog == "df" and python_df else prog
        _write(root / where / name, _template("hostd-client", PROG=prog, **addr), 0o755)
    if python_df:
        _write(root / "bin" / "df", _template("df-python", PYTHON=py[1]), 0o755)
    _write(root / "bin" / ".lab-login", _template("lab-login", **addr), 0o755)
    _write(
        root / "bin" / "uname",
        _template("uname", RELEASE=host.version, BUILD=str(host.build), BUILD_DATE=BUILD_DATES[host.vtuple[0]]),
        0o755,
    )
    if py:
        stand_in = _template(
            "python",
            PY_VERSION=py[0],
            PY_VERSION_REDIRECT=">&2" if py[0].startswith("2.") else "",
            LAB_DF="/bin/.lab-df" if python_df else "",
        )
        for path in host.python_paths:
            _write(root / path.lstrip("/"), stand_in, 0o755)
    ps1 = r"\w # " if host.vtuple[0] == 5 else r"[\u@\h:\w] "
    _write(root / "etc" / "profile", _template("profile", VERSION=host.version, PS1=ps1))
    from .formats import LOGIN_BANNER

    _write(root / "etc" / "motd", LOGIN_BANNER)
    _write(root / "etc" / "passwd", "root:x:0:0:Administrator:/:/bin/sh\n")
    _write(root / "etc" / "group", "root:x:0:root\n")
    _write(root / "etc" / "hosts", f"127.0.0.1\tlocalhost.localdomain localhost\n{host.address}\t{host.name}\n")
    _write(root / "etc" / "vmware" / "config", etc_vmware_config(host))
    for node in DEV_NODES:
        _write(root / "dev" / node, b"", 0o666)
    for ds in host.datastores:
        (root / "vmfs" / "volumes" / ds.uuid).mkdir(mode=0o755)
        os.symlink(ds.uuid, root / "vmfs" / "volumes" / ds.name)
