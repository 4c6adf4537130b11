"""The nesting switches' .vmx keys as the vSphere API holds them, both ways (no server involved):
a VM's properties read in .vmx terms, and the ConfigSpec that makes a plan's .vmx settings true.

The VM properties are pyvmomi's own data objects (vim.option.OptionValue for extraConfig)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyVmomi import vim

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._vmx_fields import (
    EXTRA_CONFIG_KEYS,
    FIELD_OF_KEY,
    MARKER_KEY,
    MARKER_VALUE,
    SwitchNotInApiError,
    marker_set,
    spec_fields,
    vmx_from_properties,
)


def option(key, value):
    return vim.option.OptionValue(key=key, value=value)


# --- reading: properties -> .vmx -----------------------------------------------------------------


def test_the_switch_fields_read_as_true_and_false():
    vmx = vmx_from_properties(
        {
            "config.nestedHVEnabled": True,
            "config.vPMCEnabled": False,
            "config.flags.vvtdEnabled": True,
            "config.flags.vbsEnabled": False,
        }
    )
    assert vmx == {"vhv.enable": "TRUE", "vpmc.enable": "FALSE", "vvtd.enable": "TRUE", "vbs.enable": "FALSE"}


def test_an_unset_field_is_absent_not_false():
    assert vmx_from_properties({"config.nestedHVEnabled": None}) == {}
    assert vmx_from_properties({}) == {}


def test_the_context_properties_read_as_the_vmx_writes_them():
    vmx = vmx_from_properties(
        {
            "config.firmware": "efi",
            "config.bootOptions.efiSecureBootEnabled": True,
            "config.hardware.numCPU": 4,
            "config.hardware.memoryMB": 8192,
        }
    )
    assert vmx == {"firmware": "efi", "uefi.secureBoot.enabled": "TRUE", "numvcpus": "4", "memsize": "8192"}


def test_an_empty_firmware_is_absent():
    assert vmx_from_properties({"config.firmware": ""}) == {}


def test_only_the_switch_keys_without_a_field_are_read_from_extra_config():
    vmx = vmx_from_properties(
        {
            "config.extraConfig": [
                option("hypervisor.cpuid.v0", "FALSE"),
                option("monitor.virtual_mmu", "hardware"),
                option("monitor.virtual_exec", "hardware"),
                option("vhv.enable", "TRUE"),  # has a field: the field says what ESXi does, not this copy
                option("vhv.allowPassthru", "TRUE"),  # refused on the API path, never read from there
                option("ethernet0.networkName", "VM Network"),
                option(MARKER_KEY, MARKER_VALUE),
            ]
        }
    )
    assert vmx == {
        "hypervisor.cpuid.v0": "FALSE",
        "monitor.virtual_mmu": "hardware",
        "monitor.virtual_exec": "hardware",
    }


def test_the_extra_config_keys_are_exactly_the_switches_without_a_field_but_passthrough():
    assert sorted(EXTRA_CONFIG_KEYS) == [
        "hypervisor.cpuid.v0",
        "monitor.virtual_exec",
        "monitor.virtual_mmu",
    ]
    assert FIELD_OF_KEY == {
        "vhv.enable": "nestedHVEnabled",
        "vpmc.enable": "vPMCEnabled",
        "vvtd.enable": "flags.vvtdEnabled",
        "vbs.enable": "flags.vbsEnabled",
    }


def test_the_marker_is_seen_only_with_a_value_and_never_in_the_vmx():
    with_marker = {"config.extraConfig": [option("other", "x"), option(MARKER_KEY, MARKER_VALUE)]}
    assert marker_set(with_marker) is True
    assert MARKER_KEY not in vmx_from_properties(with_marker)
    assert marker_set({"config.extraConfig": [option(MARKER_KEY, "")]}) is False
    assert marker_set({"config.extraConfig": [option("other", "TRUE")]}) is False
    assert marker_set({"config.extraConfig": None}) is False
    assert marker_set({}) is False


# --- writing: a plan's .vmx settings -> ConfigSpec ------------------------------------------------


def test_switches_with_a_field_go_through_the_field():
    assert spec_fields({"vhv.enable": "TRUE", "vpmc.enable": "TRUE", "vvtd.enable": "TRUE", "vbs.enable": "TRUE"}) == (
        {"nestedHVEnabled": True, "vPMCEnabled": True, "flags.vvtdEnabled": True, "flags.vbsEnabled": True},
        {},
    )


def test_a_field_value_other_than_true_sets_the_field_false():
    assert spec_fields({"vhv.enable": "false"}) == ({"nestedHVEnabled": False}, {})
    assert spec_fields({"vhv.enable": "true"}) == ({"nestedHVEnabled": True}, {})


def test_switches_without_a_field_go_as_extra_config_as_they_are():
    assert spec_fields({"hypervisor.cpuid.v0": "FALSE", "monitor.virtual_mmu": "hardware"}) == (
        {},
        {"hypervisor.cpuid.v0": "FALSE", "monitor.virtual_mmu": "hardware"},
    )


def test_removal_sets_a_field_false_and_empties_an_extra_config_key():
    assert spec_fields({}, remove=["vhv.enable", "vvtd.enable", "hypervisor.cpuid.v0", "monitor.virtual_exec"]) == (
        {"nestedHVEnabled": False, "flags.vvtdEnabled": False},
        {"hypervisor.cpuid.v0": "", "monitor.virtual_exec": ""},
    )


@pytest.mark.parametrize("key", ["vhv.allowPassthru", "vhv.allow", "ethernet0.networkName", MARKER_KEY])
def test_a_key_the_api_path_cannot_set_is_refused_both_ways(key):
    with pytest.raises(SwitchNotInApiError, match=key.replace(".", r"\.")):
        spec_fields({key: "TRUE"})
    with pytest.raises(SwitchNotInApiError, match=key.replace(".", r"\.")):
        spec_fields({}, remove=[key])


def test_a_refused_key_refuses_the_whole_spec():
    with pytest.raises(SwitchNotInApiError):
        spec_fields({"vhv.enable": "TRUE", "vhv.allowPassthru": "TRUE"})


# --- both ways: what spec_fields asks for is what vmx_from_properties reads back ------------------


def apply(properties, fields, extra):
    """What vSphere does with a ConfigSpec: a field sets config.<field> (flags.x: config.flags.x),
    an extraConfig key replaces the key's value, an empty value removes the key."""
    after = dict(properties)
    for field, value in fields.items():
        after["config." + field] = value
    options = [opt for opt in properties.get("config.extraConfig") or () if opt.key not in extra]
    options += [option(key, value) for key, value in sorted(extra.items()) if value != ""]
    after["config.extraConfig"] = options
    return after


