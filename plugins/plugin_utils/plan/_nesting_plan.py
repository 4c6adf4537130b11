# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a VM needs for nesting to be on (or off), decided from host_info facts alone.

The roles ask this before touching anything, so a VM that is already as wanted costs no round
trip and is never power-cycled. The plan says which .vmx keys to set or remove, whether the host
needs vhv.allow (ESXi 5.0), whether the VM must be off for the change, whether an interrupted run
left it off (to power it on again), and why.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import (
    BY_OPTION,
    EXTRAS,
    HOST_SWITCH,
    MIN_HARDWARE_VERSION,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._vm_select import select_vm
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import values_equal


class PlanError(NestedvirtError, ValueError):
    """The facts do not allow a plan (unknown VM, facts missing)."""

    reason = "no_facts"


# The opt-in switch each .vmx key belongs to.
_OPTION_OF_KEY = dict((key, option) for option in EXTRAS for key in BY_OPTION[option].keys)


def _differs(current, wanted):
    return current is None or not values_equal(current, wanted)


def nesting_plan(
    facts,
    vm_name,
    state="enabled",
    vpmc=False,
    hide_hypervisor=False,
    hardware_mmu=False,
    host_switch_changed=False,
    iommu=False,
    vbs=False,
    passthrough=False,
):
    """The plan for one VM, from the host's nestedvirt_esxi facts.

    ``host_switch_changed``: this run has just set vhv.allow on the (ESXi 5.0) host, so its running
    VMs need a power cycle to see it even though the facts now say the switch is on.
    """
    if not facts or "vms" not in facts:
        raise PlanError("no nestedvirt_esxi facts for the VM's ESXi host: run nestedvirt.esxi.host_info on it first")
    vm = select_vm(facts["vms"], name=vm_name)
    extras = {
        "vpmc": vpmc,
        "hide_hypervisor": hide_hypervisor,
        "hardware_mmu": hardware_mmu,
        "iommu": iommu,
        "vbs": vbs,
        "passthrough": passthrough,
    }
    return vm_plan(vm, facts["nesting"], state, extras, host_switch_changed)


def vm_plan(vm, nesting, state="enabled", extras=None, host_switch_changed=False):
    """The plan for one VM (a host_info ``vms`` entry) on a host whose ``nesting`` facts are given;
    ``extras``: {option: bool} of the opt-in switches (nesting_rules.EXTRAS)."""
    extras = extras or {}
    method = nesting["method"]
    current = vm.get("vmx", {})
    # A key whose copies disagree (host_info's vmx_conflicts) is rewritten to one line when set,
    # removed when cleared: never taken as already right.
    conflicted = set(vm.get("vmx_conflicts", ()))

    def differs(key, wanted):
        return key in conflicted or _differs(current.get(key), wanted)

    def present(key):
        return key in conflicted or current.get(key) is not None

    wanted_on = state == "enabled"
    vmx_settings = {}
    vmx_remove = []
    host_settings = {}

    if method == "host":
        # ESXi 5.0: only the host-wide switch exists; it is set (never cleared: other VMs may use it).
        if wanted_on and not nesting.get("host_vhv_allow"):
            host_settings.update(HOST_SWITCH)
    elif wanted_on:
        if differs("vhv.enable", "TRUE"):
            vmx_settings["vhv.enable"] = "TRUE"
    elif "vhv.enable" in conflicted or (present("vhv.enable") and not values_equal(current["vhv.enable"], "FALSE")):
        vmx_remove.append("vhv.enable")

    # The opt-in switches: set when asked, and all removed when nesting is turned off.
    for option in EXTRAS:
        for key, value in BY_OPTION[option].keys.items():
            if wanted_on and extras.get(option) and differs(key, value):
                vmx_settings[key] = value
            elif not wanted_on and present(key):
                vmx_remove.append(key)

    # hostd holds another value than the file (an edit that was never reloaded: host_info's
    # hostd_stale): hostd would write its copy back at the next power-off, so the VM is reloaded,
    # and power-cycled when it runs (its power-off may write that copy back: the keys are then
    # written again before the reload). Never "nothing to do".
    stale = [key for key in vm.get("hostd_stale", ()) if method == "vm"]
    file_settings, file_remove = dict(vmx_settings), list(vmx_remove)  # what the file itself lacks
    for key in stale:
        if not wanted_on and key not in vmx_remove:
            vmx_remove.append(key)
        elif wanted_on and (key == "vhv.enable" or extras.get(_OPTION_OF_KEY.get(key))):
            vmx_settings.setdefault(key, "TRUE")
    reload_pending = bool(stale)

    hardware = vm.get("hardware_version") or 0
    needs_upgrade = bool(method == "vm" and wanted_on and hardware < MIN_HARDWARE_VERSION)
    vm_change = bool(vmx_settings or vmx_remove or reload_pending)
    # A running VM only sees a new configuration after a power cycle; on 5.0 the host switch
    # reaches a VM the same way.
    host_change = bool(host_settings or (method == "host" and wanted_on and host_switch_changed))
    needs_power_cycle = bool((vm_change or host_change) and vm.get("power_state") != "poweredOff")
    reasons = []
    if host_settings:
        reasons.append("the host needs vhv.allow = TRUE in /etc/vmware/config (ESXi 5.0)")
    elif host_change:
        reasons.append("the host's vhv.allow was just turned on; the VM sees it after a power cycle (ESXi 5.0)")
    if reload_pending:
        reasons.append(
            "hostd holds another %s than the .vmx (an edit that was never reloaded); the VM is reloaded"
            % " and ".join(stale)
        )
    if file_settings:
        reasons.append("the .vmx needs %s" % ", ".join("%s = %s" % item for item in sorted(file_settings.items())))
    if file_remove:
        reasons.append("the .vmx must lose %s" % ", ".join(sorted(file_remove)))
    if needs_upgrade:
        reasons.append("virtual hardware %s is below the %d that vhv.enable needs" % (hardware, MIN_HARDWARE_VERSION))
    # An interrupted run powered the VM off to change it (restart_marker.py): this run powers it on.
    resume_power_on = bool(vm.get("restart_pending") and vm.get("power_state") == "poweredOff")
    if resume_power_on:
        reasons.append("an interrupted run powered the VM off to change it; it is powered on again")
    return {
        "vmid": vm["vmid"],
        "vm_name": vm["name"],
        "method": method,
        "power_state": vm.get("power_state"),
        "hardware_version": hardware,
        "vmx_settings": vmx_settings,
        "vmx_remove": sorted(vmx_remove),
        "host_settings": host_settings,
        "needs_upgrade": needs_upgrade,
        "reload_pending": reload_pending,
        "needs_change": bool(vm_change or host_change),
        "needs_power_cycle": needs_power_cycle,
        "resume_power_on": resume_power_on,
        # Someone powered the VM on since: the marker is stale, only to remove.
        "stale_restart_marker": bool(vm.get("restart_pending") and vm.get("power_state") == "poweredOn"),
        "reasons": reasons,
    }
