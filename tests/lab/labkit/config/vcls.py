"""A clustered host's vCLS system VMs (README "Clustered hosts"): derived from the host, never
in config.json; hostd registers them beside the configured VMs."""

from __future__ import annotations

import hashlib

from ..releases import vcls_hardware
from .schema import VM, Host

VCLS_DIR = "/var/run/crx/infra"  # where vCLS VMs live (an absolute path in the host's root)


def system_vms(host: Host) -> list[VM]:
    """The vCLS system VMs a vCenter cluster runs on a clustered host: getallvms lists them with an
    empty datastore and an absolute path (`[] /var/run/crx/infra/vCLS-<uuid>/vCLS-<uuid>.vmx`),
    powered on, with Tools. They are not part of `vms` (nor of config.json): hostd adds them."""
    used = {vm.vmid for vm in host.vms}
    out = []
    for i in range(host.clustered):
        h = hashlib.sha256(f"{host.name}\0vcls\0{i}".encode()).hexdigest()
        name = f"vCLS-{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        vmid = 1698 + i
        while vmid in used:
            vmid += 1
        used.add(vmid)
        out.append(
            VM(
                name=name,
                vmid=vmid,
                datastore="",
                path=f"{VCLS_DIR}/{name}/{name}.vmx",
                guest="none",
                power="on",
                hardware_version=vcls_hardware(host.vtuple, host.release.hw_max),
                memsize=128,
                guest_os="crxSys1Guest",
                inventory=False,
            )
        )
    return out
