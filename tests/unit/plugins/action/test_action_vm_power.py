"""nestedvirt.esxi.vm_power in process: the power script under busybox sh, vim-cmd answering as the
ESXi 6.7 captures show (its power states kept by the fake host)."""


def test_one_vm_by_name_is_found_and_powered_off_then_left_alone(run_action, esxi_host):
    host = esxi_host("6.7.0", powered_on=("s80",))
    result = run_action("vm_power", {"name": "s80", "state": "poweredoff"}, host=host)
    assert not result.get("failed"), result
    assert result["changed"] is True and result["vmid"] == "80"
    assert (result["power_state_before"], result["power_state"]) == ("poweredOn", "poweredOff")
    assert host.power(80) == "poweredOff"
    assert host.calls.count("vmsvc/power.off 80") == 1
    again = run_action("vm_power", {"vmid": "80", "state": "poweredoff"}, host=host)
    assert again["changed"] is False and again["power_state"] == "poweredOff"
    assert host.calls.count("vmsvc/power.off 80") == 1


def test_check_mode_reads_the_state_and_changes_nothing(run_action, esxi_host):
    host = esxi_host("6.7.0", powered_on=("s80",))
    result = run_action("vm_power", {"name": "s80", "state": "poweredoff"}, host=host, check=True)
    assert result["changed"] is True and result["operations"] == []
    assert (result["power_state_before"], result["power_state"]) == ("poweredOn", "poweredOff")
    assert host.power(80) == "poweredOn"
    assert not any(call.startswith("vmsvc/power.") and "getstate" not in call for call in host.calls)


def test_a_batch_powers_each_vm_on_in_one_round_trip(run_action, esxi_host):
    host = esxi_host("6.7.0", powered_on=("s96",))
    vms = [
        {"vmid": vm["vmid"], "name": vm["name"], "datastore_path": vm["datastore_path"], "wait_for_ip": False}
        for vm in host.vms
        if vm["name"] in ("s80", "s96", "s112")
    ]
    result = run_action("vm_power", {"vms": vms, "state": "poweredon"}, host=host)
    assert not result.get("failed"), result
    assert len(run_action.connection.sent) == 1
    assert result["changed"] is True
    assert [(vm["name"], vm["changed"], vm["power_state"]) for vm in result["vms"]] == [
        ("s112", True, "poweredOn"),
        ("s80", True, "poweredOn"),
        ("s96", False, "poweredOn"),
    ]
    assert [host.power(vmid) for vmid in (80, 96, 112)] == ["poweredOn"] * 3


def test_a_batch_vm_that_moved_or_is_gone_fails_alone(run_action, esxi_host):
    host = esxi_host("6.7.0")
    vms = [
        {"vmid": "80", "name": "s80", "datastore_path": "[datastore1] elsewhere/s80.vmx"},
        {"vmid": "9", "name": "gone"},
        {"vmid": "96", "name": "s96", "datastore_path": "[datastore1] s96/s96.vmx"},
    ]
    result = run_action("vm_power", {"vms": vms, "state": "poweredoff"}, host=host)
    moved, gone, kept = result["vms"]
    assert result["failed"] and result["reason"] == moved["reason"] == "vm_moved"
    assert moved["failed"] and "not where it was" in moved["msg"]
    assert gone["failed"] and gone["reason"] == "vm_gone", gone
    assert not kept.get("failed") and kept["power_state_before"] == "poweredOff" and kept["changed"] is False
    assert not any(call.startswith("vmsvc/power.off") for call in host.calls)


def test_check_mode_names_a_vm_that_is_gone(run_action, esxi_host):
    # Check mode reads the state only; a gone VM's NotFound fault fails that VM with the reason
    # the real run gives.
    host = esxi_host("6.7.0")
    result = run_action(
        "vm_power", {"vms": [{"vmid": "9", "name": "gone"}], "state": "poweredoff"}, host=host, check=True
    )
    assert result["failed"] and result["vms"][0]["reason"] == "vm_gone", result
