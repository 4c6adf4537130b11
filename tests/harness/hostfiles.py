"""Files on a lab host as its own shell sees them, over real SSH (each call logged by the lab like
any other command): read, write, list, read several at once, digest a tree."""

from __future__ import annotations

import time


def _quoted(text: str) -> str:
    return "'%s'" % text.replace("'", "'\\''")


def script(lab, host: str, text: str, stdin: bytes = b"", timeout: float = 300):
    """Run a long script on the host: sent as a file first (a command line has a size limit)."""
    lab.sh(host, "cat > /tmp/nestedvirt-suite.sh", stdin=text.encode("utf-8", "surrogateescape"))
    return lab.sh(
        host,
        "sh /tmp/nestedvirt-suite.sh; rc=$?; rm -f /tmp/nestedvirt-suite.sh; exit $rc",
        stdin=stdin,
        timeout=timeout,
    )


def read(lab, host: str, path: str) -> bytes | None:
    """A file's bytes on the host, or None when it does not exist."""
    done = lab.sh(host, "if [ -f '%s' ]; then echo yes; cat '%s'; else echo no; fi" % (path, path))
    head, _newline, body = done.stdout.partition(b"\n")
    return body if head == b"yes" else None


def write(lab, host: str, path: str, data: bytes) -> None:
    lab.sh(host, "cat > '%s'" % path, stdin=data)


def listdir(lab, host: str, directory: str) -> list[str]:
    done = lab.sh(host, "ls -a '%s'" % directory)
    return sorted(name for name in done.stdout.decode().split("\n") if name not in ("", ".", ".."))


def read_with_listing(lab, host: str, paths: list[str]) -> dict[str, tuple[bytes | None, list[str]]]:
    """{path: (its bytes or None when missing, the names in its directory)} for several files, in one
    SSH command (``read`` and ``listdir`` of each, without a round trip apiece)."""
    token = "@@rlab-%d" % time.monotonic_ns()
    lines = []
    for n, path in enumerate(paths):
        quoted, directory = _quoted(path), _quoted(path.rsplit("/", 1)[0])
        lines += [
            "if [ -f %s ]; then echo '%s file %d yes'; cat %s; echo; else echo '%s file %d no'; fi"
            % (quoted, token, n, quoted, token, n),
            "echo '%s ls %d'; ls -a %s" % (token, n, directory),
        ]
    lines.append("echo '%s done'" % token)
    text = "\n".join(lines)
    out = (lab.sh(host, text) if len(text) < 8192 else script(lab, host, text)).stdout
    assert out.endswith(("%s done\n" % token).encode()), out[-500:]
    found = {}
    for n, path in enumerate(paths):
        head = ("%s file %d " % (token, n)).encode()
        start = out.index(head) + len(head)
        listing = ("\n%s ls %d\n" % (token, n)).encode()
        end = out.index(listing, start)
        exists, _newline, body = out[start:end].partition(b"\n")
        content = body if exists == b"yes" else None  # (the echo after cat ends it: the listing's "\n")
        names = out[end + len(listing) : out.index(token.encode(), end + len(listing))].decode()
        found[path] = (content, sorted(x for x in names.split("\n") if x not in ("", ".", "..")))
    return found


def tree_digest(lab, host: str, root: str = "/vmfs/volumes") -> dict[str, str]:
    """{path: md5} of every file under ``root`` on the host (what "nothing else touched" compares)."""
    done = lab.sh(host, "find %s -type f -exec md5sum {} +" % root)
    return dict(reversed(line.split("  ", 1)) for line in done.stdout.decode().splitlines())
