"""ESXi output parsers against the samples recorded in esxi-facts.md, and properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import (
    EsxiOutputError,
    parse_fault,
    parse_getallvms,
    parse_guest_info,
    parse_power_state,
    parse_properties,
    parse_vmware_version,
    version_tuple,
)

HEADER = "Vmid   Name          File              Guest OS       Version   Annotation"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("VMware ESXi 5.5.0 build-1331820\n", {"version": "5.5.0", "build": "1331820", "update": None}),
        ("VMware ESXi 7.0 Update 3\n", {"version": "7.0", "build": None, "update": 3}),
        (
            "VMware ESXi 6.7.0 build-15820472\nVMware ESXi 6.7.0 Update 3\n",
            {"version": "6.7.0", "build": "15820472", "update": 3},
        ),
        ("VMware ESXi 5.0.0 build-469512\n", {"version": "5.0.0", "build": "469512", "update": None}),
    ],
)
def test_vmware_version(text, expected):
    assert parse_vmware_version(text) == expected


def test_vmware_version_rejects_other_text():
    with pytest.raises(EsxiOutputError, match="not an ESXi version"):
        parse_vmware_version("sh: vmware: not found\n")


def test_version_tuple_orders_releases():
    assert version_tuple("5.0.0") < version_tuple("5.1.0") < version_tuple("8.0.1")


def test_getallvms_basic_sample():
    text = HEADER + "\n1      x8     [pve-esx] x8/x8.vmx   centos9_64Guest   vmx-20\n"
    vms, invalid = parse_getallvms(text)
    assert invalid == []
    assert vms == [
        {
            "vmid": "1",
            "name": "x8",
            "datastore": "pve-esx",
            "datastore_path": "[pve-esx] x8/x8.vmx",
            "vmx_path": "/vmfs/volumes/pve-esx/x8/x8.vmx",
            "guest_os": "centos9_64Guest",
            "hardware_version": 20,
            "annotation": "",
            "system": False,
        }
    ]


def test_getallvms_names_with_spaces_and_parentheses():
    line = (
        "496  vm-ark-mcnc-9 (nonpersistent: vmwarewinxp-base234-v12)  [nfs-datastore] "
        "vm-ark-mcnc-9_234-v12/vm-ark-mcnc-9_234-v12.vmx  winXPProGuest  vmx-04"
    )
    (vm,) = parse_getallvms(HEADER + "\n" + line + "\n")[0]
    assert vm["name"] == "vm-ark-mcnc-9 (nonpersistent: vmwarewinxp-base234-v12)"
    assert vm["vmx_path"] == "/vmfs/volumes/nfs-datastore/vm-ark-mcnc-9_234-v12/vm-ark-mcnc-9_234-v12.vmx"
    assert vm["hardware_version"] == 4


def test_getallvms_datastore_with_spaces():
    line = "12   sap-router   [datastore1 (4)] sap-router/win2k8x64.vmx   windows7Server64Guest   vmx-08"
    (vm,) = parse_getallvms(HEADER + "\n" + line + "\n")[0]
    assert vm["datastore"] == "datastore1 (4)"
    assert vm["vmx_path"] == "/vmfs/volumes/datastore1 (4)/sap-router/win2k8x64.vmx"


def test_getallvms_multiline_annotation_blank_line_invalid_vm_and_string_order():
    text = "\n".join(
        [
            HEADER,
            "102  Test2.0_192.168.0.148  [datastore1] Test2.0_192.168.0.148/Test2.0_192.168.0.148.vmx  "
            "centos64Guest  vmx-08  Creator: Leo",
            "Host IP: 192.168.0.148",
            "Project: Test2.0",
            "",
            "112  b  [datastore1] b/b.vmx  otherGuest  vmx-09",
            "Skipping invalid VM '16'",
            "80   a  [datastore1] a/a.vmx  otherGuest  vmx-10  ",
            "",
        ]
    )
    vms, invalid = parse_getallvms(text)
    assert [vm["vmid"] for vm in vms] == ["102", "112", "80"]
    assert vms[0]["annotation"] == "Creator: Leo\nHost IP: 192.168.0.148\nProject: Test2.0"
    assert vms[1]["annotation"] == "" and vms[2]["annotation"] == ""
    assert invalid == ["16"]


def test_getallvms_with_no_vms_is_only_the_header():
    assert parse_getallvms(HEADER + "\n") == ([], [])


@pytest.mark.parametrize("text", ["", "garbage\n", "Vmid Name\n1 x"])
def test_getallvms_without_header_is_an_error(text):
    with pytest.raises(EsxiOutputError):
        parse_getallvms(text)


def test_getallvms_duplicate_vmid_is_refused():
    row = "1  a  [ds] a/a.vmx  otherGuest  vmx-09"
    with pytest.raises(EsxiOutputError, match="listed twice"):
        parse_getallvms("\n".join([HEADER, row, row]))


# vim-cmd column layout: every column padded to the widest cell plus some blanks.
names = (
    st.text(
        st.characters(
            blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="[]\n\r\x0b\x0c\x1c\x1d\x1e\x85"
        ),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
annotations = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=20), max_size=3
).map("\n".join)


@given(st.lists(st.tuples(names, annotations, st.integers(4, 21)), min_size=1, max_size=6, unique_by=lambda t: t[0]))
def test_getallvms_round_trips_rendered_rows(rows):
    rendered = []
    for index, (name, annotation, hw) in enumerate(rows, start=1):
        line = "%-6d %-34s [datastore1] %s/%s.vmx  otherGuest  vmx-%02d  %s" % (index, name, name, name, hw, annotation)
        rendered.append(line)
    vms = parse_getallvms(HEADER + "\n" + "\n".join(rendered) + "\n")[0]
    continuation_rows = sum(row[1].count("\n") for row in rows)
    if continuation_rows == 0:
        assert [vm["name"] for vm in vms] == [row[0] for row in rows]
        assert [vm["hardware_version"] for vm in vms] == [row[2] for row in rows]
    assert vms[0]["name"] == rows[0][0]


NOT_FOUND_67 = """(vim.fault.NotFound) {
   faultCause = (vmodl.MethodFault) null,
   faultMessage = <unset>,
   msg = "Unable to find a VM corresponding to "2""
}
"""
# 5.0 ends each line with ", " (a trailing blank), kept explicit here.
NOT_FOUND_50 = (
    "(vim.fault.NotFound) {\n"
    "   dynamicType = <unset>, \n"
    "   faultCause = (vmodl.MethodFault) null, \n"
    '   msg = "Unable to find a VM corresponding to "2"", \n'
    "}\n"
)
INVALID_POWER = """(vim.fault.InvalidPowerState) {
   dynamicType = <unset>,
   faultCause = (vmodl.MethodFault) null,
   requestedState = "poweredOn",
   existingState = "poweredOn",
   msg = "The attempted operation cannot be performed in the current state (Powered On).",
}
"""


@pytest.mark.parametrize("text", [NOT_FOUND_67, NOT_FOUND_50])
def test_not_found_fault_in_both_eras(text):
    assert parse_fault(text) == {
        "type": "vim.fault.NotFound",
        "name": "NotFound",
        "msg": 'Unable to find a VM corresponding to "2"',
        "messages": [],
        "existing_state": None,
    }


def test_invalid_power_state_fault():
    fault = parse_fault("Powering on VM:\n" + INVALID_POWER)
    assert fault["name"] == "InvalidPowerState" and fault["existing_state"] == "poweredOn"
    assert fault["msg"].startswith("The attempted operation cannot be performed")


def test_no_fault():
    assert parse_fault("Powering on VM:\n") is None


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("Retrieved runtime info\nPowered on\n", "poweredOn"),
        ("Retrieved runtime info\nPowered off\n", "poweredOff"),
        ("Retrieved runtime info\nSuspended\n", "suspended"),
    ],
)
def test_power_state(text, state):
    assert parse_power_state(text) == state


def test_power_state_of_unknown_vm_is_an_error():
    with pytest.raises(EsxiOutputError, match="NotFound"):
        parse_power_state(NOT_FOUND_67)


GET_GUEST = """Guest information:

