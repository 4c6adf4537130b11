"""`esxilab up` / `down` of a lab of its own: everything it starts is recorded and goes away, the
inventory works for Ansible as written (acceptance points 1 and 4)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import Lab, esxilab
from labkit.addresses import free_networks, listeners
from labkit.labd import Pids, start_time
from labkit.sshd import processes_in

pytestmark = pytest.mark.lab

CONFIG = """\
hosts:
  - name: solo
    version: "6.7.0"
    ssh: true
    api: true
    datastores: [datastore1, {name: small, size_mb: 1}]
    faults:
      drop_ssh: [{pattern: "^drop-me", times: 0}]
      datastore_full: [small]
    vms:
      - {name: "Solo VM", guest: linux}
      - {name: "Other VM", guest: none, ignore_shutdown: true}
"""


def test_up_down_leaves_nothing(tmp_path):
    (tmp_path / "lab.yml").write_text(yaml.safe_dump(next(free_networks(yaml.safe_load(CONFIG)))))
    state = tmp_path / "state"
    r = esxilab("up", "--config", tmp_path / "lab.yml", "--dir", state)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        lab = Lab(state)
        recorded = Pids(state / "pids").entries()
        assert {"labd", "solo-ns", "solo-sshd", "solo-api", "solo-vm-1"} <= set(Pids(state / "pids").alive())
        namespace = Pids(state / "pids").namespaces()["solo"]
        addresses = set(lab.config.addresses())
        host, guest = lab.config.hosts[0].address, lab.config.hosts[0].vms[0].address
        assert sorted(listeners(addresses)) == sorted([f"{host}:22", f"{host}:443", f"{host}:8307", f"{guest}:22"])
        assert str(state) not in Path("/proc/mounts").read_text()  # the hosts' mounts are private
        # faults from the config
        assert [lab.ssh("solo", "drop-me; echo x").returncode for _ in range(2)] == [255, 255]
        assert "No space left on device" in lab.ssh("solo", "echo x > /vmfs/volumes/small/x").stderr
        lab.ssh("solo", "vim-cmd vmsvc/power.shutdown 2", check=True)
        time.sleep(1.5)
        assert lab.power("solo", 2) == "Powered on"
        # a second `up` on a running lab is refused; an SSH session stays open until `down`
        assert esxilab("up", "--config", tmp_path / "lab.yml", "--dir", state).returncode == 2
        session = subprocess.Popen(lab.ssh_argv(host, "sleep 60"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        assert len(processes_in(namespace)) >= 3  # holder, sshd, the session
        # ...all of them this lab's: another lab's `down` (a reused namespace id) would spare them
        assert len(processes_in(namespace, owner=state)) >= 3
        assert processes_in(namespace, owner=tmp_path / "another-lab") == []
    finally:
        r = esxilab("down", "--dir", state)
    assert r.returncode == 0 and "no process, listener or mount left" in r.stdout, r.stdout + r.stderr
    assert session.wait(10) == 255
    assert [k for k, (pid, st) in recorded.items() if start_time(pid) == st] == []
    assert processes_in(namespace) == []
    assert listeners(addresses) == []
    assert esxilab("down", "--dir", state).returncode == 0  # idempotent
    assert "down" in esxilab("status", "--dir", state).stdout


def test_up_reports_build_and_config_errors(tmp_path):
    (tmp_path / "bad.yml").write_text("hosts:\n  - {name: x, version: '9.9.9'}\n")
    r = esxilab("up", "--config", tmp_path / "bad.yml", "--dir", tmp_path / "state")
    assert r.returncode == 2 and "version must be one of" in r.stderr


def test_inventory_works_with_ansible(lab):
    inventory = lab.state / "inventory.yml"
    doc = yaml.safe_load(inventory.read_text())["all"]["children"]
    guest = doc["nested_guests"]["hosts"]["lab_vm_55"]
    assert (guest["nestedvirt_esxi_host"], guest["nestedvirt_vm_name"]) == ("esxi55", "Lab VM 55")
    assert doc["esxi_hosts"]["hosts"]["esxi50"]["esxilab_version"] == "5.0.0"
    ansible = Path(sys.executable).with_name("ansible")
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1"}
    r = subprocess.run(
        [
            str(ansible),
            "-i",
            str(inventory),
            "esxi55:esxi80:lab_vm_80",
            "-m",
            "ansible.builtin.raw",
            "-a",
            "vmware -v 2>/dev/null || uname -s",
            "-o",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "esxi55 | CHANGED | rc=0 | (stdout) VMware ESXi 5.5.0 build-1331820" in r.stdout
    assert "esxi80 | CHANGED | rc=0 | (stdout) VMware ESXi 8.0.1 build-21495797" in r.stdout
    assert "lab_vm_80 | CHANGED | rc=0 | (stdout) Linux" in r.stdout
