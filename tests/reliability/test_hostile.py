"""Hostile VM names and values: never run as a command on the host or on the controller, and they
come back exactly as they went in."""

from __future__ import annotations

import glob
import os

import pytest
from lab_config import (
    CANARY_DIR,
    CANARY_PREFIX,
    HOSTILE_NAME,
    HOSTILE_VALUES,
    JINJA_ANNOTATION,
    JINJA_NAME,
    LONG_NAME,
    NEWLINE_NAME,
    SPOOF_ANNOTATION,
    SPOOF_VMID,
)
from rlab import code, failure_message, nesting_run, normalize, play, vmx_task

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxDocument

pytestmark = pytest.mark.lab

HOST = "r67"


def canaries(lab):
    """Canary files on the controller and inside each simulated host."""
    found = sorted(glob.glob("%s/%s*" % (CANARY_DIR, CANARY_PREFIX)))
    for host in lab.hostvars:
        if lab.hostvars[host].get("esxilab_ssh_at_start") is False:
            continue
        done = lab.sh(host, "ls %s 2>/dev/null | grep '^%s' || true" % (CANARY_DIR, CANARY_PREFIX))
        found += ["%s:%s/%s" % (host, CANARY_DIR, name) for name in done.stdout.decode().split()]
    return found


@pytest.fixture
def clean_canaries():
    for path in glob.glob("%s/%s*" % (CANARY_DIR, CANARY_PREFIX)):
        os.unlink(path)


def facts(lab, tmp_path):
    run = lab.playbook(tmp_path, play(HOST, [{"name": "facts", "nestedvirt.esxi.host_facts": {}}]))
    assert run.rc == 0, run.output[-2000:]
    return {vm["name"]: vm for vm in run["facts"]["ansible_facts"]["nestedvirt_esxi"]["vms"]}


LABELS = {
    HOSTILE_NAME: "quotes, $(), backticks, ;, |, &&, > and unicode",
    NEWLINE_NAME: "a newline",
    LONG_NAME: "4 KiB of $(), backticks, | and unicode",
}


@pytest.mark.case("F1", "Hostile VM names through the whole role", promise="injection")
def test_hostile_names_through_the_role(lab, case, tmp_path, clean_canaries):
    names = [HOSTILE_NAME, NEWLINE_NAME, LONG_NAME]
    for name in names:
        case.inject("a running VM whose name has %s: %s" % (LABELS[name], code(name)))
    run = nesting_run(lab, tmp_path, HOST, names)
    found = canaries(lab)
    vms = lab.vms(HOST)
    listed = facts(lab, tmp_path)
    case.observe("the role ran on all three by name: rc %d%s" % (run.rc, normalize(" " + failure_message(run), lab)))
    for name in names:
        vm = vms.get(name, {})
        case.observe(
            "the name with %s: host_info gives it back %s; the VM is %s with nesting %s"
            % (
                LABELS[name],
                "exactly" if name in listed else "NOT EXACTLY",
                vm.get("power"),
                "on" if vm.get("nested_hv_enabled") else "OFF",
            )
        )
    case.observe("canary files on the controller or the hosts: %s" % (found or "none"))
    case.injections_executed = len(found)
    case.vms_left_down = sum(vms.get(name, {}).get("power") != "poweredOn" for name in names)
    assert not found
    assert run.rc == 0, run.output[-3000:]
    assert all(name in listed for name in names)
    assert all(vms[name]["power"] == "poweredOn" and vms[name]["nested_hv_enabled"] for name in names)


