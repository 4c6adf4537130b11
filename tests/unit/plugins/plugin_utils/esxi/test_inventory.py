"""host_info's answer -> facts; built from the formats in esxi-facts.md."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._hv_support import hv_support_meaning
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._inventory import (
    build_host_facts,
    host_info_command,
    nesting_method,
    parse_vm_listing,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import EsxiOutputError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._nesting_plan import nesting_plan
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import escape_value
from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import load_fixture

GETALLVMS = "\n".join(
    [
        "Vmid   Name                 File                                  Guest OS          Version   Annotation",
        "102  Test2.0_192.168.0.148  [datastore1] Test2.0_192.168.0.148/Test2.0_192.168.0.148.vmx  centos64Guest  "
        "vmx-08  Creator: Leo",
        "Host IP: 192.168.0.148",
        "Project: Test2.0",
        "",
        "80   nested (lab)  [datastore1 (4)] nested/nested.vmx  centos64Guest  vmx-10",
    ]
)


def answer(
    version="VMware ESXi 6.7.0 build-15820472\nVMware ESXi 6.7.0 Update 3",
    config="",
    vm_keys=None,
    end=True,
    restart_pending=False,
    hostd=None,
    cpu=None,
):
    vm_keys = vm_keys or {}
    parts = [
        "@@nestedvirt version",
        version,
        "@@nestedvirt python",
        "/bin/python",
        "@@nestedvirt hostconfig",
        config,
        "@@nestedvirt cpu",
        load_fixture("6.7.0", "esxcli-hardware-cpu-global-get") if cpu is None else cpu,
        "@@nestedvirt getallvms",
        GETALLVMS,
        "@@nestedvirt summary 102",
        '      powerState = "poweredOff",',
        '      toolsRunningStatus = "guestToolsNotRunning",',
        "      ipAddress = <unset>,",
        '      vmPathName = "[datastore1] Test2.0_192.168.0.148/Test2.0_192.168.0.148.vmx",',
        "@@nestedvirt vmx 102",
        vm_keys.get("102", 'virtualHW.version = "8"'),
        # an annotation line that starts with digits became a candidate vmid: the host says NotFound
        "@@nestedvirt summary 192",
        "(vim.fault.NotFound) {",
        '   msg = "Unable to find a VM corresponding to "192""',
        "}",
        "@@nestedvirt vmx 192",
        "@@nestedvirt summary 80",
        '      powerState = "poweredOn",',
        '      toolsRunningStatus = "guestToolsRunning",',
        '      ipAddress = "10.1.2.3",',
        '      vmPathName = "[datastore1 (4)] nested/nested.vmx",',
        "@@nestedvirt vmx 80",
        vm_keys.get("80", 'virtualHW.version = "10"\nvhv.enable = "true"'),
    ]
    if restart_pending:
        parts.append("@@nestedvirt restart_pending 80")
    for vmid, text in (hostd or {}).items():
        parts += ["@@nestedvirt hostd %s" % vmid, text]
    if end:
        parts.append("@@nestedvirt end")
    return "\n".join(parts) + "\n"


def test_facts_of_a_67_host():
    facts = build_host_facts(answer())
    assert (facts["version"], facts["build"], facts["update_level"]) == ("6.7.0", "15820472", 3)
    assert facts["python"] == ["/bin/python"]
    assert facts["nesting"]["method"] == "vm" and facts["nesting"]["min_hardware_version"] == 9
    first, second = facts["vms"]
    assert first["name"] == "Test2.0_192.168.0.148" and first["annotation"].endswith("Project: Test2.0")
    assert first["power_state"] == "poweredOff" and first["ip_address"] is None
    assert first["nested_hv_enabled"] is False
    assert second["name"] == "nested (lab)" and second["vmx_path"] == "/vmfs/volumes/datastore1 (4)/nested/nested.vmx"
    assert second["power_state"] == "poweredOn" and second["ip_address"] == "10.1.2.3"
    assert second["vmx"] == {"vhv.enable": "true", "virtualHW.version": "10"}
    assert second["nested_hv_enabled"] is True


def test_restart_marker_is_reported_for_its_vm_only():
    assert [vm["restart_pending"] for vm in build_host_facts(answer())["vms"]] == [False, False]
    facts = build_host_facts(answer(restart_pending=True))
    assert [vm["restart_pending"] for vm in facts["vms"]] == [False, True]
    assert facts["vms"][1]["vmx"] == {"vhv.enable": "true", "virtualHW.version": "10"}


def test_hostd_holding_another_value_than_the_file_is_stale():
    # VM 80's file says vhv.enable = "true"; hostd (get.config) still holds the copy before an
    # edit that was never reloaded. VM 102 agrees (no key, false). get.config lines as 5.5 prints.
    config = load_fixture("5.5.0", "vim-cmd-vmsvc-get.config")
    held = "\n".join(line for line in config.split("\n") if "HVEnabled" in line or "PMCEnabled" in line)
    facts = build_host_facts(answer(hostd={"102": held, "80": held}))
    first, second = facts["vms"]
    assert first["hostd"] == {"nestedHVEnabled": False, "vPMCEnabled": False} and first["hostd_stale"] == []
    assert second["hostd_stale"] == ["vhv.enable"]
    plan = nesting_plan(facts, "nested (lab)")
    assert plan["reload_pending"] and plan["needs_change"] and plan["needs_power_cycle"]
    assert plan["vmx_settings"] == {"vhv.enable": "TRUE"}  # written again should the power-off revert it
    assert any("never reloaded" in reason for reason in plan["reasons"])
    # Before 5.1 get.config has no such fields: nothing is known, nothing is stale.
    assert build_host_facts(answer(hostd={"80": ""}))["vms"][1]["hostd_stale"] == []


# What vim-cmd answers, as a clustered host's would for a vCLS VM (its .vmx outside every datastore).
ANSWERS = {
    "getallvms": "Vmid   Name   File   Guest OS   Version   Annotation\n7   sys   [] {vmx}   crxSys1Guest   vmx-21\n",
    "get.summary": (
        'Listsummary:\n(vim.vm.Summary) {{\n   runtime = (vim.vm.RuntimeInfo) {{\n      powerState = "poweredOn",\n'
        '   }},\n   config = (vim.vm.Summary.ConfigSummary) {{\n      vmPathName = "[] {vmx}",\n   }},\n}}\n'
    ),
    "get.config": "Configuration:\n\n(vim.vm.ConfigInfo) {{\n   nestedHVEnabled = true,\n   vPMCEnabled = false,\n}}\n",
}


def test_the_script_finds_each_vmx_and_hostds_copy_with_busybox(busybox_bin, busybox_sh, tmp_path):
    """host_info's own script under busybox sh, vim-cmd answering as a clustered host's would for a
    vCLS VM (its .vmx outside every datastore): the path is cut out of get.summary by the shell."""
    directory = tmp_path / "vcls dir"
    directory.mkdir()
    vmx = directory / "sys.vmx"
    vmx.write_bytes(b'virtualHW.version = "21"\r\nvhv.enable = "TRUE"\rnumvcpus = "2"\n')
    (directory / "nestedvirt-power-on-pending").write_text("left\n")
    answers = tmp_path / "answers"
    answers.mkdir()
    for call, text in ANSWERS.items():
        (answers / call).write_text(text.format(vmx=vmx))
    (busybox_bin / "vim-cmd").write_text('#!/bin/sh\ncat "%s/${1#vmsvc/}"\n' % answers)
    (busybox_bin / "vim-cmd").chmod(0o755)
    (busybox_bin / "vmware").write_text("#!/bin/sh\necho 'VMware ESXi 9.0.0 build-24755229'\n")
    (busybox_bin / "vmware").chmod(0o755)
    try:
        done = busybox_sh(host_info_command())
    finally:
        (busybox_bin / "vim-cmd").unlink()
        (busybox_bin / "vmware").unlink()
    facts = build_host_facts(done.stdout.decode())
    vm = facts["vms"][0]
    assert vm["vmx_path"] == str(vmx) and vm["system"]
    assert vm["vmx"] == {"virtualHW.version": "21", "vhv.enable": "TRUE", "numvcpus": "2"}  # lone CR read as ESXi does
    assert vm["hostd"] == {"nestedHVEnabled": True, "vPMCEnabled": False} and vm["hostd_stale"] == []
    assert vm["restart_pending"] and len(vm["vmx_md5"]) == 32


def test_vhv_enable_below_hardware_9_does_not_count():
    facts = build_host_facts(answer(vm_keys={"102": 'virtualHW.version = "8"\nvhv.enable = "TRUE"'}))
    assert facts["vms"][0]["nested_hv_enabled"] is False


def test_on_50_nesting_is_host_wide():
    version = "VMware ESXi 5.0.0 build-469512"
    facts = build_host_facts(answer(version=version, config='libdir = "/usr/lib/vmware"\nvhv.allow = "TRUE"\n'))
    assert facts["nesting"] == {
        "method": "host",
        "key": "vhv.allow",
        "path": "/etc/vmware/config",
        "min_hardware_version": None,
        "host_vhv_allow": True,
        "hv_support": 3,
        "hv_support_meaning": "VT-x/AMD-V enabled and usable",
        "nested_hv_supported": True,
    }
    assert all(vm["nested_hv_enabled"] for vm in facts["vms"])
    facts = build_host_facts(answer(version=version))
    assert not any(vm["nested_hv_enabled"] for vm in facts["vms"])


@pytest.mark.parametrize(
    "release, name, value, supported",
    [
        ("6.7.0", "esxcli-hardware-cpu-global-get", 3, True),
        ("6.7.0", "esxcli-hardware-cpu-global-get-no-nesting", 1, False),
        ("9.0.0", "esxcli-hardware-cpu-global-get-reliable-memory", 3, True),
    ],
)
def test_the_hosts_cpu_says_whether_it_can_nest(release, name, value, supported):
    nesting = build_host_facts(answer(cpu=load_fixture(release, name)))["nesting"]
    assert (nesting["hv_support"], nesting["nested_hv_supported"]) == (value, supported)
    assert nesting["hv_support_meaning"] == hv_support_meaning(value)


@pytest.mark.parametrize(
    "cpu, shown",
    [
        ("", "nothing"),
        ("Error: Unknown command or namespace hardware cpu global get", "Unknown command"),
        ("sh: esxcli: not found", "not found"),
    ],
)
def test_an_unreadable_cpu_answer_is_unknown_not_a_refusal(cpu, shown):
    """A host whose esxcli is missing or says something else: nothing is concluded, and the facts
    show what it said."""
    nesting = build_host_facts(answer(cpu=cpu))["nesting"]
    assert nesting["hv_support"] is None and nesting["nested_hv_supported"] is None
    assert nesting["hv_support_meaning"].startswith("unknown") and shown in nesting["hv_support_meaning"]


def test_the_port_groups_of_the_vms_nics_are_read_from_the_vmx():
    keys = 'virtualHW.version = "10"\nethernet0.networkName = "VM Network"\nEthernet1.networkName = "Lab PG"\n'
    keys += 'ethernet2.networkName = "VM Network"\nfirmware = "efi"'
    vm = build_host_facts(answer(vm_keys={"80": keys}))["vms"][1]
    assert vm["networks"] == ["VM Network", "Lab PG"]
    assert vm["vmx"] == {"virtualHW.version": "10", "firmware": "efi"}


# Port group names as ESXi allows them: any text but NUL and lone surrogates (escaped in the .vmx).
PORT_GROUPS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30)


@given(st.lists(PORT_GROUPS, min_size=1, max_size=5), st.sampled_from(["ethernet", "Ethernet", "ETHERNET"]))
def test_any_port_group_name_comes_back_as_written(names, spelling):
    """Each NIC's port group, however its name is spelt (blanks, quotes, '#', non-ASCII: escaped as
    VMware writes them), comes back once, in NIC order."""
    keys = ['virtualHW.version = "10"'] + [
        '%s%d.networkName = "%s"' % (spelling, index, escape_value(name)) for index, name in enumerate(names)
    ]
    vm = build_host_facts(answer(vm_keys={"80": "\n".join(keys)}))["vms"][1]
    assert vm["networks"] == list(dict.fromkeys(names))


def test_a_cut_answer_is_an_error():
    with pytest.raises(EsxiOutputError, match="cut short"):
        build_host_facts(answer(end=False))


@pytest.mark.parametrize(("version", "method"), [("5.0.0", "host"), ("5.1.0", "vm"), ("8.0.1", "vm"), ("7.0", "vm")])
def test_nesting_method_by_release(version, method):
    assert nesting_method(version)["method"] == method


def test_vm_listing():
    vms = parse_vm_listing("@@nestedvirt getallvms\n" + GETALLVMS + "\n@@nestedvirt end\n")
    assert [vm["vmid"] for vm in vms] == ["102", "80"]
    with pytest.raises(EsxiOutputError):
        parse_vm_listing("@@nestedvirt getallvms\n" + GETALLVMS)


def test_a_clustered_9_host_with_a_vcls_vm():
    vcls = "vCLS-6b723342-7e0f-4c8a-9d3e-0a1b2c3d4e5f"
    listing = load_fixture("9.0.0", "vim-cmd-vmsvc-getallvms-vcls-capture")
    text = "\n".join(
        [
            "@@nestedvirt version",
            load_fixture("9.0.0", "vmware-v-capture").strip(),
            "VMware ESXi 9.0.0 GA",
            "@@nestedvirt python",
            "@@nestedvirt hostconfig",
            "@@nestedvirt getallvms",
            listing.rstrip("\n"),
            "@@nestedvirt summary 1",
            '      powerState = "poweredOn", ',
            '      vmPathName = "[datastore1] lab-runner-01/lab-runner-01.vmx", ',
            "@@nestedvirt vmx 1",
            'virtualHW.version = "21"',
            "@@nestedvirt summary 1698",
            '      powerState = "poweredOn", ',
            '      vmPathName = "[] /var/run/crx/infra/%s/%s.vmx", ' % (vcls, vcls),
            "@@nestedvirt vmx 1698",
            'virtualHW.version = "21"',
            "@@nestedvirt end",
        ]
    )
    facts = build_host_facts(text)
    assert (facts["version"], facts["update_level"], facts["nesting"]["method"]) == ("9.0.0", 0, "vm")
    runner, system = facts["vms"]
    assert not runner["system"] and system["system"] and system["power_state"] == "poweredOn"
    assert system["vmx_path"] == "/var/run/crx/infra/%s/%s.vmx" % (vcls, vcls)


def test_key_lines_take_only_space_and_tab_as_blanks():
    # ESXi reads "\x0bvhv.enable" as another name: the host-side grep and the check agree.
    grep = next(line for line in host_info_command().split("\n") if "grep -i -E" in line)
    assert "[[:space:]]" not in grep and "[ \t]*" in grep
    with pytest.raises(EsxiOutputError, match="unexpected line"):
        build_host_facts(answer(vm_keys={"80": '\x0bvhv.enable = "TRUE"'}))


def test_disagreeing_copies_of_vhv_enable_are_never_already_set():
    # ESXi reads the first copy; which one was meant is unknown, so the plan rewrites the key.
    facts = build_host_facts(
        answer(vm_keys={"80": 'virtualHW.version = "10"\nvhv.enable = "TRUE"\nvhv.enable = "FALSE"'})
    )
    vm = facts["vms"][1]
    assert vm["vmx"]["vhv.enable"] == "TRUE" and vm["vmx_conflicts"] == ["vhv.enable"]
    assert vm["nested_hv_enabled"] is False
    plan = nesting_plan(facts, vm["name"])
    assert plan["vmx_settings"] == {"vhv.enable": "TRUE"} and plan["needs_power_cycle"]
    assert nesting_plan(facts, vm["name"], state="disabled")["vmx_remove"] == ["vhv.enable"]
    agreeing = build_host_facts(
        answer(vm_keys={"80": 'virtualHW.version = "10"\nvhv.enable = "TRUE"\nVHV.enable = "true"'})
    )
    assert agreeing["vms"][1]["nested_hv_enabled"] is True and agreeing["vms"][1]["vmx_conflicts"] == []
