# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run_report filter: the run's report (plugin_utils/plan/_run_report.py) from hostvars, for the
enable_nesting role's report entry point (the playbook's nestedvirt_report)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import verify_targets
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._run_report import run_report as _run_report


def run_report(hostvars, hosts, state="enabled", verify_mode="changed", complete=True, generated_at=None):
    """The report of these hosts' ``enable_nesting_result`` (hosts without one are skipped), with
    what host_info found on each ESXi host and what each guest's verify showed."""
    results, facts, verified = [], {}, {}
    for host in hosts:
        result = hostvars[host].get("enable_nesting_result")
        if not result:
            continue
        results.append(result)
        esxi_host = result.get("esxi_host")
        if esxi_host in hostvars:
            facts[esxi_host] = hostvars[esxi_host].get("nestedvirt_esxi")
        for target in verify_targets(result, "all"):
            if target["inventory_name"] in hostvars:
                verified[target["inventory_name"]] = hostvars[target["inventory_name"]].get("verify_result")
    return _run_report(
        results, facts, verified, state=state, verify_mode=verify_mode, complete=complete, generated_at=generated_at
    )


class FilterModule(object):
    def filters(self):
        return {"run_report": run_report}