(vim.vm.GuestInfo) {
   toolsRunningStatus = "guestToolsRunning",
   toolsVersion = "12352",
   ipAddress = "10.1.2.3",
   net = (vim.vm.GuestInfo.NicInfo) [
      (vim.vm.GuestInfo.NicInfo) {
         network = "VM Network",
         ipAddress = (string) [
            "10.1.2.3",
            "fe80::1"
         ],
      }
   ],
}
"""


def test_get_guest_takes_only_the_top_level_ip():
    assert parse_guest_info(GET_GUEST) == {
        "tools_running_status": "guestToolsRunning",
        "tools_running": True,
        "ip_address": "10.1.2.3",
    }


def test_get_guest_without_tools():
    text = GET_GUEST.replace('"guestToolsRunning"', '"guestToolsNotRunning"').replace(
        '"10.1.2.3",\n   net', "<unset>,\n   net"
    )
    assert parse_guest_info(text) == {
        "tools_running_status": "guestToolsNotRunning",
        "tools_running": False,
        "ip_address": None,
    }


def test_properties_at_any_depth():
    text = "\n".join(
        [
            "Listsummary:",
            "",
            "(vim.vm.Summary) {",
            "   runtime = (vim.vm.RuntimeInfo) {",
            '      powerState = "poweredOn",',
            "   },",
            "   config = (vim.vm.Summary.ConfigSummary) {",
            '      vmPathName = "[ds 1] a "b"/a.vmx",',
            "      annotation = <unset>,",
            "      numCpu = 2,",
            "   },",
            "}",
        ]
    )
    assert parse_properties(text, ("powerState", "vmPathName", "annotation", "numCpu", "runtime")) == {
        "powerState": "poweredOn",
        "vmPathName": '[ds 1] a "b"/a.vmx',
        "annotation": None,
        "numCpu": "2",
    }
