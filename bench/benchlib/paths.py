"""Where things are, and the settings every measurement shares."""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
VENV_BIN = ROOT / ".venv" / "bin"
PEERS_VENV = ROOT / ".cache" / "bench" / "peers-venv"
PEERS_REQUIREMENTS = BENCH / "requirements-peers.txt"
PACKAGED = ROOT / ".tmp" / "package" / "collections" / "ansible_collections" / "nestedvirt" / "esxi"
WORK = ROOT / ".tmp" / "bench"
RESULTS = BENCH / "results"
CONFIGS = BENCH / "configs"
BARE_PLAYBOOK = BENCH / "baseline" / "bare.yml"

PROXY_PORT = 8443
FORKS = 10  # >= the VMs changed at once in the 1 x 4 and 2 x 4 runs; every playbook gets the same
SAMPLE_S = 0.2
PLAYBOOK_TIMEOUT = 900
MACHINE = "2-core / 24 GiB Debian 12 VM, lab in loopback, QEMU TCG guests"


def say(text: str) -> None:
    print("bench: " + text, flush=True)
