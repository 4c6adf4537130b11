# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`esxcli hardware cpu global get`: what an ESXi (a host, or a nested ESXi guest) says of its CPU's
hardware virtualization. One parser for both readers: the host read (can this host nest?) and
the nested-ESXi verification (does this VM expose VT-x/AMD-V?)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import EsxiOutputError

# The four values esxi-facts.md records; 3 is the only one that lets a VM (or a nested VM) run.
HV_SUPPORT_MEANING = {
    0: "VT-x/AMD-V not available",
    1: "VT-x/AMD-V may be available but is not supported",
    2: "VT-x/AMD-V available but disabled in the BIOS",
    3: "VT-x/AMD-V enabled and usable",
}
HV_USABLE = 3
# The command both readers send (the host read, and verify inside a nested ESXi).
HV_SUPPORT_COMMAND = "esxcli hardware cpu global get"

_HV_SUPPORT = re.compile(r"^[ \t]*HV Support:[ \t]*(?P<value>\d+)[ \t]*\r?$", re.M)


def parse_hv_support(text):
    """The `HV Support:` value of `esxcli hardware cpu global get`, an int.

    Other fields (and the `Reliable Memory:` newer builds add) are ignored. A text without the
    line, or with it twice, is refused rather than read as "no support"."""
    found = _HV_SUPPORT.findall(text)
    if len(found) != 1:
        raise EsxiOutputError("esxcli hardware cpu global get: expected one 'HV Support:' line, found %d" % len(found))
    return int(found[0])


def hv_support_meaning(value):
    """What an `HV Support` value means, in the words of esxi-facts.md (unknown values say so)."""
    return HV_SUPPORT_MEANING.get(value, "unknown HV Support value %s" % value)
