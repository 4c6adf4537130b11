# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vmx action's batch: the .vmx of several powered-off VMs of one host edited in one round trip.

Each VM's edit is computed here from the .vmx its shutdown read once it was off (``found``: no
read round trip) or, for a VM without one, from one read round trip for all of them. Then one
command writes them one after the other, each under its file's lock, compare-and-swap against the
checksum read, each followed by its reload (vm_config's lines for one VM, unchanged). The new
contents go in on stdin, staged on the host (vm_batch.staging). A VM whose file moved on in
between is read and planned again, up to WRITE_ATTEMPTS times; any other failure stays that VM's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import secrets
import time

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import MIN_HARDWARE_VERSION
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import RemoteFile
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vm_batch import (
    batch_script,
    chunks,
    new_token,
    split_batch,
    staged,
    staging,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vm_config import (
    VmConfigError,
    hardware_version,
    keys_needing_hardware_9,
    parse_read_vm,
    parse_reload_vm,
    parse_write_vm,
    read_vm_lines,
    reload_vm_lines,
    write_vm_lines,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._edit import (
    check_readable,
    normalize_request,
    plan_edit,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxDocument, VmxError

WRITE_ATTEMPTS = 3


class _Vm:
    """One VM of the batch: what is asked, what was found, and how it ended."""

    def __init__(self, handle, entry):
        self.handle = handle
        self.settings, self.remove = normalize_request(entry.get("vmx_settings") or {}, entry.get("vmx_remove") or [])
        self.reload = bool(entry.get("reload"))
        self.upgrade = bool(entry.get("upgrade_hardware"))
        self.found = None  # RemoteFile
        self.plan = None
        self.hardware = None  # the virtual hardware version its .vmx says
        self.upgrade_now = False  # below 9, and the entry allows the upgrade
        self.result = {"vmid": handle["vmid"], "name": handle.get("name"), "path": handle["vmx_path"]}

    def label(self):
        name = self.handle.get("name")
        return "VM %r (vmid %s)" % (name, self.handle["vmid"]) if name else "VM %s" % self.handle["vmid"]


def configure(action, handles, entries, found, args):
    """Edit each VM's .vmx as its entry asks; returns (results in order, diffs)."""
    vms = []
    failures = {}
    for handle, entry in zip(handles, entries, strict=True):
        try:
            vm = _Vm(handle, entry)
        except VmxError as error:
            failures[len(vms)] = error
            vm = None
        vms.append(vm)
    by_vmid = dict((str(item.get("vmid")), item.get("vmx")) for item in found or () if item.get("vmx"))
    for vm in vms:
        read = vm and by_vmid.get(str(vm.handle["vmid"]))
        if read:
            vm.found = RemoteFile(read["path"], "file", content=read["content"], md5=read["md5"])
    pending = [index for index, vm in enumerate(vms) if vm is not None]
    _read(action, [index for index in pending if vms[index].found is None], vms, failures)
    _plan(action, [index for index in pending if index not in failures], vms, failures)
    # Hardware below 9 that the entry allows to upgrade: upgraded on the host, read again, planned again.
    upgrading = [index for index in pending if index not in failures and vms[index].upgrade_now]
    if upgrading and not action._task.check_mode:
        _read(action, upgrading, vms, failures, upgrade=True)
        _plan(action, [index for index in upgrading if index not in failures], vms, failures)
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        if action._task.check_mode:
            break
        writing = [
            index for index in pending if index not in failures and (vms[index].plan.changed or vms[index].reload)
        ]
        retry = _write(action, writing, vms, failures, args, last=attempt == WRITE_ATTEMPTS)
        if not retry:
            break
        _read(action, retry, vms, failures)  # the file moved on since it was read: read, plan again
        _plan(action, [index for index in retry if index not in failures], vms, failures)
        pending = retry
    results, diffs = [], []
    for index, vm in enumerate(vms):
        entry = dict(vm.result) if vm else {"vmid": handles[index]["vmid"], "name": handles[index].get("name")}
        if index in failures:
            results.append(action.vm_failure(failures[index], dict(entry, changed=entry.get("changed", False))))
            continue
        plan = vm.plan
        entry.update(
            changed=bool(plan.changed or (vm.reload and not action._task.check_mode) or entry.get("hardware_upgraded")),
            key_values=plan.values,
            duplicates_removed=plan.duplicates_removed,
            conflicts=plan.conflicts,
            reloaded=entry.get("reloaded", False),
        )
        results.append(entry)
        if action._task.diff and plan.changed:
            path = vm.handle["vmx_path"]
            diffs.append(
                dict(before_header=path, after_header=path, before=plan.before_text or "", after=plan.after_text)
            )
    return results, diffs


def _read(action, indexes, vms, failures, upgrade=False):
    """Read (with ``upgrade``, first upgrade the virtual hardware of) the .vmx of these VMs, in one
    round trip. A read that raced another run's rename (the md5 did not match what arrived) is read
    again, up to WRITE_ATTEMPTS times, as a write that found the file changed is."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        # The upgrade is sent once: a read again after it finds the hardware already upgraded.
        indexes = _read_once(action, indexes, vms, failures, upgrade and attempt == 1, attempt == WRITE_ATTEMPTS)
        if not indexes:
            return


def _read_once(action, indexes, vms, failures, upgrade, last):
    """One read round trip; returns the VMs to read again."""
    if not indexes:
        return []
    target = MIN_HARDWARE_VERSION if upgrade else None
    bodies = [read_vm_lines(vms[index].handle, target) for index in indexes]
    outputs = []
    for run in chunks(bodies):  # one round trip, unless more than one command can carry
        token = new_token()
        answer = action.run_sh(batch_script([bodies[index] for index in run], token, parallel=False))
        outputs += split_batch(answer["stdout"], token, len(run))[0]
    again = []
    for index, output in zip(indexes, outputs, strict=True):
        vm = vms[index]
        try:
            _check_answered(output, vm)
            vm.found = parse_read_vm(output, vm.handle)
            if vm.upgrade_now:  # this read followed the upgrade
                vm.upgrade_now = False
                vm.result["hardware_upgraded"] = {"before": vm.hardware, "after": MIN_HARDWARE_VERSION}
        except NestedvirtError as error:
            _settle(error, index, last, again, failures)
    return again


def _plan(action, indexes, vms, failures):
    """The edit of each VM, from its content; refuses what ESXi would not load or would ignore."""
    for index in indexes:
        vm = vms[index]
        try:
            content = vm.found.content or ""
            path = vm.handle["vmx_path"]
            if "\x00" in content:
                raise VmxError(
                    "%s is not a text file (it contains NUL bytes); refusing to edit it" % path, "vmx_not_text"
                )
            # A file ESXi cannot load is refused before the hardware upgrade too (nothing changes).
            check_readable(VmxDocument.parse(content), path)
            keys = keys_needing_hardware_9(vm.settings)
            vm.hardware = hardware_version(content) or vm.handle.get("hardware_version")
            if keys and (vm.hardware or 0) < MIN_HARDWARE_VERSION and not vm.result.get("hardware_upgraded"):
                if not vm.upgrade:
                    raise VmConfigError(
                        "%s has virtual hardware version %s; %s needs %d or later (ESXi ignores it below). Set "
                        "upgrade_hardware: true to upgrade it (vim-cmd vmsvc/upgrade), or upgrade the VM's "
                        "compatibility." % (vm.label(), vm.hardware, " and ".join(keys), MIN_HARDWARE_VERSION),
                        "hardware_too_old",
                    )
                vm.upgrade_now = True
                if action._task.check_mode:  # predicted: the upgrade comes first
                    vm.result["hardware_upgraded"] = {"before": vm.hardware, "after": MIN_HARDWARE_VERSION}
            vm.plan = plan_edit(content, vm.settings, vm.remove, path)
        except NestedvirtError as error:
            failures[index] = error


def _write(action, indexes, vms, failures, args, last):
    """One round trip writing and reloading these VMs (or reloading only); returns the VMs whose
    file moved on since it was read (to read and plan again), unless this is the ``last`` try."""
    if not indexes:
        return []
    token, lock = secrets.token_hex(6), args["lock_timeout"]
    bodies, contents, kinds, slot = [], [], [], []  # slot: where a body's content is staged
    for index in indexes:
        vm = vms[index]
        if vm.plan.changed:
            backup = "%s.%s.bak" % (vm.handle["vmx_path"], time.strftime("%Y%m%dT%H%M%S")) if args["backup"] else None
            lines, data = write_vm_lines(
                vm.handle, vm.found, vm.plan.after_text, token, backup, lock, source=staged(len(contents))
            )
            bodies.append(lines)
            slot.append(len(contents))
            contents.append(data)
            kinds.append("write")
            if backup:
                vm.result["backup_file"] = backup
        else:
            bodies.append(reload_vm_lines(vm.handle))
            slot.append(None)
            kinds.append("reload")
    # One round trip, unless the scripts are longer than one command can carry (about 20 VMs).
    outputs = []
    for run in chunks(bodies):
        frame = new_token()
        staged_here = [(slot[index], len(contents[slot[index]])) for index in run if slot[index] is not None]
        script = batch_script([bodies[index] for index in run], frame, False, staging(staged_here))
        answer = action.run_sh(script, b"".join(contents[at] for at, _size in staged_here))
        outputs += split_batch(answer["stdout"], frame, len(run))[0]
    retry = []
    for index, kind, output in zip(indexes, kinds, outputs, strict=True):
        vm = vms[index]
        try:
            _check_answered(output, vm)
            if kind == "write":
                parse_write_vm(output, vm.handle, lock_wait=lock)
            else:
                parse_reload_vm(output, vm.handle)
            vm.result["reloaded"] = True
        except NestedvirtError as error:
            _settle(error, index, last, retry, failures)
    return retry


def _check_answered(output, vm):
    if output is None:
        raise VmConfigError("the host's answer for %s was cut short; run again" % vm.label(), "no_answer")


def _settle(error, index, last, again, failures):
    """A VM whose file another run changed meanwhile is tried again, unless this was the last try;
    any other error is that VM's failure."""
    if error.reason == "changed_meanwhile" and not last:
        again.append(index)
    else:
        failures[index] = error