SETTABLE = sorted(FIELD_OF_KEY) + sorted(EXTRA_CONFIG_KEYS)


def _value_for(key):
    if key in FIELD_OF_KEY:
        return st.sampled_from(["TRUE", "FALSE"])
    return st.sampled_from(["TRUE", "FALSE", "hardware", "software", "automatic"])


@st.composite
def a_vm(draw):
    """Any starting state: each field unset, true or false; extraConfig with some switch keys,
    other keys, maybe the marker."""
    properties = {}
    for field in FIELD_OF_KEY.values():
        properties["config." + field] = draw(st.sampled_from([None, True, False]))
    present = draw(st.lists(st.sampled_from(sorted(EXTRA_CONFIG_KEYS)), unique=True))
    options = [option(key, draw(_value_for(key))) for key in present]
    options += [option("ethernet0.networkName", "VM Network")]
    if draw(st.booleans()):
        options.append(option(MARKER_KEY, MARKER_VALUE))
    properties["config.extraConfig"] = options
    return properties


@st.composite
def a_change(draw):
    """Settings and removals over disjoint sets of settable keys."""
    keys = draw(st.lists(st.sampled_from(SETTABLE), unique=True))
    removed = draw(st.lists(st.sampled_from(SETTABLE), unique=True))
    settings = dict((key, draw(_value_for(key))) for key in keys)
    return settings, [key for key in removed if key not in settings]


@given(a_vm(), a_change())
def test_what_the_spec_sets_reads_back_and_what_it_removes_reads_as_off(properties, change):
    settings, remove = change
    fields, extra = spec_fields(settings, remove)
    after = apply(properties, fields, extra)
    vmx = vmx_from_properties(after)
    for key, value in settings.items():
        assert vmx[key] == value
    for key in remove:
        if key in FIELD_OF_KEY:
            assert vmx[key] == "FALSE"  # a field is never unset again, only false
        else:
            assert key not in vmx
    assert marker_set(after) == marker_set(properties)  # the spec never touches the marker
    untouched = [key for key in SETTABLE if key not in settings and key not in remove]
    before = vmx_from_properties(properties)
    assert dict((key, vmx.get(key)) for key in untouched) == dict((key, before.get(key)) for key in untouched)
