# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The .vmx keys of the nesting switches as the vSphere API holds them, both ways: what a VM's
properties say in .vmx terms (so the API path's facts plan exactly as host_info's do), and the
ConfigSpec that makes a plan's .vmx settings true.

A switch with a ConfigSpec field (the rules table's ``api``) goes through that field: extraConfig
keys that clash with one are silently dropped by ESXi (vhv.enable above all). A switch without one
(hide_hypervisor, hardware_mmu) is an extraConfig key, which ESXi writes into the .vmx as it is; an
empty value removes the key. Passthrough is refused before any of this (the plan's switch_not_in_api).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import SWITCHES

# The restart marker of the API path: an extraConfig key, written before a running VM is shut down
# for a change and removed once it runs again (the SSH path's is a file beside the .vmx).
MARKER_KEY = "nestedvirt.powerOnPending"
MARKER_VALUE = "TRUE"

# .vmx key -> ConfigSpec field (dotted: flags.vvtdEnabled lies in ConfigSpec.flags).
FIELD_OF_KEY = dict((key, switch.api) for switch in SWITCHES if switch.api for key in switch.keys)
# .vmx keys that travel as extraConfig (no field of their own, and not refused by the plan).
EXTRA_CONFIG_KEYS = tuple(
    key for switch in SWITCHES if not switch.api and switch.option != "passthrough" for key in switch.keys
)
# VirtualMachine property path -> .vmx key, for what the plan reads beside the switches.
PROPERTY_OF_FIELD = dict(
    (field, "config.flags.%s" % field[len("flags.") :] if field.startswith("flags.") else "config.%s" % field)
    for field in FIELD_OF_KEY.values()
)
CONTEXT_PROPERTIES = {
    "config.firmware": "firmware",
    "config.bootOptions.efiSecureBootEnabled": "uefi.secureBoot.enabled",
    "config.hardware.numCPU": "numvcpus",
    "config.hardware.memoryMB": "memsize",
}


class SwitchNotInApiError(ValueError):
    """A .vmx key the API path cannot set (never sent as extraConfig)."""


def vmx_text(value):
    """A property's value as the .vmx writes it: booleans TRUE/FALSE, numbers as digits."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def vmx_from_properties(properties):
    """The VM's nesting keys (and what the vbs switch and the verify step need) in .vmx terms, from
    its properties: ``{"config.nestedHVEnabled": True, ...}`` plus ``config.extraConfig`` as a list
    of objects with ``key`` and ``value``. An unset field is absent (ESXi treats it as false)."""
    vmx = {}
    for key, field in FIELD_OF_KEY.items():
        value = properties.get(PROPERTY_OF_FIELD[field])
        if value is not None:
            vmx[key] = vmx_text(value)
    for path, key in CONTEXT_PROPERTIES.items():
        value = properties.get(path)
        if value is not None and value != "":
            vmx[key] = vmx_text(value)
    for option in properties.get("config.extraConfig") or ():
        if option.key in EXTRA_CONFIG_KEYS:
            vmx[option.key] = str(option.value)
    return vmx


def marker_set(properties):
    """Whether the VM's extraConfig holds the restart marker."""
    return any(
        option.key == MARKER_KEY and str(option.value) != "" for option in properties.get("config.extraConfig") or ()
    )


def spec_fields(settings, remove=()):
    """The ConfigSpec of a plan's ``vmx_settings`` and ``vmx_remove``: ``(fields, extra_config)``,
    fields as VsphereClient.reconfigure takes them (``{"nestedHVEnabled": True, "flags.vvtdEnabled":
    False}``), extra_config ``{key: value}`` ("" removes the key)."""
    fields, extra = {}, {}
    for key, value in sorted(settings.items()):
        if key in FIELD_OF_KEY:
            fields[FIELD_OF_KEY[key]] = str(value).upper() == "TRUE"
        elif key in EXTRA_CONFIG_KEYS:
            extra[key] = str(value)
        else:
            raise SwitchNotInApiError(key)
    for key in sorted(remove):
        if key in FIELD_OF_KEY:
            fields[FIELD_OF_KEY[key]] = False
        elif key in EXTRA_CONFIG_KEYS:
            extra[key] = ""
        else:
            raise SwitchNotInApiError(key)
    return fields, extra
