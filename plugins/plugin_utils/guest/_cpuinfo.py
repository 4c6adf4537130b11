# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a Linux guest's /proc/cpuinfo: is hardware virtualization exposed to it?

``vmx`` (Intel VT-x) or ``svm`` (AMD-V) among the flags means the hypervisor exposes it; ``lm``
means 64-bit capable; ``hypervisor`` is set in any VM; ``ept``/``vpid`` (Intel) or ``npt``
(AMD) show second-level address translation passed through.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError

_FIELD = re.compile(r"^(?P<key>[^:]+?)\s*:\s?(?P<value>.*)$")


class CpuinfoError(NestedvirtError, ValueError):
    """Text that is not /proc/cpuinfo of an x86 Linux."""

    reason = "unreadable_cpuinfo"


def parse_cpuinfo(text):
    processors = []
    current = None
    for line in text.splitlines():
        match = _FIELD.match(line)
        if not match:
            continue
        key, value = match.group("key").strip(), match.group("value").strip()
        if key == "processor":
            current = {}
            processors.append(current)
        elif current is not None:
            current[key] = value
    if not processors or "flags" not in processors[0]:
        raise CpuinfoError("no processor with flags in this text; is it /proc/cpuinfo of an x86 Linux guest?")
    flags = processors[0]["flags"].split()
    nesting = [flag for flag in ("vmx", "svm") if flag in flags]
    return {
        "processors": len(processors),
        "vendor": processors[0].get("vendor_id"),
        "model_name": processors[0].get("model name"),
        "flags": flags,
        "virtualization_flag": nesting[0] if nesting else None,
        "nested_virtualization": bool(nesting),
        "long_mode": "lm" in flags,
        "hypervisor": "hypervisor" in flags,
        "second_level_translation": any(flag in flags for flag in ("ept", "npt")),
        "kvm_module": {"vmx": "kvm_intel", "svm": "kvm_amd"}.get(nesting[0]) if nesting else None,
    }
