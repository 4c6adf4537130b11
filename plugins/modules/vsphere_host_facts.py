#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vsphere_host_facts
short_description: Read an ESXi host and its VMs through the vSphere API, in one retrieval, as host_info does over SSH
version_added: 1.1.0
description:
  - Reads the release, whether the CPU can nest (C(capability.nestedHVSupported)), the host's state
    (maintenance mode, connection) and every VM of one ESXi host with its nesting settings and
    restart marker, in one PropertyCollector retrieval, through the host's own API or a vCenter
    Server managing it. No SSH is needed.
  - Returns the facts in the shape of M(nestedvirt.esxi.host_info)'s RV(host) (its C(nesting),
    C(vms) and so on), so the same planner plans the API path and the SSH path. The VMs' C(vmid) is
    their managed object id (moid); each VM also has C(instance_uuid) and C(path), its inventory
    path (C(Datacenter/vm/Folder/name)).
  - The roles keep it as the host's fact C(nestedvirt_esxi), as they keep host_info's.
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options:
  esxi_hostname:
    description:
      - The ESXi host, as vCenter names it. Required when O(hostname) is a vCenter Server; ignored
        when it is an ESXi host (that host is read).
    type: str
extends_documentation_fragment:
  - nestedvirt.esxi.vsphere
  - nestedvirt.esxi.attributes.api
  - nestedvirt.esxi.attributes.read_only
  - nestedvirt.esxi.attributes
seealso:
  - module: nestedvirt.esxi.host_info
  - module: nestedvirt.esxi.vsphere_vm_power
  - module: nestedvirt.esxi.vsphere_vm_config
"""

EXAMPLES = r"""
- name: Read one host of a vCenter
  nestedvirt.esxi.vsphere_host_facts:
    hostname: vcenter.example.com
    username: administrator@vsphere.local
    password: "{{ vcenter_password }}"
    esxi_hostname: esxi01.example.com
  delegate_to: localhost
  register: esxi

- name: Show the VMs that still lack nesting
  ansible.builtin.debug:
    msg: "{{ esxi.host.vms | rejectattr('nested_hv_enabled') | map(attribute='path') | list }}"
"""

RETURN = r"""
host:
  description:
    - What was read, in the shape of M(nestedvirt.esxi.host_info)'s RV(host) (see there for C(nesting)
      and C(vms)), with C(source=api). C(nesting.hv_support) is null (the API has no such value);
      C(nesting.nested_hv_supported) is the host's C(capability.nestedHVSupported).
    - C(api) says where it was read (C(endpoint), C(vcenter), the API C(version)) and whether the API
      takes writes (C(writable) is false on a host with the free license, whose C(editions) are listed).
    - C(host_state) is the host's C(connection_state) and C(in_maintenance_mode).
    - Each VM has C(moid) (also its C(vmid)), C(instance_uuid), C(path) and C(connection_state);
      C(restart_pending) is true when its extraConfig holds the restart marker
      (C(nestedvirt.powerOnPending)), left when a run powered it off to change it and was interrupted.
  returned: success
  type: dict
  sample:
    source: api
    name: esxi01.example.com
    version: 8.0.1
    build: "21495797"
    cluster: Lab
    api: {endpoint: "vcenter.example.com:443", vcenter: true, version: 8.0.3.0, writable: true, editions: []}
    host_state: {connection_state: connected, in_maintenance_mode: false}
    nesting: {method: vm, key: vhv.enable, nested_hv_supported: true, hv_support: null}
    vms:
      - vmid: vm-42
        moid: vm-42
        instance_uuid: 5032c8a4-3c0e-5a10-a1b2-0c7e6e9f3a11
        name: Lab VM 1
        path: DC1/vm/Linux/Lab VM 1
        power_state: poweredOn
        hardware_version: 19
        vmx: {vhv.enable: "FALSE", numvcpus: "2"}
        nested_hv_enabled: false
        restart_pending: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._args import argument_spec, prepare_connection
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._client import VsphereClient
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._host_read import filter_specs, host_facts
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._pyvmomi import HAS_PYVMOMI, vim, vmodl

ARGUMENT_SPEC = argument_spec(esxi_hostname=dict(type="str"))
ESXI_HOST_MOID = "ha-host"  # an ESXi host's own HostSystem, always


def read(client, esxi_hostname=None):
    """The host's facts: its HostSystem found (no round trip on ESXi, a search on vCenter), then one retrieval."""
    if client.is_vcenter:
        host = client.find_host(esxi_hostname)[0]
        license_manager = None  # a host in a vCenter is licensed (the free license cannot join one)
    else:
        host = client.host(ESXI_HOST_MOID)
        license_manager = client.content.licenseManager
    specs = filter_specs(vmodl.query.PropertyCollector, vim, host, client.api_version, license_manager)
    found = client.retrieve(specs, "reading the host and its VMs")
    return host_facts(found, host, client.endpoint, client.api_version, client.is_vcenter)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        with VsphereClient(**prepare_connection(module, HAS_PYVMOMI)) as client:
            facts = read(client, module.params["esxi_hostname"])
    except NestedvirtError as error:
        module.fail_json(msg=str(error), **error.as_result())
    module.exit_json(changed=False, host=facts)


if __name__ == "__main__":
    main()
