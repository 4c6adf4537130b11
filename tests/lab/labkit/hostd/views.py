"""What hostd shows of its VMs: the `formats.VmView` vim-cmd and the API print from, and the
JSON of `lab inventory` (the vSphere simulator) and `lab status` (esxilab status).

`Views` is a mixin of labkit.hostd.server.Hostd (it needs self.cfg, self.lock, self.vms, self.rt,
self.ssh_policy and faults()).
"""

from __future__ import annotations

import hashlib
import re
import time

from .. import config as cfgmod
from .. import formats as fmt
from ..vmxfile import Vmx
from .state import VMState


class Views:
    def view(self, vm: VMState) -> fmt.VmView:
        vmx = vm.vmx or Vmx()
        guest_id = cfgmod.guest_os_from_vmx(vmx.get("guestOS"))
        h = hashlib.sha256(f"{self.cfg.name}\0{vm.vmid}\0{vm.file}".encode()).hexdigest()
        uuid = f"564d{h[0:4]}-{h[4:8]}-{h[8:12]}-{h[12:16]}-{h[16:28]}"
        extra_skip = {
            ".encoding",
            "config.version",
            "virtualhw.version",
            "displayname",
            "numvcpus",
            "memsize",
            "guestos",
            "annotation",
            "vhv.enable",
            "vpmc.enable",
        }
        running = vm.tools_running()
        ip = None
        if running:
            ip = vm.guest.ip if vm.guest is not None else None
        return fmt.VmView(
            vmid=vm.vmid,
            name=vm.name,
            file=vm.file,
            guest_id=guest_id,
            guest_full_name=cfgmod.guest_full_name(guest_id),
            hw_version=vmx.get_int("virtualHW.version", 4),
            numvcpus=vmx.get_int("numvcpus", 1),
            memsize=vmx.get_int("memsize", 32),
            annotation=vmx.get("annotation", "") or "",
            power=vm.power,
            tools_installed=vm.cfg.tools,
            tools_running=running,
            ip=ip,
            hostname=(re.sub(r"[^A-Za-z0-9-]", "-", vm.name)[:63].strip("-") or "guest") if running else None,
            uptime=int(time.time() - vm.started_at) if vm.power == "poweredOn" else None,
            boot_time=vm.started_iso or None,
            uuid=uuid,
            instance_uuid="52" + uuid[2:],
            mac="00:0c:29:%s:%s:%s" % (h[28:30], h[30:32], h[32:34]),
            nested_hv=vmx.get_bool("vhv.enable"),
            vpmc=vmx.get_bool("vpmc.enable"),
            extra_config=[(k, v) for k, v in vmx.items() if k.lower() not in extra_skip],
        )

    def inventory(self, system_vms: bool = False) -> dict:
        """The VMs for the vSphere simulator (``lab inventory``) and ``esxilab status``; system VMs
        (vCLS, outside every datastore) only for the latter: vcsim models a VM only on a datastore,
        and the single-host simulator has no cluster."""
        with self.lock:
            vms = sorted(self.vms.values(), key=lambda v: v.vmid)
        out = []
        for vm in vms:
            if not vm.valid or (vm.system and not system_vms):
                continue
            v = self.view(vm)
            out.append(
                {
                    "vmid": vm.vmid,
                    "name": v.name,
                    "vmx_datastore_path": v.file,
                    "power": vm.power,
                    "hardware_version": v.hw_version,
                    "numvcpus": v.numvcpus,
                    "memsize": v.memsize,
                    "nested_hv_enabled": v.nested_hv,
                    "annotation": v.annotation,
                    "uuid": v.uuid,
                    "instance_uuid": v.instance_uuid,
                    "tools_installed": v.tools_installed,
                    "tools_running": v.tools_running,
                    "ip_address": v.ip,
                    "guest_hostname": v.hostname,
                    "folder": vm.cfg.folder,
                    **({"system": vm.system} if system_vms else {}),
                }
            )
        return {
            "name": self.cfg.name,
            "version": self.cfg.version,
            "build": str(self.cfg.build),
            "nested_hv_supported": self.cfg.nested_hv_supported,
            "datastores": [{"name": d.name, "uuid": d.uuid} for d in self.cfg.datastores],
            "vms": out,
        }

    def status(self) -> dict:
        inv = self.inventory(system_vms=True)
        by_id = {v["vmid"]: v for v in inv["vms"]}
        with self.lock:
            vms = sorted(self.vms.values(), key=lambda v: v.vmid)
        inv["vms"] = [
            {
                **by_id.get(vm.vmid, {"vmid": vm.vmid, "name": vm.cfg.name, "invalid": True, "system": vm.system}),
                "guest": vm.cfg.guest,
                "address": vm.cfg.address or None,
                "tools_running": vm.tools_running(),
                "nested_now": vm.nested_now if vm.power == "poweredOn" else None,
                "pid": vm.guest.pid if vm.guest is not None else None,
            }
            for vm in vms
        ]
        inv.update(address=self.cfg.address, ssh=self.ssh_state(), faults=self.faults())
        return inv

    def ssh_state(self) -> dict:
        return {"running": self.rt.ssh_running(), "policy": self.ssh_policy}
