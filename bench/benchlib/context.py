"""What a result depends on besides the code path measured: versions, the commit, the machine."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

from .paths import MACHINE, PACKAGED, PEERS_VENV, ROOT, VENV_BIN


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False).stdout


def commit() -> dict:
    """HEAD of the checkout `make package` built from, and whether its tree differs from HEAD.

    `make package` packs the files git knows, tracked or new, so any change there (outside
    bench/results, which this run rewrites) means the numbers are not HEAD's alone."""
    changed = [
        line[3:]
        for line in _git("status", "--porcelain", "--untracked-files=normal").splitlines()
        if line[3:] and not line[3:].startswith("bench/results/")
    ]
    return {"commit": _git("rev-parse", "HEAD").strip() or None, "dirty": bool(changed), "dirty_paths": changed[:20]}


def _pip_version(venv_bin: Path, package: str) -> str | None:
    if not (venv_bin / "python").exists():
        return None
    done = subprocess.run(
        [str(venv_bin / "python"), "-c", "import importlib.metadata as m; print(m.version(%r))" % package],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def versions(collections: Path) -> dict:
    manifest = json.loads((collections / "ansible_collections/nestedvirt/esxi/MANIFEST.json").read_text())
    out = {
        "nestedvirt.esxi": manifest["collection_info"]["version"],
        "nestedvirt.esxi package built": datetime.datetime.fromtimestamp(
            (PACKAGED / "MANIFEST.json").stat().st_mtime, datetime.timezone.utc
        ).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **commit(),
        "ansible-core": _pip_version(VENV_BIN, "ansible-core"),
        "pyvmomi": _pip_version(VENV_BIN, "pyvmomi"),
    }
    # The peers' venv exists only once a run that compares with them installed it.
    community = next(
        PEERS_VENV.glob("lib/python*/site-packages/ansible_collections/community/vmware/MANIFEST.json"), None
    )
    if community is not None:
        out.update(
            {
                "peers: ansible": _pip_version(PEERS_VENV / "bin", "ansible"),
                "peers: ansible-core": _pip_version(PEERS_VENV / "bin", "ansible-core"),
                "peers: community.vmware": json.loads(community.read_text())["collection_info"]["version"],
            }
        )
    return out


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    mem_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"
    return {
        "description": MACHINE,
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "debian": debian,
        "kernel": platform.release(),
        "kvm": os.path.exists("/dev/kvm"),
    }
