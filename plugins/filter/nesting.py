# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the roles use: the host's plan and its outcome, the per-VM nesting plan, selecting VMs
and the inventory guests of a host, and reading a guest's CPU (/proc/cpuinfo; by guest OS:
guest_probe's command, guest_virtualization's reading of its answer)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.guest._cpuinfo import parse_cpuinfo
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.guest._verify import guest_probe, read_guest
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import host_plan as _host_plan
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import outcome, summary_table
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import verify_targets as _targets
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._nesting_plan import nesting_plan as _plan
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._vm_select import select_vm_names


def _filter(function):
    """The one place a filter's error of the collection becomes Ansible's."""

    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except NestedvirtError as error:
            raise AnsibleFilterError("%s (reason: %s)" % (error, error.reason)) from error

    return wrapped


def host_plan(facts, names, batch=0, **options):
    return _host_plan(facts, names, batch_size=int(batch or 0), **options)


def host_outcome(plan, steps):
    return outcome(plan, steps)


def select_vms(facts, wanted):
    return select_vm_names(facts.get("vms", []), wanted)


def guests_on(hostvars, names, esxi_host):
    """The inventory guests among ``names`` whose ESXi host is ``esxi_host``:
    ``[{"inventory_name", "vm_name"}]``, in inventory order."""
    found = []
    for name in names:
        guest = hostvars[name]
        if guest.get("nestedvirt_esxi_host") == esxi_host:
            found.append({"inventory_name": name, "vm_name": guest.get("nestedvirt_vm_name") or name})
    return found


def verify_targets(hostvars, esxi_hosts, mode="changed"):
    """The guests to verify on these ESXi hosts (host_plan.verify_targets of each host's
    ``enable_nesting_result``); an inventory guest keeps its own address."""
    targets = []
    for esxi_host in esxi_hosts:
        result = hostvars[esxi_host].get("enable_nesting_result")
        for target in _targets(result or {}, mode) if result else ():
            if target["inventory"]:
                guest = hostvars[target["inventory_name"]]
                target["address"] = guest.get("ansible_host") or target["inventory_name"]
            if target["address"]:
                targets.append(target)
    return targets


def summary(hostvars, esxi_hosts):
    """The run's table (host_plan.summary_table) from the ESXi hosts' results and the guests'
    verify_result."""
    results = [
        hostvars[host]["enable_nesting_result"] for host in esxi_hosts if "enable_nesting_result" in hostvars[host]
    ]
    verified = {}
    for result in results:
        for target in _targets(result, "all"):
            if target["inventory_name"] in hostvars:
                verified[target["inventory_name"]] = hostvars[target["inventory_name"]].get("verify_result")
    return summary_table(results, verified)


class FilterModule(object):
    def filters(self):
        return dict(
            (name, _filter(function))
            for name, function in (
                ("host_plan", host_plan),
                ("host_outcome", host_outcome),
                ("nesting_plan", _plan),
                ("select_vms", select_vms),
                ("guests_on", guests_on),
                ("verify_targets", verify_targets),
                ("summary", summary),
                ("cpuinfo", parse_cpuinfo),
                ("guest_probe", guest_probe),
                ("guest_virtualization", read_guest),
            )
        )
