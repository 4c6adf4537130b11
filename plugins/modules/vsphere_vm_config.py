#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vsphere_vm_config
short_description: Set the nesting switches of a batch of powered-off VMs at once through the vSphere API
version_added: 1.1.0
description:
  - The API path's counterpart of M(nestedvirt.esxi.vmx) with O(vms) - each VM as its entry of the
    host's plan says (C(vmx_settings), C(vmx_remove), C(upgrade_hardware)), all reconfigurations sent
    at once and waited for at once, then read back in one round trip; no SSH is needed.
  - A switch with a ConfigSpec field goes through it (C(vhv.enable) is C(nestedHVEnabled), C(vpmc.enable)
    C(vPMCEnabled), C(vvtd.enable) C(flags.vvtdEnabled), C(vbs.enable) C(flags.vbsEnabled)), since ESXi
    drops such keys sent as extraConfig. C(hypervisor.cpuid.v0) and C(monitor.virtual_mmu)/C(monitor.virtual_exec)
    go as extraConfig. C(vhv.allowPassthru) has no way through the API and is refused (C(switch_not_in_api)).
  - A VM that is not powered off is refused (C(vm_running)); one whose moid is another VM now is left
    alone (C(vm_moved)).
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options:
  vms:
    description:
      - The VMs, as entries of the host's plan (filter P(nestedvirt.esxi.host_plan#filter)) - each with
        C(handle), C(vmx_settings), C(vmx_remove) and C(upgrade_hardware).
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    description: Reads the VMs and reports what would change; sends nothing.
    support: full
  diff_mode:
    description: Each VM's C(key_values) in RV(vms) holds the values before and after.
    support: none
extends_documentation_fragment:
  - nestedvirt.esxi.vsphere
  - nestedvirt.esxi.attributes.api
  - nestedvirt.esxi.attributes
seealso:
  - module: nestedvirt.esxi.vmx
  - module: nestedvirt.esxi.vsphere_vm_power
"""

EXAMPLES = r"""
- name: Turn nesting on for the batch's powered-off VMs
  nestedvirt.esxi.vsphere_vm_config:
    hostname: vcenter.example.com
    username: administrator@vsphere.local
    password: "{{ vcenter_password }}"
    vms: "{{ plan.vms | selectattr('action', 'in', ['configure', 'power_cycle']) | list }}"
  delegate_to: localhost
"""

RETURN = r"""
vms:
  description:
    - Each VM's outcome in the order given, as M(nestedvirt.esxi.vmx) gives it - C(vmid), C(name), C(path)
      (the .vmx's datastore path), C(changed), C(key_values) ({key - {before, after}}, after as the host
      holds it once done), C(hardware_upgraded), and for a VM that failed C(failed), C(msg) and C(reason)
      (C(vm_running), C(vm_gone), C(vm_moved), C(switch_not_in_api), C(not_applied), C(reconfigure_failed),
      C(host_unavailable), C(restricted_version) ...).
  returned: success
  type: list
  elements: dict
  sample: [{"vmid": "vm-42", "name": "Lab VM 1", "changed": true,
            "key_values": {"vhv.enable": {"before": "FALSE", "after": "TRUE"}}}]
reason:
  description: Why the task failed, as a word (the first failed VM's).
  returned: failure
  type: str
  sample: vm_running
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._args import argument_spec
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._vm_batch import configure, run_batch

ARGUMENT_SPEC = argument_spec(vms=dict(type="list", elements="dict", required=True))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    entries = module.params["vms"]
    run_batch(
        module,
        [entry.get("handle") for entry in entries],
        lambda client: configure(client, entries, client.api_version, module.check_mode),
    )


if __name__ == "__main__":
    main()
