#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vm_nested_hv
short_description: Turn nested hardware virtualization of a VM on or off through the vSphere API
version_added: 1.0.0
description:
  - Sets a virtual machine's C(nestedHVEnabled) (and, if asked, C(vPMCEnabled), C(flags.vvtdEnabled),
    C(flags.vbsEnabled)) through the vSphere API, so that the guest sees Intel VT-x or AMD-V and can
    run a hypervisor of its own. This is the C(vhv.enable) (and C(vpmc.enable), C(vvtd.enable),
    C(vbs.enable)) key of the VM's .vmx.
  - For ESXi hosts with a paid license and for vCenter Server. A host with the free license
    (vSphere Hypervisor) refuses API writes; the error then gives the SSH-based way
    (M(nestedvirt.esxi.vmx)), which works on any license.
  - Reads the VM, its host's C(capability.nestedHVSupported) and the VM's virtual hardware version
    (9 or later is needed), and fails with a message of its own for each thing that stands in the way.
  - Does nothing, and never power-cycles, when the VM already has the wanted values.
  - The VM must be powered off for the change. Either shut it down before, or set O(power_cycle=true);
    the guest OS is then asked to shut down (through VMware Tools), the change is made, and the VM is
    powered back on. A suspended VM is never power-cycled. The options and the vocabulary of
    RV(power_operations) are those of M(nestedvirt.esxi.vm_power), its SSH counterpart.
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options:
  name:
    description:
      - The VM's name as the inventory shows it. It must match exactly one VM (on O(esxi_hostname),
        if given).
      - Exactly one of O(name) and O(moid) is required.
    type: str
  moid:
    description:
      - The VM's managed object id. On an ESXi host this is the vmid that C(vim-cmd vmsvc/getallvms)
        lists; on vCenter it looks like C(vm-42).
    type: str
  esxi_hostname:
    description:
      - With vCenter, only look for the VM on this ESXi host (its name as vCenter shows it). Ignored
        when O(hostname) is an ESXi host.
    type: str
  nested_hv_enabled:
    description:
      - Whether the guest sees hardware-assisted virtualization (C(nestedHVEnabled), C(vhv.enable)).
    type: bool
    default: true
  vpmc_enabled:
    description:
      - Whether the guest sees the CPU's performance counters (C(vPMCEnabled), C(vpmc.enable)),
        which some nested hypervisors and profilers use. Omit it to leave it as it is.
    type: bool
  iommu_enabled:
    description:
      - Whether the guest sees a virtual IOMMU, Intel VT-d (C(flags.vvtdEnabled), C(vvtd.enable)); vSphere
        API 6.7 and virtual hardware 14 or later. Omit it to leave it as it is.
    type: bool
    version_added: 1.0.0
  vbs_enabled:
    description:
      - Whether virtualization-based security is on (C(flags.vbsEnabled), C(vbs.enable)), for Windows
        guests using Credential Guard or HVCI. Omit it to leave it as it is.
      - Turning it on is refused (reason C(vbs_preconditions), nothing changed) unless the host runs ESXi
        6.7 or later and the VM has virtual hardware 14 or later, EFI firmware with secure boot, and
        nesting and the IOMMU on in the result (O(nested_hv_enabled), O(iommu_enabled) or already on). The
        message names every missing item.
      - C(vhv.allowPassthru) (nesting with PCI passthrough) has no API field; the SSH path sets it.
    type: bool
    version_added: 1.0.0
  power_cycle:
    description:
      - When a change is needed and the VM is powered on, shut it down, make the change and power it
        back on. Without it, a powered-on VM that needs the change is an error and nothing is done.
      - The VM is powered back on only if it was on. If the change fails, it is powered back on too.
    type: bool
    default: false
  shutdown_timeout:
    description:
      - With O(power_cycle), seconds to wait for the guest OS to power the VM off after being asked
        to shut down.
    type: int
    default: 300
  force:
    description:
      - With O(power_cycle), power the VM off hard (like pulling the plug) when the graceful shutdown
        is refused (VMware Tools not running) or does not finish within O(shutdown_timeout).
      - Without it, the module fails in that case and changes nothing.
    type: bool
    default: false
