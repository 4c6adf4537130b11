"""What goes into the guest image: the kernel package (found with apt-cache, downloaded once),
the files of tests/lab/guest, the host's BusyBox and dropbear; and the cache key over them all.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from pathlib import Path

GUEST_SRC = Path(__file__).resolve().parents[2] / "guest"
META_PACKAGE = "linux-image-amd64"

# Modules the guest loads: the NIC, the Tools port and the entropy source (without it dropbear
# waits seconds for the kernel's random pool) at boot, kvm_amd on demand (the nested
# hypervisor check). Their dependencies (virtio, virtio_ring, net_failover, failover, kvm,
# irqbypass, ccp, ...) are resolved from the modules' own .modinfo.
GUEST_MODULES = ("virtio_pci", "virtio_net", "virtio_console", "virtio_rng", "kvm_amd")

BUSYBOX = Path("/bin/busybox")
DROPBEAR = Path("/usr/sbin/dropbear")
DROPBEARKEY = Path("/usr/bin/dropbearkey")

# Where the files of tests/lab/guest go inside the guest; any other file goes to /lab/<name>.
GUEST_FILE_DESTINATIONS = {"init": "/init", "inittab": "/etc/inittab"}

# Bump when the layout of the image changes in a way the hashed inputs would not show.
IMAGE_FORMAT = 1

_MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


class GuestImageError(RuntimeError):
    """The guest image cannot be built; the message says why and what to do."""


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, **kwargs)
    except FileNotFoundError as exc:
        raise GuestImageError(f"{argv[0]} is not installed ({exc})") from exc


def _kernel_package() -> str:
    """The kernel package linux-image-amd64 depends on (its name carries the kernel's ABI version)."""
    res = _run(["apt-cache", "depends", META_PACKAGE])
    names = re.findall(r"^\s*\|?Depends:\s*(linux-image-\S+)\s*$", res.stdout, re.M)
    if res.returncode != 0 or not names:
        raise GuestImageError(
            f"apt-cache finds no kernel package behind {META_PACKAGE} "
            f"(`apt-cache depends {META_PACKAGE}`: rc={res.returncode}, "
            f"{(res.stderr or res.stdout).strip() or 'no Depends line'}); "
            "run `apt-get update` first so the package lists are present"
        )
    return names[0]


def _kernel_version(package: str) -> str:
    """linux-image-6.1.0-56-amd64 -> 6.1.0-56-amd64 (uname -r, the modules directory)."""
    return package.removeprefix("linux-image-").removesuffix("-unsigned")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _image_key(deb_name: str) -> str:
    h = hashlib.sha256()
    h.update(f"format={IMAGE_FORMAT}\0{deb_name}\0".encode())
    for source in sorted(Path(__file__).resolve().parent.glob("*.py")):  # the builder itself
        h.update(f"{source.name}\0{_file_digest(source)}\0".encode())
    for path in (BUSYBOX, DROPBEAR, DROPBEARKEY):
        if not path.is_file():
            raise GuestImageError(f"{path} is missing: install busybox-static and dropbear-bin")
        h.update(f"{path}\0{_file_digest(path)}\0".encode())
    if not GUEST_SRC.is_dir():
        raise GuestImageError(f"{GUEST_SRC} is missing")
    for path in sorted(p for p in GUEST_SRC.rglob("*") if p.is_file()):
        rel = path.relative_to(GUEST_SRC).as_posix()
        h.update(f"{rel}\0{path.stat().st_mode & 0o777:o}\0{_file_digest(path)}\0".encode())
    return h.hexdigest()


def _download(debs: Path, package: str) -> Path:
    """The kernel package's .deb: the cached one for this kernel ABI, else `apt-get download`."""
    debs.mkdir(parents=True, exist_ok=True)
    cached = sorted(debs.glob(f"{package}_*_amd64.deb"))
    if cached:
        return cached[-1]
    with tempfile.TemporaryDirectory(dir=debs, prefix=".download-") as tmp:
        res = _run(["apt-get", "download", package], cwd=tmp)
        got = list(Path(tmp).glob(f"{package}_*.deb"))
        if res.returncode != 0 or len(got) != 1:
            raise GuestImageError(f"apt-get download {package} failed (rc={res.returncode}): {res.stderr.strip()}")
        deb = debs / got[0].name
        os.replace(got[0], deb)
    return deb
