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

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi import _remote_file as remote_file
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._action import EsxiShellAction
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._vm_select import VmSelectionError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._batch import configure
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._edit import (
    ARGUMENT_SPEC,
    check_path,
    normalize_request,
    plan_edit,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxError, fold_key

# Read-plan-write rounds when another run changes the file in between.
WRITE_ATTEMPTS = 3


class ActionModule(EsxiShellAction):
    argument_spec = ARGUMENT_SPEC
    mutually_exclusive = required_one_of = [("path", "vm", "vms")]

    def act(self, result, task_vars, args):
        if args["vms"] is not None:
            return self._batch(args, task_vars, result, args["vms"], args["found"])
        if args["vm"] is not None:
            return self._one_vm(args, task_vars, result)
        settings, remove = normalize_request(args["settings"], args["remove"])
        check_path(args["path"])
        path = args["path"]
        # Another run may change the file while this run reads it, or between its read and write
        # (the write then refuses, nothing lost): read, plan and write again, up to
        # WRITE_ATTEMPTS times.
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                found, plan = self._read_and_plan(args, path, settings, remove)
                backup_file = None
                if plan.changed and not self._task.check_mode:
                    backup_file = self._write(args, found, plan)
                break
            except remote_file.RemoteFileError as error:
                if error.reason != "changed_meanwhile" or attempt == WRITE_ATTEMPTS:
                    raise
        result.update(
            changed=plan.changed,
            path=path,
            key_values=plan.values,
            duplicates_removed=plan.duplicates_removed,
            conflicts=plan.conflicts,
        )
        self._warn_conflicts(path, plan.values, plan.conflicts)
        if backup_file:
            result["backup_file"] = backup_file
        if self._task.diff and plan.changed:
            result["diff"] = dict(
                before_header=path, after_header=path, before=plan.before_text or "", after=plan.after_text
            )
        return result

    def _one_vm(self, args, task_vars, result):
        """``vm``: a batch of one (vmx_batch), whose one result is the task's."""
        vm = self._find(task_vars, args["vm"])
        entry = {
            "handle": vm,
            "vmx_settings": args["settings"],
            "vmx_remove": args["remove"],
            "reload": args["reload"],
            "upgrade_hardware": args["upgrade_hardware"],
        }
        batch = self._batch(args, task_vars, {}, [entry], [])
        result.update(batch["vms"][0])
        if batch.get("diff"):
            result["diff"] = batch["diff"][0]
        return result

    def _batch(self, args, task_vars, result, entries, found):
        handles = self.resolve_handles(
            task_vars, [entry.get("handle") or {"name": entry.get("name")} for entry in entries]
        )
        vms, diffs = configure(self, handles, entries, found, args)
        for vm in vms:
            if not vm.get("failed"):
                self._warn_conflicts(vm["path"], vm["key_values"], vm["conflicts"])
        failed = [vm for vm in vms if vm.get("failed")]
        result.update(changed=any(vm.get("changed") for vm in vms), vms=vms)
        if diffs:
            result["diff"] = diffs
        if failed:
            result.update(failed=True, msg="; ".join(vm["msg"] for vm in failed), reason=failed[0]["reason"])
        return result

    def _warn_conflicts(self, path, values, conflicts):
        touched = set(fold_key(key) for key in values)
        for key, found in conflicts.items():
            if fold_key(key) not in touched:
                # ESXi reads the first copy and reports an error; this task did not settle the key.
                self._display.warning(
                    "%s defines %r %d times with different values (lines %s); ESXi uses the first (line %d)"
                    % (path, key, len(found), ", ".join(str(item["line"]) for item in found), found[0]["line"])
                )

    def _read_and_plan(self, args, path, settings, remove):
        found = remote_file.parse_read(path, **self.run_sh(remote_file.read_command(path)))
        if not found.exists and not args["create"]:
            hint = "" if found.parent_exists else " (its directory does not exist either)"
            raise VmxError("%s does not exist%s; set create: true to create it" % (path, hint))
        if found.content is not None and "\x00" in found.content:
            raise VmxError(
                "%s is not a text file (it contains NUL bytes); refusing to edit it" % path, reason="vmx_not_text"
            )
        # Refuses a file with a syntax error (ESXi would not load it) before anything is written.
        return found, plan_edit(found.content, settings, remove, path)

    def _write(self, args, found, plan):
        """Write the new content; returns the backup's path (None without backup)."""
        backup_file = None
        if args["backup"] and found.exists:
            backup_file = "%s.%s.bak" % (found.path, time.strftime("%Y%m%dT%H%M%S"))
        wait = args["lock_timeout"]
        command, stdin = remote_file.write_command(
            found, plan.after_text, secrets.token_hex(6), backup_file, lock_wait=wait
        )
        remote_file.parse_write(found.path, lock_wait=wait, **self.run_sh(command, stdin))
        return backup_file

    def _find(self, task_vars, reference):
        """``vm`` is an exact name; a number that names no VM is taken as a vmid."""
        try:
            return self.find_vm(task_vars, name=reference)
        except VmSelectionError:
            if not reference.isdigit():
                raise
            return self.find_vm(task_vars, vmid=reference)
