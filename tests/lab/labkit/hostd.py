"""One simulated hostd per ESXi host: VM registry, power state machine, config cache, faults.

hostd serves the lab's request protocol (ARCHITECTURE.md) on <host address>:8307 for the
commands inside the host (vim-cmd, esxcli, vmware, df, the login wrapper), the vSphere API
simulator and the esxilab CLI. Semantics kept from the real hostd (esxi-facts.md):

- each registered VM's configuration is cached: read at registration and on vmsvc/reload only;
  getallvms / get.config / the API show the cache;
- power-on reads the .vmx on disk (as the VMX process does) for nesting, vCPUs and memory, and
  remembers hostd's cache of that moment; power-off writes that back to the .vmx, so an edit made
  while the VM ran (reloaded or not), or made while off but never reloaded, is reverted;
- nesting: the host must support it; ESXi 5.0 only looks at `vhv.allow` in /etc/vmware/config,
  5.1+ at the VM's `vhv.enable` with virtual hardware 9 or later;
- power.shutdown goes through (emulated) VMware Tools and returns at once.

The process side (namespace, sshd, QEMU guests, known_hosts) is behind `Runtime`, which labd
implements; tests may pass a simpler one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import re
import socket
import socketserver
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from . import config as cfgmod
from . import formats as fmt
from .sshd import kill, proc_stat
from .vmxfile import Vmx, new_vmx

MAX_ARGS = 4096
MAX_REQUEST = 4 << 20
REQUEST_TIMEOUT = 30.0
NONE_SHUTDOWN_SECONDS = 0.5  # guest: none VMs: how long a Tools shutdown takes
DROP_DELAY_MAX = 600.0


class Runtime(Protocol):
    """What hostd needs from the supervisor (labd) for one host."""

    root: Path  # the host root as its processes see it

    def ssh_start(self) -> None: ...
    def ssh_stop(self) -> None: ...
    def ssh_running(self) -> bool: ...
    def ssh_listener_pid(self) -> int | None: ...
    def make_guest(self, vm: cfgmod.VM) -> Any: ...  # a labkit.guest.Guest or None
    def record_pid(self, key: str, pid: int) -> None: ...
    def forget_pid(self, key: str) -> None: ...
    def guest_ready(self, vm: cfgmod.VM, guest: Any) -> bool: ...  # known_hosts etc.; blocking
    def set_datastore_full(self, uuid: str, full: bool) -> None: ...
    def set_datastore_readonly(self, uuid: str, readonly: bool) -> None: ...
    def in_host(self, pid: int) -> bool: ...  # does pid run inside this host's namespace


class Fault(Exception):
    """A vim-cmd fault: the text to print."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ppid(pid: int) -> int:
    fields = proc_stat(pid)
    return int(fields[1]) if fields else 0


@dataclasses.dataclass
class DropState:
    rule: cfgmod.DropRule
    left: int  # remaining drops; -1 = unlimited


class VMState:
    def __init__(self, cfg: cfgmod.VM, vmid: int, datastore: cfgmod.Datastore, path: str) -> None:
        self.cfg = cfg
        self.vmid = vmid
        self.datastore = datastore
        self.path = path
        self.cache: bytes | None = None
        self.vmx: Vmx | None = None
        self.power = "poweredOff"
        self.boot = 0
        self.run_snapshot: bytes | None = None
        self.started_at = 0.0
        self.started_iso = ""
        self.nested_now = False
        self.guest: Any = None
        self.ready = threading.Event()  # Linux: SSH host key known; none: at once
        self.shutting_down = False
        self.ignore_shutdown = cfg.ignore_shutdown
        self.shutdown_delay = cfg.shutdown_delay
        self.oplock = threading.RLock()

    @property
    def file(self) -> str:
        return f"[{self.datastore.name}] {self.path}"

    @property
    def valid(self) -> bool:
        return self.vmx is not None

    @property
    def name(self) -> str:
        return (self.vmx.get("displayName") if self.vmx else None) or self.cfg.name

    @property
    def pid_key(self) -> str:
        return f"vm-{self.vmid}"

    def tools_running(self) -> bool:
        if self.power != "poweredOn" or not self.cfg.tools or self.shutting_down:
            return False
        if self.guest is not None:
            return self.ready.is_set() and self.guest.tools_running
        return time.time() - self.started_at >= self.cfg.boot_seconds