extends_documentation_fragment:
  - nestedvirt.esxi.vsphere
  - nestedvirt.esxi.attributes.api
  - nestedvirt.esxi.attributes
attributes:
  check_mode:
    description: Reads the VM and reports what would change and whether it would be power-cycled; changes nothing.
    support: full
  diff_mode:
    description: Shows nested_hv_enabled, vpmc_enabled, iommu_enabled and vbs_enabled before and after.
    support: full
notes:
  - ESXi 5.0 has no per-VM setting (its API predates C(nestedHVEnabled)); nesting is allowed there for
    the whole host with C(vhv.allow = "TRUE") in C(/etc/vmware/config), which M(nestedvirt.esxi.vmx)
    can set over SSH.
  - The guest needs a new boot to see the change; the module never changes a running VM.
seealso:
  - module: nestedvirt.esxi.vmx
  - module: nestedvirt.esxi.ssh_service
"""

EXAMPLES = r"""
- name: Enable nesting for a VM that is powered off
  nestedvirt.esxi.vm_nested_hv:
    hostname: esxi01.example.com
    username: root
    password: "{{ esxi_root_password }}"
    ca_file: files/esxi01-rui.crt
    name: Lab VM 1
  delegate_to: localhost

- name: Enable nesting and performance counters, shutting the VM down and booting it again if needed
  nestedvirt.esxi.vm_nested_hv:
    hostname: vcenter.example.com
    username: administrator@vsphere.local
    password: "{{ vcenter_password }}"
    esxi_hostname: esxi01.example.com
    name: hyperv-lab
    vpmc_enabled: true
    power_cycle: true
    shutdown_timeout: 120
    force: true
  delegate_to: localhost

- name: Virtualization-based security for a Windows VM (EFI with secure boot, hardware 14 or later)
  nestedvirt.esxi.vm_nested_hv:
    hostname: esxi01.example.com
    username: root
    password: "{{ esxi_root_password }}"
    ca_file: files/esxi01-rui.crt
    name: win11-lab
    iommu_enabled: true
    vbs_enabled: true
    power_cycle: true
  delegate_to: localhost

- name: Set the connection once for every vSphere API module
  module_defaults:
    group/nestedvirt.esxi.vsphere:
      hostname: esxi01.example.com
      username: root
      password: "{{ esxi_root_password }}"
      ca_file: files/esxi01-rui.crt
  delegate_to: localhost
  block:
    - name: Turn nesting off again, by vmid
      nestedvirt.esxi.vm_nested_hv:
        moid: "12"
        nested_hv_enabled: false
"""

RETURN = r"""
vm:
  description: The VM, as found.
  returned: success
  type: dict
  contains:
    name:
      description: Its name.
      type: str
      sample: Lab VM 1
    moid:
      description: Its managed object id (the vmid on an ESXi host).
      type: str
      sample: "1"
    host:
      description: The name of the ESXi host it is on.
      type: str
      sample: esxi01.example.com
    vmx_path:
      description: Its .vmx file as the datastore path vSphere shows.
      type: str
      sample: "[datastore1] Lab VM 1/Lab VM 1.vmx"
    hardware_version:
      description: Its virtual hardware version.
      type: str
      sample: vmx-19
    power_state:
      description: Its power state when found (V(poweredOn), V(poweredOff), V(suspended)).
      type: str
      sample: poweredOn
before:
  description: The settings as found.
  returned: success
  type: dict
  sample: {"nested_hv_enabled": false, "vpmc_enabled": false, "iommu_enabled": false, "vbs_enabled": false}
after:
  description: The settings afterwards (with check mode, as they would be).
  returned: success
  type: dict
  sample: {"nested_hv_enabled": true, "vpmc_enabled": false, "iommu_enabled": true, "vbs_enabled": true}
