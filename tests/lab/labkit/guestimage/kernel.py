"""The kernel side of the guest image: the ELF vmlinux with a PVH entry inside Debian's bzImage
(QEMU enters it directly), and the kernel modules the guest needs, with their dependencies read
from each module's .modinfo, indexed by BusyBox's depmod.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from .cpio import Cpio
from .inputs import _MODULE_SUFFIXES, BUSYBOX, GUEST_MODULES, GuestImageError, _run


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


def _add_modules(cpio: Cpio, moddir: Path, kernel_version: str, depmod_root: Path) -> list[str]:
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
