"""A cpio "newc" archive writer (the initramfs format the kernel unpacks)."""

from __future__ import annotations


class Cpio:
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
