"""ssh_service and vm_nested_hv end to end: ansible-playbook -> the modules -> the lab's vSphere
simulator -> the lab host's hostd, sshd and VMs. Checks look at the lab itself (hostd's view of
each VM, the SSH port), not only at what the modules report.
"""

import json
import time

import pytest
from harness.ports import port_open
from vsphere_lab import api

pytestmark = pytest.mark.lab

FREE_MESSAGE = "the host's license (the free ESXi / vSphere Hypervisor license) makes its vSphere API read-only"
DCUI = "DCUI (Troubleshooting Options > Enable SSH)"
HOST_CLIENT = "Host Client (Host > Actions > Services > Enable Secure Shell (SSH))"


def wait_port(address, is_open, timeout=15.0):
    deadline = time.monotonic() + timeout
    while port_open(address) != is_open:
        assert time.monotonic() < deadline, "port 22 on %s still %s" % (address, "closed" if is_open else "open")
        time.sleep(0.1)


# --- ssh_service --------------------------------------------------------------------------------------


def test_ssh_service_check_apply_idempotent_restore(lab, tmp_path):
    address = lab.address("lic70")
    assert lab.ssh_service("lic70") == {"running": False, "policy": "off"}
    assert not port_open(address)

    checked = lab.playbook(
        "lic70", [api("ssh_service", "checked", check_mode=True, state="started")], tmp_path=tmp_path
    )
    assert checked.rc == 0, checked.output
    assert checked["checked"]["changed"] is True
    assert checked["checked"]["before"] == {"state": "stopped", "policy": "off"}
    assert checked["checked"]["after"] == {"state": "started", "policy": "off"}
    assert lab.ssh_service("lic70") == {"running": False, "policy": "off"}
    assert not port_open(address)

    tasks = [
        api("ssh_service", "started", state="started"),
        {
            "name": "ssh_answers",
            "ansible.builtin.wait_for": {"host": "{{ ansible_host }}", "port": 22, "timeout": 20},
            "delegate_to": "localhost",
        },
        {"name": "over_ssh", "ansible.builtin.raw": "vmware -v"},
        api("ssh_service", "again", state="started"),
    ]
    applied = lab.playbook("lic70", tasks, "--diff", tmp_path=tmp_path)
    assert applied.rc == 0, applied.output
    assert applied["started"]["changed"] is True
    assert applied["started"]["before"] == {"state": "stopped", "policy": "off"}
    assert applied["started"]["after"] == {"state": "started", "policy": "off"}
    assert applied["started"]["host"] == "lic70"
    assert '-    "state": "stopped"' in applied.output and '+    "state": "started"' in applied.output
    assert applied["over_ssh"]["stdout"].startswith("VMware ESXi 7.0.3 build-20328353")
    assert applied["again"]["changed"] is False
    assert lab.ssh_service("lic70") == {"running": True, "policy": "off"}
    assert port_open(address)

    # What a play does at its end: give back what was found.
    tasks = [
        api("ssh_service", "policy_on", policy="on"),
        api("ssh_service", "restored", state="{{ found.state }}", policy="{{ found.policy }}"),
        api("ssh_service", "restored_again", state="{{ found.state }}", policy="{{ found.policy }}"),
    ]
    found = applied["started"]["before"]
    restored = lab.playbook("lic70", tasks, "-e", json.dumps({"found": found}), tmp_path=tmp_path)
    assert restored.rc == 0, restored.output
    assert restored["policy_on"]["changed"] is True
    assert restored["policy_on"]["after"] == {"state": "started", "policy": "on"}
    assert restored["restored"]["changed"] is True
    assert restored["restored"]["after"] == {"state": "stopped", "policy": "off"}
    assert restored["restored_again"]["changed"] is False
    assert lab.ssh_service("lic70") == {"running": False, "policy": "off"}
    wait_port(address, False)


def test_ssh_service_free_license_names_the_manual_ways(lab, tmp_path):
    run = lab.playbook(
        "free80", [api("ssh_service", "refused", ignore_errors=True, state="started")], tmp_path=tmp_path
    )
    message = run["refused"]["msg"]
    assert run["refused"]["failed"] is True
    assert message.startswith(
        "%s:443: %s, so starting service TSM-SSH was refused" % (lab.address("free80"), FREE_MESSAGE)
    )
    assert "(RestrictedVersion)" in message
    assert DCUI in message and HOST_CLIENT in message
    assert "nestedvirt.esxi.vmx" in message
    assert lab.ssh_service("free80") == {"running": False, "policy": "off"}
    assert not port_open(lab.address("free80"))


def test_ssh_service_reads_on_a_free_host(lab, tmp_path):
    run = lab.playbook("free80", [api("ssh_service", "read")], tmp_path=tmp_path)
    assert run.rc == 0, run.output
    assert run["read"]["changed"] is False
    assert run["read"]["before"] == run["read"]["after"] == {"state": "stopped", "policy": "off"}


