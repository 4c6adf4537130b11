# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The connection options of every vSphere API module (argument spec: module_utils/vsphere/_args.py).
    DOCUMENTATION = r"""
options:
  hostname:
    description:
      - The ESXi host or vCenter Server to connect to (name or address).
      - If not set, the environment variable E(VMWARE_HOST) is used.
    type: str
    required: true
  username:
    description:
      - The user to log in as, for example C(root) on an ESXi host.
      - If not set, the environment variable E(VMWARE_USER) is used.
    type: str
    required: true
    aliases: [user]
  password:
    description:
      - The user's password. It is never logged or shown in the output.
      - If not set, the environment variable E(VMWARE_PASSWORD) is used.
    type: str
    required: true
    aliases: [pass, pwd]
  port:
    description:
      - The HTTPS port of the vSphere API.
      - If not set, the environment variable E(VMWARE_PORT) is used, else 443.
    type: int
    default: 443
  validate_certs:
    description:
      - Check the server's TLS certificate. ESXi and vCenter come with self-signed certificates; rather
        than turning the check off, give the certificate (or its CA) in O(ca_file).
      - If not set, the environment variable E(VMWARE_VALIDATE_CERTS) is used, else V(true).
    type: bool
    default: true
  ca_file:
    description:
      - A PEM file of certificates to trust instead of the system's store, for example the host's own
        self-signed certificate (C(/etc/vmware/ssl/rui.crt) on ESXi) or the vCenter's root CA.
      - Ignored when O(validate_certs=false).
    type: path
requirements:
  - pyvmomi 8.0.1.0 or later, below 10 (tested with 8.0.1.0, 9.0.0.0 and 9.1.1.0; meta/ee-requirements.txt declares it)
notes:
  - "These modules run on the controller (use C(delegate_to: localhost) or a play on C(localhost)) and
    talk to the vSphere API over HTTPS."
  - "Set the connection options once for all of them with
    C(module_defaults: {group/nestedvirt.esxi.vsphere: {...}})."
  - The collection's tests run against simulated ESXi hosts; connecting through vCenter is not
    covered by them yet.
"""
