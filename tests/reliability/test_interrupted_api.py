"""The controller is killed in the middle of the API path's power cycle (method api: no SSH at all);
the next run must reach the right end state: the VM on, nesting on, no restart marker left.

The API path's restart marker is the VM's extraConfig key nestedvirt.powerOnPending, written before
the shutdown and removed after the boot; the next run's read of the host finds it."""

from __future__ import annotations

import ssl

import pytest
from rlab import PLAYBOOK, nesting_vars

pytestmark = pytest.mark.lab

HOST = "rapi"
MARKER = "nestedvirt.powerOnPending"

# (VM, what the kill waits for, as the report says it)
POINTS = {
    "I5": ("kill-api-down", "the VM powered off by the API path's shutdown (before its reconfiguration)"),
    "I6": ("kill-api-set", "the VM reconfigured through the API (nesting on, still off, before the power-on)"),
}


def _when(lab, point):
    vm = POINTS[point][0]

    def reached(_commands):  # the API path runs no SSH command: the lab's own view of the VM says
        found = lab.vms(HOST)[vm]
        return found["power"] == "poweredOff" and (point == "I5" or found["nested_hv_enabled"])

    return reached


def marker(lab, vm):
    """The VM's restart marker as the host's vSphere API shows it (None: absent)."""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    hostvars = lab.hostvars[HOST]
    password = (lab.state / "secrets" / ("%s.api_password" % HOST)).read_text().strip()
    context = ssl.create_default_context(cafile=hostvars["nestedvirt_api_ca_file"])
    si = SmartConnect(host=hostvars["nestedvirt_api_hostname"], user="root", pwd=password, sslContext=context)
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        found = next(each for each in view.view if each.name == vm)
        return next((o.value for o in found.config.extraConfig or () if o.key == MARKER and o.value), None)
    finally:
        Disconnect(si)


@pytest.fixture(scope="module")
def interrupted_api(lab, tmp_path_factory):
    """Each point's run killed, then one run for both VMs."""
    tmp_path = tmp_path_factory.mktemp("interrupted-api")
    outcome = {}
    for point, (vm, _label) in POINTS.items():
        before = lab.power(HOST, vm)
        extra = nesting_vars(HOST, [vm], enable_nesting_method="api")
        killed = lab.playbook_killed(tmp_path, PLAYBOOK, HOST, _when(lab, point), extra_vars=extra)
        outcome[point] = {
            "vm": vm,
            "before": before,
            "killed": killed,
            "after_kill": lab.power(HOST, vm),
            "marker_after_kill": marker(lab, vm),
        }
    names = [vm for vm, _label in POINTS.values()]
    seen = len(lab.commands(HOST))
    rerun = lab.playbook(tmp_path, PLAYBOOK, nesting_vars(HOST, names, enable_nesting_method="api"))
    ssh_commands = len(lab.commands(HOST)) - seen
    vms = lab.vms(HOST)
    for record in outcome.values():
        vm = record["vm"]
        record.update(
            rerun=rerun,
            ssh_commands=ssh_commands,
            final=vms[vm]["power"],
            nested=vms[vm]["nested_hv_enabled"],
            marker=marker(lab, vm),
        )
    return outcome


def _case(point):
    marks = [
        pytest.mark.case(point, "API path: the controller is killed at %s" % POINTS[point][1], promise="interrupt")
    ]
    return pytest.param(point, marks=marks, id=point)


@pytest.mark.parametrize("point", [_case(point) for point in POINTS])
def test_interrupted_api_run_then_run_again(interrupted_api, case, point):
    record = interrupted_api[point]
    vm = record["vm"]
    case.inject(
        "the enable-nesting playbook with enable_nesting_method=api on VM %s of host %s (SSH off), SIGKILL to"
        " ansible-playbook and its workers as soon as the lab shows %s" % (vm, HOST, POINTS[point][1])
    )
    case.observe(
        "killed: %s; the VM was %s before the run and %s after the kill; its restart marker after the kill: %s"
        % (
            "yes" if record["killed"] else "NO (the run ended first)",
            record["before"],
            record["after_kill"],
            record["marker_after_kill"] or "none",
        )
    )
    rerun = record["rerun"]
    case.observe(
        "the next run (method api): rc %d, %d SSH commands on the host; the VM is %s, nesting %s in hostd, restart"
        " marker %s"
        % (
            rerun.rc,
            record["ssh_commands"],
            record["final"],
            "on" if record["nested"] else "OFF",
            record["marker"] or "gone",
        )
    )
    case.vms_left_down = int(record["before"] == "poweredOn" and record["final"] != "poweredOn")
    assert record["killed"] and record["after_kill"] == "poweredOff" and record["marker_after_kill"]
    assert rerun.rc == 0, rerun.output[-3000:]
    assert record["ssh_commands"] == 0
    assert record["final"] == "poweredOn" and record["nested"] and record["marker"] is None
