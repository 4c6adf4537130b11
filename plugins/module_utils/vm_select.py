# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pick one VM out of a host's list by exact name or by vmid; never guess."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class VmSelectionError(LookupError):
    """No VM, or more than one, answers to what was asked; the message lists the candidates."""


def _describe(vms, limit=10):
    shown = ", ".join("%r (vmid %s)" % (vm["name"], vm["vmid"]) for vm in vms[:limit])
    return shown + (" and %d more" % (len(vms) - limit) if len(vms) > limit else "")


def select_vm(vms, name=None, vmid=None):
    """The one VM with this exact ``name`` (or this ``vmid``)."""
    if (name is None) == (vmid is None):
        raise VmSelectionError("give exactly one of name or vmid")
    if vmid is not None:
        matches = [vm for vm in vms if vm["vmid"] == str(vmid)]
        if not matches:
            raise VmSelectionError("no VM with vmid %s on this host; it has %s" % (vmid, _describe(vms) or "no VMs"))
        return matches[0]
    matches = [vm for vm in vms if vm["name"] == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise VmSelectionError(
            "%d VMs are named %r (%s); select one by vmid" % (len(matches), name, _describe(matches))
        )
    near = [vm for vm in vms if vm["name"].strip().lower() == name.strip().lower()]
    hint = "; did you mean %s?" % _describe(near) if near else "; the host has %s" % (_describe(vms) or "no VMs")
    raise VmSelectionError("no VM named %r on this host%s" % (name, hint))
