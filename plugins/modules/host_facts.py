# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_facts
short_description: Read an ESXi host and its VMs in one round trip and keep it as the fact nestedvirt_esxi
version_added: 1.0.0
description:
  - Reads exactly what M(nestedvirt.esxi.host_info) reads, in the same single SSH round trip, and
    sets it as the host's fact C(nestedvirt_esxi) instead of returning it.
  - M(nestedvirt.esxi.vm_power) and M(nestedvirt.esxi.vmx) find VMs by name in that fact without
    another round trip; the roles read each host with this module.
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options: {}
attributes:
  facts:
    description: Sets C(nestedvirt_esxi).
    support: full
extends_documentation_fragment:
  - nestedvirt.esxi.attributes.ssh
  - nestedvirt.esxi.attributes.read_only
  - nestedvirt.esxi.attributes
seealso:
  - module: nestedvirt.esxi.host_info
    description: The same read, returned as data.
"""

EXAMPLES = r"""
- name: Read the host and its VMs
  nestedvirt.esxi.host_facts:

- name: Power a VM off, found by name in the facts
  nestedvirt.esxi.vm_power:
    name: lab-vm-1
    state: poweredoff
"""

RETURN = r"""
ansible_facts:
  description: The facts set.
  returned: success
  type: dict
  contains:
    nestedvirt_esxi:
      description: What was read, as RV(nestedvirt.esxi.host_info#module:host) of M(nestedvirt.esxi.host_info).
      returned: success
      type: dict
"""
