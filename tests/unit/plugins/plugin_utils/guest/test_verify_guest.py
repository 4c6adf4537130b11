"""Verify by guest OS (plugin_utils/guest/_verify.py and _esxi.py): the command per guest OS and
the reading of its answer, auto included, on the captured esxcli outputs and a QEMU /proc/cpuinfo."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import EsxiOutputError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.guest._verify import (
    AUTO_COMMAND,
    UNAME_MARK,
    GuestOsError,
    guest_probe,
    read_guest,
)
from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import load_fixture

HV3 = load_fixture("6.7.0", "esxcli-hardware-cpu-global-get")
HV1 = load_fixture("6.7.0", "esxcli-hardware-cpu-global-get-no-nesting")
CPUINFO = (
    "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu lm svm hypervisor\n\n"
    "processor\t: 1\nflags\t\t: fpu lm svm\n"
)


@pytest.mark.parametrize(
    "wanted, connection, shell, expected",
    [
        ("auto", "ssh", "sh", "auto"),
        ("auto", "winrm", None, "windows"),
        ("auto", "psrp", None, "windows"),
        ("auto", "ansible.builtin.winrm", None, "windows"),
        ("auto", "ssh", "powershell", "windows"),
        (None, None, None, "auto"),
        ("ESXi", "ssh", "sh", "esxi"),
        ("linux", "winrm", None, "linux"),
    ],
)
def test_probe_decides_windows_from_the_connection_only(wanted, connection, shell, expected):
    probe = guest_probe(wanted, connection, shell)
    assert probe["guest_os"] == expected
    assert probe["command"]


def test_probe_refuses_unknown_os():
    with pytest.raises(GuestOsError) as caught:
        guest_probe("solaris")
    assert caught.value.reason == "unknown_guest_os"


def test_auto_command_reads_uname_first_then_one_of_two():
    assert AUTO_COMMAND.startswith("s=$(uname -s")
    assert "esxcli hardware cpu global get" in AUTO_COMMAND and "cat /proc/cpuinfo" in AUTO_COMMAND


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_auto_on_a_nested_esxi(line_end):
    text = (UNAME_MARK + "VMkernel\n" + HV3).replace("\n", line_end)
    result = read_guest(text, "auto")
    assert result["guest_os"] == "esxi"
    assert result["nested_virtualization"] is True
    assert result["virtualization_flag"] == "HV Support 3"
    assert result["evidence"] == "esxcli hardware cpu global get: HV Support 3 (VT-x/AMD-V enabled and usable)"


def test_esxi_without_nesting_reports_value_and_meaning():
    result = read_guest(HV1, "esxi")
    assert result["nested_virtualization"] is False
    assert result["hv_support"] == 1
    assert result["hv_support_meaning"] == "VT-x/AMD-V may be available but is not supported"
    assert result["virtualization_flag"] is None


def test_esxi_unreadable_is_refused_not_read_as_no():
    with pytest.raises(EsxiOutputError):
        read_guest(UNAME_MARK + "VMkernel\nError: Unknown command or namespace hardware\n", "auto")


@pytest.mark.parametrize("text", [UNAME_MARK + "Linux\n" + CPUINFO, CPUINFO])
def test_auto_on_linux(text):
    result = read_guest(text, "auto")
    assert result["guest_os"] == "linux"
    assert result["virtualization_flag"] == "svm"
    assert result["processors"] == 2
    assert result["evidence"] == "/proc/cpuinfo: svm, 2 processor(s)"


def test_windows_through_read_guest():
    text = '{"HypervisorPresent":true,"Processors":[{}]}'
    assert read_guest(text, "windows")["nested_virtualization"] is True


def test_unknown_os_refused_when_reading():
    with pytest.raises(GuestOsError):
        read_guest(CPUINFO, "bsd")


def test_the_filters_expose_it_with_the_reason_in_ansible_errors():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.nestedvirt.esxi.plugins.filter.nesting import FilterModule

    filters = FilterModule().filters()
    probe = filters["guest_probe"]("auto", "ssh", None)
    assert probe == {"guest_os": "auto", "command": AUTO_COMMAND}
    result = filters["guest_virtualization"](UNAME_MARK + "VMkernel\n" + HV1, "auto", True)
    assert result["reason"] == "guest_hv_support"
    assert filters["guest_virtualization"](HV3, "esxi", True)["reason"] is None
    with pytest.raises(AnsibleFilterError, match=r"\(reason: unknown_guest_os\)"):
        filters["guest_probe"]("bsd")


@pytest.mark.parametrize(
    "text, guest_os, expected, reason",
    [
        (CPUINFO, "linux", True, None),
        (CPUINFO, "linux", False, "guest_still_exposed"),
        (CPUINFO.replace(" svm", ""), "linux", True, "guest_not_exposed"),
        (HV1, "esxi", True, "guest_hv_support"),
        (HV1, "esxi", False, None),
        ('{"HypervisorPresent":false,"Processors":[{}]}', "windows", True, "guest_virtualization_unknown"),
        ('{"HypervisorPresent":false,"Processors":[{}]}', "windows", False, "guest_virtualization_unknown"),
    ],
)
def test_reason_against_the_expectation(text, guest_os, expected, reason):
    assert read_guest(text, guest_os, expected)["reason"] == reason
    assert "reason" not in read_guest(text, guest_os)


@given(uname=st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=20))
def test_property_auto_reads_esxi_only_from_vmkernel(uname):
    body = HV3 if uname.strip() == "VMkernel" else CPUINFO
    result = read_guest(UNAME_MARK + uname + "\n" + body, "auto", True)
    assert result["guest_os"] == ("esxi" if uname.strip() == "VMkernel" else "linux")
    assert result["reason"] is None
