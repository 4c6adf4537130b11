# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security policy of a standard vSwitch or port group, with esxcli (bridged nested networking).

A nested hypervisor that bridges its guests with MAC addresses of their own needs promiscuous
mode, forged transmits and MAC changes allowed on the port group or vSwitch (NAT needs none).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import mark, section_map
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote, script

# option name -> (esxcli "get" label, esxcli "set" flag)
FIELDS = {
    "allow_promiscuous": ("Allow Promiscuous", "--allow-promiscuous"),
    "allow_mac_change": ("Allow MAC Address Change", "--allow-mac-change"),
    "allow_forged_transmits": ("Allow Forged Transmits", "--allow-forged-transmits"),
}
ARGUMENT_SPEC = dict(
    vswitch=dict(type="str"),
    portgroup=dict(type="str"),
    allow_promiscuous=dict(type="bool"),
    allow_mac_change=dict(type="bool"),
    allow_forged_transmits=dict(type="bool"),
)
MUTUALLY_EXCLUSIVE = [("vswitch", "portgroup")]
REQUIRED_ONE_OF = [("vswitch", "portgroup"), tuple(FIELDS)]
_LINE = re.compile(r"^\s*(?P<label>[A-Za-z ]+?):\s*(?P<value>true|false)\s*$", re.M)


class PolicyError(NestedvirtError, ValueError):
    """esxcli said something other than a policy (unknown vSwitch or port group, ...)."""

    reason = "vswitch_policy"


def _target(vswitch, portgroup):
    if portgroup is not None:
        return "esxcli network vswitch standard portgroup policy security", "-p %s" % quote(portgroup)
    return "esxcli network vswitch standard policy security", "-v %s" % quote(vswitch)


def get_command(vswitch=None, portgroup=None):
    base, target = _target(vswitch, portgroup)
    return script(mark("policy"), "%s get %s 2>&1" % (base, target), mark("end"))


def set_command(wanted, vswitch=None, portgroup=None):
    """Set the wanted fields, then read the policy back in the same command."""
    base, target = _target(vswitch, portgroup)
    flags = " ".join(
        "%s=%s" % (FIELDS[name][1], "true" if value else "false") for name, value in sorted(wanted.items())
    )
    return script(
        mark("set"),
        "%s set %s %s 2>&1" % (base, target, flags),
        mark("policy"),
        "%s get %s 2>&1" % (base, target),
        mark("end"),
    )


def parse_policy(stdout, what):
    """{option: bool} from the answer of get_command or set_command."""
    texts = section_map(stdout)
    if "end" not in texts:
        raise PolicyError("the host's answer about %s was cut short; nothing is assumed" % what)
    problem = texts.get("set", "").strip()
    if problem:
        raise PolicyError("esxcli refused to set the security policy of %s: %s" % (what, problem))
    values = {m.group("label"): m.group("value") == "true" for m in _LINE.finditer(texts.get("policy", ""))}
    policy = {name: values.get(label) for name, (label, _flag) in FIELDS.items()}
    if None in policy.values():
        raise PolicyError("esxcli did not show the security policy of %s: %s" % (what, texts.get("policy", "").strip()))
    return policy
