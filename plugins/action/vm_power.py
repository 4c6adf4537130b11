# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for nestedvirt.esxi.vm_power: one round trip per operation, waiting on the host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail

from ansible_collections.nestedvirt.esxi.plugins.module_utils.esxi_output import EsxiOutputError, parse_power_state
from ansible_collections.nestedvirt.esxi.plugins.module_utils.esxi_script import (
    host_script,
    identity_check,
    identity_error,
    mark,
    section_map,
    split_sections,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.restart_marker import locate_lines, pending_after
from ansible_collections.nestedvirt.esxi.plugins.module_utils.shell import quote
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vm_power import (
    ARGUMENT_SPEC,
    PowerError,
    interpret_power,
    power_command,
    target_state,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi_action import EsxiShellAction


class ActionModule(EsxiShellAction):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC, mutually_exclusive=[("name", "vmid")], required_one_of=[("name", "vmid")]
        )[1]
        if args["vmid"] is not None:
            vmid, expect_path, vmx_path = args["vmid"], None, None
        else:
            vm = self.find_vm(task_vars, name=args["name"])
            vmid, expect_path, vmx_path = vm["vmid"], vm["datastore_path"], vm["vmx_path"]
        try:
            if self._task.check_mode:
                result.update(self._predict(vmid, expect_path, vmx_path, args["state"], args["restart_marker"]))
            else:
                options = dict((key, args[key]) for key in ("timeout", "force", "wait_for_ip", "restart_marker"))
                command = power_command(vmid, args["state"], expect_path=expect_path, vmx_path=vmx_path, **options)
                answer = self.run_sh(command)
                result.update(interpret_power(answer["stdout"], vmid, args["state"], args["timeout"], args["force"]))
        except PowerError as error:
            raise AnsibleActionFail(str(error), result=dict(result, **error.outcome)) from error
        except EsxiOutputError as error:
            raise AnsibleActionFail(str(error)) from error
        return result

    def _predict(self, vmid, expect_path, vmx_path, state, restart_marker):
        """Check mode: read the state only, and say whether a power operation would be sent (or the
        restart marker written or removed)."""
        lines = ["id=%s" % quote(str(vmid))] + identity_check(expect_path) + locate_lines(vmx_path)
        lines += [mark("before"), 'vim_cmd vmsvc/power.getstate "$id" 2>&1', mark("end")]
        stdout = self.run_sh(host_script(*lines))["stdout"]
        mismatch = identity_error(split_sections(stdout), "VM %s" % vmid)
        if mismatch:
            raise PowerError(mismatch)
        sections = section_map(stdout)
        before = parse_power_state(sections.get("before", ""))
        wanted = target_state(state)
        found = "restart_found" in sections
        pending = pending_after(found, before, wanted, state, restart_marker)
        return {
            "vmid": str(vmid),
            "power_state_before": before,
            "power_state": wanted,
            "changed": before != wanted or pending != found,
            "operations": [],
        }
