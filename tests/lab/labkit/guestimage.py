"""Build (and cache) the lab guest: Debian's kernel and a BusyBox initramfs.

The guest is Debian's own kernel (the package the metapackage ``linux-image-amd64`` points at)
booted straight from QEMU with an initramfs that holds BusyBox, dropbear, the few kernel modules
the guest needs and the files in ``tests/lab/guest`` (init, inittab, the emulated Tools agent).

Everything is cached under the cache directory given by the caller (the lab uses
``<repo>/.cache/lab/guest``)::

    debs/<package>_<version>_amd64.deb     the downloaded kernel package (kept for rebuilds)
    images/<key>/vmlinuz                   the kernel as Debian ships it (bzImage, xz inside)
    images/<key>/vmlinux                   the same kernel uncompressed (ELF with a PVH entry)
    images/<key>/initrd.gz                 the initramfs (cpio newc, gzip)
    images/<key>/image.json                what went into it

``<key>`` hashes the kernel package file name (package and version), the files under
``tests/lab/guest``, this builder's source and the BusyBox/dropbear binaries, so an image is
rebuilt only when one of those changes. The package is looked up with ``apt-cache depends
linux-image-amd64`` (the package lists must exist: ``apt-get update``); a new kernel ABI means a
new package name, hence a download and a rebuild. Concurrent callers serialise on ``<cache>/.lock``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

GUEST_SRC = Path(__file__).resolve().parent.parent / "guest"
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


# --- inputs ---------------------------------------------------------------------------------


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
    h.update(_file_digest(Path(__file__)).encode())
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


# --- the build ------------------------------------------------------------------------------


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

        cpio = _Cpio()
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


def _add_base(cpio: "_Cpio") -> None:
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


def _add_busybox(cpio: "_Cpio") -> None:
    cpio.add_file("/bin/busybox", BUSYBOX.read_bytes(), 0o755)
    res = _run([str(BUSYBOX), "--list-full"])
    if res.returncode != 0:
        raise GuestImageError(f"busybox --list-full failed: {res.stderr.strip()}")
    for applet in res.stdout.split():
        path = "/" + applet
        if path != "/bin/busybox" and not cpio.has(path):
            cpio.add_symlink(path, "/bin/busybox")


def _add_dropbear(cpio: "_Cpio") -> list[str]:
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


def _add_guest_files(cpio: "_Cpio") -> None:
    for path in sorted(p for p in GUEST_SRC.rglob("*") if p.is_file()):
        rel = path.relative_to(GUEST_SRC).as_posix()
        dest = GUEST_FILE_DESTINATIONS.get(rel, "/lab/" + rel)
        mode = 0o755 if os.access(path, os.X_OK) or rel in ("init",) else 0o644
        cpio.add_file(dest, path.read_bytes(), mode)


def _extract_pvh_vmlinux(bzimage: bytes) -> bytes | None:
    """The ELF vmlinux inside a bzImage if it is xz/gzip-compressed and has a PVH entry note.

    QEMU loads such an ELF with -kernel and enters it through PVH, so the guest does not spend
    seconds of emulated CPU decompressing itself. None (boot the bzImage) when not applicable.
    """
    if len(bzimage) < 0x250 or bzimage[0x202:0x206] != b"HdrS":
        return None
    setup_sects = bzimage[0x1F1] or 4
    offset, length = struct.unpack_from("<II", bzimage, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = bzimage[start : start + length]
    try:
        if payload.startswith(b"\xfd7zXZ\x00"):
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
        elif payload.startswith(b"\x1f\x8b"):
            elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
        else:
            return None
    except (lzma.LZMAError, zlib.error):
        return None
    return elf if _has_pvh_note(elf) else None


def _has_pvh_note(elf: bytes) -> bool:
    """Whether an ELF64 has a Xen XEN_ELFNOTE_PHYS32_ENTRY (18) note in a PT_NOTE segment."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        return False
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and n_type == 18:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


# --- kernel modules -------------------------------------------------------------------------


def _module_name(filename: str) -> str:
    for suffix in _MODULE_SUFFIXES:
        if filename.endswith(suffix):
            return filename[: -len(suffix)].replace("-", "_")
    raise ValueError(filename)


def _read_module(path: Path) -> bytes:
    """A module's ELF bytes; Debian may ship them plain, xz-, zstd- or gzip-compressed."""
    name = path.name
    if name.endswith(".ko"):
        return path.read_bytes()
    if name.endswith(".ko.xz"):
        return lzma.decompress(path.read_bytes())
    if name.endswith(".ko.gz"):
        return gzip.decompress(path.read_bytes())
    if name.endswith(".ko.zst"):
        res = subprocess.run(["zstd", "-dc", str(path)], capture_output=True)
        if res.returncode != 0:
            raise GuestImageError(f"cannot decompress {path} (install zstd): {res.stderr!r}")
        return res.stdout
    raise GuestImageError(f"unknown module format: {path}")


