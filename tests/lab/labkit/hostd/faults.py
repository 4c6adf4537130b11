"""hostd's fault knobs (README "Faults"): the state of every knob, `lab fault`, and the hooks
the request handlers call (SSH commands: drop, vanish; vim-cmd: transient failures; power-on:
refused or misreported). A mixin of labkit.hostd.server.Hostd, which holds the VMs and the lock.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Any

from .. import config as cfgmod
from .. import formats as fmt
from ..sshd import kill, proc_stat

DROP_DELAY_MAX = 600.0


class Fault(Exception):
    """A vim-cmd fault: the text to print."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _ppid(pid: int) -> int:
    fields = proc_stat(pid)
    return int(fields[1]) if fields else 0


@dataclasses.dataclass
class Armed:
    rule: Any  # a cfgmod.DropRule, PowerRule or TransientRule
    left: int  # remaining hits; -1 = unlimited


def _armed(rules) -> list[Armed]:
    return [Armed(r, r.times if r.times else -1) for r in rules]


def _left(items: list[Armed]) -> list[dict]:
    return [{**dataclasses.asdict(a.rule), "left": a.left} for a in items if a.left != 0]


def _take(items: list[Armed], match) -> Any:
    """The first armed rule `match(rule)` accepts, counted down; None if none."""
    for a in items:
        if a.left != 0 and match(a.rule):
            if a.left > 0:
                a.left -= 1
            return a.rule
    return None


KNOBS_HELP = (
    "knobs: drop_ssh PATTERN [start|end] [DELAY] [TIMES] | ignore_shutdown VM on|off |"
    " shutdown_delay VM SECONDS | datastore_full DATASTORE on|off | datastore_readonly DATASTORE on|off |"
    " vanish VM AFTER | power_on_fails VM|all [TIMES] | power_on_misreports VM|all [TIMES] |"
    f" vim_cmd_transient {'|'.join(cfgmod.TRANSIENT_KINDS)} [TIMES] [PATTERN] | clear\n"
)


class FaultKnobs:
    """Mixin: needs self.cfg (the host), self.lock, self.vms, self.rt, self.d (formats.Dialect)."""

    def init_faults(self, host: cfgmod.Host) -> None:
        self.drops = _armed(host.faults.drop_ssh)
        self.vanish = [dataclasses.replace(r) for r in host.faults.vanish]
        self.on_fails = _armed(host.faults.power_on_fails)
        self.on_misreports = _armed(host.faults.power_on_misreports)
        self.transient = _armed(host.faults.vim_cmd_transient)
        self.full: set[str] = set()
        self.readonly: set[str] = set()
        self.pending_drops: dict[int, float] = {}

    # --- hooks ---------------------------------------------------------------------------------

    def power_on_refused(self, vm) -> bool:
        """power_on_fails (or a host whose own VM lacks VHV): the VMX refuses this power-on."""
        if self.cfg.vhv_missing:
            return True
        with self.lock:
            return _take(self.on_fails, lambda r: _names_vm(r.vm, vm)) is not None

    def power_on_misreported(self, vm) -> bool:
        with self.lock:
            return _take(self.on_misreports, lambda r: _names_vm(r.vm, vm)) is not None

    def transient_failure(self, args: list[str]) -> tuple[int, str, str] | None:
        """vim_cmd_transient: this vim-cmd run fails as a transient failure does (then runs normally)."""
        text = " ".join(args)
        with self.lock:
            rule = _take(self.transient, lambda r: re.search(r.pattern, text) is not None)
        if rule is None:
            return None
        if rule.kind == "mo_not_found":
            vmid = args[1] if len(args) > 1 and args[1].isdigit() else "0"
            return self.cfg.fault_exit_status, fmt.managed_object_not_found(vmid, self.d), ""
        return fmt.TRANSIENT[rule.kind]

    def faults(self) -> dict:
        with self.lock:
            return {
                "drop_ssh": _left(self.drops),
                "datastore_full": sorted(self.full),
                "datastore_readonly": sorted(self.readonly),
                "vanish": [dataclasses.asdict(r) for r in self.vanish],
                "ignore_shutdown": [vm.name for vm in self.vms.values() if vm.ignore_shutdown],
                "shutdown_delay": {vm.name: vm.shutdown_delay for vm in self.vms.values() if vm.shutdown_delay},
                "power_on_fails": _left(self.on_fails),
                "power_on_misreports": _left(self.on_misreports),
                "vim_cmd_transient": _left(self.transient),
            }

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

    def vm_by_name(self, name: str):
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
                    self.drops += _armed([rule])
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
            elif knob in ("power_on_fails", "power_on_misreports") and 1 <= len(a) <= 2:
                if a[0] != "all":
                    self.vm_by_name(a[0])
                rule = cfgmod.PowerRule(a[0], int(a[1]) if len(a) > 1 else 1)
                if rule.times < 0:
                    raise ValueError("times: >= 0")
                with self.lock:
                    (self.on_fails if knob == "power_on_fails" else self.on_misreports).extend(_armed([rule]))
            elif knob == "vim_cmd_transient" and 1 <= len(a) <= 3:
                rule = cfgmod.TransientRule(a[0], int(a[1]) if len(a) > 1 else 1, a[2] if len(a) > 2 else "")
                if rule.kind not in cfgmod.TRANSIENT_KINDS or rule.times < 0:
                    raise ValueError(f"kind: {', '.join(cfgmod.TRANSIENT_KINDS)}; times: >= 0")
                re.compile(rule.pattern)
                with self.lock:
                    self.transient += _armed([rule])
            elif knob == "clear" and not a:
                with self.lock:
                    self.drops, self.vanish = [], []
                    self.on_fails, self.on_misreports, self.transient = [], [], []
                    for vm in self.vms.values():
                        vm.ignore_shutdown, vm.shutdown_delay = False, 0.0
                for name in sorted(self.full):
                    self.set_full(name, False)
                for name in sorted(self.readonly):
                    self.set_readonly(name, False)
            else:
                return 1, f"lab fault: unknown knob or arguments: {knob} {' '.join(a)}\n" + KNOBS_HELP
        except (ValueError, re.error) as e:
            return 1, f"lab fault {knob}: {e}\n"
        return 0, json.dumps(self.faults(), ensure_ascii=False) + "\n"


def _names_vm(spec: str, vm) -> bool:
    return spec == "all" or spec in (vm.name, vm.cfg.name, str(vm.vmid))