# --- vm_nested_hv ---------------------------------------------------------------------------------------


def test_nested_hv_on_a_powered_off_vm(lab, tmp_path):
    assert lab.vm("lic70", "off vm")["nested_hv_enabled"] is False
    checked = lab.playbook(
        "lic70", [api("vm_nested_hv", "checked", check_mode=True, name="off vm")], "--diff", tmp_path=tmp_path
    )
    assert checked.rc == 0, checked.output
    assert checked["checked"]["changed"] is True
    assert checked["checked"]["after"] == {
        "nested_hv_enabled": True,
        "vpmc_enabled": False,
        "iommu_enabled": False,
        "vbs_enabled": False,
    }
    assert '-    "nested_hv_enabled": false' in checked.output and '+    "nested_hv_enabled": true' in checked.output
    assert lab.vm("lic70", "off vm")["nested_hv_enabled"] is False

    calls = len(lab.api_calls("lic70"))
    tasks = [api("vm_nested_hv", "applied", name="off vm"), api("vm_nested_hv", "again", name="off vm")]
    run = lab.playbook("lic70", tasks, tmp_path=tmp_path)
    assert run.rc == 0, run.output
    applied, again = run["applied"], run["again"]
    assert applied["changed"] is True and applied["power_cycled"] is False
    assert applied["before"] == {
        "nested_hv_enabled": False,
        "vpmc_enabled": False,
        "iommu_enabled": False,
        "vbs_enabled": False,
    }
    assert applied["after"] == {
        "nested_hv_enabled": True,
        "vpmc_enabled": False,
        "iommu_enabled": False,
        "vbs_enabled": False,
    }
    assert applied["vm"]["name"] == "off vm" and applied["vm"]["power_state"] == "poweredOff"
    assert applied["vm"]["vmx_path"] == "[datastore1] off vm/off vm.vmx"
    assert applied["vm"]["hardware_version"] == "vmx-19" and applied["vm"]["host"] == "lic70"
    assert again["changed"] is False and again["after"] == applied["after"]
    vm = lab.vm("lic70", "off vm")
    assert vm["nested_hv_enabled"] is True and vm["power"] == "poweredOff"
    # One write reached the host; the second run wrote nothing.
    assert ['"lab" "set_vmx" "%d" "vhv.enable" "TRUE"' % vm["vmid"] in c for c in lab.api_calls("lic70")[calls:]] == [
        True
    ]


def test_power_cycle_ends_running_with_nesting(lab, tmp_path):
    vm = lab.vm("lic70", "on vm")
    assert vm["power"] == "poweredOn" and vm["nested_hv_enabled"] is False
    checked = lab.playbook(
        "lic70", [api("vm_nested_hv", "checked", check_mode=True, name="on vm", power_cycle=True)], tmp_path=tmp_path
    )
    assert checked.rc == 0, checked.output
    assert checked["checked"]["changed"] is True and checked["checked"]["power_cycled"] is True
    assert checked["checked"]["power_operations"] == ["shutdown", "on"]
    assert lab.vm("lic70", "on vm")["power"] == "poweredOn"
    assert lab.vm("lic70", "on vm")["nested_hv_enabled"] is False

    calls = len(lab.api_calls("lic70"))
    tasks = [
        api("vm_nested_hv", "applied", name="on vm", power_cycle=True, shutdown_timeout=30),
        api("vm_nested_hv", "again", name="on vm", power_cycle=True),
    ]
    started = time.monotonic()
    run = lab.playbook("lic70", tasks, tmp_path=tmp_path)
    took = time.monotonic() - started
    assert run.rc == 0, run.output
    applied, again = run["applied"], run["again"]
    assert applied["changed"] is True
    assert applied["power_cycled"] is True and applied["power_operations"] == ["shutdown", "on"]
    assert applied["vm"]["power_state"] == "poweredOn"
    assert applied["after"]["nested_hv_enabled"] is True
    assert again["changed"] is False and again["power_cycled"] is False and again["power_operations"] == []
    vm = lab.vm("lic70", "on vm")
    assert vm["power"] == "poweredOn" and vm["nested_hv_enabled"] is True
    vmid = vm["vmid"]
    assert [c for c in lab.api_calls("lic70")[calls:] if '"%d"' % vmid in c] == [
        '["vim-cmd" "vmsvc/power.shutdown" "%d"] -> rc=0 <nil>' % vmid,
        '["lab" "set_vmx" "%d" "vhv.enable" "TRUE"] -> rc=0 <nil>' % vmid,
        '["vim-cmd" "vmsvc/power.on" "%d"] -> rc=0 <nil>' % vmid,
    ]
    assert took < 20, "a 0.5 s guest shutdown took %.1f s end to end" % took


