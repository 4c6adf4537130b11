# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a switch needs before it may be turned on, checked before anything changes: pure functions
shared by the SSH path's planner (plugin_utils/plan) and the vSphere API module (vm_nested_hv).

Virtualization-based security (``vbs``) needs ESXi 6.7 or later, virtual hardware 14 or later, EFI
firmware with secure boot, and nesting and the virtual IOMMU on in the result (esxi-facts.md,
"Nesting through the API").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import (
    VBS_MIN_HARDWARE,
    VBS_MIN_RELEASE,
)


class VbsPreconditionsError(NestedvirtError, ValueError):
    """The VM lacks what virtualization-based security needs; nothing was changed."""

    reason = "vbs_preconditions"


def release_tuple(version):
    """``"6.7.0"`` -> (6, 7, 0); None when the text is not a dotted release."""
    parts = str(version or "").split(".")
    if not parts or not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in (parts + ["0", "0"])[:3])


def vbs_missing(release, hardware, firmware, secure_boot, nesting, iommu):
    """The preconditions of virtualization-based security that do not hold, each in words ([]: all hold).

    ``release``: the host's ESXi release ("6.7.0"); ``hardware``: the virtual hardware version (int,
    None when unknown); ``firmware``: the VM's firmware ("efi", "bios", None: the default, BIOS);
    ``secure_boot``: whether EFI secure boot is on; ``nesting``/``iommu``: whether hardware
    virtualization and the virtual IOMMU are on in the configuration the change leaves.
    """
    missing = []
    found = release_tuple(release)
    if found is None or found < VBS_MIN_RELEASE:
        missing.append("ESXi %s or later (the host runs %s)" % (".".join(map(str, VBS_MIN_RELEASE[:2])), release))
    if not hardware or hardware < VBS_MIN_HARDWARE:
        missing.append("virtual hardware %d or later (the VM has %s)" % (VBS_MIN_HARDWARE, hardware))
    if str(firmware or "").strip().lower() != "efi":
        missing.append('EFI firmware (firmware = "efi"; the VM has %s)' % (firmware or "BIOS, the default"))
    if not secure_boot:
        missing.append('EFI secure boot (uefi.secureBoot.enabled = "TRUE")')
    if not nesting:
        missing.append("nested hardware virtualization on")
    if not iommu:
        missing.append("the virtual IOMMU on (iommu)")
    return missing


def check_vbs(vm_label, **state):
    """Raise VbsPreconditionsError naming every missing precondition (arguments as vbs_missing)."""
    missing = vbs_missing(**state)
    if missing:
        raise VbsPreconditionsError(
            "VM %s: virtualization-based security needs %s; nothing was changed" % (vm_label, "; ".join(missing))
        )
