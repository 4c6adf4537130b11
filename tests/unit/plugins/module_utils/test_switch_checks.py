"""The VBS preconditions, one function for the SSH planner and the API module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.nestedvirt.esxi.plugins.module_utils._switch_checks import (
    VbsPreconditionsError,
    check_vbs,
    release_tuple,
    vbs_missing,
)

READY = dict(release="6.7.0", hardware=14, firmware="efi", secure_boot=True, nesting=True, iommu=True)


def test_all_preconditions_hold():
    assert vbs_missing(**READY) == []
    newer = dict(READY)
    newer.update(release="9.0.0", hardware=21, firmware="EFI")
    assert vbs_missing(**newer) == []
    check_vbs("w", **READY)


@pytest.mark.parametrize(
    "change, named",
    [
        ({"release": "6.5.0"}, "ESXi 6.7 or later (the host runs 6.5.0)"),
        ({"release": None}, "ESXi 6.7 or later (the host runs None)"),
        ({"hardware": 13}, "virtual hardware 14 or later (the VM has 13)"),
        ({"hardware": None}, "virtual hardware 14 or later (the VM has None)"),
        ({"firmware": None}, 'EFI firmware (firmware = "efi"; the VM has BIOS, the default)'),
        ({"firmware": "bios"}, "the VM has bios"),
        ({"secure_boot": False}, "EFI secure boot"),
        ({"nesting": False}, "nested hardware virtualization on"),
        ({"iommu": False}, "the virtual IOMMU on (iommu)"),
    ],
)
def test_each_missing_precondition_is_named_alone(change, named):
    missing = vbs_missing(**dict(READY, **change))
    assert len(missing) == 1 and named in missing[0]
    with pytest.raises(VbsPreconditionsError) as raised:
        check_vbs("'w'", **dict(READY, **change))
    assert raised.value.reason == "vbs_preconditions" and named in str(raised.value)


def test_release_tuple():
    assert release_tuple("6.7.0") == (6, 7, 0)
    assert release_tuple("7.0") == (7, 0, 0)
    assert release_tuple("6.7.0a") is None and release_tuple(None) is None
