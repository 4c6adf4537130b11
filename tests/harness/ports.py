"""Free loopback nets for a lab, and whether something answers on a port.

Other developers' labs and test runs share this machine: a lab goes on 127.0.X.0/24 nets where
none of its addresses is taken (labkit's own check, the one `esxilab up` applies), picked at random
so that sessions starting together rarely meet.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import time
from collections.abc import Iterator

from labkit.addresses import free_networks


def free_configs(config: dict, tries: int = 5) -> Iterator[dict]:
    """Up to ``tries`` copies of the lab config ``config`` moved to free nets, in random order."""
    candidates = free_networks(config, shuffle=True)
    with contextlib.suppress(RuntimeError):  # fewer free pairs than tries
        yield from itertools.islice(candidates, tries)


def port_open(address: str, port: int = 22, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to address:port is accepted."""
    try:
        socket.create_connection((address, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def ssh_banner(address: str, timeout: float = 60) -> bool:
    """True once an SSH server greets on address:22 (waiting at most ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((address, 22), timeout=5) as conn:
            conn.settimeout(5)
            if conn.recv(64).startswith(b"SSH-"):
                return True
        time.sleep(0.5)
    return False