power_cycled:
  description: Whether the VM was (with check mode, would be) shut down and powered back on.
  returned: success
  type: bool
  sample: true
power_operations:
  description:
    - The power operations sent, in order, as M(nestedvirt.esxi.vm_power) names them (V(shutdown),
      V(off) for a hard power-off, V(on)); empty when none was needed. With check mode, those
      that would be sent if the guest shuts down in time.
  returned: success
  type: list
  elements: str
  sample: [shutdown, "on"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._args import argument_spec, prepare_connection
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._client import VsphereClient
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._errors import (
    PowerStateError,
    RestrictedVersionError,
    ToolsUnavailableError,
    VsphereError,
    WaitTimeoutError,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._plan import (
    NESTED_HV_MIN_API,
    SETTING_FIELDS,
    VM_FLAGS_MIN_API,
    api_at_least,
    nested_hv_restricted_hint,
    plan_nested_hv,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._pyvmomi import HAS_PYVMOMI

ARGUMENT_SPEC = argument_spec(
    nested_hv_enabled=dict(type="bool", default=True),
    vpmc_enabled=dict(type="bool"),
    iommu_enabled=dict(type="bool"),
    vbs_enabled=dict(type="bool"),
    name=dict(type="str"),
    moid=dict(type="str"),
    esxi_hostname=dict(type="str"),
    power_cycle=dict(type="bool", default=False),
    shutdown_timeout=dict(type="int", default=300),
    force=dict(type="bool", default=False),
)
MUTUALLY_EXCLUSIVE = [("name", "moid")]
REQUIRED_ONE_OF = [("name", "moid")]

VM_PATHS = ["name", "runtime.powerState", "runtime.host", "config.version", "config.files.vmPathName"]
NESTED_PATHS = ["config.nestedHVEnabled", "config.vPMCEnabled"]
# vim.vm.FlagInfo's switches, and what the vbs switch needs (vSphere API 6.7 and later).
FLAG_PATHS = [
    "config.flags.vvtdEnabled",
    "config.flags.vbsEnabled",
    "config.firmware",
    "config.bootOptions.efiSecureBootEnabled",
]


def read_vm(client, vm):
    """What the plan needs to know about the VM and its host, in two round trips."""
    supported = api_at_least(client.api_version, NESTED_HV_MIN_API)  # older APIs do not know the paths
    flags = api_at_least(client.api_version, VM_FLAGS_MIN_API)
    found = client.properties(vm, VM_PATHS + (NESTED_PATHS if supported else []) + (FLAG_PATHS if flags else []))
    host = client.properties(
        found["runtime.host"], ["name", "capability.nestedHVSupported", "summary.config.product.version"]
    )
    return dict(
        name=found["name"],
        moid=vm._moId,
        vmid=None if client.is_vcenter else vm._moId,  # an ESXi host's moid is the vmid vim-cmd uses
        api_version=client.api_version,
        power_state=str(found["runtime.powerState"]),
        version=found.get("config.version"),
        vmx_path=found.get("config.files.vmPathName"),
        nested_hv_enabled=found.get("config.nestedHVEnabled"),
        vpmc_enabled=found.get("config.vPMCEnabled"),
        iommu_enabled=found.get("config.flags.vvtdEnabled"),
        vbs_enabled=found.get("config.flags.vbsEnabled"),
        firmware=found.get("config.firmware"),
        secure_boot=found.get("config.bootOptions.efiSecureBootEnabled"),
        host=host.get("name"),
        host_version=host.get("summary.config.product.version"),
        host_nested_hv_supported=host.get("capability.nestedHVSupported"),
    )


def shut_down(client, vm, name, timeout, force, operations):
    """Power the VM off, gracefully if at all possible; each power operation sent goes into ``operations``."""
    operations.append("shutdown")
    try:
        client.shutdown_guest(vm, "asking the guest of VM %r to shut down" % name)
    except ToolsUnavailableError as error:
        if not force:
            raise ToolsUnavailableError(
                "%s Nothing was changed: shut the VM down yourself, or set force: true to power it off hard." % error
            ) from None
        _hard_off(client, vm, "powering VM %r off (VMware Tools is not running)" % name, operations)
        return
    try:
        client.wait_power_state(vm, "poweredOff", timeout)
    except WaitTimeoutError:
        if not force:
            raise WaitTimeoutError(
                "VM %r did not power off within %d s of its guest being asked to shut down; nothing was changed "
                "(the guest may still be shutting down, and the VM then stays off). Raise shutdown_timeout, or set "
                "force: true to power it off hard after the timeout." % (name, timeout)
            ) from None
        _hard_off(client, vm, "powering VM %r off after %d s waiting for the guest" % (name, timeout), operations)


def _hard_off(client, vm, action, operations):
    operations.append("off")
    try:
        client.power_off(vm, action)
    except PowerStateError:
        # The guest finished shutting down just now: off is off.
        if client.properties(vm, ["runtime.powerState"])["runtime.powerState"] != "poweredOff":
            raise


def apply(client, vm, facts, plan, params):
    """Make the change, power-cycling if the plan says so; return the power operations sent."""
    name = facts["name"]
    operations = []
    if plan.power_cycle:
        shut_down(client, vm, name, params["shutdown_timeout"], params["force"], operations)
    try:
        client.reconfigure(vm, "reconfiguring VM %r" % name, **plan.spec)
    except VsphereError as error:
        if plan.power_cycle:  # it was running when we came: leave it running
            operations.append("on")
            try:
                client.power_on(vm, "powering VM %r back on" % name)
            except VsphereError as second:
                error.args = ("%s The VM was shut down for the change and is still off: %s" % (error, second),)
            else:
                error.args = ("%s The VM was shut down for the change and has been powered back on." % error,)
        raise
    if plan.power_cycle:
        operations.append("on")
        client.power_on(vm, "powering VM %r back on" % name)
    return operations


def run(module, client):
    params = module.params
    host = None
    if client.is_vcenter and params["esxi_hostname"]:
        host = client.find_host(params["esxi_hostname"])[0]
    vm = client.find_vm(name=params["name"], moid=params["moid"], host=host)
    facts = read_vm(client, vm)
    plan = plan_nested_hv(
        facts,
        params["nested_hv_enabled"],
        params["vpmc_enabled"],
        params["power_cycle"],
        iommu_enabled=params["iommu_enabled"],
        vbs_enabled=params["vbs_enabled"],
    )
    operations = ["shutdown", "on"] if plan.power_cycle else []
    after = plan.after
    if plan.changed and not module.check_mode:
        try:
            operations = apply(client, vm, facts, plan, params)
        except RestrictedVersionError as error:
            hint = nested_hv_restricted_hint(facts["name"], facts["power_state"] == "poweredOn", plan.spec)
            raise RestrictedVersionError("%s %s" % (error, hint)) from None
        now = read_vm(client, vm)  # what the host says, not what we hoped
        after = dict((setting, bool(now.get(setting))) for setting in SETTING_FIELDS)
    result = dict(
        changed=plan.changed,
        vm=dict(
            name=facts["name"],
            moid=facts["moid"],
            host=facts["host"],
            vmx_path=facts["vmx_path"],
            hardware_version=facts["version"],
            power_state=facts["power_state"],
        ),
        before=plan.before,
        after=after,
        power_cycled=plan.power_cycle,
        power_operations=operations,
    )
    if module._diff:
        result["diff"] = dict(before=plan.before, after=after)
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        required_one_of=REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    try:
        with VsphereClient(**prepare_connection(module, HAS_PYVMOMI)) as client:
            result = run(module, client)
    except NestedvirtError as error:  # the API's faults and the checks made before any change
        module.fail_json(msg=str(error), **error.as_result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
