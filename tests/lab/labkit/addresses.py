"""Which loopback addresses are in use, and the 127.0.X.0/24 nets where a lab fits (`esxilab up
--free-nets`, the test suites)."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

from . import config as cfgmod


def listeners(addresses: set[str]) -> list[str]:
    """LISTEN sockets bound to one of the addresses (from /proc/net/tcp)."""
    out = []
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        f = line.split()
        if len(f) < 4 or f[3] != "0A":
            continue
        hexip, hexport = f[1].split(":")
        ip = socket.inet_ntoa(bytes.fromhex(hexip)[::-1])
        if ip in addresses:
            out.append(f"{ip}:{int(hexport, 16)}")
    return out


def address_busy(address: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of an earlier lab is fine
    try:
        s.bind((address, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def busy_ports(lab: cfgmod.Lab) -> list[str]:
    """The lab's address:port pairs something else listens on already (`up` refuses those)."""
    ports = [(h.address, p) for h in lab.hosts for p in (cfgmod.SSH_PORT, cfgmod.HOSTD_PORT, cfgmod.API_PORT)]
    ports += [(vc.address, cfgmod.API_PORT) for vc in lab.vcenters]
    ports += [(vm.address, cfgmod.SSH_PORT) for _, vm in lab.guests()]
    return [f"{a}:{p}" for a, p in ports if address_busy(a, p)]


def free_networks(raw: dict, *, shuffle: bool = False) -> Iterator[dict]:
    """Copies of the CONFIG.yml mapping `raw` moved to 127.0.X.0/24 nets where none of the lab's
    addresses is in use (other developers' labs and tests may run on this machine at once).

    Candidates: the nets `raw` names itself, if any, then host_net 127.0.X.0 with guest_net
    127.0.X+1.0 for even X from 2 to 252, in that order or, with `shuffle`, in random order (so
    that sessions starting together rarely pick the same pair). The default nets (a developer's
    own lab) are never picked. Each copy is checked as it is asked for; `up` still refuses if
    another lab took the addresses in between, so a caller may go on to the next copy. Raises
    RuntimeError when no candidate is free.
    """
    lab_block = raw.get("lab") or {}
    defaults = {cfgmod.Lab.host_net, cfgmod.Lab.guest_net}
    pairs = [{"host_net": f"127.0.{x}.0", "guest_net": f"127.0.{x + 1}.0"} for x in range(2, 253, 2)]
    pairs = [p for p in pairs if defaults.isdisjoint(p.values())]
    if shuffle:
        random.shuffle(pairs)
    names_nets = any(k in d for d in (raw, lab_block) for k in ("host_net", "guest_net"))
    for nets in ([{}] if names_nets else []) + pairs:
        candidate = {**raw, "lab": {**lab_block, **nets}}
        if not busy_ports(cfgmod.normalise(candidate)):
            yield candidate
    raise RuntimeError("no free 127.0.X.0/24 nets for a lab")
