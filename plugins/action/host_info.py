# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for nestedvirt.esxi.host_info: one round trip, parsed on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail

from ansible_collections.nestedvirt.esxi.plugins.module_utils.esxi_output import EsxiOutputError
from ansible_collections.nestedvirt.esxi.plugins.module_utils.host_inventory import (
    build_host_facts,
    host_info_command,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi_action import EsxiShellAction


class ActionModule(EsxiShellAction):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        self.validate_argument_spec(argument_spec={})
        answer = self.run_sh(host_info_command())
        try:
            facts = build_host_facts(answer["stdout"])
        except EsxiOutputError as error:
            detail = answer["stderr"].strip()
            message = "%s%s" % (error, " (stderr: %s)" % detail if detail else "")
            raise AnsibleActionFail(message, result=error.as_result()) from error
        result.update(changed=False, host=facts, ansible_facts={"nestedvirt_esxi": facts})
        return result
