# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_info
short_description: Read an ESXi host's release, nesting method and every VM's state in one round trip
version_added: 1.0.0
description:
  - Reads, over SSH in a single command, the ESXi release (version, build, update), which Python
    the host has, how this release enables nested virtualization, the host-wide C(vhv.allow) value
    in C(/etc/vmware/config), whether the CPU can expose hardware virtualization to VMs
    (C(esxcli hardware cpu global get)), and every registered VM with its power state, Tools status,
    address, hardware version, vmx path, nesting keys and the port groups of its network adapters.
  - ESXi 5.0 enables nesting host-wide (C(vhv.allow) in C(/etc/vmware/config)); 5.1 and later per
    VM (C(vhv.enable), virtual hardware 9 or later).
  - Runs as an action plugin sending only BusyBox sh; the host needs no Python. It survives
    every C(vim-cmd vmsvc/getallvms) pitfall (names with spaces and parentheses, datastores with
    spaces or colons, multi-line annotations, invalid registrations before or after the header,
    rows out of order, trailing blanks, CRLF line ends) and lists the vCLS system VMs of hosts in
    a vCenter cluster (empty datastore, absolute path) with C(system=true).
  - Returns what it read and sets no fact. The roles keep it as the host's fact C(nestedvirt_esxi)
    (see the example), which M(nestedvirt.esxi.vm_power) and M(nestedvirt.esxi.vmx) reuse to find
    VMs by name without another round trip.
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options: {}
extends_documentation_fragment:
  - nestedvirt.esxi.attributes.ssh
  - nestedvirt.esxi.attributes.read_only
  - nestedvirt.esxi.attributes
"""

EXAMPLES = r"""
- name: Read the host and its VMs
  nestedvirt.esxi.host_info:
  register: esxi

- name: Keep it as the fact vm_power and vmx look VMs up in
  ansible.builtin.set_fact:
    nestedvirt_esxi: "{{ esxi.host }}"

- name: Show the VMs that still lack nesting
  ansible.builtin.debug:
    msg: "{{ esxi.host.vms | rejectattr('nested_hv_enabled') | map(attribute='name') | list }}"
"""

RETURN = r"""
host:
  description: What was read.
  returned: success
  type: dict
  contains:
    version:
      description: Release, from C(vmware -v).
      type: str
      sample: 6.7.0
    build:
      description: Build number.
      type: str
      sample: "15820472"
    update_level:
      description: Update level, from C(vmware -l); null when the host does not say.
      type: int
      sample: 3
    python:
      description: Python interpreters found on the host (informative; never used).
      type: list
      elements: str
      sample: [/bin/python]
    nesting:
      description:
        - How this release enables nesting, and whether the host's CPU can expose hardware virtualization
          to VMs at all, from C(esxcli hardware cpu global get).
        - C(hv_support) is its C(HV Support) value (0 not available, 1 may be available but not supported,
          2 disabled in the BIOS, 3 enabled and usable), null when the output could not be read (the
          command missing, or another answer); C(hv_support_meaning) says it in words, or what was
          printed instead. C(nested_hv_supported) is true for 3, false for another value, null when
          unknown. The plan refuses every VM of a host whose value is known and not 3
          (reason C(host_cannot_nest)).
      type: dict
      sample:
        method: vm
        key: vhv.enable
        path: null
        min_hardware_version: 9
        host_vhv_allow: false
        hv_support: 3
        hv_support_meaning: VT-x/AMD-V enabled and usable
        nested_hv_supported: true
    host_config:
      description: The keys of C(/etc/vmware/config) with their values.
      type: dict
      sample: {vhv.allow: "TRUE"}
    vms:
      description:
        - Every registered VM, in the order the host lists them.
        - C(system) is true for a VM outside every datastore, such as the vCLS VMs a vCenter cluster
          runs on its hosts (path C([] /var/run/crx/...)). Such a VM never matches a pattern or C(all)
          in the playbook's C(nestedvirt_vms), only its exact name.
        - C(restart_pending) is true when the VM's directory holds the restart marker, left when a run
          powered the VM off to change it and was interrupted before powering it on (see the
          O(nestedvirt.esxi.vm_power#module:restart_marker) option).
        - C(hostd) is hostd's own copy of the VM's nesting settings, as C(vim-cmd vmsvc/get.config)
          prints them (C(nestedHVEnabled), C(vPMCEnabled); none before ESXi 5.1), and C(hostd_stale)
          lists the .vmx keys (C(vhv.enable), C(vpmc.enable)) whose value hostd does not hold, as the file
          was edited and not reloaded, and hostd would write its copy back at the VM's next power-off.
        - C(vmx_md5) is the .vmx's checksum when it was read (a host plan's handle carries it).
        - C(vmx) also holds C(firmware) and C(uefi.secureBoot.enabled) when set (what the vbs switch
          needs); C(networks) lists the port groups of the VM's network adapters (C(ethernetN.networkName)),
          each once.
      type: list
      elements: dict
      sample:
        - vmid: "1"
          name: Lab VM 1
          annotation: ""
          system: false
          datastore: datastore1
          datastore_path: "[datastore1] Lab VM 1/Lab VM 1.vmx"
          vmx_path: /vmfs/volumes/datastore1/Lab VM 1/Lab VM 1.vmx
          guest_os: otherLinux64Guest
          hardware_version: 10
          power_state: poweredOn
          tools_running_status: guestToolsRunning
          ip_address: 10.0.0.5
          vmx: {vhv.enable: "TRUE", virtualHW.version: "10", numvcpus: "2", memsize: "256"}
          nested_hv_enabled: true
          restart_pending: false
          hostd: {nestedHVEnabled: true, vPMCEnabled: false}
          hostd_stale: []
          vmx_md5: 0cc175b9c0f1b6a831c399e269772661
          networks: [VM Network]
    invalid_vmids:
      description: Registrations the host reports as invalid (C(Skipping invalid VM)).
      type: list
      elements: str
      sample: ["16"]
"""