def _modinfo(elf: bytes) -> dict[str, list[str]]:
    """The key=value strings of an ELF64 module's .modinfo section."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise GuestImageError("kernel module is not a little-endian ELF64 object")
    (shoff,) = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
        return name, offset, size

    _, stroff, _ = section(shstrndx)
    info: dict[str, list[str]] = {}
    for i in range(shnum):
        name, offset, size = section(i)
        end = elf.index(b"\0", stroff + name)
        if elf[stroff + name : end] == b".modinfo":
            for item in elf[offset : offset + size].split(b"\0"):
                if b"=" in item:
                    k, v = item.decode("utf-8", "replace").split("=", 1)
                    info.setdefault(k, []).append(v)
            return info
    raise GuestImageError("kernel module has no .modinfo section")


def _add_modules(cpio: "_Cpio", moddir: Path, kernel_version: str, depmod_root: Path) -> list[str]:
    """Copy GUEST_MODULES and their dependencies (uncompressed) and index them with depmod."""
    files: dict[str, Path] = {}
    for path in (moddir / "kernel").rglob("*.ko*"):
        if path.name.endswith(_MODULE_SUFFIXES):
            files[_module_name(path.name)] = path
    builtin = set()
    if (moddir / "modules.builtin").is_file():
        builtin = {_module_name(Path(line).name) for line in (moddir / "modules.builtin").read_text().split() if line}

    wanted = list(GUEST_MODULES)
    chosen: dict[str, tuple[str, bytes]] = {}
    while wanted:
        name = wanted.pop().replace("-", "_")
        if name in chosen or name in builtin:
            continue
        if name not in files:
            raise GuestImageError(f"module {name} is neither built into {kernel_version} nor shipped")
        elf = _read_module(files[name])
        rel = files[name].relative_to(moddir).as_posix()
        rel = rel[: rel.index(".ko") + 3]  # stored uncompressed: busybox modprobe wants plain .ko
        chosen[name] = (rel, elf)
        for deps in _modinfo(elf).get("depends", []):
            wanted.extend(d for d in deps.split(",") if d)

    # depmod (BusyBox's, the same code as the guest's modprobe) indexes a staging copy.
    stage = depmod_root / "lib/modules" / kernel_version
    for rel, elf in chosen.values():
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / rel).write_bytes(elf)
    if (moddir / "modules.builtin").is_file():  # lets modprobe accept built-in names
        shutil.copyfile(moddir / "modules.builtin", stage / "modules.builtin")
    res = _run([str(BUSYBOX), "depmod", "-b", str(depmod_root), kernel_version])
    if res.returncode != 0 or not (stage / "modules.dep").is_file():
        raise GuestImageError(f"busybox depmod failed: {res.stderr.strip()}")
    for path in sorted(stage.rglob("*")):
        dest = "/lib/modules/" + kernel_version + "/" + path.relative_to(stage).as_posix()
        if path.is_dir():
            cpio.add_dir(dest)
        else:
            cpio.add_file(dest, path.read_bytes(), 0o644)
    return sorted(chosen)


# --- cpio (newc) ----------------------------------------------------------------------------


class _Cpio:
    """An in-memory cpio "newc" archive with root-owned entries and fixed timestamps."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, bytes, int, int]] = {}  # path -> (mode, data, rmaj, rmin)

    def has(self, path: str) -> bool:
        return path in self._entries

    def add_dir(self, path: str, perm: int = 0o755) -> None:
        self.add_parents(path)
        self._entries[path] = (0o040000 | perm, b"", 0, 0)

    def add_parents(self, path: str) -> None:
        """Create the missing parent directories of path (the kernel does not)."""
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in self._entries:
                self._entries[d] = (0o040755, b"", 0, 0)

    def add_file(self, path: str, data: bytes, perm: int) -> None:
        self.add_parents(path)
        self._entries[path] = (0o100000 | perm, data, 0, 0)

    def add_symlink(self, path: str, target: str) -> None:
        self.add_parents(path)
        self._entries[path] = (0o120777, target.encode(), 0, 0)

    def add_node(self, path: str, perm: int, major: int, minor: int) -> None:
        self.add_parents(path)
        self._entries[path] = (0o020000 | perm, b"", major, minor)

    def finish(self) -> bytes:
        out = bytearray()

        def entry(ino: int, name: str, mode: int, data: bytes, rmaj: int, rmin: int) -> None:
            nameb = name.encode() + b"\0"
            fields = (
                ino,
                mode,
                0,
                0,
                2 if mode & 0o170000 == 0o040000 else 1,
                0,
                len(data),
                0,
                0,
                rmaj,
                rmin,
                len(nameb),
                0,
            )
            out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + nameb)
            out.extend(b"\0" * (-len(out) % 4))
            out.extend(data)
            out.extend(b"\0" * (-len(out) % 4))

        # Sorted paths put every directory before what it holds.
        for ino, path in enumerate(sorted(self._entries), start=1):
            mode, data, rmaj, rmin = self._entries[path]
            entry(ino, path.lstrip("/"), mode, data, rmaj, rmin)
        entry(0, "TRAILER!!!", 0, b"", 0, 0)
        return bytes(out)
