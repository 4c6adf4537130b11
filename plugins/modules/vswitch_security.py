# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vswitch_security
short_description: Allow promiscuous mode, forged transmits and MAC changes on an ESXi vSwitch or port group
version_added: 1.0.0
description:
  - Reads and sets the security policy of a standard vSwitch or one of its port groups with
    C(esxcli network vswitch standard [portgroup] policy security), over SSH.
  - Needed only when nested guests bridge with MAC addresses of their own (NAT works without).
  - One round trip reads the policy; only when something must change, one more sets it and reads it
    back. Runs as an action plugin sending only BusyBox sh; works on free-license hosts.
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options:
  vswitch:
    description: Name of the standard vSwitch, for example C(vSwitch0). Exactly one of O(vswitch) and O(portgroup).
    type: str
  portgroup:
    description: Name of the port group, for example C(VM Network). Exactly one of O(vswitch) and O(portgroup).
    type: str
  allow_promiscuous:
    description: Allow promiscuous mode. Left as it is when omitted.
    type: bool
  allow_forged_transmits:
    description: Allow forged transmits. Left as it is when omitted.
    type: bool
  allow_mac_change:
    description: Allow MAC address changes. Left as it is when omitted.
    type: bool
extends_documentation_fragment:
  - nestedvirt.esxi.attributes.ssh
  - nestedvirt.esxi.attributes
attributes:
  check_mode:
    description: Reads the policy and reports what would change.
    support: full
  diff_mode:
    description: Shows the policy before and after.
    support: full
notes:
  - A port group's own values override its vSwitch's; this module sets the values of the object named.
"""

EXAMPLES = r"""
- name: Let nested guests bridge on the VM Network port group
  nestedvirt.esxi.vswitch_security:
    portgroup: VM Network
    allow_promiscuous: true
    allow_forged_transmits: true
    allow_mac_change: true
"""

RETURN = r"""
before:
  description: The policy found.
  returned: success
  type: dict
  sample: {"allow_promiscuous": false, "allow_forged_transmits": false, "allow_mac_change": false}
after:
  description: The policy at the end (in check mode, as it would be).
  returned: success
  type: dict
  sample: {"allow_promiscuous": true, "allow_forged_transmits": true, "allow_mac_change": true}
"""
