"""CONFIG.yml to a resolved `Lab`: every key checked (unknown keys are errors), defaults
filled in (builds, vmids, paths, datastore UUIDs, inventory names), loopback addresses allocated;
`load` reads a CONFIG.yml or STATE/config.json through it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

from ..releases import LINE_ENDS, RELEASES, can_be_clustered
from .schema import (
    TRANSIENT_KINDS,
    VCENTER_OFFSET,
    VM,
    ConfigError,
    Datastore,
    DropRule,
    Faults,
    Host,
    Lab,
    PowerRule,
    TransientRule,
    VanishRule,
    VCenter,
)

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
    # `guest: esxi` is a QEMU guest like a Linux one, whose shell answers as a nested ESXi's.
    vm.guest = d.get("guest", "linux")
    vm.shell = "esxi" if vm.guest == "esxi" else d.get("shell", "linux")
    vm.guest = "linux" if vm.guest == "esxi" else vm.guest
    if vm.guest not in ("linux", "none"):
        raise ConfigError(f"{where}.guest: linux, esxi or none, got {vm.guest!r}")
    if vm.shell not in ("linux", "esxi"):
        raise ConfigError(f"{where}.shell: linux or esxi, got {vm.shell!r}")
    vm.tools = _bool(d.get("tools", True), where + ".tools")
    vm.power = _power(d.get("power", "on"), where + ".power")
    vm.hardware_version = _int(
        d.get("hardware_version", host.release.hw_max), where + ".hardware_version", 3, host.release.hw_max
    )
    vm.numvcpus = _int(d.get("numvcpus", 1), where + ".numvcpus", 1, 8)
    vm.memsize = _int(d.get("memsize", 256), where + ".memsize", 4, 65536)
    if vm.guest == "linux" and vm.memsize < 128:
        raise ConfigError(f"{where}.memsize: a QEMU guest (linux or esxi) needs at least 128 MB")
    vm.guest_os = str(d.get("guest_os", "vmkernel8Guest" if vm.shell == "esxi" else "otherLinux64Guest"))
    vm.annotation = str(d.get("annotation", ""))
    vm.vmx = _strmap(d.get("vmx"), where + ".vmx")
    vm.invalid = _bool(d.get("invalid", False), where + ".invalid")
    vm.inventory = _bool(d.get("inventory", True), where + ".inventory")
    vm.inventory_name = str(d.get("inventory_name", ""))
    vm.address = str(d.get("address", ""))
    vm.ignore_shutdown = _bool(d.get("ignore_shutdown", False), where + ".ignore_shutdown")
    vm.shutdown_delay = _float(d.get("shutdown_delay", 0), where + ".shutdown_delay")
    vm.boot_seconds = _float(d.get("boot_seconds", 0), where + ".boot_seconds")
    vm.folder = str(d.get("folder") or "")
    if vm.folder and any(not part or part.strip() != part for part in vm.folder.split("/")):
        raise ConfigError(f"{where}.folder: folder names separated by '/' (\"A/B\"), got {vm.folder!r}")
    return vm


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


def _vcenters(raw: Any, lab: Lab) -> list[VCenter]:
    """`vcenters:`: each manages lab hosts (each host in at most one); VM names are unique per folder."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError("config: `vcenters:` must be a list")
    out: list[VCenter] = []
    managed: dict[str, str] = {}
    for i, r in enumerate(raw):
        d = _take(r, VCenter, f"vcenters[{i}]")
        name = d.get("name")
        if not isinstance(name, str) or not _HOST_NAME.match(name):
            raise ConfigError(f"vcenters[{i}].name: a name (letters, digits, '-'), got {name!r}")
        where = f"vcenter {name}"
        if name in [vc.name for vc in out]:
            raise ConfigError(f"{where}: duplicate vCenter name")
        if name in [h.name for h in lab.hosts]:
            raise ConfigError(f"{where}: a lab host has that name already")
        vc = VCenter(name=name)
        for key in ("datacenter", "cluster", "username"):
            value = d.get(key, getattr(vc, key))
            if not isinstance(value, str) or not value or "/" in value:
                raise ConfigError(f"{where}.{key}: a non-empty name without '/', got {value!r}")
            setattr(vc, key, value)
        hosts = d.get("hosts") or []
        if not isinstance(hosts, list) or not hosts:
            raise ConfigError(f"{where}.hosts: a non-empty list of the lab's host names")
        for host in hosts:
            if str(host) not in [h.name for h in lab.hosts]:
                raise ConfigError(f"{where}.hosts: no lab host named {host!r}")
            if str(host) in managed:
                raise ConfigError(f"{where}.hosts: {host} is already managed by vCenter {managed[str(host)]}")
            managed[str(host)] = name
        vc.hosts = [str(h) for h in hosts]
        seen: dict[tuple[str, str], str] = {}
        for host in vc.hosts:
            for vm in lab.host(host).vms:
                if (vm.folder, vm.name) in seen:
                    raise ConfigError(
                        f"{where}: two VMs named {vm.name!r} in folder {vm.folder or '(the vm folder)'!r} "
                        f"(hosts {seen[vm.folder, vm.name]} and {host}); a vCenter needs them in different folders"
                    )
                seen[vm.folder, vm.name] = host
        vc.address = str(d.get("address") or "")
        out.append(vc)
    return out


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
    lab.vcenters = _vcenters(d.get("vcenters"), lab)
    for k, vc in enumerate(lab.vcenters, 1):
        vc.address = vc.address or _nth(lab.host_net, VCENTER_OFFSET + k, f"vcenter {vc.name}")
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
