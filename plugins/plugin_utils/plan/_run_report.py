# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's report: one record per VM, for a file users keep (the playbook's ``nestedvirt_report``).

Built from what the summary table is built from (each ESXi host's ``enable_nesting_result`` and
the guests' ``verify_result``), plus what host_info found before the run (``nestedvirt_esxi``).
Pure: no host, no clock (the caller passes the time). Every field is picked by name, so nothing
else of the inventory (passwords, keys) can reach the file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import datetime

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import DONE, verify_targets

FORMAT = 1
# The found state of a VM, as host_info read it before the run.
FOUND_KEYS = ("power_state", "hardware_version", "nested_hv_enabled", "tools_running_status", "restart_pending")


def seconds_between(started, ended):
    """Seconds from one ISO 8601 time to another (``...Z`` or with an offset); None when either is missing."""
    if not started or not ended:
        return None
    try:
        first, last = (datetime.fromisoformat(str(text).replace("Z", "+00:00")) for text in (started, ended))
    except ValueError:
        return None
    return round((last - first).total_seconds(), 3)


def _found(facts, vm):
    """What host_info found for the VM (matched by vmid), or None when it was not found."""
    for entry in (facts or {}).get("vms") or ():
        if vm.get("vmid") is not None and str(entry.get("vmid")) == str(vm["vmid"]):
            found = dict((key, entry.get(key)) for key in FOUND_KEYS)
            found["vhv.enable"] = (entry.get("vmx") or {}).get("vhv.enable")
            return found
    return None


def _outcome(vm, check_mode):
    """The summary table's words for what was done (or would be, in check mode)."""
    if vm.get("failed"):
        return "refused" if vm.get("action") == "refuse" else "failed"
    words = DONE.get(vm.get("action"), (vm.get("action"), vm.get("action")))
    if check_mode:
        return "would " + words[0]
    if vm.get("action") == "power_cycle" and not vm.get("power_cycled"):
        return "configured"
    return words[1]


def _verification(vm, target, asked, shown, expected_on, complete):
    """What the guest showed (``verify_result``), or why it was not verified."""
    record = {"status": "not_verified", "guest": target["inventory_name"] if target else None, "note": None}
    if shown:
        keys = ("virtualization_flag", "nested_virtualization", "long_mode", "processors", "kvm")
        record.update((key, shown.get(key)) for key in keys)
        passed = bool(shown.get("nested_virtualization")) == expected_on and (
            shown.get("kvm") is None or bool(shown.get("kvm")) == expected_on
        )
        record["status"] = "passed" if passed else "failed"
        return record
    if vm.get("failed"):
        record["note"] = "the VM failed or was refused"
    elif vm.get("power_state") != "poweredOn":
        record["note"] = "the VM is %s" % (vm.get("power_state") or "in an unknown state")
    elif target is None or not asked:
        record["note"] = "not asked (the run verifies the guests its verify mode names)"
    elif not target.get("address"):
        record["note"] = "no address known (VMware Tools reported none)"
    elif not complete:
        record.update(status="not_reached", note="the run stopped before verifying")
    else:
        record["note"] = "no result from the guest (unreachable, or its verify failed before reading the CPU)"
    return record


def _timings(result, vm):
    """The run's times for the VM: its host's change phase and, over SSH, its batch's window."""
    timings = {
        "host_started": result.get("started"),
        "host_ended": result.get("ended"),
        "host_seconds": seconds_between(result.get("started"), result.get("ended")),
        "batch_started": None,
        "batch_ended": None,
        "batch_seconds": None,
    }
    for batch in result.get("batch_timings") or ():
        if str(vm.get("vmid")) in [str(vmid) for vmid in batch.get("vmids") or ()]:
            timings.update(
                batch_started=batch.get("started"),
                batch_ended=batch.get("ended"),
                batch_seconds=seconds_between(batch.get("started"), batch.get("ended")),
            )
    return timings


def run_report(results, facts, verified, state="enabled", verify_mode="changed", complete=True, generated_at=None):
    """The report: ``{"format", "generated_at", "complete", "check_mode", "vms": [record...]}``.

    ``results``: the ESXi hosts' ``enable_nesting_result`` (host_plan.outcome plus ``esxi_host``,
    ``release``, ``method``, ``check_mode``, ``guests`` and, when the role recorded them, ``started``,
    ``ended`` and ``batch_timings``: [{vmids, started, ended}]). ``facts``: {ESXi host: its
    ``nestedvirt_esxi``} (what was found). ``verified``: {guest inventory name: verify_result}.
    ``state``: what the run wanted (a guest passes when it shows nesting exactly when ``enabled``).
    ``verify_mode``: the run's (host_plan.verify_targets: ``changed``, ``all``, ``none``), which
    says which guests were to be verified. ``complete``: false when written before the run's end
    (a guest not verified yet is then ``not_reached``).
    """
    records = []
    check_mode = False
    for result in results:
        check_mode = check_mode or bool(result.get("check_mode"))
        host = result.get("esxi_host")
        host_facts = (facts or {}).get(host) or {}
        targets = dict((target["name"], target) for target in verify_targets(result, "all"))
        asked = set(target["name"] for target in verify_targets(result, verify_mode))
        for vm in result.get("vms") or ():
            target = targets.get(vm["name"])
            shown = verified.get(target["inventory_name"]) if target else None
            records.append(
                {
                    "vm": vm["name"],
                    "vmid": vm.get("vmid"),
                    "esxi_host": host,
                    "esxi_release": result.get("release"),
                    "esxi_build": host_facts.get("build"),
                    "method": result.get("method"),
                    "found": _found(host_facts, vm),
                    "action": vm.get("action"),
                    "outcome": _outcome(vm, bool(result.get("check_mode"))),
                    "done": bool(vm.get("done")),
                    "failed": bool(vm.get("failed")),
                    "reason": vm.get("reason") if vm.get("failed") else None,
                    "msg": vm.get("msg") if vm.get("failed") else None,
                    "reasons": list(vm.get("reasons") or ()),
                    "power_cycled": bool(vm.get("power_cycled")),
                    "power_state": vm.get("power_state"),
                    "ip_address": vm.get("ip_address"),
                    "verification": _verification(vm, target, vm["name"] in asked, shown, state == "enabled", complete),
                    "timings": _timings(result, vm),
                }
            )
    return {
        "format": FORMAT,
        "generated_at": generated_at,
        "complete": bool(complete),
        "check_mode": check_mode,
        "vms": records,
    }