def test_guest_that_ignores_shutdown(lab, tmp_path):
    refused = lab.playbook(
        "lic70",
        [api("vm_nested_hv", "timeout", ignore_errors=True, name="timid", power_cycle=True, shutdown_timeout=2)],
        tmp_path=tmp_path,
    )
    assert refused["timeout"]["msg"] == (
        "VM 'timid' did not power off within 2 s of its guest being asked to shut down; nothing was changed "
        "(the guest may still be shutting down, and the VM then stays off). Raise shutdown_timeout, or set "
        "force: true to power it off hard after the timeout."
    )
    vm = lab.vm("lic70", "timid")
    assert vm["power"] == "poweredOn" and vm["nested_hv_enabled"] is False

    task = api("vm_nested_hv", "hard", name="stubborn", power_cycle=True, shutdown_timeout=2, force=True)
    run = lab.playbook("lic70", [task], tmp_path=tmp_path)
    assert run.rc == 0, run.output
    assert run["hard"]["changed"] is True and run["hard"]["power_operations"] == ["shutdown", "off", "on"]
    vm = lab.vm("lic70", "stubborn")
    assert vm["power"] == "poweredOn" and vm["nested_hv_enabled"] is True


def test_vm_without_tools(lab, tmp_path):
    refused = lab.playbook(
        "lic70",
        [api("vm_nested_hv", "refused", ignore_errors=True, name="no tools", power_cycle=True)],
        tmp_path=tmp_path,
    )
    message = refused["refused"]["msg"]
    assert message.startswith("asking the guest of VM 'no tools' to shut down failed: VMware Tools is not running")
    assert message.endswith("Nothing was changed: shut the VM down yourself, or set force: true to power it off hard.")
    assert lab.vm("lic70", "no tools")["power"] == "poweredOn"

    run = lab.playbook(
        "lic70",
        [api("vm_nested_hv", "hard", name="no tools", power_cycle=True, force=True, vpmc_enabled=True)],
        tmp_path=tmp_path,
    )
    assert run.rc == 0, run.output
    assert run["hard"]["power_operations"] == ["shutdown", "off", "on"]
    assert run["hard"]["after"] == {
        "nested_hv_enabled": True,
        "vpmc_enabled": True,
        "iommu_enabled": False,
        "vbs_enabled": False,
    }
    vm = lab.vm("lic70", "no tools")
    assert vm["power"] == "poweredOn" and vm["nested_hv_enabled"] is True


def test_iommu_goes_through_the_flags_and_vbs_is_refused_before_any_change(lab, tmp_path):
    """iommu_enabled reaches the simulator as ConfigSpec.flags.vvtdEnabled and is read back; vbs on a
    VM without EFI secure boot is refused naming what is missing, and nothing reaches the host."""
    tasks = [
        api("vm_nested_hv", "iommu", name="off vm", iommu_enabled=True),
        api("vm_nested_hv", "iommu_again", name="off vm", iommu_enabled=True),
    ]
    run = lab.playbook("lic70", tasks, tmp_path=tmp_path)
    assert run.rc == 0, run.output
    assert run["iommu"]["changed"] is True and run["iommu"]["after"]["iommu_enabled"] is True
    assert run["iommu_again"]["changed"] is False

    calls, nested = len(lab.api_calls("lic70")), lab.vm("lic70", "off vm")["nested_hv_enabled"]
    vbs_task = api("vm_nested_hv", "vbs", ignore_errors=True, name="off vm", nested_hv_enabled=False, vbs_enabled=True)
    vbs = lab.playbook("lic70", [vbs_task], tmp_path=tmp_path)["vbs"]
    assert vbs["failed"] and vbs["reason"] == "vbs_preconditions"
    for missing in ("EFI firmware", "EFI secure boot", "nested hardware virtualization on", "nothing was changed"):
        assert missing in vbs["msg"]
    assert lab.api_calls("lic70")[calls:] == []
    assert lab.vm("lic70", "off vm")["nested_hv_enabled"] is nested


