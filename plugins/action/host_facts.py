# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for nestedvirt.esxi.host_facts: host_info's one read, kept as the host's facts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.action.host_info import ActionModule as HostInfo


class ActionModule(HostInfo):
    def act(self, result, task_vars, args):
        result = super(ActionModule, self).act(result, task_vars, args)
        result["ansible_facts"] = {"nestedvirt_esxi": result.pop("host")}
        return result
