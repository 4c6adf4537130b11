# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the roles use: the per-VM nesting plan, selecting VMs, and reading a guest's /proc/cpuinfo."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.nestedvirt.esxi.plugins.module_utils.cpuinfo import CpuinfoError, parse_cpuinfo
from ansible_collections.nestedvirt.esxi.plugins.module_utils.nesting_plan import PlanError
from ansible_collections.nestedvirt.esxi.plugins.module_utils.nesting_plan import nesting_plan as _plan
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vm_select import VmSelectionError, select_vm_names


def nesting_plan(facts, vm_name, **options):
    try:
        return _plan(facts, vm_name, **options)
    except (PlanError, VmSelectionError) as error:
        raise AnsibleFilterError(str(error)) from error


def select_vms(facts, wanted):
    try:
        return select_vm_names(facts.get("vms", []), wanted)
    except VmSelectionError as error:
        raise AnsibleFilterError(str(error)) from error


def cpuinfo(text):
    try:
        return parse_cpuinfo(text)
    except CpuinfoError as error:
        raise AnsibleFilterError(str(error)) from error


class FilterModule(object):
    def filters(self):
        return {"nesting_plan": nesting_plan, "select_vms": select_vms, "cpuinfo": cpuinfo}