def test_each_obstacle_has_its_own_message(lab, tmp_path):
    tasks = [
        api("vm_nested_hv", "running", ignore_errors=True, name="running"),
        api("vm_nested_hv", "old_hw", ignore_errors=True, name="old hw"),
        api("vm_nested_hv", "twins", ignore_errors=True, name="twin"),
        api("vm_nested_hv", "missing", ignore_errors=True, name="of vm"),
        api("vm_nested_hv", "bad_moid", ignore_errors=True, moid="999"),
        api("vm_nested_hv", "wrong_password", ignore_errors=True, name="off vm", password="not-the-password"),  # noqa: S106
        api("vm_nested_hv", "untrusted", ignore_errors=True, name="off vm", ca_file="{{ omit }}"),
        api("vm_nested_hv", "closed_port", ignore_errors=True, name="off vm", port=1),
    ]
    run = lab.playbook("lic70", tasks, tmp_path=tmp_path)
    endpoint = "%s:443" % lab.address("lic70")
    msg = {name: result["msg"] for name, result in run.results.items()}
    assert msg["running"].startswith(
        "VM 'running' is powered on; nestedHVEnabled can only change while it is powered off"
    )
    assert msg["old_hw"] == (
        "VM 'old hw' has virtual hardware version 8 (vmx-08); nested HV needs 9 or later. Upgrade it while the VM is "
        "powered off (Host Client: Actions > Upgrade VM Compatibility; over SSH: vim-cmd vmsvc/upgrade %d vmx-09)."
        % lab.vm("lic70", "old hw")["vmid"]
    )
    assert msg["twins"].startswith("%s: 2 VMs are named 'twin': moid " % endpoint)
    assert msg["twins"].endswith("select one with moid")
    assert msg["missing"] == "%s: no VM named 'of vm' (did you mean 'off vm' or 'on vm'?)" % endpoint
    assert msg["bad_moid"] == "%s: no VM with moid '999'" % endpoint
    assert msg["wrong_password"] == (
        "%s: login refused, the user name or password is wrong: Cannot complete login due to an incorrect user "
        "name or password (InvalidLogin)." % endpoint
    )
    assert msg["untrusted"].startswith("%s: the TLS certificate is not trusted (self-signed certificate)" % endpoint)
    assert msg["closed_port"] == "%s:1: connection refused; is the host up and the port right?" % lab.address("lic70")
    assert lab.vm("lic70", "running")["nested_hv_enabled"] is False
    assert lab.vm("lic70", "running")["power"] == "poweredOn"

    other = lab.playbook("nohv55", [api("vm_nested_hv", "nohv", ignore_errors=True, name="nohv vm")], tmp_path=tmp_path)
    assert "capability.nestedHVSupported is false" in other["nohv"]["msg"]
    old = lab.playbook("esxi50", [api("vm_nested_hv", "v50", ignore_errors=True, name="vm50")], tmp_path=tmp_path)
    assert old["v50"]["msg"].startswith("the host speaks vSphere API 5.0: ESXi 5.0 has no per-VM nested HV setting")


def test_free_license_points_at_the_ssh_path(lab, tmp_path):
    tasks = [
        api("vm_nested_hv", "off", ignore_errors=True, name="free off"),
        api("vm_nested_hv", "on", ignore_errors=True, name="free on", power_cycle=True),
    ]
    run = lab.playbook("free80", tasks, tmp_path=tmp_path)
    endpoint = "%s:443" % lab.address("free80")
    off, on = run["off"]["msg"], run["on"]["msg"]
    assert off.startswith("%s: %s, so reconfiguring VM 'free off' was refused" % (endpoint, FREE_MESSAGE))
    assert off.endswith(
        'Use the SSH path instead, which the license does not restrict: run nestedvirt.esxi.vmx with vm: "free off" '
        "and settings: {vhv.enable: true} (it edits the .vmx of the powered-off VM and has hostd reload it). SSH must "
        "be on for that; on this license turn it on with %s or in the %s." % (DCUI, HOST_CLIENT)
    )
    # The running VM: refused at the first write (the shutdown), so it is still running.
    assert on.startswith(
        "%s: %s, so asking the guest of VM 'free on' to shut down was refused" % (endpoint, FREE_MESSAGE)
    )
    assert "shut it down with nestedvirt.esxi.vm_power (state: shutdown), then run nestedvirt.esxi.vmx" in on
    assert lab.vm("free80", "free on")["power"] == "poweredOn"
    assert lab.vm("free80", "free off")["nested_hv_enabled"] is False


def test_verbose_output_never_shows_the_password(lab, tmp_path):
    tasks = [
        api("ssh_service", "read"),
        api("vm_nested_hv", "nested", name="off vm", nested_hv_enabled=True),
        api("vm_nested_hv", "failing", ignore_errors=True, name="old hw"),
        api("vm_nested_hv", "untrusted", ignore_errors=True, name="off vm", ca_file="{{ omit }}"),
    ]
    run = lab.playbook("lic70", tasks, "-vvv", "--diff", tmp_path=tmp_path)
    assert run["read"]["changed"] is False and run["failing"]["failed"] is True
    password = lab.password("lic70")
    assert len(password) >= 16 and password not in run.output
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.output  # the invocation was shown, masked
    free = lab.playbook(
        "free80", [api("ssh_service", "refused", ignore_errors=True, state="started")], "-vvv", tmp_path=tmp_path
    )
    assert free["refused"]["failed"] is True
    assert lab.password("free80") not in free.output
