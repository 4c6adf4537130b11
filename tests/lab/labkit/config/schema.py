"""The resolved config's dataclasses (Lab, Host, VM, Datastore, the fault rules), ConfigError,
and the lab's paths and ports. Release facts the rest of the lab reads through here are
re-exported from labkit.releases.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..releases import GUEST_OS as GUEST_OS  # re-exported: the rest of the lab finds these here
from ..releases import RELEASES, Release, parse
from ..releases import guest_full_name as guest_full_name
from ..releases import guest_os_from_vmx as guest_os_from_vmx
from ..releases import guest_os_to_vmx as guest_os_to_vmx

REPO = Path(__file__).resolve().parents[4]
LAB_DIR = REPO / "tests" / "lab"
CACHE_DIR = REPO / ".cache" / "lab"

HOSTD_PORT = 8307
SSH_PORT = 22
API_PORT = 443
VCENTER_OFFSET = 200  # vCenter k (1-based) listens at <host net>.(200 + k)


class ConfigError(ValueError):
    pass


# --- schema -----------------------------------------------------------------------------------


@dataclasses.dataclass
class DropRule:
    pattern: str  # Python regex, searched in the SSH command
    at: str = "start"  # start: drop before the command runs; end: after it ran
    delay: float = 0.0  # seconds before the drop
    times: int = 1  # how many commands it drops (0: every matching command)


@dataclasses.dataclass
class VanishRule:
    vm: str  # VM name
    after: int = 0  # SSH commands that still see it


@dataclasses.dataclass
class Datastore:
    name: str
    uuid: str = ""
    size_mb: int = 64


@dataclasses.dataclass
class VM:
    name: str
    vmid: int = 0
    datastore: str = ""
    path: str = ""  # relative to the datastore: "<dir>/<file>.vmx"
    guest: str = "linux"  # linux (a QEMU guest) | none; CONFIG.yml's `guest: esxi` is linux + shell esxi
    shell: str = "linux"  # a QEMU guest's shell: linux, or esxi (answers as a nested ESXi: tests/lab/guest/esxi)
    tools: bool = True
    power: str = "on"  # on | off | suspended
    hardware_version: int = 0
    numvcpus: int = 1
    memsize: int = 256
    guest_os: str = "otherLinux64Guest"
    annotation: str = ""
    vmx: dict[str, str] = dataclasses.field(default_factory=dict)
    invalid: bool = False  # registered, but the .vmx is missing: "Skipping invalid VM"
    inventory: bool = True  # listed in nested_guests (QEMU guests only)
    inventory_name: str = ""
    address: str = ""  # guest address (QEMU guests)
    ignore_shutdown: bool = False
    shutdown_delay: float = 0.0  # seconds between power.shutdown and the guest acting on it
    boot_seconds: float = 0.0  # guest: none: seconds from power-on until Tools run
    folder: str = ""  # the VM's folder in a vCenter, below the datacenter's vm folder ("A/B")


@dataclasses.dataclass
class PowerRule:
    vm: str  # VM name or vmid, or "all"
    times: int = 1  # how many power-ons it hits (0: every one)


TRANSIENT_KINDS = ("ssl", "reset", "localhost", "bad_alloc", "mo_not_found")


@dataclasses.dataclass
class TransientRule:
    kind: str  # one of TRANSIENT_KINDS (texts in labkit.formats.TRANSIENT)
    times: int = 1  # how many vim-cmd runs fail (0: every one)
    pattern: str = ""  # Python regex searched in the vim-cmd arguments ("": any vim-cmd)


@dataclasses.dataclass
class Faults:
    drop_ssh: list[DropRule] = dataclasses.field(default_factory=list)
    datastore_full: list[str] = dataclasses.field(default_factory=list)
    datastore_readonly: list[str] = dataclasses.field(default_factory=list)
    vanish: list[VanishRule] = dataclasses.field(default_factory=list)
    power_on_fails: list[PowerRule] = dataclasses.field(default_factory=list)
    power_on_misreports: list[PowerRule] = dataclasses.field(default_factory=list)
    vim_cmd_transient: list[TransientRule] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Host:
    name: str
    version: str
    build: int = 0
    update: int = -1
    patch: int = 0
    maintenance: int = 0  # esxcli's `Maintenance:` line (9.0 and later)
    address: str = ""
    nested_hv_supported: bool = True
    ssh: bool = False  # TSM-SSH running at start
    ssh_policy: str = ""  # on | off | automatic (default: on when ssh else off)
    api: bool = False
    license: str = "licensed"  # free | licensed
    api_username: str = "root"
    datastores: list[Datastore] = dataclasses.field(default_factory=list)
    vms: list[VM] = dataclasses.field(default_factory=list)
    vm_order: str = "numeric"  # numeric | string (getallvms row order)
    fault_exit_status: int = 1  # exit status of vim-cmd fault blocks
    etc_vmware_config: dict[str, str] = dataclasses.field(default_factory=dict)
    python: str = "auto"  # auto | none | "<version>" (stand-in at the release's path)
    command_builtin: bool = False  # ESXi's ash has no `command`; true keeps BusyBox's
    clustered: int = 0  # in a vCenter cluster: this many vCLS system VMs (true: 1); 7.0.3 and later
    getallvms_trailing_blanks: bool = False  # rows keep the Version column's padding (no annotation)
    esxcli_indent: bool = True  # false: esxcli prints its `Key: value` lines without leading blanks
    vmodl_line_end: str = "auto"  # auto (the release's) | comma | comma-blank
    exec_installed_only: str = "auto"  # auto (on from 8.0) | on | off
    vhv_missing: bool = False  # a nested ESXi whose own VM lacks VHV: every power-on fails
    faults: Faults = dataclasses.field(default_factory=Faults)

    @property
    def release(self) -> Release:
        return RELEASES[self.version]

    @property
    def vtuple(self) -> tuple[int, int, int]:
        return parse(self.version)

    @property
    def guards_exec(self) -> bool:
        """execInstalledOnly: an exec of a file that is not installed fails (labkit.execguard)."""
        if self.exec_installed_only == "auto":
            from ..releases import exec_installed_only

            return exec_installed_only(self.vtuple)
        return self.exec_installed_only == "on"

    @property
    def python_paths(self) -> list[str]:
        py = self.python_stand_in
        return [py[1], *self.release.python_also] if py else []

    @property
    def python_stand_in(self) -> tuple[str, str] | None:
        rel = self.release.python
        if self.python == "none":
            return None
        if self.python == "auto":
            return rel
        return (self.python, rel[1] if rel else "/bin/python")


@dataclasses.dataclass
class VCenter:
    name: str
    datacenter: str = "DC1"
    cluster: str = "Lab"
    hosts: list[str] = dataclasses.field(default_factory=list)  # the lab hosts it manages
    username: str = "administrator@vsphere.local"
    address: str = ""  # 127.0.X.(200+k) in the lab's host net


@dataclasses.dataclass
class Lab:
    hosts: list[Host]
    vcenters: list[VCenter] = dataclasses.field(default_factory=list)
    host_net: str = "127.0.10.0"
    guest_net: str = "127.0.20.0"
    ready_timeout: float = 240.0

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise ConfigError(f"no host named {name!r} in this lab")

    def guests(self) -> list[tuple[Host, VM]]:
        return [(h, vm) for h in self.hosts for vm in h.vms if vm.guest == "linux"]

    def vcenter_of(self, host: str) -> VCenter | None:
        """The vCenter that manages the host, if any."""
        return next((vc for vc in self.vcenters if host in vc.hosts), None)

    def addresses(self) -> list[str]:
        return (
            [h.address for h in self.hosts]
            + [vc.address for vc in self.vcenters]
            + [vm.address for _, vm in self.guests()]
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, ensure_ascii=False)
