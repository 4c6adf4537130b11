"""The host's plan, its batches and what the steps' results say happened: pure, no host."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import (
    HostPlanError,
    batches,
    host_plan,
    outcome,
    summary_table,
    verify_targets,
)


def vm(name, vmid, power="poweredOn", tools="guestToolsRunning", hardware=14, **fields):
    entry = {
        "vmid": vmid,
        "name": name,
        "datastore_path": "[ds] %s/%s.vmx" % (name, name),
        "vmx_path": "/vmfs/volumes/ds/%s/%s.vmx" % (name, name),
        "vmx_md5": "0" * 32,
        "power_state": power,
        "tools_running_status": tools,
        "ip_address": "10.0.0.%s" % vmid if power == "poweredOn" else None,
        "hardware_version": hardware,
        "vmx": {},
    }
    entry.update(fields)
    return entry


def facts(*vms, method="vm"):
    return {"version": "6.7.0", "nesting": {"method": method, "host_vhv_allow": False}, "vms": list(vms)}


FLEET = facts(
    vm("on", "1"),
    vm("off", "2", power="poweredOff", tools="guestToolsNotRunning"),
    vm("done", "3", vmx={"vhv.enable": "TRUE"}),
    vm("left off", "4", power="poweredOff", restart_pending=True, vmx={"vhv.enable": "TRUE"}),
    vm("stale marker", "5", restart_pending=True, vmx={"vhv.enable": "TRUE"}),
    vm("old", "6", hardware=8),
    vm("no tools", "7", tools="guestToolsNotRunning"),
    vm("asleep", "8", power="suspended"),
    vm("half", "9", power="poweredOff", restart_pending=True),
)


def actions(plan):
    return {entry["name"]: (entry["action"], entry["reason"]) for entry in plan["vms"]}


def test_each_vm_gets_one_action_and_refusals_a_reason():
    plan = host_plan(FLEET, [v["name"] for v in FLEET["vms"]] + ["ghost"])
    assert actions(plan) == {
        "on": ("power_cycle", None),
        "off": ("configure", None),
        "done": ("nothing", None),
        "left off": ("resume", None),
        "stale marker": ("remove_marker", None),
        "old": ("refuse", "hardware_too_old"),
        "no tools": ("refuse", "tools_unavailable"),
        "asleep": ("refuse", "vm_suspended"),
        "half": ("power_cycle", None),  # off with its marker and still to write: written, then powered on
        "ghost": ("refuse", "vm_not_found"),
    }
    assert [entry["name"] for entry in plan["refused"]] == ["old", "no tools", "asleep", "ghost"]


def test_options_lift_refusals():
    plan = host_plan(FLEET, ["old", "no tools"], upgrade_hardware=True, force=True)
    assert actions(plan) == {"old": ("power_cycle", None), "no tools": ("power_cycle", None)}
    assert plan["vms"][0]["upgrade_hardware"] is True


def test_the_handle_carries_what_every_step_needs():
    entry = host_plan(FLEET, ["on"], wait_for_address=["on"])["vms"][0]
    assert entry["handle"] == {
        "vmid": "1",
        "name": "on",
        "datastore_path": "[ds] on/on.vmx",
        "vmx_path": "/vmfs/volumes/ds/on/on.vmx",
        "md5": "0" * 32,
        "hardware_version": 14,
        "wait_for_ip": True,
        "wait_for_tools": True,
    }
    assert entry["vmx_settings"] == {"vhv.enable": "TRUE"} and entry["reload"] is False
    off = host_plan(FLEET, ["off"], wait_for_address=["off"])["vms"][0]["handle"]
    assert off["wait_for_ip"] is False and off["wait_for_tools"] is False  # no address, no Tools before


def test_batches_limit_the_vms_down_at_once():
    cycled = [vm("c%d" % n, str(n)) for n in range(5)]
    plan = host_plan(
        facts(*cycled, vm("off", "9", power="poweredOff")), [v["name"] for v in cycled] + ["off"], batch_size=2
    )
    assert [[entry["name"] for entry in batch] for batch in plan["batches"]] == [
        ["off", "c0", "c1"],
        ["c2", "c3"],
        ["c4"],
    ]
    assert len(host_plan(facts(*cycled), [v["name"] for v in cycled])["batches"]) == 1
    assert batches([], 3) == []


def test_bad_requests_are_refused_as_a_whole():
    with pytest.raises(HostPlanError, match="host_info"):
        host_plan({}, ["x"])
    with pytest.raises(HostPlanError) as error:
        host_plan(FLEET, ["on"], batch_size=-1)
    assert error.value.reason == "bad_request"


def test_disabling_and_extras_come_from_the_rules_table():
    enabled = facts(vm("a", "1", vmx={"vhv.enable": "TRUE", "vpmc.enable": "TRUE"}))
    entry = host_plan(enabled, ["a"], state="disabled")["vms"][0]
    assert entry["action"] == "power_cycle" and entry["vmx_remove"] == ["vhv.enable", "vpmc.enable"]
    extras = host_plan(enabled, ["a"], extras={"hardware_mmu": True})["vms"][0]["vmx_settings"]
    assert extras == {"monitor.virtual_mmu": "hardware", "monitor.virtual_exec": "hardware"}


def batch_results(plan):
    """Step results as the roles register them, for one batch where everything went through."""
    entries = plan["batches"][0]
    shutdown = [e for e in entries if e["action"] in ("configure", "power_cycle")]
    boot = [e for e in entries if e["action"] in ("power_cycle", "resume", "remove_marker")]
    return {
        "entries": entries,
        "shutdown": {
            "vms": [
                {
                    "vmid": e["vmid"],
                    "operations": ["shutdown"] if e["power_state"] == "poweredOn" else [],
                    "power_state": "poweredOff",
                }
                for e in shutdown
            ]
        },
        "configure": {"vms": [{"vmid": e["vmid"], "changed": True} for e in shutdown]},
        "boot": {
            "vms": [
                {"vmid": e["vmid"], "power_state": "poweredOn", "ip_address": "10.9.9.%s" % e["vmid"]} for e in boot
            ]
        },
    }


def test_outcome_of_a_run_that_went_through():
    plan = host_plan(FLEET, ["on", "off", "done", "left off", "old"])
    result = outcome(plan, [batch_results(plan)])
    by_name = {record["name"]: record for record in result["vms"]}
    assert result["changed"] == ["on", "off", "left off"] and result["failed"] == ["old"]
    assert by_name["on"]["power_cycled"] and by_name["on"]["ip_address"] == "10.9.9.1"
    assert by_name["off"]["power_state"] == "poweredOff" and not by_name["off"]["power_cycled"]
    assert by_name["done"]["done"] and not by_name["done"]["power_cycled"]
    assert by_name["old"]["msg"].startswith("virtual hardware 8 is below the 9")


def test_a_step_that_failed_for_one_vm_or_as_a_whole():
    plan = host_plan(facts(vm("a", "1"), vm("b", "2")), ["a", "b"])
    steps = batch_results(plan)
    steps["configure"] = {
        "failed": True,
        "vms": [
            {"vmid": "1", "changed": True},
            {"vmid": "2", "failed": True, "msg": "locked by x", "reason": "locked"},
        ],
    }
    result = outcome(plan, [steps])
    assert result["failed"] == ["b"] and result["changed"] == ["a"]
    assert result["vms"][1]["reason"] == "locked" and result["vms"][1]["power_state"] == "poweredOn"
    steps["shutdown"] = {"failed": True, "msg": "connection lost", "reason": "unreachable"}
    steps["configure"] = steps["boot"] = {}
    assert outcome(plan, [steps])["failed"] == ["a", "b"]


def test_verify_targets_and_the_summary():
    plan = host_plan(FLEET, ["on", "off", "done"])
    result = dict(outcome(plan, [batch_results(plan)]), esxi_host="esxi1", release="6.7.0", guests={"done": "guest3"})
    assert [t["inventory_name"] for t in verify_targets(result, "changed")] == ["esxi1_on"]
    everyone = verify_targets(result, "all")
    assert [(t["inventory_name"], t["inventory"]) for t in everyone] == [("esxi1_on", False), ("guest3", True)]
    assert verify_targets(result, "none") == []
    lines = summary_table([result], {"esxi1_on": {"virtualization_flag": "svm", "kvm": True}})
    assert lines[0].split() == ["VM", "ESXi", "host", "release", "result", "guest"]
    assert lines[1].split("  ")[0] == "on" and lines[1].endswith("configured, power-cycled   shows svm, /dev/kvm works")
    assert "configured (it stays off)" in lines[2] and lines[2].endswith("not verified (poweredOff)")
    assert lines[3].split()[-5:] == ["nothing", "to", "do", "not", "verified"]
    assert len(set(line.index("6.7.0") for line in lines[1:])) == 1  # aligned


def test_a_failure_in_the_summary_is_a_reason_and_a_note_below_the_table():
    plan = host_plan(FLEET, ["on", "off"])
    steps = batch_results(plan)
    steps["shutdown"] = {"failed": True, "msg": "a long message " * 10, "reason": "locked"}
    steps["configure"] = steps["boot"] = {}
    result = dict(outcome(plan, [steps]), esxi_host="esxi1", release="6.7.0", guests={})
    lines = summary_table([result], {})
    assert "FAILED (locked) [1]" in lines[1] and "FAILED (locked) [2]" in lines[2]
    assert "a long message" not in "".join(lines[:3])
    assert lines[3] == "[1] on: " + "a long message " * 10 and lines[4].startswith("[2] off: a long message")
    assert max(len(line) for line in lines[:3]) < 100  # the message does not widen the table


def test_the_api_path_outcome_reads_the_same_steps_by_moid():
    api_vm = dict(vm("a", "vm-42"), instance_uuid="5032c8a4-3c0e-5a10-a1b2-0c7e6e9f3a11")
    plan = host_plan(facts(api_vm), ["a"])
    assert plan["vms"][0]["handle"]["instance_uuid"] == api_vm["instance_uuid"]
    steps = {
        "entries": plan["vms"],
        "shutdown": {"vms": [{"vmid": "vm-42", "operations": ["shutdown"], "power_state": "poweredOff"}]},
        "configure": {"vms": [{"vmid": "vm-42", "changed": True}]},
        "boot": {"vms": [{"vmid": "vm-42", "operations": ["on"], "power_state": "poweredOn"}]},
    }
    result = outcome(plan, [steps])
    assert result["changed"] == ["a"] and result["vms"][0]["power_cycled"] and result["vms"][0]["done"]


@pytest.mark.parametrize(
    "host_state, reason",
    [
        ({"in_maintenance_mode": True, "connection_state": "connected"}, "host_in_maintenance"),
        ({"in_maintenance_mode": False, "connection_state": "notResponding"}, "host_disconnected"),
    ],
)
def test_a_host_that_cannot_act_refuses_the_vms_to_change_and_leaves_the_others_alone(host_state, reason):
    host = facts(vm("todo", "vm-1"), vm("done", "vm-2", vmx={"vhv.enable": "TRUE"}))
    host["host_state"] = host_state
    plan = host_plan(host, ["todo", "done"])
    assert [(e["name"], e["action"], e["reason"]) for e in plan["vms"]] == [
        ("todo", "refuse", reason),
        ("done", "nothing", None),
    ]
    assert plan["batches"] == []
