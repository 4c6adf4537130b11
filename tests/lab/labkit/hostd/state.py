"""hostd's VM state machine: the registered VMs (`VMState`), their files and hostd's cache of
each .vmx, registration, and power (on, off, guest shutdown, the guest's own exit).

- each VM's configuration is cached: read at registration and on vmsvc/reload only;
- power-on reads the .vmx on disk (as the VMX process does) for nesting, vCPUs and memory, and
  remembers hostd's cache of that moment; power-off writes that back to the .vmx, so an edit made
  while the VM ran (reloaded or not), or made while off but never reloaded, is reverted;
- nesting: the host must support it; ESXi 5.0 only looks at `vhv.allow` in /etc/vmware/config,
  5.1+ at the VM's `vhv.enable` with virtual hardware 9 or later;
- power.shutdown goes through (emulated) VMware Tools and returns at once.

`VmStates` is a mixin of labkit.hostd.server.Hostd (it needs self.cfg, self.rt, self.lock,
self.vms, self.by_path, self.next_vmid, self.version, self.d). The process side (namespace, sshd,
QEMU guests, known_hosts) is behind `Runtime`, which labd implements; tests may pass a simpler one.
"""

from __future__ import annotations

import datetime
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from .. import config as cfgmod
from .. import formats as fmt
from ..vmxfile import Vmx, new_vmx
from .faults import Fault

NONE_SHUTDOWN_SECONDS = 0.5  # guest: none VMs: how long a Tools shutdown takes


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


def now_iso() -> str:
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


class VmStates:
    """Mixin: the VMs' files, registration, cache and power."""

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
            vm.started_iso = now_iso()[:-5] + "Z"
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

    def _hostd_write(self, vm: VMState, key: str, value: str | None) -> None:
        """hostd changes its cached config and writes it out (clobbering unreloaded edits)."""
        vmx = Vmx.parse(vm.cache or b"")
        if value is None:
            vmx.remove(key)
        else:
            vmx.set(key, value)
        vm.cache, vm.vmx = vmx.render(), vmx
        self.write_vmx(vm, vm.cache)
