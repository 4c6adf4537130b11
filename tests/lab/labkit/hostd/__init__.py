"""The lab's simulated hostd, one per ESXi host (tests/lab/ARCHITECTURE.md), split by job:

    server.py    Hostd: joins the parts, dispatches a request by program, the TCP request server,
                 the lab's private `lab` operations and the command log
    state.py     the VM state machine: registration, hostd's config cache, power on/off/shutdown
    views.py     what hostd shows of a VM (formats.VmView) and the inventory/status JSON
    vimcmd.py    vim-cmd (vmsvc, solo, hostsvc)
    esxcli.py    esxcli (system version, vSwitch security policy) and df
    faults.py    the fault knobs (README "Faults") and the hooks the handlers call
    protocol.py  the request protocol, server and client side (`request`, `request_full`)

A clustered host's vCLS system VMs are VMs like the others, off every datastore (`[] /path`).
"""

from .faults import DROP_DELAY_MAX, Fault
from .protocol import encode_response, read_request, request, request_full
from .server import Hostd
from .state import NONE_SHUTDOWN_SECONDS, Runtime, VMState

__all__ = [
    "DROP_DELAY_MAX",
    "NONE_SHUTDOWN_SECONDS",
    "Fault",
    "Hostd",
    "Runtime",
    "VMState",
    "encode_response",
    "read_request",
    "request",
    "request_full",
]
