# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ESXi host and its VMs through the vSphere API, in one PropertyCollector retrieval, as the
same facts host_info reads over SSH (``nestedvirt_esxi``), so that one planner plans both paths.

The retrieval starts at the host and follows ``vm`` to its VMs, each VM's ``parent`` up its folders
to the datacenter (the VM's inventory path), and the host's ``parent`` to its cluster; connected
straight to an ESXi host it also reads the license (a free license makes the API read-only).
``host_facts`` turns what came back into the facts; it is pure, so it is tested without a server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import (
    HOST_CONFIG_PATH,
    MIN_HARDWARE_VERSION,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._plan import (
    NESTED_HV_MIN_API,
    VM_FLAGS_MIN_API,
    api_at_least,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._vmx_fields import (
    CONTEXT_PROPERTIES,
    PROPERTY_OF_FIELD,
    marker_set,
    vmx_from_properties,
)

HOST_PATHS = [
    "name",
    "parent",
    "runtime.connectionState",
    "runtime.inMaintenanceMode",
    "capability.nestedHVSupported",
    "summary.config.product.version",
    "summary.config.product.build",
]
VM_BASE_PATHS = [
    "name",
    "parent",
    "config.instanceUuid",
    "config.version",
    "config.files.vmPathName",
    "config.guestId",
    "config.annotation",
    "config.template",
    "config.extraConfig",
    "runtime.powerState",
    "runtime.connectionState",
    "guest.toolsRunningStatus",
    "guest.ipAddress",
] + sorted(CONTEXT_PROPERTIES)
# Editions of the free ESXi license (vSphere Hypervisor), whose API refuses every write.
FREE_EDITIONS = ("esxBasic",)


def vm_paths(api_version):
    """The VM properties to read: the nesting fields only where the API knows them (an older API
    fails the whole read on a property it does not have)."""
    paths = list(VM_BASE_PATHS)
    if api_at_least(api_version, NESTED_HV_MIN_API):
        paths += sorted(path for path in PROPERTY_OF_FIELD.values() if not path.startswith("config.flags."))
    if api_at_least(api_version, VM_FLAGS_MIN_API):
        paths += sorted(path for path in PROPERTY_OF_FIELD.values() if path.startswith("config.flags."))
    return paths


def filter_specs(query, vim, host, api_version, license_manager=None):
    """The one retrieval's filter specs (``query``: vmodl.query.PropertyCollector)."""
    # Up from the VM: its folders, the datacenter, and the folders above that (the inventory path
    # starts below the root folder, as FindByInventoryPath and govc spell it).
    up_folders = query.TraversalSpec(
        name="folderParent",
        type=vim.Folder,
        path="parent",
        skip=False,
        selectSet=[query.SelectionSpec(name="folderParent"), query.SelectionSpec(name="datacenterParent")],
    )
    up_datacenter = query.TraversalSpec(
        name="datacenterParent",
        type=vim.Datacenter,
        path="parent",
        skip=False,
        selectSet=[query.SelectionSpec(name="folderParent")],
    )
    vm_parent = query.TraversalSpec(
        name="vmParent", type=vim.VirtualMachine, path="parent", skip=False, selectSet=[up_folders, up_datacenter]
    )
    host_vms = query.TraversalSpec(name="hostVms", type=vim.HostSystem, path="vm", skip=False, selectSet=[vm_parent])
    host_parent = query.TraversalSpec(name="hostParent", type=vim.HostSystem, path="parent", skip=False)
    specs = [
        query.FilterSpec(
            objectSet=[query.ObjectSpec(obj=host, skip=False, selectSet=[host_vms, host_parent])],
            propSet=[
                query.PropertySpec(type=vim.HostSystem, pathSet=HOST_PATHS),
                query.PropertySpec(type=vim.VirtualMachine, pathSet=vm_paths(api_version)),
                query.PropertySpec(type=vim.Folder, pathSet=["name", "parent"]),
                query.PropertySpec(type=vim.Datacenter, pathSet=["name", "parent"]),
                query.PropertySpec(type=vim.ComputeResource, pathSet=["name"]),
                query.PropertySpec(type=vim.ClusterComputeResource, pathSet=["name"]),
            ],
        )
    ]
    if license_manager is not None:
        specs.append(
            query.FilterSpec(
                objectSet=[query.ObjectSpec(obj=license_manager, skip=False)],
                propSet=[query.PropertySpec(type=vim.LicenseManager, pathSet=["licenses"])],
            )
        )
    return specs


def _moid(obj):
    return getattr(obj, "_moId", None)


def _kind(obj):
    return getattr(obj, "_wsdlName", None) or type(obj).__name__


def _inventory_path(parent, folders):
    """``[Folder/]Datacenter/vm/Folder/...`` of a VM whose parent folder is ``parent`` (folders:
    moid -> (kind, name, parent moid)), below the root folder; None when the chain is broken."""
    names = []
    moid = _moid(parent)
    for _depth in range(64):  # a folder tree is never that deep; a loop would be a server bug
        if moid not in folders:
            return None
        kind, name, up = folders[moid]
        if kind == "Folder" and up is None:  # the root folder ("Datacenters"): not part of a path
            break
        names.append(name)
        if up is None:
            break
        moid = up
    return "/".join(reversed(names)) if names else None


def _vm_path(values, folders):
    folder = _inventory_path(values.get("parent"), folders)
    return "%s/%s" % (folder, values.get("name")) if folder else None


def _version_triplet(version):
    parts = [int(part) if part.isdigit() else 0 for part in str(version or "").split(".")]
    return tuple((parts + [0, 0, 0])[:3])


def host_facts(found, host, endpoint, api_version, vcenter):
    """The host's facts from the retrieval: ``found`` is ``[(object, {path: value})]``, ``host`` the
    HostSystem read. The shape is host_info's (see its RETURN), with ``source: api`` and what only
    the API tells: ``api`` (endpoint, vcenter, version, writable), ``host_state``, each VM's
    ``moid`` (its ``vmid``), ``instance_uuid`` and ``path``."""
    objects = dict((_moid(obj), (obj, values)) for obj, values in found)
    host_values = objects.get(_moid(host), (host, {}))[1]
    folders = dict(
        (moid, (_kind(obj), values.get("name"), _moid(values.get("parent"))))
        for moid, (obj, values) in objects.items()
        if _kind(obj) in ("Folder", "Datacenter")
    )
    licenses = [lic for obj, values in found if _kind(obj) == "LicenseManager" for lic in values.get("licenses") or ()]
    editions = sorted(set(str(getattr(lic, "editionKey", "") or "") for lic in licenses))
    writable = bool(vcenter or not editions or not set(editions) <= set(FREE_EDITIONS))
    version = str(host_values.get("summary.config.product.version") or "")
    per_vm = _version_triplet(version) >= (5, 1, 0) and api_at_least(api_version, NESTED_HV_MIN_API)
    supported = host_values.get("capability.nestedHVSupported")
    parent, parent_values = objects.get(_moid(host_values.get("parent")), (None, {}))
    cluster = parent_values.get("name") if _kind(parent) == "ClusterComputeResource" else None

    vms = []
    for moid, (obj, values) in objects.items():  # the retrieval reaches VMs only through the host's vm
        if _kind(obj) != "VirtualMachine" or values.get("config.template"):
            continue
        vmx = vmx_from_properties(values)
        hardware = values.get("config.version") or ""
        connection = str(values.get("runtime.connectionState") or "") or None
        vms.append(
            {
                "vmid": moid,
                "moid": moid,
                "instance_uuid": (values.get("config.instanceUuid") or "").lower() or None,
                "name": values.get("name"),
                "path": _vm_path(values, folders),
                "annotation": values.get("config.annotation") or "",
                "system": False,
                "datastore_path": values.get("config.files.vmPathName"),
                "vmx_path": None,
                "guest_os": values.get("config.guestId"),
                "hardware_version": int(hardware[4:]) if hardware[4:].isdigit() else None,
                "power_state": str(values["runtime.powerState"]) if values.get("runtime.powerState") else None,
                "connection_state": connection,
                "tools_running_status": str(values.get("guest.toolsRunningStatus") or "") or None,
                "ip_address": values.get("guest.ipAddress"),
                "vmx": vmx,
                "nested_hv_enabled": vmx.get("vhv.enable") == "TRUE",
                "restart_pending": marker_set(values),
                "hostd": {},
                "hostd_stale": [],
                "networks": [],
            }
        )
        if connection not in (None, "connected"):
            # inaccessible, invalid, orphaned: its configuration cannot be read, so never planned
            vms[-1]["fault"] = "the VM is %s (its files cannot be reached or read)" % connection
    vms.sort(key=lambda vm: (len(vm["vmid"]), vm["vmid"]))
    return {
        "source": "api",
        "name": host_values.get("name"),
        "version": version,
        "build": str(host_values.get("summary.config.product.build") or ""),
        "update_level": None,
        "python": [],
        "cluster": cluster,
        "api": {
            "endpoint": endpoint,
            "vcenter": bool(vcenter),
            "version": api_version,
            "writable": writable,
            "editions": editions,
        },
        "host_state": {
            "connection_state": str(host_values.get("runtime.connectionState") or "") or None,
            "in_maintenance_mode": bool(host_values.get("runtime.inMaintenanceMode")),
        },
        "nesting": {
            "method": "vm" if per_vm else "host",
            "key": "vhv.enable" if per_vm else "vhv.allow",
            "path": None if per_vm else HOST_CONFIG_PATH,
            "min_hardware_version": MIN_HARDWARE_VERSION if per_vm else None,
            "host_vhv_allow": None,
            "hv_support": None,
            "hv_support_meaning": None,
            "nested_hv_supported": supported if isinstance(supported, bool) else None,
        },
        "host_config": {},
        "vms": vms,
        "invalid_vmids": [],
    }
