# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the vSphere API modules decide, from what they read: pure functions, no server needed.

The modules read the state with the client, ask these functions what to do (or why it cannot
be done: they raise the client's typed errors), then do it. The messages for a free-license
host, which must point at the SSH path, are built here too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from collections import namedtuple

from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import (
    BY_OPTION,
    HOSTD_FIELDS,
    MIN_HARDWARE_VERSION,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils._switch_checks import check_vbs
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._errors import (
    HardwareVersionError,
    NestedHvUnsupportedError,
    PowerStateError,
    UnsupportedError,
)

SSH_SERVICE = "TSM-SSH"
SERVICE_STATES = ("started", "stopped")
SERVICE_POLICIES = ("on", "off", "automatic")

NESTED_HV_MIN_API = "5.1"  # VirtualMachineConfigSpec.nestedHVEnabled appeared in vSphere API 5.1
VM_FLAGS_MIN_API = "6.7"  # vim.vm.FlagInfo's vvtdEnabled and vbsEnabled appeared in vSphere API 6.7

# The module's settings and the ConfigSpec field of each, from the one rules table (a dotted field
# lies in a nested object: flags.vvtdEnabled is ConfigSpec.flags, a vim.vm.FlagInfo).
SETTING_FIELDS = dict(
    nested_hv_enabled=BY_OPTION["nesting"].api,
    vpmc_enabled=BY_OPTION["vpmc"].api,
    iommu_enabled=BY_OPTION["iommu"].api,
    vbs_enabled=BY_OPTION["vbs"].api,
)

DCUI_SSH = "DCUI (Troubleshooting Options > Enable SSH)"
HOST_CLIENT_SSH = "the Host Client (Host > Actions > Services > Enable Secure Shell (SSH))"


# ---------------------------------------------------------------------------------------------
# SSH service


def service_view(found):
    """What a module reports for a service: ``{"state": "started"|"stopped", "policy": ...}``."""
    return dict(state="started" if found["running"] else "stopped", policy=found["policy"])


def plan_service(found, state=None, policy=None):
    """The calls that take the service from ``found`` to the wanted state and policy.

    Returns ``(actions, after)``: actions are ``("policy", value)``, ``("start",)`` or
    ``("stop",)`` in the order to run them (the policy first, so a service that is started
    under an ``on`` policy never shows up running under the old one); ``after`` is the
    service_view expected afterwards. None means "leave as it is".
    """
    before = service_view(found)
    actions = []
    if policy is not None and policy != before["policy"]:
        actions.append(("policy", policy))
    if state == "started" and not found["running"]:
        actions.append(("start",))
    elif state == "stopped" and found["running"]:
        actions.append(("stop",))
    after = dict(state=state or before["state"], policy=policy or before["policy"])
    return actions, after


def ssh_restricted_hint():
    """For a free-license host that refused to start SSH: the ways that need no API write."""
    return (
        "Turn SSH on by hand once instead: at the host's console with %s, or in %s. "
        "Everything after that works over SSH, which the license does not restrict "
        "(nestedvirt.esxi.vmx edits a powered-off VM's .vmx, no API involved)." % (DCUI_SSH, HOST_CLIENT_SSH)
    )


# ---------------------------------------------------------------------------------------------
# Nested hardware virtualization


def hardware_version(version):
    """``vmx-08`` -> 8; None for anything else (the check is then left to the host)."""
    if isinstance(version, str) and version.startswith("vmx-") and version[4:].isdigit():
        return int(version[4:])
    return None


def api_at_least(api_version, minimum):
    """Compare dotted API versions: ``api_at_least("7.0.3.0", "5.1")`` is True."""

    def parts(text):
        return [int(part) if part.isdigit() else 0 for part in str(text).split(".")]

    have, want = parts(api_version), parts(minimum)
    width = max(len(have), len(want))
    return have + [0] * (width - len(have)) >= want + [0] * (width - len(want))


class NestedHvPlan(namedtuple("NestedHvPlan", "before after spec power_cycle")):
    """What the module will do to one VM: the ConfigSpec fields to set and whether to power-cycle."""

    __slots__ = ()

    @property
    def changed(self):
        return bool(self.spec)


def plan_nested_hv(vm, nested_hv_enabled, vpmc_enabled=None, power_cycle=False, iommu_enabled=None, vbs_enabled=None):
    """Decide what to do to ``vm``, or raise the typed error that says why it cannot be done.

    ``vm`` holds what the client read: name, vmid (None on vCenter), api_version, power_state, version (``vmx-NN``),
    nested_hv_enabled, vpmc_enabled, iommu_enabled, vbs_enabled (None when unset, which ESXi treats
    as false), host_nested_hv_supported, and for vbs host_version, firmware and secure_boot. Nothing
    is checked against the host's support when the wanted values are already there and nesting is
    not being asked for. Turning vbs on is refused (switch_checks.check_vbs) unless its
    preconditions hold in the result.
    """
    name = vm["name"]
    if not api_at_least(vm["api_version"], NESTED_HV_MIN_API):
        raise UnsupportedError(
            "the host speaks vSphere API %s: ESXi 5.0 has no per-VM nested HV setting. Allow nesting for the "
            "whole host instead with nestedvirt.esxi.vmx over SSH: path /etc/vmware/config, create: true, "
            "settings {vhv.allow: true}." % vm["api_version"]
        )
    before = dict((setting, bool(vm.get(setting))) for setting in SETTING_FIELDS)
    wanted = dict(nested_hv_enabled=bool(nested_hv_enabled))
    for setting, value in (
        ("vpmc_enabled", vpmc_enabled),
        ("iommu_enabled", iommu_enabled),
        ("vbs_enabled", vbs_enabled),
    ):
        if value is not None:
            wanted[setting] = bool(value)
    after = dict(before, **wanted)
    if wanted.get("vbs_enabled") and not before["vbs_enabled"]:
        check_vbs(
            repr(name),
            release=vm.get("host_version"),
            hardware=hardware_version(vm["version"]),
            firmware=vm.get("firmware"),
            secure_boot=bool(vm.get("secure_boot")),
            nesting=after["nested_hv_enabled"],
            iommu=after["iommu_enabled"],
        )

    if nested_hv_enabled:
        if vm["host_nested_hv_supported"] is False:
            raise NestedHvUnsupportedError(
                "VM %r: its host does not support nested hardware virtualization (capability.nestedHVSupported "
                "is false): the CPU lacks hardware virtualization with second-level address translation "
                "(Intel VT-x with EPT, AMD-V with RVI), or it is turned off in the firmware." % name
            )
        hardware = hardware_version(vm["version"])
        if hardware is not None and hardware < MIN_HARDWARE_VERSION:
            raise HardwareVersionError(
                "VM %r has virtual hardware version %d (%s); nested HV needs %d or later. Upgrade it while the VM "
                "is powered off (Host Client: Actions > Upgrade VM Compatibility; over SSH: vim-cmd vmsvc/upgrade "
                "%s vmx-%02d)."
                % (
                    name,
                    hardware,
                    vm["version"],
                    MIN_HARDWARE_VERSION,
                    vm.get("vmid") or "<vmid>",
                    MIN_HARDWARE_VERSION,
                )
            )

    spec = dict((SETTING_FIELDS[key], value) for key, value in wanted.items() if before[key] != value)
    cycle = False
    if spec and vm["power_state"] != "poweredOff":
        if vm["power_state"] == "poweredOn" and power_cycle:
            cycle = True
        elif vm["power_state"] == "poweredOn":
            raise PowerStateError(
                "VM %r is powered on; %s can only change while it is powered off. Shut it down first, or set "
                "power_cycle: true to have it shut down and powered back on." % (name, " and ".join(sorted(spec)))
            )
        else:
            raise PowerStateError(
                "VM %r is %s; %s can only change while it is powered off, and a suspended VM is not power-cycled "
                "(its memory state would be lost). Resume and shut it down first."
                % (name, vm["power_state"], " and ".join(sorted(spec)))
            )
    return NestedHvPlan(before, after, spec, cycle)


def nested_hv_restricted_hint(vm_name, running, spec):
    """For a free-license host that refused the change: the same change over SSH, spelled out.

    The name is quoted as JSON, which YAML reads back unchanged whatever the name holds.
    """
    settings = ", ".join(
        "%s: %s" % (HOSTD_FIELDS[field.rpartition(".")[2]], "true" if value else "false")
        for field, value in sorted(spec.items())
    )
    first = "shut it down with nestedvirt.esxi.vm_power (state: shutdown), then " if running else ""
    return (
        "Use the SSH path instead, which the license does not restrict: %srun nestedvirt.esxi.vmx with "
        "vm: %s and settings: {%s} (it edits the .vmx of the powered-off VM and has hostd reload it). SSH must "
        "be on for that; on this license turn it on with %s or in %s."
        % (first, json.dumps(vm_name, ensure_ascii=False), settings, DCUI_SSH, HOST_CLIENT_SSH)
    )
