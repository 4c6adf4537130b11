"""vim-cmd as hostd answers it: vmsvc (getallvms, power.*, reload, get.*, upgrade,
unregister), solo/registervm and hostsvc's SSH service commands, with ESXi's faults and usage
texts (labkit/formats/vimcmd.py prints them).

`VimCmd` is a mixin of labkit.hostd.server.Hostd (it needs the state machine of state.py, the
views of views.py and the fault hooks of faults.py).
"""

from __future__ import annotations

import os
import re

from .. import config as cfgmod
from .. import formats as fmt
from .faults import Fault
from .state import VMState


class VimCmd:
    def find_vm(self, arg: str | None) -> VMState:
        if arg is None:
            raise Fault("Insufficient arguments.\n")
        vm = self.vms.get(int(arg)) if arg.isdigit() else None
        if vm is None or not vm.valid:
            raise Fault(fmt.not_found(arg, self.d))
        return vm

    def vim_cmd(self, args: list[str]) -> tuple:
        failed = self.transient_failure(args)
        if failed is not None:
            return failed
        if not args:
            return 0, fmt.VIM_CMD_USAGE
        cmd = args[0].strip("/")
        rest = args[1:]
        arg = rest[0] if rest else None
        v = self.d
        if cmd in ("vmsvc", "hostsvc", "solo"):
            return 0, {"vmsvc": fmt.VMSVC_USAGE, "hostsvc": fmt.HOSTSVC_USAGE, "solo": fmt.SOLO_USAGE}[cmd]
        if cmd == "vmsvc/getallvms":
            with self.lock:
                vms = list(self.vms.values())
            rows, invalid = [], []
            for vm in vms:
                if not vm.valid:
                    invalid.append(vm.vmid)
                    continue
                view = self.view(vm)
                rows.append(
                    fmt.Row(vm.vmid, view.name, vm.file, view.guest_id, f"vmx-{view.hw_version:02d}", view.annotation)
                )
            return 0, fmt.getallvms(rows, invalid, self.cfg.vm_order, self.cfg.getallvms_trailing_blanks)
        if cmd == "vmsvc/power.getstate":
            return 0, fmt.getstate(self.find_vm(arg).power)
        if cmd in ("vmsvc/power.on", "vmsvc/power.off"):
            op = cmd.rsplit(".", 1)[1]
            target = "poweredOn" if op == "on" else "poweredOff"
            vm = self.find_vm(arg)
            with vm.oplock:
                if vm.power == target:
                    raise Fault(fmt.power_failed(op, target, vm.power, v))
                if op == "off":
                    self.power_off(vm)
                    return 0, "Powering off VM:\n"
                if self.power_on_refused(vm):
                    raise Fault(fmt.power_on_config_fault(v))
                self.power_on(vm)
                if self.power_on_misreported(vm):  # it did power on (Apache VCL's case)
                    return self.cfg.fault_exit_status, fmt.power_on_misreported()
            return 0, "Powering on VM:\n"
        if cmd == "vmsvc/power.reset":
            vm = self.find_vm(arg)
            with vm.oplock:
                if vm.power != "poweredOn":
                    raise Fault(fmt.power_failed("reset", "poweredOn", vm.power, v))
                self.power_off(vm)
                self.power_on(vm)
            return 0, ""
        if cmd == "vmsvc/power.shutdown":
            vm = self.find_vm(arg)
            with vm.oplock:
                if vm.power != "poweredOn":
                    raise Fault(fmt.invalid_power_state("poweredOff", vm.power, v))
                if not vm.tools_running():
                    raise Fault(fmt.tools_unavailable(v))
                self.shutdown(vm)
            return 0, ""
        if cmd == "vmsvc/reload":
            vm = self.find_vm(arg)
            self._load_cache(vm)
            return 0, ""
        if cmd == "vmsvc/get.guest":
            return 0, fmt.get_guest(self.view(self.find_vm(arg)), v)
        if cmd == "vmsvc/get.summary":
            return 0, fmt.get_summary(self.view(self.find_vm(arg)), v)
        if cmd == "vmsvc/get.config":
            return 0, fmt.get_config(self.view(self.find_vm(arg)), v)
        if cmd == "vmsvc/upgrade":
            return self.upgrade(self.find_vm(arg), rest[1] if len(rest) > 1 else None)
        if cmd == "vmsvc/unregister":
            vm = self.find_vm(arg)
            if vm.power != "poweredOff":
                raise Fault(fmt.invalid_power_state("poweredOff", vm.power, v))
            self.unregister(vm)
            return 0, ""
        if cmd == "solo/registervm":
            return self.registervm(rest)
        if cmd == "hostsvc/enable_ssh":
            self.ssh_policy = "on"
            return 0, ""
        if cmd == "hostsvc/disable_ssh":
            self.ssh_policy = "off"
            return 0, ""
        if cmd == "hostsvc/start_ssh":
            self.rt.ssh_start()
            return 0, ""
        if cmd == "hostsvc/stop_ssh":
            self.rt.ssh_stop()
            return 0, ""
        return 1, f"Command '{args[0]}' not found.\n" + fmt.VIM_CMD_USAGE

    def upgrade(self, vm: VMState, target: str | None) -> tuple[int, str]:
        v = self.d
        if vm.power != "poweredOff":
            raise Fault(fmt.invalid_power_state("poweredOff", vm.power, v))
        current = vm.vmx.get_int("virtualHW.version", 4)
        if target is None:
            new = self.cfg.release.hw_max
        else:
            m = re.fullmatch(r"vmx-(\d+)", target)
            if not m:
                raise Fault(
                    fmt.fault(
                        "vmodl.fault.InvalidArgument",
                        "A specified parameter was not correct: version",
                        v,
                        [("invalidProperty", "version")],
                    )
                )
            new = int(m.group(1))
        if new > self.cfg.release.hw_max:
            raise Fault(
                fmt.fault(
                    "vmodl.fault.InvalidArgument",
                    "A specified parameter was not correct: version",
                    v,
                    [("invalidProperty", "version")],
                )
            )
        if new <= current:
            raise Fault(
                fmt.fault("vim.fault.AlreadyUpgraded", "Virtual machine compatibility is already up-to-date.", v)
            )
        self._hostd_write(vm, "virtualHW.version", str(new))
        return 0, ""

    def registervm(self, rest: list[str]) -> tuple[int, str]:
        v = self.d
        if not rest:
            raise Fault("Insufficient arguments.\n")
        path = rest[0]
        m = re.fullmatch(r"\[([^\]]+)\] ?(.+)", path)
        if m:
            ds, rel = self.ds(m.group(1)), m.group(2)
        else:
            m = re.fullmatch(r"/vmfs/volumes/([^/]+)/(.+)", path)
            ds, rel = (self.ds(m.group(1)), m.group(2)) if m else (None, "")
        rel = os.path.normpath(rel) if rel else rel
        if ds is None or not rel.endswith(".vmx") or rel.startswith(".."):
            raise Fault(fmt.fault("vim.fault.NotFound", "The object or item referred to could not be found.", v))
        with self.lock:
            for vm in self.vms.values():
                if vm.datastore.uuid == ds.uuid and vm.path == rel:
                    raise Fault(
                        fmt.fault(
                            "vim.fault.AlreadyExists",
                            f"The specified key, name, or identifier '{vm.vmid}' already exists.",
                            v,
                            [("name", str(vm.vmid))],
                        )
                    )
            if not (self.rt.root / "vmfs" / "volumes" / ds.uuid / rel).is_file():
                raise Fault(fmt.fault("vim.fault.NotFound", "The object or item referred to could not be found.", v))
            vm_cfg = self.by_path.get((ds.uuid, rel))
            if vm_cfg is None:
                vm_cfg = cfgmod.VM(
                    name=rel.rsplit("/", 1)[-1][:-4], datastore=ds.name, path=rel, guest="none", power="off"
                )
            vm = self.register(vm_cfg, None, ds, rel)
            vm.ready.set()
            if len(rest) > 1 and rest[1]:
                self._hostd_write(vm, "displayName", rest[1])
        return 0, f"{vm.vmid}\n"
