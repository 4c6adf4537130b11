# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for nestedvirt.esxi.vm_power: one round trip for one VM or a whole batch, the
waiting done on the host (a batch's VMs all at once)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._action import EsxiShellAction
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import parse_read, read_command
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._restart_marker import locate_lines, pending_after
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import (
    DATASTORE_PATH,
    VMID,
    VMX_PATH,
    identity_check,
    identity_error,
    mark,
    section_map,
    split_sections,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vm_batch import (
    batch_script,
    function_batch,
    new_token,
    split_batch,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vm_power import (
    ARGUMENT_SPEC,
    PowerError,
    describe_progress,
    interpret_power,
    power_lines,
    power_state_of,
    progress_command,
    target_state,
)

OPTIONS = ("timeout", "force", "wait_for_ip", "restart_marker", "read_vmx")


class ActionModule(EsxiShellAction):
    argument_spec = ARGUMENT_SPEC
    mutually_exclusive = required_one_of = [("name", "vmid", "vms")]

    def act(self, result, task_vars, args):
        if args["vms"] is not None:
            handles = self.resolve_handles(task_vars, args["vms"])
        elif args["vmid"] is not None:
            handles = [{"vmid": args["vmid"]}]
        else:
            handles = self.resolve_handles(task_vars, [{"name": args["name"]}])
        vms = self._power(handles, args) if handles else []
        failed = [vm for vm in vms if vm.get("failed")]
        if args["vms"] is not None:
            result.update(changed=any(vm["changed"] for vm in vms), vms=vms)
            if failed:
                result.update(failed=True, msg="; ".join(vm["msg"] for vm in failed), reason=failed[0]["reason"])
            return result
        # One VM: its result is the task's, as it always was.
        result.update(vms[0])
        return result

    def _power(self, handles, args):
        """Each VM's outcome, in the order given; a VM's failure is its own entry's."""
        token = new_token()
        prelude, bodies = function_batch(handles, lambda handle: self._lines(handle, args), self._shape)
        names = dict((str(handle["vmid"]), handle.get("name") or str(handle["vmid"])) for handle in handles)
        progress = (
            progress_command(names, args["state"]),
            lambda stdout: describe_progress(stdout, names, args["state"]),
        )
        command = batch_script(bodies, token, parallel=True, prelude=prelude)
        stdout = self.run_sh(command, progress=None if self._task.check_mode else progress)["stdout"]
        outputs, _whole = split_batch(stdout, token, len(handles))
        vms = []
        for handle, output in zip(handles, outputs, strict=True):
            entry = {"vmid": str(handle["vmid"]), "name": handle.get("name"), "changed": False}
            try:
                if output is None:
                    raise PowerError(
                        "the host's answer for VM %s was cut short (connection lost?); run again" % handle["vmid"],
                        reason="no_answer",
                    )
                if self._task.check_mode:
                    entry.update(self._predicted(output, handle, args))
                else:
                    entry.update(
                        interpret_power(
                            output,
                            handle["vmid"],
                            args["state"],
                            args["timeout"],
                            args["force"],
                            vmx_path=handle.get("vmx_path") if args["read_vmx"] else None,
                        )
                    )
            except PowerError as error:
                entry.update(error.outcome)
                entry.update(changed=bool(error.outcome.get("operations")))
                vms.append(self.vm_failure(error, entry))
                continue
            except NestedvirtError as error:  # an unreadable answer, a .vmx read that went wrong
                vms.append(self.vm_failure(error, entry))
                continue
            vms.append(entry)
        return vms

    @staticmethod
    def _shape(handle):
        """What makes one VM's lines differ from another's, beside its vmid and paths."""
        keys = ("datastore_path", "vmx_path", "wait_for_ip", "wait_for_tools")
        return tuple(bool(handle[key]) if key in handle else None for key in keys)

    def _lines(self, handle, args):
        """One VM's lines, its vmid and paths taken from the batch function's arguments."""
        vmid = VMID
        expect = DATASTORE_PATH if handle.get("datastore_path") else None
        vmx_path = VMX_PATH if handle.get("vmx_path") else None
        read_vmx = args["read_vmx"] and args["state"] != "poweredon" and vmx_path
        if not self._task.check_mode:
            options = dict((key, args[key]) for key in OPTIONS)
            # The plan says per VM how long a power-on waits: for an address only where its guest is
            # verified, for Tools only where they ran before.
            options.update((key, handle[key]) for key in ("wait_for_ip", "wait_for_tools") if key in handle)
            return power_lines(vmid, args["state"], expect_path=expect, vmx_path=vmx_path, **options)
        # Check mode: read the state only (and the .vmx, for the edit's diff that follows).
        lines = identity_check(expect) + locate_lines(vmx_path)
        lines += [mark("before"), 'vim_cmd vmsvc/power.getstate "$id" 2>&1', mark("end")]
        if read_vmx:
            lines += [mark("file"), read_command(vmx_path)]
        return lines

    def _predicted(self, output, handle, args):
        """Check mode: whether a power operation would be sent (or the restart marker written or
        removed)."""
        mismatch = identity_error(split_sections(output, raw_tail="file"), "VM %s" % handle["vmid"])
        if mismatch:
            raise PowerError(mismatch, reason="vm_moved")
        sections = section_map(output, raw_tail="file")
        if "end" not in sections:
            raise PowerError(
                "the host's answer for VM %s was cut short; run again" % handle["vmid"], reason="no_answer"
            )
        before = power_state_of(sections.get("before", ""), handle["vmid"], "before any change")
        wanted = target_state(args["state"])
        found = "restart_found" in sections
        pending = pending_after(found, before, wanted, args["state"], args["restart_marker"])
        predicted = {
            "power_state_before": before,
            "power_state": wanted,
            "changed": before != wanted or pending != found,
            "operations": [],
        }
        if "file" in sections:
            read = parse_read(handle["vmx_path"], sections["file"])
            predicted["vmx"] = {"path": handle["vmx_path"], "md5": read.md5, "content": read.content}
        return predicted
