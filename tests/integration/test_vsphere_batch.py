"""The API path's batch modules on their own, against the lab's simulator of a licensed ESXi host:
vsphere_host_facts reads the host once, and vsphere_vm_power / vsphere_vm_config act on the
handles of its plan. Each VM's outcome is checked against hostd's own view of it.
"""

import pytest
from vsphere_lab import api

pytestmark = pytest.mark.lab

MARKER = "nestedvirt.powerOnPending"


def handles(lab, tmp_path, host, names):
    """The plan's handles for ``names`` on ``host``, from one vsphere_host_facts read."""
    tasks = [
        api("vsphere_host_facts", "facts"),
        {
            "name": "plan",
            "ansible.builtin.set_fact": {"plan": "{{ facts.host | nestedvirt.esxi.host_plan(%r) }}" % names},
        },
    ]
    run = lab.playbook(host, tasks, tmp_path=tmp_path)
    assert run.rc == 0, run.output[-3000:]
    plan = run["plan"]["ansible_facts"]["plan"]
    return dict((entry["name"], entry) for entry in plan["vms"]), run["facts"]["host"]


def by_name(result):
    return dict((vm["name"], vm) for vm in result["vms"])


def test_a_batch_goes_down_together_and_comes_back_without_its_markers(lab, tmp_path):
    plan, facts = handles(lab, tmp_path / "read", "lic70", ["batch a", "batch b", "batch no tools"])
    assert facts["source"] == "api" and facts["api"]["writable"] is True
    vms = [plan[name]["handle"] for name in ("batch a", "batch b", "batch no tools")]
    tasks = [
        api("vsphere_vm_power", "down", ignore_errors=True, vms=vms, state="shutdown", timeout=60),
        api("vsphere_vm_config", "set", ignore_errors=True, vms=[plan["batch a"], plan["batch b"]]),
        api("vsphere_vm_power", "up", vms=vms, state="poweredon", timeout=60),
        api("vsphere_host_facts", "after"),
    ]
    run = lab.playbook("lic70", tasks, tmp_path=tmp_path / "cycle")
    assert run.rc == 0, run.output[-3000:]
    down = by_name(run["down"])
    assert down["batch a"]["operations"] == ["shutdown"] and down["batch a"]["power_state"] == "poweredOff"
    assert down["batch a"]["restart_pending"] is True
    # No Tools: not shut down (no force), but its marker was written first; the boot removes it.
    assert down["batch no tools"]["reason"] == "tools_unavailable"
    assert run["down"]["failed"] and run["down"]["reason"] == "tools_unavailable"
    set_ = by_name(run["set"])
    assert set_["batch a"]["key_values"] == {"vhv.enable": {"before": "FALSE", "after": "TRUE"}}
    up = by_name(run["up"])
    assert [up[name]["power_state"] for name in ("batch a", "batch b", "batch no tools")] == ["poweredOn"] * 3
    assert not any(up[name]["restart_pending"] for name in up)
    after = dict((vm["name"], vm) for vm in run["after"]["host"]["vms"])
    assert after["batch a"]["nested_hv_enabled"] and after["batch b"]["nested_hv_enabled"]
    assert not any(after[name]["restart_pending"] for name in ("batch a", "batch b", "batch no tools"))
    hostd = lab.vms("lic70")
    assert hostd["batch a"]["nested_hv_enabled"] and hostd["batch a"]["power"] == "poweredOn"
    assert not hostd["batch no tools"]["nested_hv_enabled"] and hostd["batch no tools"]["power"] == "poweredOn"


def test_a_guest_that_ignores_the_shutdown_times_out_and_stays_on(lab, tmp_path):
    plan, _facts = handles(lab, tmp_path / "read", "lic70", ["batch stubborn"])
    vm = plan["batch stubborn"]["handle"]
    tasks = [
        api("vsphere_vm_power", "down", ignore_errors=True, vms=[vm], state="shutdown", timeout=2),
        api("vsphere_vm_power", "up", vms=[vm], state="poweredon", timeout=30),
    ]
    run = lab.playbook("lic70", tasks, tmp_path=tmp_path / "cycle")
    assert run.rc == 0, run.output[-3000:]
    assert run["down"]["reason"] == "shutdown_timeout" and "nothing was changed" in run["down"]["msg"]
    assert run["up"]["vms"][0]["operations"] == [] and run["up"]["vms"][0]["restart_pending"] is False
    assert lab.vms("lic70")["batch stubborn"]["power"] == "poweredOn"


def test_a_handle_that_is_another_vm_now_or_gone_is_left_alone(lab, tmp_path):
    plan, _facts = handles(lab, tmp_path / "read", "lic70", ["batch b"])
    other = dict(plan["batch b"]["handle"], instance_uuid="00000000-0000-0000-0000-000000000000")
    gone = dict(plan["batch b"]["handle"], vmid="9999")
    tasks = [
        api("vsphere_vm_power", "moved", ignore_errors=True, vms=[other], state="shutdown"),
        api("vsphere_vm_power", "gone", ignore_errors=True, vms=[gone], state="shutdown"),
        api("vsphere_vm_config", "running", ignore_errors=True, vms=[plan["batch b"]]),
    ]
    run = lab.playbook("lic70", tasks, tmp_path=tmp_path / "run")
    assert run["moved"]["reason"] == "vm_moved" and run["gone"]["reason"] == "vm_gone"
    assert run["running"]["reason"] == "vm_running"
    assert lab.vms("lic70")["batch b"]["power"] == "poweredOn"


def test_a_free_license_refuses_the_marker_so_nothing_goes_down(lab, tmp_path):
    plan, facts = handles(lab, tmp_path / "read", "free80", ["free on"])
    assert facts["api"]["writable"] is False and facts["api"]["editions"] == ["esxBasic"]
    run = lab.playbook(
        "free80",
        [api("vsphere_vm_power", "down", ignore_errors=True, vms=[plan["free on"]["handle"]], state="shutdown")],
        tmp_path=tmp_path / "run",
    )
    assert run["down"]["reason"] == "restricted_version"
    vm = run["down"]["vms"][0]  # the VM's own outcome: refused at its first write, never asked to go down
    assert vm["reason"] == "restricted_version" and vm["operations"] == [] and vm["restart_pending"] is False
    assert lab.vms("free80")["free on"]["power"] == "poweredOn"
