# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pick VMs out of a host's list: one by exact name or vmid, never a guess; several by names, patterns or all."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError


class VmSelectionError(NestedvirtError, LookupError):
    """No VM, or more than one, answers to what was asked; the message lists the candidates."""

    reason = "vm_not_found"


def _describe(vms, limit=10):
    shown = ", ".join(
        "%r (%s)"
        % (
            vm["name"],
            "path %r, instance UUID %s" % (vm["path"], vm.get("instance_uuid"))
            if vm.get("path")
            else "vmid %s" % vm["vmid"],
        )
        for vm in vms[:limit]
    )
    return shown + (" and %d more" % (len(vms) - limit) if len(vms) > limit else "")


def _answers_to(vm, name):
    """Whether ``name`` names the VM: its exact name, or (facts read through the API) its inventory
    path (``Datacenter/vm/Folder/name``, a leading / allowed) or its instance UUID."""
    if vm["name"] == name:
        return True
    path = vm.get("path")
    uuid = vm.get("instance_uuid")
    return bool((path and name.lstrip("/") == path) or (uuid and name.lower() == uuid))


def select_vm(vms, name=None, vmid=None):
    """The one VM with this exact ``name`` (or inventory path, or instance UUID), or this ``vmid``."""
    if (name is None) == (vmid is None):
        raise VmSelectionError("give exactly one of name or vmid")
    if vmid is not None:
        matches = [vm for vm in vms if vm["vmid"] == str(vmid)]
        if not matches:
            raise VmSelectionError("no VM with vmid %s on this host; it has %s" % (vmid, _describe(vms) or "no VMs"))
        return matches[0]
    matches = [vm for vm in vms if _answers_to(vm, name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise VmSelectionError(
            "%d VMs are named %r (%s); select one by %s"
            % (
                len(matches),
                name,
                _describe(matches),
                "its inventory path or instance UUID" if matches[0].get("path") else "vmid",
            ),
            reason="vm_ambiguous",
        )
    near = [vm for vm in vms if vm["name"].strip().lower() == name.strip().lower()]
    hint = "; did you mean %s?" % _describe(near) if near else "; the host has %s" % (_describe(vms) or "no VMs")
    raise VmSelectionError("no VM named %r on this host%s" % (name, hint))


_PATTERN_CHARACTERS = frozenset("*?[")


def select_vm_names(vms, wanted):
    """The names that ``wanted`` (names, shell-style patterns such as ``ci-runner-*``, or ``all``)
    selects among ``vms``, each once, in the order asked.

    System VMs (vCLS, outside every datastore: the vCenter cluster's own) never match a pattern
    or ``all``; naming one exactly selects it, since then the user asked for that very VM. A plain
    name is passed on even when no VM has it, so that the step that looks it up says so clearly.
    """
    if isinstance(wanted, str):
        wanted = [wanted]
    names = []
    for entry in wanted or ():
        if not isinstance(entry, str) or not entry:
            raise VmSelectionError("a VM is selected by a non-empty name, a pattern or 'all', got %r" % (entry,))
        if entry == "all":
            found = [vm["name"] for vm in vms if not vm.get("system")]
        elif _PATTERN_CHARACTERS.intersection(entry):
            found = [vm["name"] for vm in vms if not vm.get("system") and fnmatch.fnmatchcase(vm["name"], entry)]
        else:
            found = [entry]
        names.extend(name for name in found if name not in names)
    return names
