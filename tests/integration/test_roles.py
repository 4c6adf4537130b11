"""The enable_nesting playbook on the lab: a VM it is to change is never left down."""

from __future__ import annotations

import pytest
from harness.lab import esxilab
from vsphere_lab import enable_nesting, lab_up

pytestmark = pytest.mark.lab

CONFIG = {
    "lab": {"ready_timeout": 120},
    "hosts": [
        {"name": "e67", "version": "6.7.0", "ssh": True, "vms": [{"name": "victim", "guest": "none", "power": "on"}]}
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_up(CONFIG, tmp_path_factory.mktemp("roles-lab")) as running:
        yield running


def run_playbook(lab, tmp_path):
    return enable_nesting(lab, tmp_path, "e67", ["victim"])


def test_full_datastore_keeps_the_vm_on_and_the_next_run_completes(lab, tmp_path):
    lab.fault("e67", "datastore_full", "datastore1", "on")
    failed = run_playbook(lab, tmp_path / "full")
    assert failed.rc != 0
    # The restart marker cannot be written, so the VM is not even shut down.
    assert "was not powered off: the restart marker" in failed.output and "No space left on device" in failed.output
    vm = lab.vm("e67", "victim")
    assert vm["power"] == "poweredOn" and not vm["nested_hv_enabled"]

    lab.fault("e67", "clear")
    done = run_playbook(lab, tmp_path / "clear")
    assert done.rc == 0, done.output
    vm = lab.vm("e67", "victim")
    assert vm["power"] == "poweredOn" and vm["nested_hv_enabled"]


def test_stale_restart_marker_of_a_running_vm_is_removed(lab, tmp_path):
    """A VM someone powered on after a killed run: the marker goes, the VM is not touched."""
    marker = "/vmfs/volumes/datastore1/victim/nestedvirt-power-on-pending"
    left = esxilab("ssh", "--dir", lab.state, "e67", "echo left > '%s'" % marker)
    assert left.returncode == 0, left.stderr
    done = run_playbook(lab, tmp_path / "stale")
    assert done.rc == 0, done.output
    assert "changed=1" in done.output  # the marker's removal, the only change
    listing = esxilab("ssh", "--dir", lab.state, "e67", "ls /vmfs/volumes/datastore1/victim")
    assert "nestedvirt-power-on-pending" not in listing.stdout
    assert lab.vm("e67", "victim")["power"] == "poweredOn"
