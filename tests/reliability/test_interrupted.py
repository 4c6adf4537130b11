"""The controller is killed at a step of the enable-nesting playbook; the next run must reach the
right end state: the VM on, nesting on, its .vmx intact, nothing left beside it."""

from __future__ import annotations

import pytest
from rlab import PLAYBOOK, nesting_run, nesting_vars, vmx_path

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxDocument

pytestmark = pytest.mark.lab

HOST = "r67"
WRITE_MARK = "nestedvirt-write-v1"


def power(lab, name):
    return lab.vms(HOST)[name]["power"]


# (VM, what the kill waits for, as the report says it)
POINTS = {
    "I1": ("kill-facts", "the host_info command (the run's first read of the host)"),
    "I2": ("kill-shutdown", "the VM powered off by the run's shutdown (before the .vmx is edited)"),
    "I3": ("kill-write", "the .vmx write command (sent; it completes on the host and reloads)"),
    "I4": ("kill-guest", "a real Linux guest powered on again by the run (the run waits for VMware Tools)"),
}


def _when(lab, point):
    vm = POINTS[point][0]
    if point == "I1":
        return lambda commands: any("vmware -lv" in c for c in commands)
    if point == "I2":
        return lambda commands: any("power.shutdown" in c for c in commands) and power(lab, vm) == "poweredOff"
    if point == "I3":
        return lambda commands: any(WRITE_MARK in c for c in commands)
    return lambda commands: any("power.on" in c for c in commands) and power(lab, vm) == "poweredOn"


@pytest.fixture(scope="module")
def interrupted(lab, tmp_path_factory):
    """Each point's run killed, then the next runs (all guest-less VMs in one, the guest in another)."""
    tmp_path = tmp_path_factory.mktemp("interrupted")
    outcome = {}
    guest = {
        "nestedvirt_esxi_group": HOST,
        "nestedvirt_guest_group": "nested_guests",  # the lab's only Linux guest
        "enable_nesting_verify_hypervisor": True,
    }
    for point, (vm, _label) in POINTS.items():
        extra = guest if vm == "kill-guest" else None
        before = power(lab, vm)
        if extra is None:
            killed = _kill(lab, tmp_path, point, vm)
        else:
            killed = lab.playbook_killed(tmp_path, PLAYBOOK, HOST, _when(lab, point), extra_vars=extra)
        beside = [n for n in lab.listdir(HOST, vmx_path(vm).rsplit("/", 1)[0]) if "nestedvirt" in n]
        outcome[point] = {"vm": vm, "before": before, "killed": killed, "after_kill": power(lab, vm), "beside": beside}
    names = [vm for vm, _label in POINTS.values() if vm != "kill-guest"]
    rerun = nesting_run(lab, tmp_path, HOST, names)
    # The killed run never got to verify its guest, and the next has nothing left to change: it is
    # asked to verify every running guest (by default it verifies the ones it power-cycles).
    guest_rerun = lab.playbook(tmp_path, PLAYBOOK, dict(guest, nestedvirt_verify="all"))
    vms = lab.vms(HOST)
    for record in outcome.values():
        vm = record["vm"]
        raw = lab.read(HOST, vmx_path(vm))
        record.update(
            rerun=guest_rerun if vm == "kill-guest" else rerun,
            final=vms[vm]["power"],
            nested=vms[vm]["nested_hv_enabled"],
            vmx_ok=VmxDocument.parse(raw.decode()).get("vhv.enable") == "TRUE",
            left=[n for n in lab.listdir(HOST, vmx_path(vm).rsplit("/", 1)[0]) if "nestedvirt" in n],
        )
    return outcome


def _kill(lab, tmp_path, point, vm):
    return lab.playbook_killed(tmp_path, PLAYBOOK, HOST, _when(lab, point), extra_vars=nesting_vars(HOST, [vm]))


def _case(point):
    marks = [pytest.mark.case(point, "The controller is killed at: %s" % POINTS[point][1], promise="interrupt")]
    return pytest.param(point, marks=marks, id=point)


@pytest.mark.parametrize("point", [_case(point) for point in POINTS])
def test_interrupted_run_then_run_again(interrupted, case, point):
    record = interrupted[point]
    vm = record["vm"]
    case.inject(
        "the enable-nesting playbook on VM %s (%s), SIGKILL to ansible-playbook and its workers as soon as the lab"
        " shows %s" % (vm, "a real Linux guest" if vm == "kill-guest" else "no guest", POINTS[point][1])
    )
    case.observe(
        "killed: %s; the VM was %s before the run and %s after the kill; beside its .vmx after the kill: %s"
        % (
            "yes" if record["killed"] else "NO (the run ended first)",
            record["before"],
            record["after_kill"],
            record["beside"] or "nothing",
        )
    )
    rerun = record["rerun"]
    seen = next((r for name, r in rerun.results.items() if name.endswith("Sum up what the guest shows")), {})
    shown = seen.get("ansible_facts", {}).get("verify_result", {})
    verified = shown.get("virtualization_flag") == "svm" and shown.get("kvm") is True
    case.observe(
        "the next run: rc %d; the VM is %s, nesting %s in hostd, vhv.enable %s in its .vmx, left beside it: %s%s"
        % (
            rerun.rc,
            record["final"],
            "on" if record["nested"] else "OFF",
            "TRUE" if record["vmx_ok"] else "MISSING",
            record["left"] or "nothing",
            "; inside the guest: %s" % ("svm and a working /dev/kvm" if verified else "NOT VERIFIED")
            if vm == "kill-guest"
            else "",
        )
    )
    case.vms_left_down = int(record["before"] == "poweredOn" and record["final"] != "poweredOn")
    case.files_lost = int(not record["vmx_ok"]) + len(record["left"])
    assert record["killed"]
    assert rerun.rc == 0, rerun.output[-3000:]
    assert record["vmx_ok"] and record["nested"] and not record["left"]
    assert record["final"] == "poweredOn"
    if vm == "kill-guest":
        assert verified
