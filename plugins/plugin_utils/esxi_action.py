# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base of the action plugins that act on an ESXi host over the play's own connection.

ESXi has no usable Python on most releases, so these plugins run on the controller and send
plain sh, as ``raw`` does: the inventory's SSH settings (keys, jump hosts, ControlPersist) apply
and nothing is installed on the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from ansible_collections.nestedvirt.esxi.plugins.module_utils.esxi_output import EsxiOutputError
from ansible_collections.nestedvirt.esxi.plugins.module_utils.host_inventory import (
    parse_vm_listing,
    vm_listing_command,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vm_select import VmSelectionError, select_vm

SSH_HINT = (
    " -- if SSH (the TSM-SSH service) is off on the ESXi host, turn it on through the vSphere API with "
    "nestedvirt.esxi.ssh_service, or at the console (DCUI: Troubleshooting Options > Enable SSH)"
)


class EsxiShellAction(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True
    _supports_check_mode = True
    _supports_async = False

    def run_sh(self, command, stdin=None):
        """Run one command on the host: one round trip. Returns dict(rc, stdout, stderr)."""
        try:
            # sudoable=False: no become wrapper and no pty, so bytes arrive exactly as sent.
            outcome = self._low_level_execute_command(command, sudoable=False, in_data=stdin)
        except AnsibleConnectionFailure as error:
            # from None: the hint is added to the message, not shown as a second, repeated error
            raise AnsibleConnectionFailure(error.message + SSH_HINT) from None
        return dict(rc=outcome["rc"], stdout=outcome["stdout"], stderr=outcome["stderr"])

    def host_facts(self, task_vars):
        """Facts of the host this task talks to, as nestedvirt.esxi.host_info left them (or None)."""
        host = self._task.delegate_to or task_vars.get("inventory_hostname")
        hostvars = task_vars.get("hostvars", {})
        facts = hostvars.get(host, {}).get("nestedvirt_esxi") if host in hostvars else None
        return facts or None

    def find_vm(self, task_vars, name=None, vmid=None):
        """The VM (vmid, name, datastore_path, vmx_path, ...): from host_info facts when they know
        it, else from one getallvms round trip. Callers re-check its identity on the host."""
        facts = self.host_facts(task_vars)
        if facts:
            try:
                return select_vm(facts.get("vms", []), name=name, vmid=vmid)
            except VmSelectionError:
                pass  # the facts may be older than the VM: ask the host
        try:
            return select_vm(parse_vm_listing(self.run_sh(vm_listing_command())["stdout"]), name=name, vmid=vmid)
        except (VmSelectionError, EsxiOutputError) as error:
            raise AnsibleActionFail(str(error)) from error
