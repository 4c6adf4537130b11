# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A nested ESXi guest: does its VM expose hardware virtualization? `esxcli hardware cpu global
get` inside it must say `HV Support: 3` (the one parser: plugin_utils/esxi/_hv_support.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._hv_support import (
    HV_SUPPORT_COMMAND,
    HV_USABLE,
    hv_support_meaning,
    parse_hv_support,
)

ESXI_COMMAND = HV_SUPPORT_COMMAND


def read_esxi_guest(text):
    """What a nested ESXi's `esxcli hardware cpu global get` shows, in verify_result's fields."""
    value = parse_hv_support(text)
    usable = value == HV_USABLE
    return {
        "guest_os": "esxi",
        "nested_virtualization": usable,
        "virtualization_flag": "HV Support %d" % value if usable else None,
        "hv_support": value,
        "hv_support_meaning": hv_support_meaning(value),
        "long_mode": None,
        "processors": None,
        "evidence": "esxcli hardware cpu global get: HV Support %d (%s)" % (value, hv_support_meaning(value)),
    }
