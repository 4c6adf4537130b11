"""The lab's hostd request protocol (tests/lab/ARCHITECTURE.md), both sides: reading a request
and encoding an answer (the server), and `request` / `request_full` (the CLI, labd and the tests).
"""

from __future__ import annotations

import socket

from .. import config as cfgmod

MAX_ARGS = 4096
MAX_REQUEST = 4 << 20
REQUEST_TIMEOUT = 30.0


def read_request(sock: socket.socket) -> list[str]:
    buf = b""
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("connection closed before the argument count")
        buf += chunk
        if len(buf) > 32 and b"\n" not in buf:
            raise ValueError("no argument count")
    head, _, buf = buf.partition(b"\n")
    count = int(head.strip() or b"x")
    if not 1 <= count <= MAX_ARGS:
        raise ValueError(f"argument count {count} out of range")
    while buf.count(b"\0") < count:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("connection closed before all arguments")
        buf += chunk
        if len(buf) > MAX_REQUEST:
            raise ValueError("request too large")
    parts = buf.split(b"\0")[:count]
    return [p.decode("utf-8", errors="surrogateescape") for p in parts]


def encode_response(rc: int, out: str, err: str = "") -> bytes:
    """`<rc>\n` + stdout, or `<rc> <n>\n` + n bytes of stderr + stdout (ARCHITECTURE.md)."""
    e = err.encode("utf-8", errors="surrogateescape")
    head = f"{rc} {len(e)}\n" if e else f"{rc}\n"
    return head.encode() + e + out.encode("utf-8", errors="surrogateescape")


def request(address: str, argv: list[str], timeout: float = 60.0, port: int = cfgmod.HOSTD_PORT) -> tuple[int, str]:
    """Client side of the protocol (the CLI and the tests use it): exit status and stdout."""
    rc, out, _err = request_full(address, argv, timeout, port)
    return rc, out


def request_full(
    address: str, argv: list[str], timeout: float = 60.0, port: int = cfgmod.HOSTD_PORT
) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of one request."""
    data = f"{len(argv)}\n".encode() + b"".join(a.encode("utf-8", errors="surrogateescape") + b"\0" for a in argv)
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        total = 0
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
            total += len(c)
            if total > 64 << 20:
                raise ValueError("hostd answer too large")
    raw = b"".join(chunks)
    head, nl, body = raw.partition(b"\n")
    if not nl:
        raise ValueError(f"hostd at {address} sent no status line")
    rc, _, nerr = head.partition(b" ")
    n = int(nerr or 0)
    err, out = body[:n], body[n:]
    return int(rc), out.decode("utf-8", errors="surrogateescape"), err.decode("utf-8", errors="surrogateescape")
