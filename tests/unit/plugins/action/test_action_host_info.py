"""nestedvirt.esxi.host_info and host_facts in process: the real host_info command under busybox sh,
vmware and vim-cmd printing what hosts of several releases printed (the captured fixtures)."""

import pytest

# release: (getallvms capture, version, build, update, nesting method, VMs in the capture)
RELEASES = {
    "5.0.0": ("vim-cmd-vmsvc-getallvms", "469512", 0, "host", ["Lab VM 50", "fmt50", "fx-on", "fx-off"]),
    "5.5.0": (
        "vim-cmd-vmsvc-getallvms",
        "1331820",
        0,
        "vm",
        ["Test2.0_192.168.0.148", "sap-router", "vm-ark-mcnc-9 (nonpersistent: vmwarewinxp-base234-v12)"],
    ),
    "6.7.0": ("vim-cmd-vmsvc-getallvms", "15820472", 3, "vm", ["s112", "s128", "s144", "s80", "s96"]),
    "9.0.0": ("vim-cmd-vmsvc-getallvms-vcls", "24755229", 0, "vm", None),
}
ON = ("fx-on", "s80", "v90", "sap-router")


@pytest.mark.parametrize("release", sorted(RELEASES))
@pytest.mark.parametrize("module", ["host_info", "host_facts"])
def test_each_release_is_read_in_one_round_trip(run_action, esxi_host, release, module):
    listing, build, update, method, names = RELEASES[release]
    host = esxi_host(release, listing=listing, powered_on=ON)
    result = run_action(module, {}, host=host)
    assert not result.get("failed") and result["changed"] is False, result
    if module == "host_info":
        facts = result["host"]
        assert "ansible_facts" not in result
    else:
        facts = result["ansible_facts"]["nestedvirt_esxi"]
        assert "host" not in result
    assert len(run_action.connection.sent) == 1
    assert (facts["version"], facts["build"], facts["update_level"]) == (release, build, update)
    assert facts["nesting"]["method"] == method
    assert facts["nesting"]["key"] == ("vhv.allow" if method == "host" else "vhv.enable")
    expected = names or [vm["name"] for vm in host.vms]
    assert [vm["name"] for vm in facts["vms"]] == expected
    for vm in facts["vms"]:
        assert vm["power_state"] == ("poweredOn" if vm["name"] in ON else "poweredOff"), vm
        assert vm["vmx_path"].startswith("/"), vm
    assert facts["invalid_vmids"] == (["16"] if release == "5.5.0" else [])  # "Skipping invalid VM '16'"
    # each VM's summary and hostd's settings were asked for, once
    for vm in host.vms:
        assert host.calls.count("vmsvc/get.summary %s" % vm["vmid"]) == 1


def test_the_9_0_capture_marks_vcls_as_a_system_vm(run_action, esxi_host):
    host = esxi_host("9.0.0", listing="vim-cmd-vmsvc-getallvms-vcls")
    vms = run_action("host_info", {}, host=host)["host"]["vms"]
    system = [vm for vm in vms if vm["system"]]
    assert [vm["vmid"] for vm in system] == ["1698"] and system[0]["vmx_path"].startswith("/var/run/crx/")


def test_an_answer_cut_short_fails_with_the_hosts_stderr(run_action, esxi_host):
    host = esxi_host("6.7.0")
    (host.bin / "vim-cmd").write_text("#!/bin/sh\nkill -9 $PPID\n")  # the host's shell dies half-way
    result = run_action("host_info", {}, host=host)
    assert result["failed"] and result["reason"] == "unreadable_output", result
    assert result["msg"].startswith("'vim-cmd vmsvc/getallvms' printed no header: '' (stderr: Killed)")