class Hostd:
    def __init__(self, host: cfgmod.Host, runtime: Runtime, log_path: Path) -> None:
        self.cfg = host
        self.rt = runtime
        self.version = host.vtuple
        self.log_path = Path(log_path)
        self.lock = threading.RLock()
        self.log_lock = threading.Lock()
        self.vms: dict[int, VMState] = {}
        self.by_path: dict[tuple[str, str], cfgmod.VM] = {}
        self.next_vmid = 1
        self.ssh_policy = host.ssh_policy
        self.drops = [DropState(r, r.times if r.times else -1) for r in host.faults.drop_ssh]
        self.vanish = [dataclasses.replace(r) for r in host.faults.vanish]
        self.full: set[str] = set()
        self.readonly: set[str] = set()
        self.pending_drops: dict[int, float] = {}
        self.vswitch = {"vSwitch0": {"promiscuous": False, "mac_change": False, "forged": False}}
        self.portgroups: dict[str, dict[str, bool] | None] = {"VM Network": None, "Management Network": None}
        self.server: socketserver.ThreadingTCPServer | None = None

    # --- files ---------------------------------------------------------------------------

    def ds(self, name: str) -> cfgmod.Datastore | None:
        for d in self.cfg.datastores:
            if d.name == name or d.uuid == name:
                return d
        return None

    def vmx_file(self, vm: VMState) -> Path:
        return self.rt.root / "vmfs" / "volumes" / vm.datastore.uuid / vm.path

    def read_vmx(self, vm: VMState) -> bytes:
        return self.vmx_file(vm).read_bytes()

    def write_vmx(self, vm: VMState, data: bytes) -> None:
        try:
            with open(self.vmx_file(vm), "wb") as f:
                f.write(data)
        except OSError as e:  # a full datastore, a removed directory: hostd logs and goes on
            self.note(f"writing {vm.file} failed: {e}")

    def etc_vmware_config(self) -> Vmx:
        try:
            return Vmx.parse((self.rt.root / "etc" / "vmware" / "config").read_bytes())
        except OSError:
            return Vmx()

    def note(self, text: str) -> None:
        print(f"hostd[{self.cfg.name}]: {text}", flush=True)

    # --- registration ----------------------------------------------------------------------

    def create_vm_files(self, vm: cfgmod.VM) -> None:
        """Write a VM's directory and .vmx as the lab's config describes it."""
        ds = self.ds(vm.datastore)
        path = self.rt.root / "vmfs" / "volumes" / ds.uuid / vm.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if vm.invalid:
            return
        entries = [
            ("config.version", "8"),
            ("virtualHW.version", str(vm.hardware_version)),
            ("displayName", vm.name),
            ("numvcpus", str(vm.numvcpus)),
            ("memsize", str(vm.memsize)),
            ("guestOS", cfgmod.guest_os_to_vmx(vm.guest_os)),
        ]
        if vm.annotation:
            entries.append(("annotation", vm.annotation))
        entries += list(vm.vmx.items())
        path.write_bytes(new_vmx(entries).render())

    def register(
        self, vm_cfg: cfgmod.VM, vmid: int | None = None, ds: cfgmod.Datastore | None = None, path: str | None = None
    ) -> VMState:
        with self.lock:
            ds = ds or self.ds(vm_cfg.datastore)
            vmid = vmid or self.next_vmid
            vm = VMState(vm_cfg, vmid, ds, path or vm_cfg.path)
            self.next_vmid = max(self.next_vmid, vmid + 1)
            self.by_path[(ds.uuid, vm.path)] = vm_cfg
            self._load_cache(vm)
            self.vms[vmid] = vm
            if vm_cfg.guest == "linux":
                vm.guest = self.rt.make_guest(vm_cfg)
            return vm

    def _load_cache(self, vm: VMState) -> None:
        try:
            data = self.read_vmx(vm)
        except OSError:
            vm.cache, vm.vmx = None, None
            return
        vm.cache, vm.vmx = data, Vmx.parse(data)

    def start(self) -> None:
        """Create and register the configured VMs, power on those configured on."""
        for vm_cfg in self.cfg.vms:
            self.create_vm_files(vm_cfg)
        for vm_cfg in self.cfg.vms:
            vm = self.register(vm_cfg, vm_cfg.vmid)
            if vm_cfg.power == "on" and vm.valid:
                self.power_on(vm)
            elif vm_cfg.power == "suspended":
                vm.power = "suspended"
            if vm.power != "poweredOn":
                vm.ready.set()
        for name in self.cfg.faults.datastore_full:
            self.set_full(name, True)
        for name in self.cfg.faults.datastore_readonly:
            self.set_readonly(name, True)
        self.serve()

    # --- nesting and power -----------------------------------------------------------------

    def nesting(self, vmx: Vmx) -> bool:
        if not self.cfg.nested_hv_supported:
            return False
        if self.version[:2] == (5, 0):
            return self.etc_vmware_config().get_bool("vhv.allow")
        return vmx.get_int("virtualHW.version", 4) >= 9 and vmx.get_bool("vhv.enable")

    def power_on(self, vm: VMState) -> None:
        with vm.oplock:
            try:
                disk = Vmx.parse(self.read_vmx(vm))
            except OSError:
                raise Fault(
                    fmt.fault("vim.fault.FileNotFound", f"File {vm.file} was not found", self.version)
                ) from None
            vm.run_snapshot = vm.cache
            vm.boot += 1
            boot = vm.boot
            vm.nested_now = self.nesting(disk)
            vm.shutting_down = False
            vm.started_at = time.time()
            vm.started_iso = _now_iso()[:-5] + "Z"
            vm.ready.clear()
            vm.power = "poweredOn"
            if vm.guest is None:
                vm.ready.set()
                return
            vm.guest.vcpus = min(max(disk.get_int("numvcpus", 1), 1), 8)
            vm.guest.memsize_mb = max(disk.get_int("memsize", 256), 128)
            pid = vm.guest.start(vm.nested_now)
            self.rt.record_pid(vm.pid_key, pid)
        self._thread(self._watch, vm, boot, name=f"watch-{vm.vmid}")
        self._thread(self._await_ready, vm, boot, name=f"ready-{vm.vmid}")

    def _thread(self, target, *args, name: str) -> None:
        t = threading.Thread(target=target, args=args, name=f"{self.cfg.name}-{name}", daemon=True)
        t.start()

    def _watch(self, vm: VMState, boot: int) -> None:
        guest = vm.guest
        while vm.boot == boot and not guest.wait_exit(1.0):
            pass
        self.powered_off(vm, boot)

    def _await_ready(self, vm: VMState, boot: int) -> None:
        try:
            ok = self.rt.guest_ready(vm.cfg, vm.guest)
        except Exception as e:  # noqa: BLE001 - reported, the VM just stays not ready
            self.note(f"VM {vm.name!r}: {e}")
            ok = False
        if ok and vm.boot == boot and vm.power == "poweredOn":
            vm.ready.set()

    def powered_off(self, vm: VMState, boot: int) -> None:
        """The VM's process ended (hard off, guest shutdown or crash): VMX writes its config."""
        with vm.oplock:
            if vm.boot != boot or vm.power == "poweredOff":
                return
            vm.power = "poweredOff"
            vm.shutting_down = False
            vm.boot += 1  # stale watchers and timers of this run are now ignored
            if vm.guest is not None:
                self.rt.forget_pid(vm.pid_key)
            if vm.run_snapshot is not None:
                self.write_vmx(vm, vm.run_snapshot)
                vm.cache, vm.vmx = vm.run_snapshot, Vmx.parse(vm.run_snapshot)
            vm.run_snapshot = None
            vm.ready.set()

    def power_off(self, vm: VMState) -> None:
        with vm.oplock:
            boot = vm.boot
            if vm.guest is not None and vm.power == "poweredOn":
                vm.guest.power_off()
            self.powered_off(vm, boot)

    def shutdown(self, vm: VMState) -> None:
        vm.shutting_down = True
        if vm.ignore_shutdown:
            vm.shutting_down = False
            return
        boot = vm.boot

        def act() -> None:
            if vm.boot != boot:
                return
            if vm.guest is not None:
                if not vm.guest.request_shutdown():
                    self.note(f"VM {vm.name!r}: the guest did not take the shutdown request")
                    vm.shutting_down = False
            else:
                self.powered_off(vm, boot)

        delay = vm.shutdown_delay + (0 if vm.guest is not None else NONE_SHUTDOWN_SECONDS)
        if vm.guest is not None and delay == 0:
            act()
        else:
            timer = threading.Timer(delay, act)
            timer.daemon = True
            timer.start()

    def unregister(self, vm: VMState) -> None:
        with self.lock:
            if vm.power == "poweredOn":
                self.power_off(vm)
            self.vms.pop(vm.vmid, None)

    # --- views ---------------------------------------------------------------------------

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

    def inventory(self) -> dict:
        with self.lock:
            vms = sorted(self.vms.values(), key=lambda v: v.vmid)
        out = []
        for vm in vms:
            if not vm.valid:
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
        inv = self.inventory()
        by_id = {v["vmid"]: v for v in inv["vms"]}
        with self.lock:
            vms = sorted(self.vms.values(), key=lambda v: v.vmid)
        inv["vms"] = [
            {
                **by_id.get(vm.vmid, {"vmid": vm.vmid, "name": vm.cfg.name, "invalid": True}),
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

    def faults(self) -> dict:
        with self.lock:
            return {
                "drop_ssh": [{**dataclasses.asdict(d.rule), "left": d.left} for d in self.drops if d.left != 0],
                "datastore_full": sorted(self.full),
                "datastore_readonly": sorted(self.readonly),
                "vanish": [dataclasses.asdict(r) for r in self.vanish],
                "ignore_shutdown": [vm.name for vm in self.vms.values() if vm.ignore_shutdown],
                "shutdown_delay": {vm.name: vm.shutdown_delay for vm in self.vms.values() if vm.shutdown_delay},
            }

    # --- request dispatch --------------------------------------------------------------------

    def handle(self, argv: list[str]) -> tuple[int, str]:
        prog, args = argv[0], argv[1:]
        try:
            if prog == "vim-cmd":
                return self.vim_cmd(args)
            if prog == "vmware":
                return fmt.vmware(args, self.cfg.version, self.cfg.build, self.cfg.update)
            if prog == "esxcli":
                return self.esxcli(args)
            if prog == "df":
                return self.df(args)
            if prog == "lab":
                try:
                    return self.lab(args)
                except Fault as f:  # the lab's own operations fail with 1, whatever ESXi's faults do
                    return 1, f.text
        except Fault as f:
            return self.cfg.fault_exit_status, f.text
        return 127, f"{prog}: not found\n"

    def find_vm(self, arg: str | None) -> VMState:
        if arg is None:
            raise Fault("Insufficient arguments.\n")
        vm = self.vms.get(int(arg)) if arg.isdigit() else None
        if vm is None or not vm.valid:
            raise Fault(fmt.not_found(arg, self.version))
        return vm

    def vim_cmd(self, args: list[str]) -> tuple[int, str]:
        if not args:
            return 0, fmt.VIM_CMD_USAGE
        cmd = args[0].strip("/")
        rest = args[1:]
        arg = rest[0] if rest else None
        v = self.version
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
            return 0, fmt.getallvms(rows, invalid, self.cfg.vm_order)
        if cmd == "vmsvc/power.getstate":
            return 0, fmt.getstate(self.find_vm(arg).power)
        if cmd in ("vmsvc/power.on", "vmsvc/power.off"):
            op = cmd.rsplit(".", 1)[1]
            target = "poweredOn" if op == "on" else "poweredOff"
            vm = self.find_vm(arg)
            with vm.oplock:
                if vm.power == target:
                    raise Fault(fmt.power_failed(op, target, vm.power, v))
                (self.power_on if op == "on" else self.power_off)(vm)
            return 0, f"Powering {op} VM:\n"
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
        v = self.version
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

    def _hostd_write(self, vm: VMState, key: str, value: str | None) -> None:
        """hostd changes its cached config and writes it out (clobbering unreloaded edits)."""
        vmx = Vmx.parse(vm.cache or b"")
        if value is None:
            vmx.remove(key)
        else:
            vmx.set(key, value)
        vm.cache, vm.vmx = vmx.render(), vmx
        self.write_vmx(vm, vm.cache)

    def registervm(self, rest: list[str]) -> tuple[int, str]:
        v = self.version
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

    # --- esxcli and df -------------------------------------------------------------------------

    def esxcli(self, args: list[str]) -> tuple[int, str]:
        words = [a for a in args if not a.startswith("-")]
        if words[:3] == ["system", "version", "get"] and len(args) == 3:
            return 0, fmt.esxcli_version(self.cfg.version, self.cfg.build, self.cfg.update, self.cfg.patch)
        if args[:5] == ["network", "vswitch", "standard", "policy", "security"] and len(args) > 5:
            return self._security(args[5], args[6:], portgroup=False)
        if args[:6] == ["network", "vswitch", "standard", "portgroup", "policy", "security"] and len(args) > 6:
            return self._security(args[6], args[7:], portgroup=True)
        if not args:
            return 1, "Usage: esxcli [options] {namespace}+ {cmd} [cmd options]\n"
        return 1, f"Error: Unknown command or namespace {' '.join(words)}\n"

    def _security(self, verb: str, opts: list[str], portgroup: bool) -> tuple[int, str]:
        target_opt = ("-p", "--portgroup-name") if portgroup else ("-v", "--vswitch-name")
        values: dict[str, str] = {}
        flags = {
            "--allow-promiscuous": "promiscuous",
            "--allow-mac-change": "mac_change",
            "--allow-forged-transmits": "forged",
        }
        if not portgroup:
            flags.update({"-p": "promiscuous", "-m": "mac_change", "-f": "forged"})
        use_vswitch = False
        i = 0
        while i < len(opts):
            o = opts[i]
            name, eq, val = o.partition("=")
            if name in target_opt:
                if not eq:
                    i += 1
                    val = opts[i] if i < len(opts) else ""
                values["target"] = val
            elif name in flags:
                if not eq:
                    i += 1
                    val = opts[i] if i < len(opts) else ""
                if val.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    return 1, f"Error: Invalid value for {name}: {val}\n"
                values[flags[name]] = val.lower() in ("true", "1", "yes")
            elif name in ("-u", "--use-vswitch") and portgroup:
                use_vswitch = True
            else:
                return 1, f"Error: Invalid option {o}\n"
            i += 1
        target = values.pop("target", None)
        if target is None:
            return 1, f"Error: Missing required parameter {target_opt[0]}|{target_opt[1]}\n"
        with self.lock:
            if portgroup:
                if target not in self.portgroups:
                    return 1, f"Error: Unable to find portgroup {target}\n"
                base = self.vswitch["vSwitch0"]
                own = self.portgroups[target]
                if verb == "get":
                    eff = {**base, **(own or {})}
                    return 0, fmt.esxcli_security(eff, True, {k: True for k in (own or {})})
                if verb == "set":
                    self.portgroups[target] = None if use_vswitch else {**(own or {}), **values}
                    return 0, ""
            else:
                if target not in self.vswitch:
                    return 1, f"Error: Unable to find vswitch {target}\n"
                if verb == "get":
                    return 0, fmt.esxcli_security(self.vswitch[target])
                if verb == "set":
                    self.vswitch[target].update(values)
                    return 0, ""
        return 1, f"Error: Unknown command or namespace {verb}\n"

    def df(self, args: list[str]) -> tuple[int, str]:
        human = False
        for a in args:
            if a == "-h":
                human = True
            elif a.startswith("-"):
                bad = next((c for c in a[1:] if c != "h"), a[1:2])
                return 1, f"df: invalid option -- '{bad}'\nUsage: df [-h]\n"
        fs = "VMFS-5" if self.version < (6, 5, 0) else "VMFS-6"

        def size(n: int) -> str:
            if not human:
                return str(n)
            for unit in ("", "K", "M", "G", "T"):
                if n < 1024 or unit == "T":
                    return f"{n:.1f}{unit}" if unit else str(n)
                n /= 1024
            return str(n)

        head = ("Filesystem", "Size" if human else "Bytes", "Used", "Available", "Use%", "Mounted on")
        rows = []
        for ds in self.cfg.datastores:
            st = os.statvfs(self.rt.root / "vmfs" / "volumes" / ds.uuid)
            total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
            used = total - st.f_bfree * st.f_frsize
            pct = (used * 100 + total - 1) // total if total else 0
            rows.append((fs, size(total), size(used), size(free), f"{pct}%", f"/vmfs/volumes/{ds.name}"))
        w = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
        lines = [
            f"{r[0]:<{w[0]}} {r[1]:>{w[1]}} {r[2]:>{w[2]}} {r[3]:>{w[3]}} {r[4]:>{w[4]}} {r[5]}" for r in [head, *rows]
        ]
        return 0, "\n".join(lines) + "\n"

    # --- lab operations ------------------------------------------------------------------------

    def lab(self, args: list[str]) -> tuple[int, str]:
        op, rest = (args[0], args[1:]) if args else ("", [])
        if op == "log" and len(rest) == 2:
            return self.log_command(int(rest[0]) if rest[0].isdigit() else 0, rest[1])
        if op == "login" and rest:
            self.append_log({"session": int(rest[0]) if rest[0].isdigit() else 0, "command": None, "interactive": True})
            return 0, ""
        if op == "drop" and rest and rest[0].isdigit():
            pid = int(rest[0])
            delay = self.pending_drops.pop(pid, 0.0)
            time.sleep(min(delay, DROP_DELAY_MAX))
            self.kill_session(pid)
            return 2, ""
        if op == "inventory":
            return 0, json.dumps(self.inventory(), ensure_ascii=False) + "\n"
        if op == "status":
            return 0, json.dumps(self.status(), ensure_ascii=False) + "\n"
        if op == "ssh_state":
            return 0, json.dumps(self.ssh_state()) + "\n"
        if op == "ssh_policy" and len(rest) == 1:
            if rest[0] not in ("on", "off", "automatic"):
                return 1, f"invalid policy {rest[0]!r}: on, off or automatic\n"
            self.ssh_policy = rest[0]
            return 0, ""
        if op == "set_vmx" and len(rest) == 3:
            vm = self.find_vm(rest[0])
            with vm.oplock:
                if vm.power != "poweredOff":
                    state = fmt.POWER_TEXT_MSG[vm.power]
                    return 1, f"The attempted operation cannot be performed in the current state ({state}).\n"
                self._hostd_write(vm, rest[1], rest[2])
            return 0, ""
        if op == "faults":
            return 0, json.dumps(self.faults(), ensure_ascii=False) + "\n"
        if op == "fault" and rest:
            return self.set_fault(rest[0], rest[1:])
        return 1, f"lab: unknown operation {' '.join(args)!r}\n"

    def append_log(self, entry: dict) -> dict:
        t = time.time()
        entry = {"time": _now_iso(), "epoch": round(t, 6), "host": self.cfg.name, **entry}
        with self.log_lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return entry

    def log_command(self, pid: int, command: str) -> tuple[int, str]:
        action = None
        with self.lock:
            keep = []
            for rule in self.vanish:  # `after` more commands still see the VM
                if rule.after > 0:
                    rule.after -= 1
                    keep.append(rule)
                    continue
                vm = next((v for v in self.vms.values() if rule.vm in (v.name, v.cfg.name)), None)
                if vm is not None:
                    self.note(f"fault vanish: VM {vm.name!r} (vmid {vm.vmid}) unregistered")
                    self.unregister(vm)
            self.vanish = keep
            for d in self.drops:
                if d.left != 0 and re.search(d.rule.pattern, command):
                    d.left -= 1 if d.left > 0 else 0
                    action = d.rule
                    break
        self.append_log(
            {"session": pid, "command": command, **({"fault": f"drop_ssh at {action.at}"} if action else {})}
        )
        if action is None:
            return 0, ""
        if action.at == "end":
            self.pending_drops[pid] = action.delay
            return 3, ""
        time.sleep(min(action.delay, DROP_DELAY_MAX))
        self.kill_session(pid)
        return 2, ""

    def kill_session(self, pid: int) -> None:
        """Kill one SSH session: the login wrapper and its sshd processes up to the listener."""
        listener = self.rt.ssh_listener_pid()
        chain = []
        p = pid
        while p > 1 and p != listener and self.rt.in_host(p) and len(chain) < 16:
            chain.append(p)
            p = _ppid(p)
        for p in reversed(chain):
            kill(p)
        self.note(f"fault drop_ssh: killed session {chain}")

    def vm_by_name(self, name: str) -> VMState:
        with self.lock:
            for vm in self.vms.values():
                if vm.name == name or vm.cfg.name == name or str(vm.vmid) == name:
                    return vm
        raise Fault(f"no VM {name!r} on {self.cfg.name}\n")

    def set_full(self, ds_name: str, full: bool) -> None:
        self._set_datastore(ds_name, self.rt.set_datastore_full, self.full, full)

    def set_readonly(self, ds_name: str, readonly: bool) -> None:
        self._set_datastore(ds_name, self.rt.set_datastore_readonly, self.readonly, readonly)

    def _set_datastore(self, ds_name: str, apply, names: set[str], on: bool) -> None:
        """A datastore fault: ``apply(uuid, on)`` in the host's namespace, recorded in ``names``."""
        ds = self.ds(ds_name)
        if ds is None:
            raise Fault(f"no datastore {ds_name!r} on {self.cfg.name}\n")
        apply(ds.uuid, on)
        with self.lock:
            (names.add if on else names.discard)(ds.name)

    def set_fault(self, knob: str, a: list[str]) -> tuple[int, str]:
        def onoff(x: str) -> bool:
            if x not in ("on", "off"):
                raise Fault(f"expected on or off, got {x!r}\n")
            return x == "on"

        try:
            if knob == "drop_ssh" and 1 <= len(a) <= 4:
                re.compile(a[0])
                rule = cfgmod.DropRule(
                    a[0],
                    a[1] if len(a) > 1 else "start",
                    float(a[2]) if len(a) > 2 else 0.0,
                    int(a[3]) if len(a) > 3 else 1,
                )
                if rule.at not in ("start", "end") or not 0 <= rule.delay <= DROP_DELAY_MAX or rule.times < 0:
                    raise ValueError("at: start|end, delay: 0..600, times: >= 0")
                with self.lock:
                    self.drops.append(DropState(rule, rule.times or -1))
            elif knob == "ignore_shutdown" and len(a) == 2:
                self.vm_by_name(a[0]).ignore_shutdown = onoff(a[1])
            elif knob == "shutdown_delay" and len(a) == 2:
                delay = float(a[1])
                if not 0 <= delay <= 3600:
                    raise ValueError("shutdown_delay: 0..3600 seconds")
                self.vm_by_name(a[0]).shutdown_delay = delay
            elif knob == "datastore_full" and len(a) == 2:
                self.set_full(a[0], onoff(a[1]))
            elif knob == "datastore_readonly" and len(a) == 2:
                self.set_readonly(a[0], onoff(a[1]))
            elif knob == "vanish" and len(a) == 2:
                vm = self.vm_by_name(a[0])
                with self.lock:
                    self.vanish.append(cfgmod.VanishRule(vm.name, int(a[1])))
            elif knob == "clear" and not a:
                with self.lock:
                    self.drops, self.vanish = [], []
                    for vm in self.vms.values():
                        vm.ignore_shutdown, vm.shutdown_delay = False, 0.0
                for name in sorted(self.full):
                    self.set_full(name, False)
                for name in sorted(self.readonly):
                    self.set_readonly(name, False)
            else:
                return 1, (
                    f"lab fault: unknown knob or arguments: {knob} {' '.join(a)}\n"
                    "knobs: drop_ssh PATTERN [start|end] [DELAY] [TIMES] | ignore_shutdown VM on|off |"
                    " shutdown_delay VM SECONDS | datastore_full DATASTORE on|off |"
                    " datastore_readonly DATASTORE on|off | vanish VM AFTER | clear\n"
                )
        except (ValueError, re.error) as e:
            return 1, f"lab fault {knob}: {e}\n"
        return 0, json.dumps(self.faults(), ensure_ascii=False) + "\n"

    # --- the request server ----------------------------------------------------------------------

    def serve(self) -> None:
        hostd = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                hostd.serve_one(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            request_queue_size = 64

        self.server = Server((self.cfg.address, cfgmod.HOSTD_PORT), Handler)
        t = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"hostd-{self.cfg.name}", daemon=True
        )
        t.start()

    def serve_one(self, sock: socket.socket) -> None:
        sock.settimeout(REQUEST_TIMEOUT)
        try:
            argv = read_request(sock)
        except (OSError, ValueError) as e:
            with contextlib.suppress(OSError):
                sock.sendall(f"2\nhostd: bad request: {e}\n".encode())
            return
        try:
            rc, out = self.handle(argv)
        except Exception as e:  # noqa: BLE001 - one bad request must not stop hostd
            self.note(f"request {argv[:3]} failed: {e!r}")
            rc, out = 1, f"hostd: internal error: {e}\n"
        with contextlib.suppress(OSError):
            sock.sendall(f"{rc}\n".encode() + out.encode("utf-8", errors="surrogateescape"))

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for vm in list(self.vms.values()):
            vm.boot += 1
            if vm.guest is not None and vm.guest.is_running():
                vm.guest.power_off()
                self.rt.forget_pid(vm.pid_key)


def read_request(sock: socket.socket) -> list[str]:
    buf = b""
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("connection closed before the argument count")
        buf += chunk
        if len(buf) > 32 and b"\n" not in buf:
            raise ValueError("no argument count")
    head, _, buf = buf.partition(b"\n")
    count = int(head.strip() or b"x")
    if not 1 <= count <= MAX_ARGS:
        raise ValueError(f"argument count {count} out of range")
    while buf.count(b"\0") < count:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("connection closed before all arguments")
        buf += chunk
        if len(buf) > MAX_REQUEST:
            raise ValueError("request too large")
    parts = buf.split(b"\0")[:count]
    return [p.decode("utf-8", errors="surrogateescape") for p in parts]


def request(address: str, argv: list[str], timeout: float = 60.0, port: int = cfgmod.HOSTD_PORT) -> tuple[int, str]:
    """Client side of the protocol (the CLI and the tests use it)."""
    data = f"{len(argv)}\n".encode() + b"".join(a.encode("utf-8", errors="surrogateescape") + b"\0" for a in argv)
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        total = 0
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
            total += len(c)
            if total > 64 << 20:
                raise ValueError("hostd answer too large")
    raw = b"".join(chunks)
    head, nl, body = raw.partition(b"\n")
    if not nl:
        raise ValueError(f"hostd at {address} sent no status line")
    return int(head), body.decode("utf-8", errors="surrogateescape")
