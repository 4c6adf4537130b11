# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of one ESXi host: what each selected VM needs, and the batches that do it.

Computed once per host, from host_info's facts alone (no round trip). Each VM gets an action
and a handle that every later step uses as it is (no step looks the VM up again):

- ``nothing``: already as wanted; never touched.
- ``configure``: off, stays off; its .vmx is written (or only reloaded).
- ``power_cycle``: runs (or an interrupted run left it off): shut down, written, powered on.
- ``resume``: an interrupted run left it off and its .vmx is right: powered on (reloaded first).
- ``remove_marker``: runs, right, with a stale restart marker: the marker is removed.
- ``refuse``: cannot be changed safely; ``reason`` says why in one word, ``reasons`` in words.
  Never shut down.

Batches hold the VMs that act, at most ``batch_size`` of them powered off at once (the rolling
limit); VMs that are not powered off by the run ride along in the first batch.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import (
    BY_OPTION,
    EXTRAS,
    MIN_HARDWARE_VERSION,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils._switch_checks import vbs_missing
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._nesting_plan import vm_plan
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._vm_select import VmSelectionError, select_vm
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import values_equal

ACTIONS = ("nothing", "configure", "power_cycle", "resume", "remove_marker", "refuse")
# The steps of a batch each action takes part in.
SHUTDOWN_ACTIONS = ("configure", "power_cycle")  # the shutdown step also reads the .vmx once off
BOOT_ACTIONS = ("power_cycle", "resume", "remove_marker")


class HostPlanError(NestedvirtError, ValueError):
    """The request itself is wrong (no facts, a bad batch size); nothing about one VM."""

    reason = "bad_request"


def handle(vm):
    """What every step needs to act on the VM, and to check on the host that it is still that VM
    (through the API: its moid as ``vmid``, and its ``instance_uuid``)."""
    found = {
        "vmid": vm["vmid"],
        "name": vm["name"],
        "datastore_path": vm.get("datastore_path"),
        "vmx_path": vm.get("vmx_path"),
        "md5": vm.get("vmx_md5"),
        "hardware_version": vm.get("hardware_version"),
    }
    if vm.get("instance_uuid"):
        found["instance_uuid"] = vm["instance_uuid"]
    return found


def _refusal(vm, plan, force, upgrade_hardware):
    """(reason, text) when the VM must not be touched although it needs a change, else None."""
    if vm.get("fault") or vm.get("power_state") is None:
        return "vm_unreadable", "the host cannot say what state the VM is in (%s)" % vm.get("fault", "no state")
    if plan["needs_upgrade"] and not upgrade_hardware:
        return "hardware_too_old", (
            "virtual hardware %s is below the %d that nesting needs; set upgrade_hardware to upgrade it"
            % (plan["hardware_version"], MIN_HARDWARE_VERSION)
        )
    if plan["needs_power_cycle"] and vm.get("power_state") == "suspended":
        return "vm_suspended", "the VM is suspended; resume it or power it off first"
    tools = vm.get("tools_running_status")
    if plan["needs_power_cycle"] and not force and tools in ("guestToolsNotRunning", "guestToolsNotInstalled"):
        return "tools_unavailable", (
            "VMware Tools do not run in the guest, so it cannot be shut down gracefully; set force to power it off hard"
        )
    return None


def _host_state_refusal(facts):
    """(reason, text) when the host cannot have a VM changed now: in maintenance mode, or not
    connected to its vCenter (the API path's ``host_state``). A VM already as wanted is not refused."""
    host_state = facts.get("host_state") or {}
    if host_state.get("in_maintenance_mode"):
        return "host_in_maintenance", (
            "the ESXi host is in maintenance mode, where its VMs cannot be powered on; the VM was left as it is"
        )
    if host_state.get("connection_state") not in (None, "connected"):
        return "host_disconnected", (
            "the ESXi host is %s in its vCenter, which then cannot change its VMs; the VM was left as it is"
            % host_state["connection_state"]
        )
    return None


def _host_refusal(facts, state):
    """(reason, text) when the host's CPU cannot expose hardware virtualization to any VM (known and
    not supported: host_info's ``HV Support`` other than 3, the API's ``capability.nestedHVSupported``
    false); an unknown value refuses nothing. Every VM of such a host is refused."""
    nesting = facts["nesting"]
    if state != "enabled" or nesting.get("nested_hv_supported") is not False:
        return None
    value = nesting.get("hv_support")
    if value is None:
        return "host_cannot_nest", (
            "the ESXi host cannot expose hardware virtualization to its VMs: its vSphere API says "
            "capability.nestedHVSupported is false (the CPU lacks VT-x/AMD-V with EPT/RVI, or the firmware "
            "turns it off); the VM was left as it is, never shut down"
        )
    return "host_cannot_nest", (
        "the ESXi host cannot expose hardware virtualization to its VMs: esxcli hardware cpu global get says "
        "HV Support: %s (%s), and nesting needs 3 (VT-x/AMD-V enabled and usable, with EPT/RVI); "
        "the VM was left as it is, never shut down" % (value, nesting.get("hv_support_meaning"))
    )


def _switch_refusal(facts, vm, plan, state, extras, method):
    """(reason, text) when an asked-for switch cannot be set on this path or this VM."""
    if state != "enabled":
        return None
    if method in ("api", "auto") and extras.get("passthrough"):
        return "switch_not_in_api", (
            "passthrough (%s) has no field in the vSphere API and is never sent as extraConfig; "
            "use the SSH path (method ssh) for it" % ", ".join(sorted(BY_OPTION["passthrough"].keys))
        )
    # Switches whose hardware need is beyond the version 9 that upgrade_hardware reaches (iommu).
    hardware = vm.get("hardware_version") or 0
    below = [
        option
        for option in EXTRAS
        if extras.get(option)
        and hardware < (BY_OPTION[option].min_hardware or 0)
        and BY_OPTION[option].min_hardware > MIN_HARDWARE_VERSION
    ]
    if below and not extras.get("vbs"):  # vbs names its hardware need among its preconditions
        switch = BY_OPTION[below[0]]
        return "hardware_too_old", (
            "virtual hardware %s is below the %d that %s (%s) needs; upgrade the VM's compatibility while it is off"
            % (hardware, switch.min_hardware, switch.option, ", ".join(sorted(switch.keys)))
        )
    if not extras.get("vbs"):
        return None
    vmx = dict(vm.get("vmx") or {}, **plan["vmx_settings"])
    for key in plan["vmx_remove"]:
        vmx.pop(key, None)
    missing = vbs_missing(
        release=facts.get("version"),
        hardware=vm.get("hardware_version"),
        firmware=vmx.get("firmware"),
        secure_boot=values_equal(vmx.get("uefi.secureBoot.enabled", "FALSE"), "TRUE"),
        nesting=plan["method"] == "vm" and values_equal(vmx.get("vhv.enable", "FALSE"), "TRUE"),
        iommu=values_equal(vmx.get("vvtd.enable", "FALSE"), "TRUE"),
    )
    if missing:
        return "vbs_preconditions", "virtualization-based security needs %s; nothing was changed" % "; ".join(missing)
    return None


def _action(plan):
    if plan["needs_change"]:
        return "power_cycle" if plan["needs_power_cycle"] or plan["resume_power_on"] else "configure"
    if plan["resume_power_on"]:
        return "resume"
    if plan["stale_restart_marker"]:
        return "remove_marker"
    return "nothing"


def host_plan(
    facts,
    names,
    state="enabled",
    extras=None,
    upgrade_hardware=False,
    force=False,
    host_switch_changed=False,
    batch_size=0,
    wait_for_address=(),
    method="ssh",
):
    """The host's plan: ``{"vms": [entry...], "batches": [[entry...]...], "refused": [entry...]}``.

    ``names``: the exact VM names selected on this host (vm_select.select_vm_names), each once.
    ``extras``: {option: bool} for nesting_rules.EXTRAS. ``batch_size``: how many VMs may be
    powered off at once (0: all of them). ``wait_for_address``: the names whose power-on waits
    until VMware Tools report an address (VMs listed by name whose guest is verified there), where
    they had one before; every power-on waits for Tools where Tools ran before. ``method``: the
    path that will make the change (ssh, api, auto), for the switches the API cannot set.

    Refused before anything changes: every VM, when the host's CPU cannot nest (host_cannot_nest);
    a VM that lacks what an asked-for switch needs (vbs_preconditions, switch_not_in_api).
    """
    if not facts or "vms" not in facts or "nesting" not in facts:
        raise HostPlanError("no nestedvirt_esxi facts for the host: run nestedvirt.esxi.host_info on it first")
    if batch_size < 0:
        raise HostPlanError("the batch size is a number of VMs, 0 for all at once; got %r" % batch_size)
    extras = dict((option, bool((extras or {}).get(option))) for option in EXTRAS)
    host_refusal = _host_refusal(facts, state)  # the host's, the same for each of its VMs
    unavailable = _host_state_refusal(facts)
    entries = []
    for name in names:
        try:
            vm = select_vm(facts["vms"], name=name)
        except VmSelectionError as error:
            entries.append({"name": name, "action": "refuse", "reason": error.reason, "reasons": [str(error)]})
            continue
        plan = vm_plan(vm, facts["nesting"], state, extras, host_switch_changed)
        entry = {
            "name": vm["name"],
            "vmid": vm["vmid"],
            "handle": handle(vm),
            "power_state": plan["power_state"],
            "vmx_settings": plan["vmx_settings"],
            "vmx_remove": plan["vmx_remove"],
            "reload": plan["reload_pending"],
            "upgrade_hardware": plan["needs_upgrade"],
            "reasons": plan["reasons"],
            "action": _action(plan),
            "reason": None,
            "ip_address": vm.get("ip_address"),
            "numvcpus": vm.get("vmx", {}).get("numvcpus"),
            "networks": list(vm.get("networks") or ()),  # its NICs' port groups (nested ESXi networking)
        }
        entry["handle"].update(
            wait_for_ip=bool(vm["name"] in wait_for_address and vm.get("ip_address")),
            wait_for_tools=vm.get("tools_running_status") == "guestToolsRunning",
        )
        refusal = host_refusal or _switch_refusal(facts, vm, plan, state, extras, method)
        if not refusal and entry["action"] != "nothing":
            refusal = unavailable or _refusal(vm, plan, force, upgrade_hardware)
        if refusal:
            entry.update(action="refuse", reason=refusal[0], reasons=[refusal[1]] + plan["reasons"])
        entries.append(entry)
    return {
        "vms": entries,
        "batches": batches(entries, batch_size),
        "refused": [entry for entry in entries if entry["action"] == "refuse"],
    }


def batches(entries, batch_size=0):
    """The acting VMs in batches of at most ``batch_size`` power cycles (0: one batch)."""
    cycled = [entry for entry in entries if entry["action"] == "power_cycle"]
    others = [entry for entry in entries if entry["action"] in ("configure", "resume", "remove_marker")]
    size = batch_size or len(cycled) or 1
    groups = [cycled[start : start + size] for start in range(0, len(cycled), size)] or [[]]
    groups[0] = others + groups[0]
    return [group for group in groups if group]


def steps(batch):
    """The handles each step of a batch acts on: ``{"shutdown": [...], "configure": [...], "boot": [...]}``."""
    return {
        "shutdown": [entry for entry in batch if entry["action"] in SHUTDOWN_ACTIONS],
        "configure": [entry for entry in batch if entry["action"] in SHUTDOWN_ACTIONS],
        "boot": [entry for entry in batch if entry["action"] in BOOT_ACTIONS],
    }


# The steps whose results outcome() reads: a batch's three, on either path (the API path's modules
# give each VM's outcome in the shape of the SSH path's).
STEPS = ("shutdown", "configure", "boot")


def _needed(action):
    """The steps an action goes through."""
    return {
        "configure": ("shutdown", "configure"),
        "power_cycle": ("shutdown", "configure", "boot"),
        "resume": ("boot",),
        "remove_marker": ("boot",),
    }.get(action, ())


def outcome(plan, steps):
    """What happened to each VM of the plan, from the results of the batches' steps: per batch a
    ``{"entries": [plan entries], "shutdown": result, "configure": result, "boot": result}``
    (vm_power and vmx with ``vms``, or their API counterparts vsphere_vm_power and vsphere_vm_config).
    A step that failed as a whole (no ``vms`` in its result: connection lost) failed for every VM of its batch.

    Returns ``{"vms": [record...], "failed": [names], "changed": [names]}``; a record is the plan's
    entry (name, vmid, action, reason, reasons, ip_address, numvcpus) with ``done`` (its steps all
    went through), ``power_cycled``, ``power_state`` at the end, and ``failed``/``msg``/``reason``
    of the first step that failed for it.
    """
    seen = {}  # vmid -> {step: that VM's result in the step}
    for batch in steps:
        for step in STEPS:
            result = batch.get(step) or {}
            for vm in result.get("vms") or ():
                seen.setdefault(str(vm.get("vmid")), {})[step] = vm
            if result.get("failed") and not result.get("vms"):
                whole = dict(failed=True, msg=result.get("msg", "the step failed"), reason=result.get("reason"))
                for entry in batch.get("entries") or ():
                    if step in _needed(entry["action"]):
                        seen.setdefault(str(entry.get("vmid")), {}).setdefault(step, whole)
    records, failed, changed = [], [], []
    keys = ("name", "vmid", "action", "reason", "reasons", "power_state", "ip_address", "numvcpus")
    for entry in plan["vms"]:
        record = dict((key, entry.get(key)) for key in keys)
        results = seen.get(str(entry.get("vmid")), {})
        operations = (results.get("shutdown") or {}).get("operations") or ()
        last = results.get("boot") or results.get("shutdown") or {}
        record.update(
            power_cycled=bool(set(operations) & set(("shutdown", "off"))),
            power_state=last.get("power_state", record["power_state"]),
            ip_address=(results.get("boot") or {}).get("ip_address") or record["ip_address"],
        )
        problem = next((results[step] for step in STEPS if (results.get(step) or {}).get("failed")), None)
        missing = [step for step in _needed(entry["action"]) if step not in results]
        if entry["action"] == "refuse":
            record.update(failed=True, done=False, msg="; ".join(entry["reasons"]))
        elif problem is not None:
            record.update(failed=True, done=False, msg=problem.get("msg"), reason=problem.get("reason"))
        elif missing:
            # Its batch stopped before this VM's step (the host stopped answering): not done.
            record.update(
                failed=True,
                done=False,
                reason="not_reached",
                msg="the run stopped before this VM's %s; run again" % " and ".join(missing),
            )
        else:
            record.update(failed=False, done=True)
        if record["failed"]:
            failed.append(entry["name"])
        elif entry["action"] != "nothing" and record["done"]:
            changed.append(entry["name"])
        records.append(record)
    return {"vms": records, "failed": failed, "changed": changed}


def verify_targets(result, mode="changed"):
    """The guests of one host's outcome (``enable_nesting_result``: outcome() plus ``esxi_host`` and
    ``guests``, {VM name: inventory name} of its inventory guests) to verify: with ``changed`` those
    power-cycled or powered on again, with ``all`` every one that runs at the end, with ``none`` none.
    A VM that failed is not verified (the failure says why). Each target: ``inventory_name`` (the
    inventory guest's, else ``<esxi host>_<VM name as a safe word>``), ``inventory`` (whether it
    is an inventory guest), ``address`` (for a VM listed by name, what VMware Tools report: None
    when unknown), ``esxi_host``, ``name``, ``vcpus``, ``reasons``."""
    if mode == "none":
        return []
    guests = result.get("guests") or {}
    targets = []
    for vm in result.get("vms", ()):
        if vm.get("failed") or vm.get("power_state") != "poweredOn":
            continue
        if mode == "changed" and not (vm.get("power_cycled") or vm.get("action") == "resume"):
            continue
        word = "".join(ch if ch.isalnum() and ch.isascii() or ch in "_.-" else "_" for ch in vm["name"])
        targets.append(
            {
                "inventory_name": guests.get(vm["name"]) or "%s_%s" % (result["esxi_host"], word),
                "inventory": vm["name"] in guests,
                "address": vm.get("ip_address"),
                "esxi_host": result["esxi_host"],
                "name": vm["name"],
                "vcpus": vm.get("numvcpus"),
                "reasons": vm.get("reasons") or [],
            }
        )
    return targets


# What the summary says of each action: (in check mode after "would ", once done).
DONE = {
    "nothing": ("do nothing", "nothing to do"),
    "configure": ("configure (it stays off)", "configured (it stays off)"),
    "power_cycle": ("configure and power-cycle", "configured, power-cycled"),
    "resume": ("power on again (an interrupted run left it off)", "powered on again"),
    "remove_marker": ("remove a stale restart marker", "stale restart marker removed"),
    "refuse": ("refuse", "refused"),
}


def summary_table(results, verified):
    """One aligned table of every VM of these hosts' outcomes (``enable_nesting_result`` each), as
    lines: VM, ESXi host and release, what was done (or why not), and what its guest showed
    (``verified``: {inventory name: verify_result}), or why it was not verified. A failure shows
    its reason and a note number in the table; the notes, with the whole message, follow it, so a
    long message does not widen every row."""
    rows = [("VM", "ESXi host", "release", "result", "guest")]
    notes = []
    for result in results:
        targets = dict((target["name"], target) for target in verify_targets(result, "all"))
        would = result.get("check_mode")
        for vm in result.get("vms", ()):
            if vm.get("failed"):
                notes.append("[%d] %s: %s" % (len(notes) + 1, vm["name"], vm.get("msg")))
                done = "FAILED (%s) [%d]" % (vm.get("reason") or "error", len(notes))
            elif would:
                done = "would " + DONE[vm["action"]][0]
            else:
                done = (
                    DONE[vm["action"]][1] if vm["action"] != "power_cycle" or vm.get("power_cycled") else "configured"
                )
            target = targets.get(vm["name"])
            shown = verified.get(target["inventory_name"]) if target else None
            if shown:
                guest = "shows %s%s" % (
                    shown.get("virtualization_flag") or "no vmx/svm",
                    ", /dev/kvm works" if shown.get("kvm") else "",
                )
            elif vm.get("power_state") != "poweredOn":
                guest = "not verified (%s)" % (vm.get("power_state") or "state unknown")
            else:
                guest = "not verified" + ("" if target and target["address"] else " (no address known)")
            rows.append((vm["name"], result["esxi_host"], result.get("release") or "?", done, guest))
    widths = [max(len(str(row[column])) for row in rows) for column in range(4)]
    padded = [
        [str(cell).ljust(widths[column]) if column < 4 else str(cell) for column, cell in enumerate(row)]
        for row in rows
    ]
    return ["  ".join(cells).rstrip() for cells in padded] + notes
