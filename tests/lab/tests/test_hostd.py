"""hostd's semantics over SSH: power state machine, cached configuration, nesting rules, faults,
the command log and the private `lab` door the vSphere simulator uses."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

ESXILAB = Path(__file__).resolve().parents[1] / "esxilab"

pytestmark = pytest.mark.lab

H = "esxi55"


def vmx_path(lab, host: str, vmid: int) -> str:
    vm = next(v for v in lab.host(host).vms if v.vmid == vmid)
    return f"/vmfs/volumes/{vm.datastore}/{vm.path}"


def names(lab, host: str) -> dict[int, str]:
    return {v["vmid"]: v["name"] for v in json.loads(lab.hostd(host, "lab", "inventory")[1])["vms"]}


# --- power state machine ------------------------------------------------------------------------


def test_power_state_machine(lab):
    vmid = 201
    assert lab.power(H, vmid) == "Powered off"
    r = lab.ssh(H, f"vim-cmd vmsvc/power.shutdown {vmid}")
    assert r.returncode == 1 and 'existingState = "poweredOff"' in r.stdout
    r = lab.ssh(H, f"vim-cmd vmsvc/power.off {vmid}")
    assert r.returncode == 1 and "(Powered Off)." in r.stdout
    assert lab.ssh(H, f"vim-cmd vmsvc/power.on {vmid}").stdout == "Powering on VM:\n"
    assert lab.power(H, vmid) == "Powered on"
    assert lab.ssh(H, f"vim-cmd vmsvc/power.off {vmid}").stdout == "Powering off VM:\n"
    assert lab.power(H, vmid) == "Powered off"
    lab.ssh(H, f"vim-cmd vmsvc/power.on {vmid}", check=True)
    t0 = time.monotonic()
    r = lab.ssh(H, f"vim-cmd vmsvc/power.shutdown {vmid}; vim-cmd vmsvc/power.getstate {vmid}")
    assert r.returncode == 0 and r.stdout == "Retrieved runtime info\nPowered on\n"  # returns at once
    lab.wait_power(H, vmid, "Powered off", timeout=10)
    assert time.monotonic() - t0 < 5


def test_shutdown_without_tools_fails_and_vm_stays_on(lab):
    r = lab.ssh(H, "vim-cmd vmsvc/power.shutdown 202; echo rc=$?")
    assert "rc=1" in r.stdout and "ToolsUnavailable" in r.stdout
    assert lab.power(H, 202) == "Powered on"


# --- cached configuration ----------------------------------------------------------------------


def test_cache_is_read_only_on_reload(lab):
    path = vmx_path(lab, H, 210)
    lab.ssh(H, f"sed -i 's/^displayName = .*/displayName = \"cache a renamed\"/' '{path}'", check=True)
    assert names(lab, H)[210] == "cache a"
    assert "cache a renamed" not in lab.ssh(H, "vim-cmd vmsvc/getallvms").stdout
    assert lab.ssh(H, "vim-cmd vmsvc/reload 210").stdout == ""
    assert names(lab, H)[210] == "cache a renamed"
    assert '   name = "cache a renamed",' in lab.ssh(H, "vim-cmd vmsvc/get.config 210").stdout


def test_edit_while_running_is_reverted_at_power_off(lab):
    path = vmx_path(lab, H, 211)
    lab.ssh(H, f"echo 'vhv.enable = \"TRUE\"' >> '{path}' && vim-cmd vmsvc/reload 211", check=True)
    assert "vhv.enable" in lab.ssh(H, f"cat '{path}'").stdout
    lab.ssh(H, "vim-cmd vmsvc/power.off 211", check=True)
    assert "vhv.enable" not in lab.ssh(H, f"cat '{path}'").stdout
    assert "nestedHVEnabled = false" in lab.ssh(H, "vim-cmd vmsvc/get.config 211").stdout


def test_edit_without_reload_is_lost_at_the_next_write(lab):
    path = vmx_path(lab, H, 212)
    lab.ssh(H, f"echo 'vhv.enable = \"TRUE\"' >> '{path}' && vim-cmd vmsvc/power.on 212", check=True)
    assert lab.vm_status(H, 212)["nested_now"] is True  # the VMX read the file
    lab.ssh(H, "vim-cmd vmsvc/power.off 212", check=True)
    assert "vhv.enable" not in lab.ssh(H, f"cat '{path}'").stdout  # hostd wrote its stale cache


def test_nesting_rules(lab):
    for vmid, nested in ((220, False), (221, True)):  # virtual hardware below 9 ignores vhv.enable
        lab.ssh(H, f"vim-cmd vmsvc/power.on {vmid}", check=True)
        assert lab.vm_status(H, vmid)["nested_now"] is nested
        lab.ssh(H, f"vim-cmd vmsvc/power.off {vmid}", check=True)
    lab.ssh("esxi55x", "vim-cmd vmsvc/power.on 1", check=True)  # host CPU without EPT/RVI: never
    assert lab.vm_status("esxi55x", 1)["nested_now"] is False
    lab.ssh("esxi55x", "vim-cmd vmsvc/power.off 1", check=True)
    # 5.0: only vhv.allow in /etc/vmware/config counts
    lab.ssh(
        "esxi50",
        "vim-cmd vmsvc/power.off 2 && echo 'vhv.enable = \"TRUE\"' >> /vmfs/volumes/datastore1/fmt50/fmt50.vmx"
        " && vim-cmd vmsvc/reload 2 && vim-cmd vmsvc/power.on 2",
        check=True,
    )
    assert lab.vm_status("esxi50", 2)["nested_now"] is False
    lab.ssh(
        "esxi50",
        "cp /etc/vmware/config /tmp/config.orig && echo 'vhv.allow = \"TRUE\"' >> /etc/vmware/config"
        " && vim-cmd vmsvc/power.off 2 && vim-cmd vmsvc/power.on 2 && cp /tmp/config.orig /etc/vmware/config",
        check=True,
    )
    assert lab.vm_status("esxi50", 2)["nested_now"] is True


def test_upgrade_and_registration(lab):
    r = lab.ssh(H, "vim-cmd vmsvc/upgrade 230 vmx-09; echo rc=$?; vim-cmd vmsvc/upgrade 230 vmx-09")
    assert r.stdout.startswith("rc=0\n") and "AlreadyUpgraded" in r.stdout
    assert 'virtualHW.version = "9"' in lab.ssh(H, f"cat '{vmx_path(lab, H, 230)}'").stdout
    assert lab.ssh(H, "vim-cmd vmsvc/upgrade 1").returncode == 1  # Lab VM 55 is running
    r = lab.ssh(
        H,
        "vim-cmd vmsvc/unregister 230 && vim-cmd solo/registervm '/vmfs/volumes/datastore1/upgrade me/upgrade"
        " me.vmx' && vim-cmd solo/registervm '[datastore1] upgrade me/upgrade me.vmx'",
    )
    vmid = int(r.stdout.splitlines()[0])
    assert vmid > 260 and "AlreadyExists" in r.stdout
    assert names(lab, H)[vmid] == "upgrade me" and 230 not in names(lab, H)


# --- SSH service and the command log -----------------------------------------------------------------


def test_every_ssh_command_is_logged_with_its_time(lab):
    before = len(lab.commands("esxi60"))
    t0 = time.time()
    for i in range(3):
        lab.ssh("esxi60", f"echo {i}; vim-cmd vmsvc/getallvms >/dev/null", check=True)
    new = lab.commands("esxi60")[before:]
    assert [e["command"] for e in new] == [f"echo {i}; vim-cmd vmsvc/getallvms >/dev/null" for i in range(3)]
    assert all(t0 - 1 <= e["epoch"] <= time.time() + 1 and e["time"].endswith("Z") for e in new)
    log = subprocess.run(
        [str(ESXILAB), "log", "--dir", str(lab.state), "--host", "esxi60", "--count"], capture_output=True, text=True
    )
    assert log.stdout == f"esxi60 {before + 3}\n"


def test_stop_ssh_keeps_the_session_and_refuses_new_ones(lab):
    r = lab.ssh("esxi65", "vim-cmd hostsvc/stop_ssh; echo still here")
    assert r.stdout == "still here\n"
    assert json.loads(lab.hostd("esxi65", "lab", "ssh_state")[1]) == {"running": False, "policy": "on"}
    r = lab.ssh("esxi65", "true")
    assert r.returncode == 255 and "Connection refused" in r.stderr
    assert lab.hostd("esxi65", "vim-cmd", "hostsvc/start_ssh")[0] == 0
    assert lab.ssh("esxi65", "vim-cmd hostsvc/disable_ssh; vim-cmd hostsvc/enable_ssh").returncode == 0


# --- faults --------------------------------------------------------------------------------------------


@pytest.fixture
def clear_faults(lab):
    yield
    lab.fault(H, "clear")


def test_drop_ssh(lab, clear_faults):
    lab.fault(H, "drop_ssh", r"power\.getstate 200")
    r = lab.ssh(H, "vim-cmd vmsvc/power.getstate 200")
    assert r.returncode == 255 and r.stdout == ""
    assert lab.ssh(H, "vim-cmd vmsvc/power.getstate 200").returncode == 0  # times: 1
    lab.fault(H, "drop_ssh", r"power\.off 200", "end")
    r = lab.ssh(H, "vim-cmd vmsvc/power.off 200")
    assert r.returncode == 255 and r.stdout == "Powering off VM:\n"  # it ran; the answer was lost
    assert lab.power(H, 200) == "Powered off"
    logged = [e for e in lab.commands(H) if e["command"] == "vim-cmd vmsvc/power.off 200"]
    assert logged[-1]["fault"] == "drop_ssh at end"
    lab.ssh(H, "vim-cmd vmsvc/power.on 200", check=True)


def test_ignore_and_slow_shutdown(lab, clear_faults):
    lab.fault(H, "ignore_shutdown", "sm slow", "on")
    assert lab.ssh(H, "vim-cmd vmsvc/power.shutdown 203").returncode == 0
    time.sleep(1.5)
    assert lab.power(H, 203) == "Powered on"
    lab.fault(H, "ignore_shutdown", "sm slow", "off")
    lab.fault(H, "shutdown_delay", "sm slow", "2")
    t0 = time.monotonic()
    lab.ssh(H, "vim-cmd vmsvc/power.shutdown 203", check=True)
    lab.wait_power(H, 203, "Powered off", timeout=15)
    assert time.monotonic() - t0 >= 2
    lab.ssh(H, "vim-cmd vmsvc/power.on 203", check=True)


def test_full_datastore(lab, clear_faults):
    d = "/vmfs/volumes/datastore1 (4)/full"
    lab.fault(H, "datastore_full", "datastore1 (4)", "on")
    r = lab.ssh(H, f"echo x > '{d}/new.txt'; echo rc=$?; cp '{d}/full.vmx' '{d}/copy.vmx'; echo rc=$?")
    assert r.stdout == "rc=1\nrc=1\n" and "No space left on device" in r.stderr
    assert lab.ssh(H, "echo x > '/vmfs/volumes/datastore1/full.txt'").returncode == 0  # other datastores work
    lab.fault(H, "datastore_full", "datastore1 (4)", "off")
    assert lab.ssh(H, f"echo x > '{d}/new.txt'").returncode == 0


def test_readonly_datastore(lab, clear_faults):
    d = "/vmfs/volumes/datastore1 (4)/full"
    before = lab.ssh(H, f"cat '{d}/full.vmx'").stdout
    lab.fault(H, "datastore_readonly", "datastore1 (4)", "on")
    r = lab.ssh(H, f"echo x > '{d}/new.txt'; echo rc=$?; mv '{d}/full.vmx' '{d}/moved.vmx'; echo rc=$?")
    assert r.stdout == "rc=1\nrc=1\n" and "Read-only file system" in r.stderr
    assert lab.ssh(H, f"cat '{d}/full.vmx'").stdout == before
    assert lab.ssh(H, "echo x > '/vmfs/volumes/datastore1/ro.txt'").returncode == 0  # other datastores work
    lab.fault(H, "clear")  # clear makes it writable again
    assert lab.ssh(H, f"echo x > '{d}/new.txt'").returncode == 0


def test_vanish(lab, clear_faults):
    lab.fault(H, "vanish", "vanish me", "1")
    assert lab.ssh(H, "vim-cmd vmsvc/power.getstate 240").stdout.endswith("Powered off\n")
    r = lab.ssh(H, "vim-cmd vmsvc/power.getstate 240")
    assert 'Unable to find a VM corresponding to "240"' in r.stdout
    assert "vanish me" not in lab.ssh(H, "vim-cmd vmsvc/getallvms").stdout


# --- the private door of the vSphere simulator ------------------------------------------------------------


def test_lab_door(lab):
    inv = json.loads(lab.hostd(H, "lab", "inventory")[1])
    assert set(inv) == {"name", "version", "build", "nested_hv_supported", "datastores", "vms"}
    vm = next(v for v in inv["vms"] if v["vmid"] == 260)
    uuid, instance_uuid = vm.pop("uuid"), vm.pop("instance_uuid")  # as vim-cmd get.config shows them
    assert uuid.startswith("564d") and instance_uuid == "52" + uuid[2:]
    assert vm == {
        "vmid": 260,
        "name": "api door",
        "vmx_datastore_path": "[datastore1] api door/api door.vmx",
        "power": "poweredOff",
        "hardware_version": 10,
        "numvcpus": 1,
        "memsize": 256,
        "nested_hv_enabled": False,
        "annotation": "",
        "folder": "",
        # what VMware Tools report (get.guest): the simulator waits on these after a power-on
        "tools_installed": True,
        "tools_running": False,
        "ip_address": None,
        "guest_hostname": None,
    }
    assert lab.hostd(H, "lab", "set_vmx", "260", "vhv.enable", "TRUE") == (0, "")
    assert 'vhv.enable = "TRUE"' in lab.ssh(H, f"cat '{vmx_path(lab, H, 260)}'").stdout
    rc, out = lab.hostd(H, "lab", "set_vmx", "1", "vhv.enable", "TRUE")
    assert rc == 1 and "(Powered On)" in out
    assert lab.hostd(H, "lab", "ssh_policy", "automatic") == (0, "")
    assert json.loads(lab.hostd(H, "lab", "ssh_state")[1]) == {"running": True, "policy": "automatic"}
    lab.hostd(H, "lab", "ssh_policy", "on")
