"""Build the guest image into the cache (under its lock), then prune what no input refers to:
unpack the kernel package, assemble the initramfs (base tree, BusyBox, dropbear and its
libraries, the guest files, the kernel modules), write vmlinuz / vmlinux / initrd.gz / image.json.
"""

from __future__ import annotations

import dataclasses
import fcntl
import gzip
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .cpio import Cpio
from .inputs import (
    BUSYBOX,
    DROPBEAR,
    DROPBEARKEY,
    GUEST_FILE_DESTINATIONS,
    GUEST_SRC,
    GuestImageError,
    _download,
    _image_key,
    _kernel_package,
    _kernel_version,
    _run,
)
from .kernel import _add_modules, _extract_pvh_vmlinux


@dataclasses.dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    kernel_version: str


def build_guest_image(cache_dir: Path) -> GuestImage:
    """Return the cached guest image, building it first if any input changed."""
    cache_dir = Path(cache_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    package = _kernel_package()
    kernel_version = _kernel_version(package)
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        deb = _download(cache_dir / "debs", package)
        image_dir = cache_dir / "images" / _image_key(deb.name)[:20]
        if not (image_dir / "image.json").is_file():
            _build(deb, kernel_version, image_dir, cache_dir)
            _prune(cache_dir, keep_image=image_dir, keep_deb=deb)
    # QEMU boots an ELF kernel with a PVH note directly: no decompression under TCG (~6 s less).
    kernel = image_dir / "vmlinux"
    if not kernel.is_file():
        kernel = image_dir / "vmlinuz"
    return GuestImage(kernel, image_dir / "initrd.gz", kernel_version)


def _build(deb: Path, kernel_version: str, image_dir: Path, cache_dir: Path) -> None:
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as tmp:
        tmp = Path(tmp)
        root = tmp / "kernel"
        res = _run(["dpkg-deb", "-x", str(deb), str(root)])
        if res.returncode != 0:
            raise GuestImageError(f"dpkg-deb -x {deb} failed: {res.stderr.strip()}")
        vmlinuz = root / "boot" / f"vmlinuz-{kernel_version}"
        if not vmlinuz.is_file():
            raise GuestImageError(f"{deb.name} holds no boot/vmlinuz-{kernel_version}")
        moddirs = (root / "lib/modules" / kernel_version, root / "usr/lib/modules" / kernel_version)
        moddir = next((d for d in moddirs if d.is_dir()), None)
        if moddir is None:
            raise GuestImageError(f"{deb.name} holds no lib/modules/{kernel_version}")

        cpio = Cpio()
        _add_base(cpio)
        modules = _add_modules(cpio, moddir, kernel_version, tmp / "depmod")
        _add_busybox(cpio)
        libs = _add_dropbear(cpio)
        _add_guest_files(cpio)

        out = tmp / "image"
        out.mkdir()
        shutil.copyfile(vmlinuz, out / "vmlinuz")
        vmlinux = _extract_pvh_vmlinux(vmlinuz.read_bytes())
        if vmlinux is not None:
            (out / "vmlinux").write_bytes(vmlinux)
        raw = cpio.finish()
        (out / "initrd.gz").write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
        (out / "image.json").write_text(
            json.dumps(
                {
                    "kernel_package": deb.name,
                    "kernel_version": kernel_version,
                    "pvh_vmlinux": vmlinux is not None,
                    "modules": modules,
                    "libraries": libs,
                    "initramfs_bytes_uncompressed": len(raw),
                },
                indent=2,
            )
            + "\n"
        )
        image_dir.parent.mkdir(parents=True, exist_ok=True)
        if image_dir.exists():
            shutil.rmtree(image_dir)
        os.replace(out, image_dir)


def _prune(cache_dir: Path, keep_image: Path, keep_deb: Path) -> None:
    """Drop kernel packages and interrupted builds no current input refers to, and old images.

    The newest previous image stays: a lab that is up may still boot guests from it.
    """
    images = sorted((d for d in (cache_dir / "images").iterdir() if d != keep_image), key=lambda d: d.stat().st_mtime)
    stale = images[:-1]
    stale += [f for f in (cache_dir / "debs").iterdir() if f != keep_deb]
    stale += list(cache_dir.glob(".build-*"))
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _add_base(cpio: Cpio) -> None:
    for d in ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/lib64", "/etc/dropbear", "/proc", "/sys", "/dev"):
        cpio.add_dir(d)
    for d in ("/run", "/var/log", "/lab"):
        cpio.add_dir(d)
    cpio.add_dir("/tmp", 0o1777)
    cpio.add_dir("/root", 0o700)
    cpio.add_dir("/root/.ssh", 0o700)
    cpio.add_symlink("/var/run", "/run")
    cpio.add_node("/dev/console", 0o600, 5, 1)
    cpio.add_node("/dev/null", 0o666, 1, 3)
    cpio.add_file("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    cpio.add_file("/etc/group", b"root:x:0:\n", 0o644)
    cpio.add_file("/etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o600)
    cpio.add_file("/etc/shells", b"/bin/sh\n", 0o644)
    cpio.add_file("/etc/hostname", b"guest\n", 0o644)


def _add_busybox(cpio: Cpio) -> None:
    cpio.add_file("/bin/busybox", BUSYBOX.read_bytes(), 0o755)
    res = _run([str(BUSYBOX), "--list-full"])
    if res.returncode != 0:
        raise GuestImageError(f"busybox --list-full failed: {res.stderr.strip()}")
    for applet in res.stdout.split():
        path = "/" + applet
        if path != "/bin/busybox" and not cpio.has(path):
            cpio.add_symlink(path, "/bin/busybox")


def _add_dropbear(cpio: Cpio) -> list[str]:
    """dropbear and dropbearkey are dynamically linked: take their libraries as ldd resolves them."""
    libs: set[str] = set()
    for binary in (DROPBEAR, DROPBEARKEY):
        cpio.add_file(str(binary), binary.read_bytes(), 0o755)
        res = _run(["ldd", str(binary)])
        if res.returncode != 0:
            raise GuestImageError(f"ldd {binary} failed: {res.stderr.strip()}")
        for line in res.stdout.splitlines():
            m = re.match(r"\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x", line)
            if m:
                libs.add(m.group(1))
            elif "not found" in line:
                raise GuestImageError(f"ldd {binary}: {line.strip()}")
    for lib in sorted(libs):
        cpio.add_file(lib, Path(lib).read_bytes(), 0o755)
    return sorted(libs)


def _add_guest_files(cpio: Cpio) -> None:
    for path in sorted(p for p in GUEST_SRC.rglob("*") if p.is_file()):
        rel = path.relative_to(GUEST_SRC).as_posix()
        dest = GUEST_FILE_DESTINATIONS.get(rel, "/lab/" + rel)
        mode = 0o755 if os.access(path, os.X_OK) or rel in ("init",) else 0o644
        cpio.add_file(dest, path.read_bytes(), mode)
