# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by every module that talks to the vSphere API.

One argument spec (documented once, in the ``nestedvirt.esxi.vsphere`` doc fragment) with the
environment fallbacks the VMware collections use, so an inventory or CI job set up for
community.vmware or vmware.vmware works unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback, missing_required_lib

CONNECTION_ARGUMENT_SPEC = dict(
    hostname=dict(type="str", required=True, fallback=(env_fallback, ["VMWARE_HOST"])),
    username=dict(type="str", required=True, aliases=["user"], fallback=(env_fallback, ["VMWARE_USER"])),
    password=dict(
        type="str", required=True, no_log=True, aliases=["pass", "pwd"], fallback=(env_fallback, ["VMWARE_PASSWORD"])
    ),
    port=dict(type="int", default=443, fallback=(env_fallback, ["VMWARE_PORT"])),
    validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["VMWARE_VALIDATE_CERTS"])),
    ca_file=dict(type="path"),
)


def argument_spec(**module_options):
    """The connection options plus a module's own (a module option may not shadow one of them)."""
    clash = sorted(set(module_options) & set(CONNECTION_ARGUMENT_SPEC))
    if clash:
        raise ValueError("module options %s clash with the connection options" % ", ".join(clash))
    spec = dict((name, dict(option)) for name, option in CONNECTION_ARGUMENT_SPEC.items())
    spec.update(module_options)
    return spec


def connection_params(params):
    """The keyword arguments of VsphereClient taken from a module's validated parameters."""
    return dict((name, params[name]) for name in CONNECTION_ARGUMENT_SPEC)


def prepare_connection(module, has_pyvmomi):
    """What every vSphere module does before it connects: fail without pyvmomi, warn about a
    ca_file that validate_certs=false makes moot. Returns VsphereClient's keyword arguments."""
    if not has_pyvmomi:
        module.fail_json(msg=missing_required_lib("pyvmomi"))
    if module.params["ca_file"] and not module.params["validate_certs"]:
        module.warn("ca_file is ignored because validate_certs is false")
    return connection_params(module.params)
