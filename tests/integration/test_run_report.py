"""The enable-nesting playbook's report (-e nestedvirt_report=PATH) on the lab: one JSON record per
VM with what was found, what was done, why not, and what the guest showed."""

from __future__ import annotations

import json
import stat

import pytest
import yaml
from harness import ansible
from vsphere_lab import ENABLE_NESTING, lab_up

pytestmark = pytest.mark.lab
CANARY = "canary-secret-0f3a"

CONFIG = {
    "lab": {"ready_timeout": 180},
    "hosts": [
        {
            "name": "r67",
            "version": "6.7.0",
            "ssh": True,
            "vms": [
                {"name": "web", "guest": "linux", "power": "on"},
                {"name": "done", "guest": "none", "power": "on", "vmx": {"vhv.enable": "TRUE"}},
                {"name": "cold", "guest": "none", "power": "off"},
                {"name": "old", "guest": "none", "power": "on", "hardware_version": 8},
            ],
        }
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_up(CONFIG, tmp_path_factory.mktemp("report-lab")) as running:
        yield running


def run(lab, tmp_path, vms, report):
    """The playbook with ``vms`` listed by name on r67 (beside the lab's inventory guest, web)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    extra = tmp_path / "vms.yml"
    extra.write_text(yaml.safe_dump({"all": {"children": {"esxi_hosts": {"hosts": {"r67": {"nestedvirt_vms": vms}}}}}}))
    flags = ["-e", "nestedvirt_report=%s" % report, "-e", "nestedvirt_verify=all"]
    flags += ["-e", "nestedvirt_api_password=%s" % CANARY]  # a secret the run has, never to be reported
    return ansible.Job(tmp_path, [lab.inventory, extra], ENABLE_NESTING, *flags).run(600)


def by_vm(report):
    return dict((record["vm"], record) for record in report["vms"])


def test_the_report_has_a_record_per_vm_with_found_done_and_shown(lab, tmp_path):
    path = tmp_path / "report.json"
    done = run(lab, tmp_path, ["done", "cold"], path)
    assert done.rc == 0, done.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    report = json.loads(path.read_text())
    assert (report["format"], report["complete"], report["check_mode"]) == (1, True, False)
    records = by_vm(report)
    assert sorted(records) == ["cold", "done", "web"]
    for record in records.values():
        assert (record["esxi_host"], record["esxi_release"], record["method"]) == ("r67", "6.7.0", "ssh")
        assert record["found"]["hardware_version"] >= 9 and not record["failed"] and record["reason"] is None

    web = records["web"]
    assert web["found"]["power_state"] == "poweredOn" and web["found"]["nested_hv_enabled"] is False
    assert (web["action"], web["outcome"], web["power_cycled"], web["power_state"]) == (
        "power_cycle",
        "configured, power-cycled",
        True,
        "poweredOn",
    )
    # The lab's guest is QEMU: nesting exposes AMD-V (svm).
    assert web["verification"]["status"] == "passed" and web["verification"]["virtualization_flag"] == "svm"
    assert web["verification"]["nested_virtualization"] is True
    timings = web["timings"]
    assert 0 < timings["batch_seconds"] <= timings["host_seconds"]

    cold = records["cold"]
    assert (cold["found"]["power_state"], cold["action"], cold["power_state"]) == (
        "poweredOff",
        "configure",
        "poweredOff",
    )
    assert cold["verification"] == dict(cold["verification"], status="not_verified", note="the VM is poweredOff")

    untouched = records["done"]
    assert (untouched["found"]["vhv.enable"], untouched["action"], untouched["outcome"]) == (
        "TRUE",
        "nothing",
        "nothing to do",
    )
    assert untouched["timings"]["batch_seconds"] is None
    assert lab.vm("r67", "web")["nested_hv_enabled"] and lab.vm("r67", "cold")["nested_hv_enabled"]

    text = path.read_text()
    assert CANARY not in text
    # The summary table is still printed.
    assert "VM" in done.output and "ESXi host" in done.output and "configured, power-cycled" in done.output


def test_a_refused_vm_is_reported_with_its_reason_even_though_the_run_stops(lab, tmp_path):
    path = tmp_path / "report.json"
    refused = run(lab, tmp_path, ["old"], path)
    assert refused.rc != 0
    report = json.loads(path.read_text())
    assert report["complete"] is False  # every ESXi host failed: the summary play never ran
    old = by_vm(report)["old"]
    assert (old["action"], old["outcome"], old["failed"], old["reason"]) == (
        "refuse",
        "refused",
        True,
        "hardware_too_old",
    )
    assert old["found"] == dict(old["found"], hardware_version=8, power_state="poweredOn")
    assert "below the 9 that nesting needs" in old["msg"]
    assert CANARY not in path.read_text()
    assert old["power_state"] == "poweredOn" and not old["power_cycled"]
    assert lab.vm("r67", "old")["power"] == "poweredOn"
