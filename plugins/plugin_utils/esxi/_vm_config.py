# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Editing a registered VM's .vmx the way hostd allows it: only while the VM is off, then reload.

hostd caches each VM's configuration: an edit made while the VM runs is reverted at power-off,
and an edit not followed by ``vim-cmd vmsvc/reload`` can be overwritten by hostd's next write.
So the read checks the VM is powered off (and is still the VM found earlier), the write checks
it again in the same command, replaces the file atomically under the host-side lock
(remote_file, host_lock) and reloads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import NEEDS_HARDWARE
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._lock import DEFAULT_WAIT
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import parse_fault, parse_power_state
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import (
    RemoteFileError,
    parse_read,
    parse_write,
    read_command,
    write_command,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import (
    identity_check,
    identity_error,
    mark,
    split_sections,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxDocument, values_equal


class VmConfigError(NestedvirtError):
    """The VM's configuration cannot be edited now; nothing was written."""

    reason = "not_editable"


def _label(vm):
    return "VM %r (vmid %s)" % (vm["name"], vm["vmid"]) if vm.get("name") else "VM %s" % vm["vmid"]


def _off_guard(vm):
    """Lines that stop the script (marker ``running``) unless the VM is powered off."""
    return [
        's=$(vim_cmd vmsvc/power.getstate "$id" 2>&1)',
        'case "$s" in *"Powered off"*) ;; *) %s; printf \'%%s\\n\' "$s"; %s; exit 0;; esac'
        % (mark("running"), mark("end")),
    ]


def _guarded(vm):
    """Lines that set $id and stop the script unless VM $id is still the one found and is off."""
    return ["id=%s" % quote(vm["vmid"])] + identity_check(vm.get("datastore_path")) + _off_guard(vm)


def read_vm_lines(vm, upgrade_to=None):
    """Check identity and power state, optionally upgrade the hardware first, then read the vmx."""
    lines = _guarded(vm)
    if upgrade_to:
        lines += [mark("upgrade"), 'vim_cmd vmsvc/upgrade "$id" %s 2>&1' % quote("vmx-%02d" % upgrade_to)]
    # The file comes last and raw: its md5 header tells whether all of it arrived.
    lines += [mark("file"), read_command(vm["vmx_path"])]
    return lines


def _check_answer(stdout, vm, last):
    sections = split_sections(stdout, raw_tail="file")
    mismatch = identity_error(sections, _label(vm))
    if mismatch:
        raise VmConfigError(mismatch, "vm_moved")
    texts = {name: text for name, _arg, text in sections}
    if "running" not in texts and last not in texts:
        raise VmConfigError(
            "the host's answer for %s was cut short (connection lost?); run again" % _label(vm), "no_answer"
        )
    if "running" in texts:
        state = texts["running"].strip()
        fault = parse_fault(state)
        if fault:
            raise VmConfigError(
                "%s: %s: %s" % (_label(vm), fault["name"], fault["msg"]),
                "vm_gone" if fault["name"] == "NotFound" else "unreadable_output",
            )
        raise VmConfigError(
            "%s is %s: its .vmx is only edited while it is powered off (ESXi reverts edits to a running VM). "
            "Nothing was written; shut it down first (nestedvirt.esxi.vm_power state=shutdown)."
            % (_label(vm), parse_power_state(state)),
            "vm_running",
        )
    return texts


def parse_read_vm(stdout, vm, rc=0, stderr=""):
    """The RemoteFile of the VM's vmx, after checking identity and power state."""
    texts = _check_answer(stdout, vm, "file")
    upgrade = parse_fault(texts.get("upgrade", ""))
    if upgrade:
        raise VmConfigError(
            "upgrading the virtual hardware of %s failed: %s: %s" % (_label(vm), upgrade["name"], upgrade["msg"])
        )
    found = parse_read(vm["vmx_path"], texts.get("file", ""), rc, stderr)
    if not found.exists:
        raise RemoteFileError("%s: its configuration file %s does not exist" % (_label(vm), vm["vmx_path"]))
    return found


def hardware_version(content):
    """virtualHW.version of a vmx text, or None."""
    value = VmxDocument.parse(content).get("virtualHW.version")
    return int(value) if value and value.strip().isdigit() else None


def keys_needing_hardware_9(settings):
    """The keys in ``settings`` that turn on something ESXi ignores below virtual hardware 9."""
    return sorted(
        key for key, value in settings.items() if key.lower() in NEEDS_HARDWARE and values_equal(value, "TRUE")
    )


def write_vm_lines(vm, found, new_content, token, backup_path=None, lock_wait=DEFAULT_WAIT, source=None):
    """Check identity and power state again, replace the vmx atomically, then reload hostd's copy;
    and the new content's bytes (read from stdin, or from the host file ``source`` where a batch
    staged it). The batch script ignores SIGHUP and SIGPIPE: a vmx written but not reloaded would
    be overwritten by hostd later."""
    write, stdin = write_command(found, new_content, token, backup_path, lock_wait=lock_wait, source=source)
    lines = _guarded(vm)
    lines += [mark("write"), "( %s )" % write, 'if [ "$?" = 0 ]; then', mark("reload")]
    lines += ['  vim_cmd vmsvc/reload "$id" 2>&1', "fi", mark("end")]
    return lines, stdin


def reload_vm_lines(vm):
    return _guarded(vm) + [mark("reload"), 'vim_cmd vmsvc/reload "$id" 2>&1', mark("end")]


def parse_reload_vm(stdout, vm, rc=0, stderr=""):
    _check_reload(_check_answer(stdout, vm, "end"), vm, "the .vmx is unchanged")


def parse_write_vm(stdout, vm, rc=0, stderr="", lock_wait=DEFAULT_WAIT):
    texts = _check_answer(stdout, vm, "end")
    parse_write(vm["vmx_path"], texts.get("write", ""), rc, stderr, lock_wait=lock_wait)
    _check_reload(texts, vm, "the new .vmx is written")


def _check_reload(texts, vm, written):
    fault = parse_fault(texts.get("reload", ""))
    if fault or "reload" not in texts:
        raise VmConfigError(
            "%s: %s, but hostd did not reload it (%s); run 'vim-cmd vmsvc/reload %s' "
            "before powering the VM on, or its old configuration may be written back"
            % (_label(vm), written, "%s: %s" % (fault["name"], fault["msg"]) if fault else "no answer", vm["vmid"]),
            "reload_failed",
        )
