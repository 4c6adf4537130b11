# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Windows guest: is hardware virtualization exposed to it (for Hyper-V, WSL2, Docker Desktop,
VBS)? Read from CIM, whose property names are not localized (systeminfo's text is):
``Win32_ComputerSystem.HypervisorPresent`` and, per processor, ``VMMonitorModeExtensions``,
``VirtualizationFirmwareEnabled`` and ``SecondLevelAddressTranslationExtensions``.

Exposed when a hypervisor already runs in the guest (then the processor properties cannot be
relied on: systeminfo stops showing them) or when all three are true on every
processor. Not exposed when no hypervisor runs and one of them is false. An empty (null) value is
unknown, not "no": a reading with one is neither.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError

PROCESSOR_PROPERTIES = (
    "VMMonitorModeExtensions",
    "VirtualizationFirmwareEnabled",
    "SecondLevelAddressTranslationExtensions",
)

# PowerShell for ansible.builtin.raw over the guest's own connection (WinRM, PSRP or OpenSSH with
# PowerShell): one JSON object, the processors always as an array (-InputObject does not unroll).
WINDOWS_COMMAND = (
    "$ErrorActionPreference = 'Stop'; "
    "$cs = Get-CimInstance -ClassName Win32_ComputerSystem; "
    "$cpus = @(Get-CimInstance -ClassName Win32_Processor | ForEach-Object { [ordered]@{ "
    + "; ".join("%s = $_.%s" % (name, name) for name in PROCESSOR_PROPERTIES)
    + " } }); "
    "ConvertTo-Json -Compress -Depth 3 -InputObject ([ordered]@{ "
    "HypervisorPresent = $cs.HypervisorPresent; Processors = $cpus })"
)


class WindowsOutputError(NestedvirtError, ValueError):
    """Not the JSON the CIM query prints."""

    reason = "unreadable_windows_output"


def _flag(value, name):
    """True, False or None (unknown) from what ConvertTo-Json printed for a CIM boolean."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("", "null"):
            return None
        if word in ("true", "false"):
            return word == "true"
    raise WindowsOutputError("%s: expected true, false or empty, got %r" % (name, value))


def _json_object(text):
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise WindowsOutputError(
            "no JSON object in the guest's answer; expected the CIM query's output, not %r" % text.strip()[:120]
        )
    try:
        data = json.loads(text[start : end + 1])
    except ValueError as error:
        raise WindowsOutputError("the guest's answer is not the CIM query's JSON: %s" % error) from error
    if not isinstance(data, dict) or "HypervisorPresent" not in data or "Processors" not in data:
        raise WindowsOutputError("the guest's JSON lacks HypervisorPresent or Processors")
    return data


def read_windows_guest(text):
    """What the CIM query (WINDOWS_COMMAND) shows, in verify_result's fields: ``nested_virtualization``
    is true, false or None (unknown); ``evidence`` names what decided it."""
    data = _json_object(text)
    present = _flag(data["HypervisorPresent"], "HypervisorPresent")
    processors = data["Processors"]
    if isinstance(processors, dict):  # one processor, printed without its array
        processors = [processors]
    if not isinstance(processors, list) or not processors or not all(isinstance(p, dict) for p in processors):
        raise WindowsOutputError("Processors: expected one object per processor, got %r" % (processors,))
    values = dict((name, [_flag(cpu.get(name), name) for cpu in processors]) for name in PROCESSOR_PROPERTIES)
    false = [name for name in PROCESSOR_PROPERTIES if False in values[name]]
    unknown = [name for name in PROCESSOR_PROPERTIES if None in values[name]]
    count = len(processors)
    if present:
        exposed, evidence = True, "a hypervisor runs in the guest (Win32_ComputerSystem.HypervisorPresent true)"
    elif not false and not unknown:
        exposed, evidence = True, "%s true on %d processor(s)" % (", ".join(PROCESSOR_PROPERTIES), count)
    elif false and present is False:
        exposed, evidence = False, "%s false on %d processor(s), no hypervisor present" % (", ".join(false), count)
    else:
        exposed = None
        blanks = unknown + (["HypervisorPresent"] if present is None else [])
        evidence = "unknown: %s empty%s" % (
            ", ".join(blanks),
            "; %s false" % ", ".join(false) if false else "",
        )
    return {
        "guest_os": "windows",
        "nested_virtualization": exposed,
        "virtualization_flag": ("HypervisorPresent" if present else "VT-x/AMD-V and SLAT (CIM)") if exposed else None,
        "hypervisor_present": present,
        "cim": dict((name, values[name]) for name in PROCESSOR_PROPERTIES),
        "long_mode": None,
        "processors": None,  # Win32_Processor counts sockets, not the vCPUs the VM has
        "sockets": count,
        "evidence": "Win32 CIM: " + evidence,
    }
