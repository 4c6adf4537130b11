"""The enable_nesting playbook on the lab: a failure after the shutdown leaves the VM powered on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from vsphere_lab import esxilab, lab_up

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "enable-nesting.yml"
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
    """The playbook with the VM listed by name (guest: none: no address to wait for, nothing to verify)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    extra = tmp_path / "by-name.yml"
    extra.write_text(
        yaml.safe_dump({"all": {"children": {"esxi_hosts": {"hosts": {"e67": {"nestedvirt_vms": ["victim"]}}}}}})
    )
    env = dict(
        os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home")
    )
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(lab.inventory),
            "-i",
            str(extra),
            str(PLAYBOOK),
            "-e",
            "enable_nesting_wait_for_ip=false",
            "-e",
            "enable_nesting_verify=false",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_failed_vmx_write_leaves_the_vm_on_and_the_next_run_completes(lab, tmp_path):
    fault = esxilab("fault", "--dir", lab.state.root, "--host", "e67", "datastore_full", "datastore1", "on")
    assert fault.returncode == 0, fault.stderr
    failed = run_playbook(lab, tmp_path / "full")
    assert failed.returncode != 0
    assert "datastore full or read-only" in failed.stdout and "(the VM was powered back on)" in failed.stdout
    vm = lab.vm("e67", "victim")
    assert vm["power"] == "poweredOn" and not vm["nested_hv_enabled"]

    assert esxilab("fault", "--dir", lab.state.root, "--host", "e67", "clear").returncode == 0
    done = run_playbook(lab, tmp_path / "clear")
    assert done.returncode == 0, done.stdout
    vm = lab.vm("e67", "victim")
    assert vm["power"] == "poweredOn" and vm["nested_hv_enabled"]
