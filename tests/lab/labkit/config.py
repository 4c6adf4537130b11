"""CONFIG.yml schema, defaults and loopback address allocation (release facts: labkit.releases).

A config is normalised once by ``esxilab up`` into plain dataclasses; the fully resolved form
(addresses, vmids, datastore UUIDs filled in) is written to STATE/config.json and read back by
labd through the same ``load`` path, so both see exactly one schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

from .releases import GUEST_OS as GUEST_OS  # re-exported: the rest of the lab finds these here
from .releases import LINE_ENDS, RELEASES, Release, can_be_clustered, parse, vcls_hardware
from .releases import guest_full_name as guest_full_name
from .releases import guest_os_from_vmx as guest_os_from_vmx
from .releases import guest_os_to_vmx as guest_os_to_vmx

REPO = Path(__file__).resolve().parents[3]
LAB_DIR = REPO / "tests" / "lab"
CACHE_DIR = REPO / ".cache" / "lab"

HOSTD_PORT = 8307
SSH_PORT = 22
API_PORT = 443


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
    guest: str = "linux"  # linux | none
    tools: bool = True
    power: str = "on"  # on | off | suspended
    hardware_version: int = 0
    numvcpus: int = 1
    memsize: int = 256
    guest_os: str = "otherLinux64Guest"
    annotation: str = ""
    vmx: dict[str, str] = dataclasses.field(default_factory=dict)
    invalid: bool = False  # registered, but the .vmx is missing: "Skipping invalid VM"
    inventory: bool = True  # listed in nested_guests (Linux guests only)
    inventory_name: str = ""
    address: str = ""  # guest address (Linux guests)
    ignore_shutdown: bool = False
    shutdown_delay: float = 0.0  # seconds between power.shutdown and the guest acting on it
    boot_seconds: float = 0.0  # guest: none: seconds from power-on until Tools run


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
            from .releases import exec_installed_only

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
class Lab:
    hosts: list[Host]
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

    def addresses(self) -> list[str]:
        return [h.address for h in self.hosts] + [vm.address for _, vm in self.guests()]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, ensure_ascii=False)


# --- normalisation ----------------------------------------------------------------------------

_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


def _take(d: dict, cls, where: str, renames: dict[str, str] | None = None) -> dict:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for key, value in d.items():
        key = (renames or {}).get(key, key)
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(fields))})")
        out[key] = value
    return out


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "yes", "true"):
        return True
    if isinstance(value, str) and value.lower() in ("off", "no", "false"):
        return False
    raise ConfigError(f"{where}: expected true or false, got {value!r}")


def _int(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    try:
        n = int(value)
    except ValueError:
        raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise ConfigError(f"{where}: {n} is out of range [{lo}, {hi}]")
    return n


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: expected a number of seconds, got {value!r}")
    try:
        f = float(value)
    except ValueError:
        raise ConfigError(f"{where}: expected a number of seconds, got {value!r}") from None
    if f < 0 or f > 3600:
        raise ConfigError(f"{where}: {f} is out of range [0, 3600]")
    return f


def _power(value: Any, where: str) -> str:
    if value is True:
        return "on"
    if value is False:
        return "off"
    if value in ("on", "off", "suspended"):
        return value
    raise ConfigError(f"{where}: power must be on, off or suspended, got {value!r}")


def _strmap(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of vmx keys to values")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not re.match(r'^[^\s=#"]+$', k):
            raise ConfigError(f"{where}: invalid key {k!r}")
        if isinstance(v, bool):
            v = "TRUE" if v else "FALSE"
        out[k] = str(v)
    return out


def datastore_uuid(host: str, ds: str) -> str:
    h = hashlib.sha256(f"{host}\0{ds}".encode()).hexdigest()
    return f"{h[0:8]}-{h[8:16]}-{h[16:20]}-{h[20:32]}"


def default_vm_path(name: str) -> str:
    d = name.replace("/", "%2f")
    return f"{d}/{d}.vmx"


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return s or "vm"


def _check_regex(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"{where}: {e}") from None


def _faults(raw: Any, where: str) -> Faults:
    if raw is None:
        return Faults()
    d = _take(raw, Faults, where)
    drops = []
    for i, r in enumerate(d.get("drop_ssh") or []):
        w = f"{where}.drop_ssh[{i}]"
        if isinstance(r, str):
            r = {"pattern": r}
        r = _take(r, DropRule, w)
        rule = DropRule(
            pattern=str(r.get("pattern", "")),
            at=r.get("at", "start"),
            delay=_float(r.get("delay", 0), w + ".delay"),
            times=_int(r.get("times", 1), w + ".times", 0),
        )
        if rule.at not in ("start", "end"):
            raise ConfigError(f"{w}.at: start or end, got {rule.at!r}")
        _check_regex(rule.pattern, w + ".pattern")
        drops.append(rule)
    vanish = []
    for i, r in enumerate(d.get("vanish") or []):
        w = f"{where}.vanish[{i}]"
        r = _take(r, VanishRule, w)
        if "vm" not in r:
            raise ConfigError(f"{w}: vm is required")
        vanish.append(VanishRule(vm=str(r["vm"]), after=_int(r.get("after", 0), w + ".after", 0)))
    datastores = {}
    for knob in ("datastore_full", "datastore_readonly"):
        names = d.get(knob) or []
        datastores[knob] = [str(x) for x in ([names] if isinstance(names, str) else names)]
    power = {}
    for knob in ("power_on_fails", "power_on_misreports"):
        power[knob] = []
        for i, r in enumerate(d.get(knob) or []):
            w = f"{where}.{knob}[{i}]"
            r = _take({"vm": r} if isinstance(r, (str, int)) else r, PowerRule, w)
            if "vm" not in r:
                raise ConfigError(f"{w}: vm is required (a name, a vmid or all)")
            power[knob].append(PowerRule(vm=str(r["vm"]), times=_int(r.get("times", 1), w + ".times", 0)))
    transient = []
    for i, r in enumerate(d.get("vim_cmd_transient") or []):
        w = f"{where}.vim_cmd_transient[{i}]"
        r = _take({"kind": r} if isinstance(r, str) else r, TransientRule, w)
        times = _int(r.get("times", 1), w + ".times", 0)
        rule = TransientRule(kind=str(r.get("kind", "")), times=times, pattern=str(r.get("pattern", "")))
        if rule.kind not in TRANSIENT_KINDS:
            raise ConfigError(f"{w}.kind: one of {', '.join(TRANSIENT_KINDS)}, got {rule.kind!r}")
        _check_regex(rule.pattern, w + ".pattern")
        transient.append(rule)
    return Faults(drop_ssh=drops, vanish=vanish, vim_cmd_transient=transient, **datastores, **power)


def _vm(raw: Any, host: Host, where: str) -> VM:
    if isinstance(raw, str):
        raw = {"name": raw}
    d = _take(raw, VM, where)
    if not isinstance(d.get("name"), str) or not d["name"] or "\0" in d["name"]:
        raise ConfigError(f"{where}.name: a non-empty string is required")
    vm = VM(name=d["name"])
    vm.vmid = _int(d.get("vmid", 0), where + ".vmid", 0, 999999)
    vm.datastore = str(d.get("datastore") or host.datastores[0].name)
    if vm.datastore not in [ds.name for ds in host.datastores]:
        raise ConfigError(f"{where}.datastore: {vm.datastore!r} is not a datastore of {host.name}")
    vm.path = str(d.get("path") or default_vm_path(vm.name))
    if vm.path.startswith("/") or ".." in vm.path.split("/") or not vm.path.endswith(".vmx"):
        raise ConfigError(f"{where}.path: a relative '<dir>/<file>.vmx' path, got {vm.path!r}")
    vm.guest = d.get("guest", "linux")
    if vm.guest not in ("linux", "none"):
        raise ConfigError(f"{where}.guest: linux or none, got {vm.guest!r}")
    vm.tools = _bool(d.get("tools", True), where + ".tools")
    vm.power = _power(d.get("power", "on"), where + ".power")
    vm.hardware_version = _int(
        d.get("hardware_version", host.release.hw_max), where + ".hardware_version", 3, host.release.hw_max
    )
    vm.numvcpus = _int(d.get("numvcpus", 1), where + ".numvcpus", 1, 8)
    vm.memsize = _int(d.get("memsize", 256), where + ".memsize", 4, 65536)
    if vm.guest == "linux" and vm.memsize < 128:
        raise ConfigError(f"{where}.memsize: a Linux guest needs at least 128 MB")
    vm.guest_os = str(d.get("guest_os", "otherLinux64Guest"))
    vm.annotation = str(d.get("annotation", ""))
    vm.vmx = _strmap(d.get("vmx"), where + ".vmx")
    vm.invalid = _bool(d.get("invalid", False), where + ".invalid")
    vm.inventory = _bool(d.get("inventory", True), where + ".inventory")
    vm.inventory_name = str(d.get("inventory_name", ""))
    vm.address = str(d.get("address", ""))
    vm.ignore_shutdown = _bool(d.get("ignore_shutdown", False), where + ".ignore_shutdown")
    vm.shutdown_delay = _float(d.get("shutdown_delay", 0), where + ".shutdown_delay")
    vm.boot_seconds = _float(d.get("boot_seconds", 0), where + ".boot_seconds")
    return vm


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


def _host(raw: Any, where: str) -> Host:
    d = _take(raw, Host, where)
    name = d.get("name")
    if not isinstance(name, str) or not _HOST_NAME.match(name):
        raise ConfigError(f"{where}.name: a host name (letters, digits, '-'), got {name!r}")
    where = f"host {name}"
    version = str(d.get("version", ""))
    if version not in RELEASES:
        raise ConfigError(f"{where}: version must be one of {', '.join(RELEASES)}, got {version!r}")
    h = Host(name=name, version=version)
    rel = h.release
    h.build = _int(d.get("build", rel.build), where + ".build", 1)
    known = {rel.build: rel.update, **rel.builds}
    h.update = _int(d.get("update", known.get(h.build, rel.update)), where + ".update", 0, 9)
    h.patch = _int(d.get("patch", 0), where + ".patch", 0)
    h.address = str(d.get("address", ""))
    h.nested_hv_supported = _bool(d.get("nested_hv_supported", True), where + ".nested_hv_supported")
    h.ssh = _bool(d.get("ssh", False), where + ".ssh")
    h.ssh_policy = d.get("ssh_policy") or ("on" if h.ssh else "off")
    if h.ssh_policy not in ("on", "off", "automatic"):
        raise ConfigError(f"{where}.ssh_policy: on, off or automatic, got {h.ssh_policy!r}")
    h.api = _bool(d.get("api", False), where + ".api")
    h.license = d.get("license", "licensed")
    if h.license not in ("free", "licensed"):
        raise ConfigError(f"{where}.license: free or licensed, got {h.license!r}")
    h.api_username = str(d.get("api_username", "root"))
    dss = d.get("datastores") or ["datastore1"]
    for i, ds in enumerate(dss):
        w = f"{where}.datastores[{i}]"
        if isinstance(ds, str):
            ds = {"name": ds}
        ds = _take(ds, Datastore, w)
        dname = ds.get("name")
        if not isinstance(dname, str) or not dname or "/" in dname or "]" in dname:
            raise ConfigError(f"{w}.name: a name without '/' or ']', got {dname!r}")
        h.datastores.append(
            Datastore(
                name=dname,
                uuid=str(ds.get("uuid") or datastore_uuid(name, dname)),
                size_mb=_int(ds.get("size_mb", 64), w + ".size_mb", 1, 4096),
            )
        )
    if len({ds.name for ds in h.datastores}) != len(h.datastores):
        raise ConfigError(f"{where}.datastores: duplicate names")
    h.vm_order = d.get("vm_order", "numeric")
    if h.vm_order not in ("numeric", "string"):
        raise ConfigError(f"{where}.vm_order: numeric or string, got {h.vm_order!r}")
    h.fault_exit_status = _int(d.get("fault_exit_status", 1), where + ".fault_exit_status", 0, 255)
    h.etc_vmware_config = _strmap(d.get("etc_vmware_config"), where + ".etc_vmware_config")
    py = d.get("python", "auto")
    h.python = "none" if py in (None, False) else str(py)
    h.command_builtin = _bool(d.get("command_builtin", False), where + ".command_builtin")
    h.faults = _faults(d.get("faults"), where + ".faults")
    clustered = d.get("clustered", 0)
    h.clustered = int(clustered) if isinstance(clustered, bool) else _int(clustered, where + ".clustered", 0, 3)
    if h.clustered and not can_be_clustered(h.vtuple):
        raise ConfigError(f"{where}.clustered: vCLS system VMs exist from ESXi 7.0 U1 on, not on {h.version}")
    h.maintenance = _int(d.get("maintenance", 0), where + ".maintenance", 0)
    h.getallvms_trailing_blanks = _bool(d.get("getallvms_trailing_blanks", False), where + ".getallvms_trailing_blanks")
    h.esxcli_indent = _bool(d.get("esxcli_indent", True), where + ".esxcli_indent")
    h.vmodl_line_end = d.get("vmodl_line_end", "auto")
    if h.vmodl_line_end not in LINE_ENDS:
        raise ConfigError(f"{where}.vmodl_line_end: one of {', '.join(LINE_ENDS)}, got {h.vmodl_line_end!r}")
    eio = d.get("exec_installed_only", "auto")
    h.exec_installed_only = eio if eio == "auto" else ("on" if _bool(eio, where + ".exec_installed_only") else "off")
    h.vhv_missing = _bool(d.get("vhv_missing", False), where + ".vhv_missing")
    vms = d.get("vms") or []
    if not isinstance(vms, list):
        raise ConfigError(f"{where}.vms: expected a list")
    h.vms = [_vm(v, h, f"{where}.vms[{i}]") for i, v in enumerate(vms)]
    used = {vm.vmid for vm in h.vms if vm.vmid}
    nxt = 1
    for vm in h.vms:
        if not vm.vmid:
            while nxt in used:
                nxt += 1
            vm.vmid = nxt
            used.add(nxt)
    if len({vm.vmid for vm in h.vms}) != len(h.vms):
        raise ConfigError(f"{where}.vms: duplicate vmid")
    paths = [(vm.datastore, vm.path.lower()) for vm in h.vms]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"{where}.vms: two VMs share one .vmx path")
    names = [vm.name for vm in h.vms]
    for knob in ("datastore_full", "datastore_readonly"):
        for dn in getattr(h.faults, knob):
            if dn not in [ds.name for ds in h.datastores]:
                raise ConfigError(f"{where}.faults.{knob}: no datastore {dn!r}")
    for rule in h.faults.vanish:
        if rule.vm not in names:
            raise ConfigError(f"{where}.faults.vanish: no VM {rule.vm!r}")
    for knob in ("power_on_fails", "power_on_misreports"):
        for rule in getattr(h.faults, knob):
            if rule.vm != "all" and rule.vm not in names and rule.vm not in [str(vm.vmid) for vm in h.vms]:
                raise ConfigError(f"{where}.faults.{knob}: no VM {rule.vm!r} (a name, a vmid or all)")
    return h


def _nth(base: str, n: int, where: str) -> str:
    try:
        net = ipaddress.ip_address(base)
    except ValueError:
        raise ConfigError(f"{where}: not an IPv4 address: {base!r}") from None
    addr = net + n
    if not addr.is_loopback or addr.version != 4 or str(addr).endswith(".255") or n > 254:
        raise ConfigError(f"{where}: {addr} is not a usable 127.0.0.0/8 address")
    return str(addr)


def normalise(raw: Any) -> Lab:
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping with a `hosts:` list")
    lab_block = raw.get("lab") or {}
    if not isinstance(lab_block, dict):
        raise ConfigError("config: `lab:` must be a mapping")
    d = _take({**{k: v for k, v in raw.items() if k != "lab"}, **lab_block}, Lab, "config")
    hosts = d.get("hosts")
    if not isinstance(hosts, list) or not hosts:
        raise ConfigError("config: `hosts:` must be a non-empty list")
    lab = Lab(hosts=[_host(h, f"hosts[{i}]") for i, h in enumerate(hosts)])
    lab.host_net = str(d.get("host_net", lab.host_net))
    lab.guest_net = str(d.get("guest_net", lab.guest_net))
    lab.ready_timeout = _float(d.get("ready_timeout", lab.ready_timeout), "lab.ready_timeout")
    if len({h.name for h in lab.hosts}) != len(lab.hosts):
        raise ConfigError("config: duplicate host names")
    for i, h in enumerate(lab.hosts, 1):
        h.address = h.address or _nth(lab.host_net, i, f"host {h.name}")
    used_inv: set[str] = set()
    for j, (h, vm) in enumerate(lab.guests(), 1):
        vm.address = vm.address or _nth(lab.guest_net, j, f"host {h.name} VM {vm.name!r}")
        base = vm.inventory_name or slug(vm.name)
        name = base if base not in used_inv else f"{h.name}_{base}"
        used_inv.add(name)
        vm.inventory_name = name
    addrs = lab.addresses()
    if len(set(addrs)) != len(addrs):
        raise ConfigError("config: two hosts or guests share an address")
    return lab


def read_raw(path: Path) -> dict:
    """The CONFIG.yml (or .json) mapping as written, before normalisation."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def load(path: Path) -> Lab:
    return normalise(read_raw(path))
