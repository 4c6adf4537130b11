#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vsphere_vm_power
short_description: Shut down or power on a batch of VMs at once through the vSphere API, never leaving one down
version_added: 1.1.0
description:
  - The API path's counterpart of M(nestedvirt.esxi.vm_power) with O(vms). Every VM of the batch is
    read in one round trip, asked at once, and waited for at once (one property collector,
    C(WaitForUpdatesEx)); no SSH is needed.
  - V(shutdown) asks each running guest to shut down (VMware Tools), and with O(force) powers off
    hard a VM whose Tools do not run or that is not off within O(timeout). With O(restart_marker),
    a running VM first gets the restart marker (the extraConfig key C(nestedvirt.powerOnPending)),
    so that a run killed before the power-on is resumed by the next one.
  - V(poweredon) powers on each VM that is off, waits until it runs (and for VMware Tools or an
    address where its handle asks), then removes restart markers.
  - Each VM is a handle from the host's plan (filter P(nestedvirt.esxi.host_plan#filter) on the facts of
    M(nestedvirt.esxi.vsphere_host_facts)); a moid that is another VM now is left alone.
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options:
  vms:
    description:
      - The VMs, as handles of the host's plan (each with C(vmid), the moid, C(name), and
        C(instance_uuid); C(wait_for_tools) and C(wait_for_ip) for a power-on).
    type: list
    elements: dict
    required: true
  state:
    description: V(shutdown) powers running VMs off, V(poweredon) powers VMs that are off on.
    type: str
    choices: [shutdown, poweredon]
    required: true
  timeout:
    description: Seconds to wait for the VMs, all together.
    type: int
    default: 300
  force:
    description:
      - With V(shutdown), power off hard a VM whose guest cannot be asked (no Tools) or does not go down in time.
    type: bool
    default: false
  restart_marker:
    description: With V(shutdown), write the restart marker on each running VM before it goes down.
    type: bool
    default: true
attributes:
  check_mode:
    description: Reads the VMs and reports what would be done; sends nothing.
    support: full
  diff_mode:
    description: The power states are in the result.
    support: none
extends_documentation_fragment:
  - nestedvirt.esxi.vsphere
  - nestedvirt.esxi.attributes.api
  - nestedvirt.esxi.attributes
seealso:
  - module: nestedvirt.esxi.vm_power
  - module: nestedvirt.esxi.vsphere_host_facts
"""

EXAMPLES = r"""
- name: Shut down the batch's VMs through the vCenter, writing the restart marker first
  nestedvirt.esxi.vsphere_vm_power:
    hostname: vcenter.example.com
    username: administrator@vsphere.local
    password: "{{ vcenter_password }}"
    vms: "{{ plan.vms | selectattr('action', 'equalto', 'power_cycle') | map(attribute='handle') | list }}"
    state: shutdown
  delegate_to: localhost
  register: down
"""

RETURN = r"""
vms:
  description:
    - Each VM's outcome, in the order given, as M(nestedvirt.esxi.vm_power) gives it - C(vmid), C(name),
      C(power_state_before), C(power_state), C(operations) (C(shutdown), C(off), C(on)), C(restart_pending),
      C(changed), after a power-on C(ip_address) and C(tools_running), and for a VM that failed C(failed),
      C(msg) and C(reason) (C(vm_gone), C(vm_moved), C(tools_unavailable), C(shutdown_timeout),
      C(marker_unwritable), C(power_failed), C(no_address), C(host_unavailable), C(restricted_version) ...).
  returned: success
  type: list
  elements: dict
  sample: [{"vmid": "vm-42", "name": "Lab VM 1", "power_state_before": "poweredOn", "power_state": "poweredOff",
            "operations": ["shutdown"], "restart_pending": true, "changed": true}]
reason:
  description: Why the task failed, as a word (the first failed VM's).
  returned: failure
  type: str
  sample: shutdown_timeout
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._args import argument_spec
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._vm_batch import boot, run_batch, shutdown

ARGUMENT_SPEC = argument_spec(
    vms=dict(type="list", elements="dict", required=True),
    state=dict(type="str", choices=["shutdown", "poweredon"], required=True),
    timeout=dict(type="int", default=300),
    force=dict(type="bool", default=False),
    restart_marker=dict(type="bool", default=True),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params

    def step(client):
        if params["state"] == "shutdown":
            return shutdown(
                client, params["vms"], params["timeout"], params["force"], params["restart_marker"], module.check_mode
            )
        return boot(client, params["vms"], params["timeout"], module.check_mode)

    run_batch(module, params["vms"], step)


if __name__ == "__main__":
    main()
