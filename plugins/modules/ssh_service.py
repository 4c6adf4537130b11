#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ssh_service
short_description: Start, stop and set the policy of SSH (TSM-SSH) on an ESXi host through the vSphere API
version_added: 1.0.0
description:
  - Reads the SSH service (C(TSM-SSH)) of an ESXi host and starts or stops it and sets its startup
    policy, through the vSphere API.
  - This is the first step towards everything the collection does over SSH, because SSH is off on a
    freshly installed host and only the API (or a person at the console) can turn it on.
  - Returns the state found before in RV(before), so a later task can put it back as it was.
  - Connects to the ESXi host itself, or to a vCenter Server managing it (then name the host in
    O(esxi_hostname)).
  - On a host with the free license (vSphere Hypervisor) the API is read-only and may refuse to start
    SSH. The error then says how to turn SSH on by hand (DCUI, Host Client).
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options:
  state:
    description:
      - V(started) starts SSH if it is stopped, V(stopped) stops it if it runs.
      - Omit it to leave the service running or stopped as it is.
    type: str
    choices: [started, stopped]
  policy:
    description:
      - When the host starts the service by itself. V(on) starts it with the host, V(automatic)
        starts it when a firewall port it needs is open, V(off) leaves it to be started by hand.
      - Omit it to leave the policy as it is.
    type: str
    choices: ['on', 'off', automatic]
  esxi_hostname:
    description:
      - The ESXi host, as vCenter names it. Required when O(hostname) is a vCenter Server; ignored
        when it is an ESXi host (that host is used).
    type: str
attributes:
  check_mode:
    description: Reads the service and reports what would change; changes nothing.
    support: full
  diff_mode:
    description: Shows the service's state and policy before and after.
    support: full
extends_documentation_fragment:
  - nestedvirt.esxi.vsphere
  - nestedvirt.esxi.attributes.api
  - nestedvirt.esxi.attributes
notes:
  - In lockdown mode only users on the host's exception list may log in over SSH, even with the
    service running.
seealso:
  - module: nestedvirt.esxi.vm_nested_hv
  - module: nestedvirt.esxi.vmx
"""

EXAMPLES = r"""
- name: Turn SSH on for the rest of the play, and keep what was found
  nestedvirt.esxi.ssh_service:
    hostname: esxi01.example.com
    username: root
    password: "{{ esxi_root_password }}"
    ca_file: files/esxi01-rui.crt
    state: started
  delegate_to: localhost
  register: ssh_found

- name: Put SSH back as it was found
  nestedvirt.esxi.ssh_service:
    hostname: esxi01.example.com
    username: root
    password: "{{ esxi_root_password }}"
    ca_file: files/esxi01-rui.crt
    state: "{{ ssh_found.before.state }}"
    policy: "{{ ssh_found.before.policy }}"
  delegate_to: localhost

- name: Through vCenter, keep SSH running across reboots of one host
  nestedvirt.esxi.ssh_service:
    hostname: vcenter.example.com
    username: administrator@vsphere.local
    password: "{{ vcenter_password }}"
    esxi_hostname: esxi01.example.com
    state: started
    policy: "on"
  delegate_to: localhost

- name: Only read the service (connection options from the environment, VMWARE_HOST and so on)
  nestedvirt.esxi.ssh_service:
  delegate_to: localhost
  register: ssh_now
"""

RETURN = r"""
before:
  description: The service as found, in the shape of the options, so it can be given back to put it back.
  returned: success
  type: dict
  contains:
    state:
      description: V(started) or V(stopped).
      type: str
      sample: stopped
    policy:
      description: V(on), V(off) or V(automatic).
      type: str
      sample: "off"
after:
  description: The service afterwards (with check mode, as it would be), in the shape of RV(before).
  returned: success
  type: dict
  sample: {"state": "started", "policy": "off"}
host:
  description: The ESXi host's name as the API shows it.
  returned: success
  type: str
  sample: esxi01.example.com
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._args import argument_spec, prepare_connection
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._client import VsphereClient
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._errors import (
    RestrictedVersionError,
    VsphereError,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._plan import (
    SERVICE_POLICIES,
    SERVICE_STATES,
    SSH_SERVICE,
    plan_service,
    service_view,
    ssh_restricted_hint,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._pyvmomi import HAS_PYVMOMI

ARGUMENT_SPEC = argument_spec(
    state=dict(type="str", choices=list(SERVICE_STATES)),
    policy=dict(type="str", choices=list(SERVICE_POLICIES)),
    esxi_hostname=dict(type="str"),
)


def run(module, client):
    params = module.params
    host, host_name = client.find_host(params["esxi_hostname"])
    found = client.service(host, SSH_SERVICE)
    actions, after = plan_service(found, params["state"], params["policy"])
    if actions and not module.check_mode:
        for action in actions:
            if action[0] == "policy":
                client.set_service_policy(host, SSH_SERVICE, action[1])
            elif action[0] == "start":
                client.start_service(host, SSH_SERVICE)
            else:
                client.stop_service(host, SSH_SERVICE)
        after = service_view(client.service(host, SSH_SERVICE))  # what the host says, not what we hoped
    before = service_view(found)
    result = dict(changed=bool(actions), before=before, after=after, host=host_name)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        with VsphereClient(**prepare_connection(module, HAS_PYVMOMI)) as client:
            result = run(module, client)
    except RestrictedVersionError as error:
        module.fail_json(msg="%s %s" % (error, ssh_restricted_hint()), **error.as_result())
    except VsphereError as error:
        module.fail_json(msg=str(error), **error.as_result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
