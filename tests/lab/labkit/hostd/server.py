"""One simulated hostd per ESXi host: `Hostd` joins the parts (state.py, views.py, vimcmd.py,
esxcli.py, faults.py), answers each request by program (vim-cmd, vmware, esxcli, df and the lab's
private `lab` operations) and serves the request protocol (protocol.py) on <host address>:8307 in
threads: one accept loop, one short-lived thread per request.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from pathlib import Path

from .. import config as cfgmod
from .. import formats as fmt
from .esxcli import HostCommands
from .faults import DROP_DELAY_MAX, Fault, FaultKnobs
from .protocol import REQUEST_TIMEOUT, encode_response, read_request
from .state import Runtime, VMState, VmStates, now_iso
from .views import Views
from .vimcmd import VimCmd


class Hostd(VmStates, Views, VimCmd, FaultKnobs, HostCommands):
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
        entry = {"time": now_iso(), "epoch": round(t, 6), "host": self.cfg.name, **entry}
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