@pytest.mark.case("F2", "Hostile .vmx values: quotes, $(), backticks, |, newlines, unicode, 4 KiB", promise="injection")
def test_hostile_values_round_trip(lab, case, tmp_path, clean_canaries):
    for key, value in HOSTILE_VALUES.items():
        case.inject("%s = %s" % (key, code(value)))
    task = vmx_task("edit", vm="values-vm", settings=HOSTILE_VALUES)
    written = lab.playbook(tmp_path, play(HOST, [task]))
    again = lab.playbook(tmp_path, play(HOST, [dict(task, check_mode=True)]))
    raw = lab.read(HOST, "/vmfs/volumes/datastore1/values-vm/values-vm.vmx").decode()
    document = VmxDocument.parse(raw)
    exact = all(document.get(key) == value for key, value in HOSTILE_VALUES.items())
    reported = {key: v["before"] for key, v in again["edit"].get("key_values", {}).items()}
    found = canaries(lab)
    case.observe(
        "written (rc %d, hostd reloaded it: %s); read back by the module %s and from the file %s; a second run "
        "changes nothing (changed=%s)"
        % (
            written.rc,
            written["edit"].get("reloaded"),
            "exactly" if reported == HOSTILE_VALUES else "NOT EXACTLY",
            "exactly" if exact else "NOT EXACTLY",
            again["edit"].get("changed"),
        )
    )
    case.observe(
        "in the file every value stays on its own line, escaped as VMware does (%s)"
        % ", ".join(sorted({seq for seq in ("|22", "|7C", "|0A", "|0D", "|09") if seq in raw}))
    )
    case.observe("canary files on the controller or the hosts: %s" % (found or "none"))
    case.injections_executed = len(found)
    case.files_lost = int(not exact)
    assert not found and written.rc == 0 and again.rc == 0
    assert exact and reported == HOSTILE_VALUES and again["edit"]["changed"] is False
    assert all("\n" not in line and "\r" not in line for line in raw.split("\n"))


@pytest.mark.case("F3", "Jinja in a VM name and annotation, on the controller", promise="injection")
def test_jinja_in_names(lab, case, tmp_path, clean_canaries):
    case.inject("a running VM named %s, annotation %s" % (code(JINJA_NAME), code(JINJA_ANNOTATION)))
    case.inject("the VM is discovered by host_info and changed by the role, its name given by the admin as !unsafe")
    run = nesting_run(lab, tmp_path, HOST, [JINJA_NAME])
    listed = facts(lab, tmp_path)
    found = canaries(lab)
    vm = lab.vms(HOST)[JINJA_NAME]
    case.observe(
        "rc %d; the VM is %s with nesting %s; host_info gives back the name %s and the annotation %s"
        % (
            run.rc,
            vm["power"],
            "on" if vm["nested_hv_enabled"] else "OFF",
            "verbatim" if JINJA_NAME in listed else "ALTERED",
            "verbatim" if listed.get(JINJA_NAME, {}).get("annotation") == JINJA_ANNOTATION else "ALTERED",
        )
    )
    case.observe("canary files on the controller or the hosts: %s" % (found or "none"))
    case.injections_executed = len(found)
    case.vms_left_down = int(vm["power"] != "poweredOn")
    assert not found
    assert run.rc == 0, run.output[-3000:]
    assert listed[JINJA_NAME]["annotation"] == JINJA_ANNOTATION


@pytest.mark.case("F4", "An annotation forged to look like another VM's getallvms row", promise="injection")
def test_spoofed_row(lab, case, tmp_path):
    case.inject(
        "VM spoofer's annotation has a second line %s: the row of a VM 'bystander' (a real VM's name) at"
        " spoofer's .vmx, vmid %d (none)" % (code((SPOOF_ANNOTATION % SPOOF_VMID).split("\n")[1]), SPOOF_VMID)
    )
    listed = facts(lab, tmp_path)
    real = str(lab.vms(HOST)["bystander"]["vmid"])
    task = {"name": "power", "nestedvirt.esxi.vm_power": {"name": "bystander", "state": "poweredon"}}
    run = lab.playbook(
        tmp_path, play(HOST, [{"name": "facts", "nestedvirt.esxi.host_facts": {}}, dict(task, check_mode=True)])
    )
    case.observe(
        "host_info lists %d VM named bystander, no vmid %d, and spoofer's annotation %s"
        % (
            sum(1 for name in listed if name == "bystander"),
            SPOOF_VMID,
            "verbatim" if listed["spoofer"]["annotation"] == SPOOF_ANNOTATION % SPOOF_VMID else "ALTERED",
        )
    )
    case.observe(
        "a task on VM bystander (vm_power, check mode) acts on vmid %s, %s"
        % (run["power"].get("vmid"), "the real bystander" if run["power"].get("vmid") == real else "NOT the real one")
    )
    assert not any(vm["vmid"] == str(SPOOF_VMID) for vm in listed.values())
    assert listed["spoofer"]["annotation"] == SPOOF_ANNOTATION % SPOOF_VMID
    assert run.rc == 0 and run["power"]["vmid"] == real
