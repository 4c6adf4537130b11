# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for nestedvirt.esxi.host_info: one round trip, parsed on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._action import EsxiShellAction
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._inventory import (
    build_host_facts,
    host_info_command,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import EsxiOutputError


class ActionModule(EsxiShellAction):
    def act(self, result, task_vars, args):
        answer = self.run_sh(host_info_command())
        try:
            facts = build_host_facts(answer["stdout"])
        except EsxiOutputError as error:
            detail = answer["stderr"].strip()
            if not detail:
                raise
            raise EsxiOutputError("%s (stderr: %s)" % (error, detail), error.reason, **error.details) from error
        result.update(changed=False, host=facts)
        return result
