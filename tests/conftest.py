"""Shared pytest set-up: make the collection importable by its FQCN and the test harness (tests/harness)
as ``harness``, and give tests a BusyBox-only PATH."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".tmp" / "dev"


def _link_collection():
    # ansible_collections/nestedvirt/esxi must exist as a path for both imports and ansible itself.
    link = COLLECTIONS / "ansible_collections" / "nestedvirt" / "esxi"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or link.resolve() != ROOT:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(ROOT)
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS)


_link_collection()
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture(scope="session")
def busybox_bin(tmp_path_factory):
    """A directory holding BusyBox and a link per applet: the only commands on PATH on ESXi."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is not installed (make deps installs busybox-static)")
    directory = tmp_path_factory.mktemp("busybox-bin")
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        (directory / applet).symlink_to(busybox)
    return directory


@pytest.fixture
def busybox_sh(busybox_bin):
    """Run a script under `busybox sh` with only BusyBox applets on PATH; returns a runner."""

    def run(command, stdin=b"", **kwargs):
        return subprocess.run(
            [str(busybox_bin / "sh"), "-c", command],
            input=stdin,
            capture_output=True,
            env={"PATH": str(busybox_bin), "LC_ALL": "C"},
            check=False,
            **kwargs,
        )

    return run
