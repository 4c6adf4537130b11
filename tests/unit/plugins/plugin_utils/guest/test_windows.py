"""The Windows reading of verify (plugin_utils/guest/_windows.py) on the fixtures of
tests/unit/fixtures/windows (SOURCES.md there says what each is): CIM values, never systeminfo."""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.guest._windows import (
    PROCESSOR_PROPERTIES,
    WINDOWS_COMMAND,
    WindowsOutputError,
    read_windows_guest,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "windows"
FACTS = Path(__file__).resolve().parents[5].parent / "shared" / "reference" / "esxi-facts.md"


def fixture(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name, exposed, words",
    [
        ("cim-exposed.json", True, "VMMonitorModeExtensions, VirtualizationFirmwareEnabled, "),
        ("cim-not-exposed.json", False, "no hypervisor present"),
        ("cim-hypervisor-present.json", True, "HypervisorPresent true"),
        ("cim-blank.json", None, "unknown: VMMonitorModeExtensions, VirtualizationFirmwareEnabled, "),
        ("cim-blank-hypervisor.json", None, "HypervisorPresent empty"),
        ("cim-multi-socket.json", True, "on 2 processor(s)"),
        ("cim-multi-socket-blank.json", None, "unknown: VirtualizationFirmwareEnabled empty"),
    ],
)
def test_cim_readings(name, exposed, words):
    result = read_windows_guest(fixture(name))
    assert result["guest_os"] == "windows"
    assert result["nested_virtualization"] is exposed
    assert words in result["evidence"]
    assert (result["virtualization_flag"] is None) is (exposed is not True)


def test_multi_socket_keeps_each_processor():
    result = read_windows_guest(fixture("cim-multi-socket-blank.json"))
    assert result["sockets"] == 2
    assert result["cim"]["VirtualizationFirmwareEnabled"] == [True, None]
    assert result["processors"] is None  # sockets are not the VM's vCPUs


@pytest.mark.parametrize(
    "name",
    [
        "systeminfo-exposed.txt",
        "systeminfo-not-exposed.txt",
        "systeminfo-hypervisor-detected.txt",
        "systeminfo-exposed-de.txt",
    ],
)
def test_systeminfo_is_refused_in_any_language(name):
    # systeminfo's words are localized (the German file says "Ja", not "Yes"): the reader keys
    # on nothing of it, English or not, and asks for the CIM query's JSON instead.
    with pytest.raises(WindowsOutputError, match="CIM query") as caught:
        read_windows_guest(fixture(name))
    assert caught.value.reason == "unreadable_windows_output"


def test_one_processor_printed_without_its_array_and_noise_around_the_json():
    one = json.loads(fixture("cim-exposed.json"))
    one["Processors"] = one["Processors"][0]
    text = "\ufeff" + json.dumps(one, indent=4).replace("\n", "\r\n") + "\r\n"
    assert read_windows_guest(text)["nested_virtualization"] is True


@pytest.mark.parametrize("blank", ["", " ", "null", None])
def test_empty_values_are_unknown_not_no(blank):
    data = json.loads(fixture("cim-exposed.json"))
    data["Processors"][0]["SecondLevelAddressTranslationExtensions"] = blank
    result = read_windows_guest(json.dumps(data))
    assert result["nested_virtualization"] is None
    assert "SecondLevelAddressTranslationExtensions empty" in result["evidence"]


@pytest.mark.parametrize(
    "text",
    [
        '{"HypervisorPresent": false}',
        '{"HypervisorPresent": false, "Processors": []}',
        '{"HypervisorPresent": "maybe", "Processors": [{}]}',
        '{"HypervisorPresent": false, "Processors": "x"}',
        "{not json}",
        "",
    ],
)
def test_malformed_is_refused(text):
    with pytest.raises(WindowsOutputError):
        read_windows_guest(text)


def test_command_reads_the_four_cim_properties_as_json():
    for name in PROCESSOR_PROPERTIES + ("HypervisorPresent", "Win32_ComputerSystem", "Win32_Processor"):
        assert name in WINDOWS_COMMAND
    assert "ConvertTo-Json" in WINDOWS_COMMAND and "-InputObject" in WINDOWS_COMMAND


@pytest.mark.skipif(not FACTS.is_file(), reason="the facts are not beside this checkout")
def test_facts_sample_is_verbatim_in_the_facts():
    facts = FACTS.read_text(encoding="utf-8")
    for line in fixture("systeminfo-exposed.txt").splitlines():
        assert "        " + line in facts


FLAG = st.sampled_from([True, False, None, "", "True", "false"])


@given(present=FLAG, cpus=st.lists(st.tuples(FLAG, FLAG, FLAG), min_size=1, max_size=4))
def test_property_decision(present, cpus):
    data = {
        "HypervisorPresent": present,
        "Processors": [dict(zip(PROCESSOR_PROPERTIES, cpu, strict=True)) for cpu in cpus],
    }
    result = read_windows_guest(json.dumps(data))

    def norm(value):
        return {"": None, "True": True, "false": False}.get(value, value) if isinstance(value, str) else value

    values = [norm(v) for cpu in cpus for v in cpu]
    if norm(present) is True or all(v is True for v in values):
        assert result["nested_virtualization"] is True
    elif norm(present) is False and False in values:
        assert result["nested_virtualization"] is False
    else:
        assert result["nested_virtualization"] is None
    assert result["evidence"].startswith("Win32 CIM: ")
