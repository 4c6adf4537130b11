# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for nestedvirt.esxi.vmx: edits the file over the play's own connection.

ESXi has no usable Python, so nothing is sent but BusyBox sh: one round trip reads the file,
the edit is computed here on the controller, one round trip replaces it atomically under a lock
on the host. With ``vm`` the read also checks the VM is off, and the write reloads hostd's copy
of the configuration. A file changed by another run since the read is read and planned again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import secrets
import time

from ansible.errors import AnsibleActionFail

from ansible_collections.nestedvirt.esxi.plugins.module_utils.errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils.nesting_rules import MIN_HARDWARE_VERSION
from ansible_collections.nestedvirt.esxi.plugins.module_utils.remote_file import (
    RemoteFileError,
    parse_read,
    parse_write,
    read_command,
    write_command,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vm_config import (
    VmConfigError,
    hardware_version,
    keys_needing_hardware_9,
    parse_read_vm,
    parse_reload_vm,
    parse_write_vm,
    read_vm_command,
    reload_vm_command,
    write_vm_command,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vmx_edit import (
    ARGUMENT_SPEC,
    check_path,
    check_readable,
    normalize_request,
    plan_edit,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vmx_format import VmxDocument, VmxError, fold_key
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi_action import EsxiShellAction
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx_batch import configure

# Read-plan-write rounds when another run changes the file in between.
WRITE_ATTEMPTS = 3


class ActionModule(EsxiShellAction):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            mutually_exclusive=[("path", "vm", "vms")],
            required_one_of=[("path", "vm", "vms")],
        )[1]
        if args["vms"] is not None:
            return self._batch(args, task_vars, result)
        try:
            settings, remove = normalize_request(args["settings"], args["remove"])
            vm = self._find(task_vars, args["vm"]) if args["vm"] is not None else None
            if vm is None:
                check_path(args["path"])
            path = args["path"] if vm is None else vm["vmx_path"]
            # Another run may change the file while this run reads it, or between its read and write
            # (the write then refuses, nothing lost): read, plan and write again, up to
            # WRITE_ATTEMPTS times.
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                try:
                    found, plan, backup_file = self._read_and_plan(args, vm, path, settings, remove, result)
                    if not plan.changed or self._task.check_mode:
                        break
                    self._write(args, vm, found, plan, backup_file)
                    break
                except RemoteFileError as error:
                    if error.reason != "changed_meanwhile" or attempt == WRITE_ATTEMPTS:
                        raise
            # hostd holds an older copy than the file (host_info's hostd_stale): a write reloads
            # anyway; a file already as wanted is reloaded on its own.
            reload_only = vm is not None and args["reload"] and not plan.changed
            if reload_only and not self._task.check_mode:
                parse_reload_vm(vm=vm, **self.run_sh(reload_vm_command(vm)))
        except NestedvirtError as error:
            # reason (vmx_syntax_error, changed_meanwhile ...) and details (the offending lines).
            self.fail(error)

        result.update(
            changed=plan.changed or reload_only or result.get("changed", False),
            path=path,
            values=plan.values,
            duplicates_removed=plan.duplicates_removed,
            conflicts=plan.conflicts,
        )
        touched = set(fold_key(key) for key in plan.values)
        for key, found in plan.conflicts.items():
            if fold_key(key) not in touched:
                # ESXi reads the first copy and reports an error; this task did not settle the key.
                self._display.warning(
                    "%s defines %r %d times with different values (lines %s); ESXi uses the first (line %d)"
                    % (path, key, len(found), ", ".join(str(item["line"]) for item in found), found[0]["line"])
                )
        if vm is not None:
            result.update(vmid=vm["vmid"], reloaded=(plan.changed or reload_only) and not self._task.check_mode)
        if backup_file:
            result["backup_file"] = backup_file
        if self._task.diff and plan.changed:
            result["diff"] = dict(
                before_header=path, after_header=path, before=plan.before_text or "", after=plan.after_text
            )
        return result

    def _batch(self, args, task_vars, result):
        entries = args["vms"]
        handles = self.resolve_handles(
            task_vars, [entry.get("handle") or {"name": entry.get("name")} for entry in entries]
        )
        vms, diffs = configure(self, handles, entries, args["found"], args)
        failed = [vm for vm in vms if vm.get("failed")]
        result.update(changed=any(vm.get("changed") for vm in vms), vms=vms)
        if diffs:
            result["diff"] = diffs
        if failed:
            result.update(failed=True, msg="; ".join(vm["msg"] for vm in failed), reason=failed[0]["reason"])
        return result

    def _read_and_plan(self, args, vm, path, settings, remove, result):
        if vm is None:
            found = parse_read(path, **self.run_sh(read_command(path)))
            if not found.exists and not args["create"]:
                hint = "" if found.parent_exists else " (its directory does not exist either)"
                raise VmxError("%s does not exist%s; set create: true to create it" % (path, hint))
        else:
            found = self._read_vm(vm, settings, args["upgrade_hardware"], result)
        if found.content is not None and "\x00" in found.content:
            raise VmxError(
                "%s is not a text file (it contains NUL bytes); refusing to edit it" % path, reason="vmx_not_text"
            )
        # Refuses a file with a syntax error (ESXi would not load it) before anything is written.
        plan = plan_edit(found.content, settings, remove, path)
        backup_file = None
        if plan.changed and not self._task.check_mode and args["backup"] and found.exists:
            backup_file = "%s.%s.bak" % (path, time.strftime("%Y%m%dT%H%M%S"))
        return found, plan, backup_file

    def _write(self, args, vm, found, plan, backup_file):
        token = secrets.token_hex(6)
        wait = args["lock_timeout"]
        if vm is None:
            command, stdin = write_command(found, plan.after_text, token, backup_file, lock_wait=wait)
            parse_write(found.path, lock_wait=wait, **self.run_sh(command, stdin))
        else:
            command, stdin = write_vm_command(vm, found, plan.after_text, token, backup_file, lock_wait=wait)
            parse_write_vm(vm=vm, lock_wait=wait, **self.run_sh(command, stdin))

    def _find(self, task_vars, reference):
        """``vm`` is an exact name; a number that names no VM is taken as a vmid."""
        try:
            return self.find_vm(task_vars, name=reference)
        except AnsibleActionFail:
            if not reference.isdigit():
                raise
            return self.find_vm(task_vars, vmid=reference)

    def _read_vm(self, vm, settings, upgrade_hardware, result):
        """Read the vmx of a powered-off VM; upgrade its virtual hardware first when asked and needed."""
        found = parse_read_vm(vm=vm, **self.run_sh(read_vm_command(vm)))
        # A file ESXi cannot load is reported before the hardware upgrade too (nothing changes).
        check_readable(VmxDocument.parse(found.content or ""), vm["vmx_path"])
        keys = keys_needing_hardware_9(settings)
        current = hardware_version(found.content) or vm.get("hardware_version")
        needed = MIN_HARDWARE_VERSION
        if not keys or (current or 0) >= needed:
            return found
        if not upgrade_hardware:
            raise VmConfigError(
                "VM %r has virtual hardware version %s; %s needs %d or later (ESXi ignores it below). Set "
                "upgrade_hardware: true to upgrade it (vim-cmd vmsvc/upgrade), or upgrade the VM's compatibility."
                % (vm.get("name") or vm["vmid"], current, " and ".join(keys), needed)
            )
        result.update(changed=True, hardware_upgraded={"before": current, "after": needed})
        if self._task.check_mode:
            return found
        return parse_read_vm(vm=vm, **self.run_sh(read_vm_command(vm, upgrade_to=needed)))
