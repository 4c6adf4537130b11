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
- power.shutdown goes through (emulated) VMware Tools and returns at once;
- a clustered host's vCLS system VMs are VMs like the others, off every datastore (`[] /path`).

The fault knobs are in labkit/faults.py, esxcli and df in labkit/hostcmds.py (mixins of Hostd).
The process side (namespace, sshd, QEMU guests, known_hosts) is behind `Runtime`, which labd
implements; tests may pass a simpler one.
"""

from __future__ import annotations

import contextlib
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
from .faults import DROP_DELAY_MAX, Fault, FaultKnobs
from .hostcmds import HostCommands
from .vmxfile import Vmx, new_vmx

MAX_ARGS = 4096
MAX_REQUEST = 4 << 20
REQUEST_TIMEOUT = 30.0
NONE_SHUTDOWN_SECONDS = 0.5  # guest: none VMs: how long a Tools shutdown takes
__all__ = ["DROP_DELAY_MAX", "Fault", "Hostd", "VMState", "read_request", "request", "request_full"]


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


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class VMState:
    """One registered VM. `datastore` None: a system VM (vCLS) whose `path` is absolute."""

    def __init__(self, cfg: cfgmod.VM, vmid: int, datastore: cfgmod.Datastore | None, path: str) -> None:
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
    def system(self) -> bool:
        """A VM outside every datastore (vCLS): getallvms shows `[] /absolute/path.vmx`."""
        return self.datastore is None

    @property
    def file(self) -> str:
        return f"[] {self.path}" if self.datastore is None else f"[{self.datastore.name}] {self.path}"

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


class Hostd(FaultKnobs, HostCommands):
    def __init__(self, host: cfgmod.Host, runtime: Runtime, log_path: Path) -> None:
        self.cfg = host
        self.rt = runtime
        self.version = host.vtuple
        self.d = fmt.Dialect(host.vtuple, host.vmodl_line_end)  # how this host prints
        self.log_path = Path(log_path)
        self.lock = threading.RLock()
        self.log_lock = threading.Lock()
        self.vms: dict[int, VMState] = {}
        self.by_path: dict[tuple[str, str], cfgmod.VM] = {}
        self.next_vmid = 1
        self.ssh_policy = host.ssh_policy
        self.init_faults(host)
        self.vswitch = {"vSwitch0": {"promiscuous": False, "mac_change": False, "forged": False}}
        self.portgroups: dict[str, dict[str, bool] | None] = {"VM Network": None, "Management Network": None}
        self.server: socketserver.ThreadingTCPServer | None = None

    # --- files ---------------------------------------------------------------------------

    def ds(self, name: str) -> cfgmod.Datastore | None:
        for d in self.cfg.datastores:
            if d.name == name or d.uuid == name:
                return d
        return None

    def file_of(self, ds: cfgmod.Datastore | None, path: str) -> Path:
        """Where `[ds] path` (or a system VM's `[] /path`) is in the host's root."""
        if ds is None:
            return self.rt.root / path.lstrip("/")
        return self.rt.root / "vmfs" / "volumes" / ds.uuid / path

    def vmx_file(self, vm: VMState) -> Path:
        return self.file_of(vm.datastore, vm.path)

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
        path = self.file_of(self.ds(vm.datastore) if vm.datastore else None, vm.path)
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
            ds = ds or (self.ds(vm_cfg.datastore) if vm_cfg.datastore else None)
            vmid = vmid or self.next_vmid
            vm = VMState(vm_cfg, vmid, ds, path or vm_cfg.path)
            self.next_vmid = max(self.next_vmid, vmid + 1)
            self.by_path[(ds.uuid if ds else "", vm.path)] = vm_cfg
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
        """Create and register the configured VMs (and a clustered host's vCLS VMs), power on
        those configured on."""
        vms = self.cfg.vms + cfgmod.system_vms(self.cfg)
        for vm_cfg in vms:
            self.create_vm_files(vm_cfg)
        for vm_cfg in vms:
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
                raise Fault(fmt.fault("vim.fault.FileNotFound", f"File {vm.file} was not found", self.d)) from None
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

    # --- request dispatch --------------------------------------------------------------------

    def handle(self, argv: list[str]) -> tuple:
        """(exit status, stdout) or (exit status, stdout, stderr) of one request."""
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

    # --- esxcli and df -------------------------------------------------------------------------

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
            rc, out, *err = self.handle(argv)
        except Exception as e:  # noqa: BLE001 - one bad request must not stop hostd
            self.note(f"request {argv[:3]} failed: {e!r}")
            rc, out, err = 1, f"hostd: internal error: {e}\n", []
        with contextlib.suppress(OSError):
            sock.sendall(encode_response(rc, out, err[0] if err else ""))

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


def encode_response(rc: int, out: str, err: str = "") -> bytes:
    """`<rc>\n` + stdout, or `<rc> <n>\n` + n bytes of stderr + stdout (ARCHITECTURE.md)."""
    e = err.encode("utf-8", errors="surrogateescape")
    head = f"{rc} {len(e)}\n" if e else f"{rc}\n"
    return head.encode() + e + out.encode("utf-8", errors="surrogateescape")


def request(address: str, argv: list[str], timeout: float = 60.0, port: int = cfgmod.HOSTD_PORT) -> tuple[int, str]:
    """Client side of the protocol (the CLI and the tests use it): exit status and stdout."""
    rc, out, _err = request_full(address, argv, timeout, port)
    return rc, out


def request_full(
    address: str, argv: list[str], timeout: float = 60.0, port: int = cfgmod.HOSTD_PORT
) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of one request."""
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
    rc, _, nerr = head.partition(b" ")
    n = int(nerr or 0)
    err, out = body[:n], body[n:]
    return int(rc), out.decode("utf-8", errors="surrogateescape"), err.decode("utf-8", errors="surrogateescape")
