"""The exact text of `vmware`, `esxcli` and `vim-cmd` output, per ESXi version.

Everything shown in shared/reference/esxi-facts.md is reproduced byte for byte; where the facts
show only part of an output (the long vmodl dumps), the rest follows vim-cmd's printing rules:

    (type) {            objects; 3 spaces of indent per level; `name = value,` per field
    (type) [ ... ]      arrays; `(type) []` when empty
    "text"              strings printed verbatim (no escaping: `"... "2""`)
    <unset>             unset values; `(type) null` for unset objects
5.x objects start with `dynamicType = <unset>,`; 5.0 ends every field line with ", " (also the
last one), later releases put a comma after every field but the last.

Pure functions only: hostd passes plain values in and sends the text back.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# --- vmodl pretty printer ---------------------------------------------------------------------


@dataclasses.dataclass
class Obj:
    type: str
    fields: list[tuple[str, Any]]


@dataclasses.dataclass
class Arr:
    type: str
    items: list[Any]


@dataclasses.dataclass
class Null:
    type: str


@dataclasses.dataclass
class Ref:
    text: str  # printed as 'text'


UNSET = None


def style_of(version: tuple[int, int, int]) -> str:
    if version[:2] == (5, 0):
        return "5.0"
    if version[0] == 5:
        return "5.x"
    return "6+"


def _value(v: Any, level: int, style: str) -> str:
    ind = "   " * level
    if v is None:
        return "<unset>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, Ref):
        return f"'{v.text}'"
    if isinstance(v, Null):
        return f"({v.type}) null"
    if isinstance(v, Obj):
        fields = list(v.fields)
        if style != "6+":
            fields.insert(0, ("dynamicType", None))
        lines = [f"{ind}   {k} = {_value(x, level + 1, style)}" for k, x in fields]
        return f"({v.type}) {{\n" + _join(lines, style) + f"\n{ind}}}"
    if isinstance(v, Arr):
        if not v.items:
            return f"({v.type}) []"
        lines = [f"{ind}   {_value(x, level + 1, style)}" for x in v.items]
        return f"({v.type}) [\n" + _join(lines, style) + f"\n{ind}]"
    raise TypeError(f"cannot print {v!r}")


def _join(lines: list[str], style: str) -> str:
    if style == "5.0":
        return "\n".join(line + ", " for line in lines)
    return ",\n".join(lines)


def vmodl(obj: Obj, version: tuple[int, int, int]) -> str:
    return _value(obj, 0, style_of(version)) + "\n"


def fault(kind: str, msg: str, version: tuple[int, int, int], extra: list[tuple[str, Any]] = ()) -> str:
    """A fault block as vim-cmd prints it, e.g. kind='vim.fault.NotFound'."""
    fields = [("faultCause", Null("vmodl.MethodFault")), ("faultMessage", UNSET), *extra, ("msg", msg)]
    return vmodl(Obj(kind, fields), version)


def not_found(vmid: str, version) -> str:
    return fault("vim.fault.NotFound", f'Unable to find a VM corresponding to "{vmid}"', version)


POWER_TEXT = {"poweredOn": "Powered on", "poweredOff": "Powered off", "suspended": "Suspended"}
POWER_TEXT_MSG = {"poweredOn": "Powered On", "poweredOff": "Powered Off", "suspended": "Suspended"}


def invalid_power_state(requested: str, existing: str, version) -> str:
    msg = f"The attempted operation cannot be performed in the current state ({POWER_TEXT_MSG[existing]})."
    return fault(
        "vim.fault.InvalidPowerState", msg, version, [("requestedState", requested), ("existingState", existing)]
    )


def tools_unavailable(version) -> str:
    return fault(
        "vim.fault.ToolsUnavailable",
        "Cannot complete operation because VMware Tools is not running in this virtual machine.",
        version,
    )


# --- vmware / esxcli --------------------------------------------------------------------------


def _product_line(version: str, update: int) -> str:
    v = tuple(int(x) for x in version.split("."))
    short = f"{v[0]}.{v[1]}" if v[0] >= 7 else version
    return f"VMware ESXi {short} {'GA' if update == 0 else f'Update {update}'}"


def vmware(args: list[str], version: str, build: int, update: int) -> tuple[int, str]:
    v_line = f"VMware ESXi {version} build-{build}"
    l_line = _product_line(version, update)
    flags = "".join(a.lstrip("-") for a in args if a.startswith("-"))
    if args and all(a.startswith("-") and len(a) > 1 for a in args) and set(flags) <= {"v", "l"}:
        out = []
        if "v" in flags:
            out.append(v_line)
        if "l" in flags:
            out.append(l_line)
        return 0, "\n".join(out) + "\n"
    return 1, "Usage: vmware [-v] [-l]\n"


def esxcli_version(version: str, build: int, update: int, patch: int) -> str:
    lines = [
        "   Product: VMware ESXi",
        f"   Version: {version}",
        f"   Build: Releasebuild-{build}",
        f"   Update: {update}",
    ]
    if not version.startswith("5."):
        lines.append(f"   Patch: {patch}")
    return "\n".join(lines) + "\n"


def esxcli_security(policy: dict[str, bool], portgroup: bool = False, override: dict[str, bool] | None = None) -> str:
    def b(x: bool) -> str:
        return "true" if x else "false"

    lines = [
        f"   Allow Promiscuous: {b(policy['promiscuous'])}",
        f"   Allow MAC Address Change: {b(policy['mac_change'])}",
        f"   Allow Forged Transmits: {b(policy['forged'])}",
    ]
    if portgroup:
        o = override or {}
        lines += [
            f"   Override Vswitch Allow Promiscuous: {b(o.get('promiscuous', False))}",
            f"   Override Vswitch Allow MAC Address Change: {b(o.get('mac_change', False))}",
            f"   Override Vswitch Allow Forged Transmits: {b(o.get('forged', False))}",
        ]
    return "\n".join(lines) + "\n"


# --- vim-cmd ----------------------------------------------------------------------------------

GETALLVMS_HEADER = ("Vmid", "Name", "File", "Guest OS", "Version", "Annotation")


@dataclasses.dataclass
class Row:
    vmid: int
    name: str
    file: str  # "[datastore] dir/x.vmx"
    guest_id: str
    version: str  # "vmx-10"
    annotation: str


def _width(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogateescape"))  # C-style: bytes, not characters


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def getallvms(rows: list[Row], invalid: list[int], order: str = "numeric") -> str:
    """Columns padded (in bytes) to the widest value (header included) plus 3 spaces; the annotation last,
    verbatim (so a multi-line annotation continues on lines of its own). Invalid registrations are
    reported first. No trailing blanks after the last non-empty column."""

    def key(vmid: int):
        return str(vmid) if order == "string" else vmid

    rows = sorted(rows, key=lambda r: key(r.vmid))
    cols = [[str(r.vmid), r.name, r.file, r.guest_id, r.version] for r in rows]
    widths = [max([len(h)] + [_width(c[i]) for c in cols]) + 3 for i, h in enumerate(GETALLVMS_HEADER[:5])]
    out = [f"Skipping invalid VM '{v}'\n" for v in sorted(invalid, key=key)]
    out.append("".join(_pad(h, w) for h, w in zip(GETALLVMS_HEADER, widths, strict=False)) + GETALLVMS_HEADER[5] + "\n")
    for r, c in zip(rows, cols, strict=True):
        line = "".join(_pad(x, w) for x, w in zip(c, widths, strict=True)) + r.annotation
        if not r.annotation:
            line = line.rstrip(" ")
        out.append(line + "\n")
    return "".join(out)


def getstate(power: str) -> str:
    return f"Retrieved runtime info\n{POWER_TEXT[power]}\n"


def power_failed(op: str, requested: str, existing: str, version: tuple[int, int, int]) -> str:
    """What power.on / power.off print when the VM is already in that state."""
    head = "Powering on VM:\n" if op == "on" else "Powering off VM:\n"
    if version[:2] in ((6, 0), (6, 5)):
        return head + ("Power on failed\n" if op == "on" else "Power off failed\n")
    return head + invalid_power_state(requested, existing, version)


@dataclasses.dataclass
class VmView:
    """What the vmodl dumps need to know about one VM."""

    vmid: int
    name: str
    file: str
    guest_id: str
    guest_full_name: str
    hw_version: int
    numvcpus: int
    memsize: int
    annotation: str
    power: str
    tools_installed: bool
    tools_running: bool
    ip: str | None
    hostname: str | None
    uptime: int | None
    boot_time: str | None
    uuid: str
    instance_uuid: str
    mac: str
    nested_hv: bool
    vpmc: bool
    extra_config: list[tuple[str, str]]


def _tools_status(vm: VmView) -> tuple[str, str]:
    if not vm.tools_installed:
        return "toolsNotInstalled", "guestToolsNotRunning"
    if vm.tools_running:
        return "toolsOk", "guestToolsRunning"
    return "toolsNotRunning", "guestToolsNotRunning"


def get_guest(vm: VmView, version: tuple[int, int, int]) -> str:
    status, running = _tools_status(vm)
    tv = "guestToolsUnmanaged" if vm.tools_installed else "guestToolsNotInstalled"
    nets = []
    if vm.tools_running and vm.ip:
        nets.append(
            Obj(
                "vim.vm.GuestInfo.NicInfo",
                [
                    ("network", "VM Network"),
                    ("ipAddress", Arr("string", [vm.ip])),
                    ("macAddress", vm.mac),
                    ("connected", True),
                    ("deviceConfigId", 4000),
                    ("dnsConfig", Null("vim.net.DnsConfigInfo")),
                    ("ipConfig", Null("vim.net.IpConfigInfo")),
                    ("netBIOSConfig", Null("vim.net.NetBIOSConfigInfo")),
                ],
            )
        )
    fields: list[tuple[str, Any]] = [
        ("toolsStatus", status),
        ("toolsVersionStatus", tv),
        ("toolsVersionStatus2", tv),
        ("toolsRunningStatus", running),
        ("toolsVersion", "12352" if vm.tools_installed else "0"),
    ]
    if version >= (6, 5, 0):
        fields.append(("toolsInstallType", "guestToolsTypeOpenVMTools" if vm.tools_installed else UNSET))
    running_now = vm.tools_running
    fields += [
        ("guestId", vm.guest_id if running_now else UNSET),
        ("guestFamily", "linuxGuest" if running_now else UNSET),
        ("guestFullName", vm.guest_full_name if running_now else UNSET),
        ("hostName", vm.hostname if running_now else UNSET),
        ("ipAddress", vm.ip if running_now else UNSET),
        ("net", Arr("vim.vm.GuestInfo.NicInfo", nets)),
        ("ipStack", Arr("vim.vm.GuestInfo.StackInfo", [])),
        ("disk", Arr("vim.vm.GuestInfo.DiskInfo", [])),
        ("screen", Null("vim.vm.GuestInfo.ScreenInfo")),
        ("guestState", "running" if vm.power == "poweredOn" else "notRunning"),
        ("appHeartbeatStatus", "appStatusGray"),
        ("guestKernelCrashed", False),
        ("appState", "none"),
        ("guestOperationsReady", running_now),
        ("interactiveGuestOperationsReady", False),
        ("guestStateChangeSupported", running_now),
        ("generationInfo", Arr("vim.vm.GuestInfo.NamespaceGenerationInfo", [])),
    ]
    if version >= (7, 0, 0):
        fields += [
            ("hwVersion", f"vmx-{vm.hw_version:02d}"),
            ("customizationInfo", Null("vim.vm.GuestInfo.CustomizationInfo")),
        ]
    return "Guest information:\n\n" + vmodl(Obj("vim.vm.GuestInfo", fields), version)


def get_summary(vm: VmView, version: tuple[int, int, int]) -> str:
    status, running = _tools_status(vm)
    on = vm.power == "poweredOn"
    runtime = Obj(
        "vim.vm.RuntimeInfo",
        [
            ("device", Arr("vim.vm.DeviceRuntimeInfo", [])),
            ("host", Ref("vim.HostSystem:ha-host")),
            ("connectionState", "connected"),
            ("powerState", vm.power),
            ("faultToleranceState", "notConfigured"),
            ("toolsInstallerMounted", False),
            ("bootTime", vm.boot_time if on else UNSET),
            ("suspendInterval", 0),
            ("maxCpuUsage", 2394 * vm.numvcpus if on else UNSET),
            ("maxMemoryUsage", vm.memsize if on else UNSET),
            ("numMksConnections", 0),
            ("recordReplayState", "inactive"),
            ("onlineStandby", False),
            ("consolidationNeeded", False),
        ],
    )
    guest = Obj(
        "vim.vm.Summary.GuestSummary",
        [
            ("guestId", vm.guest_id if vm.tools_running else UNSET),
            ("guestFullName", vm.guest_full_name if vm.tools_running else UNSET),
            ("toolsStatus", status),
            ("toolsVersionStatus", "guestToolsUnmanaged" if vm.tools_installed else "guestToolsNotInstalled"),
            ("toolsVersionStatus2", "guestToolsUnmanaged" if vm.tools_installed else "guestToolsNotInstalled"),
            ("toolsRunningStatus", running),
            ("hostName", vm.hostname if vm.tools_running else UNSET),
            ("ipAddress", vm.ip if vm.tools_running else UNSET),
        ],
    )
    config = Obj(
        "vim.vm.Summary.ConfigSummary",
        [
            ("name", vm.name),
            ("template", False),
            ("vmPathName", vm.file),
            ("memorySizeMB", vm.memsize),
            ("cpuReservation", 0),
            ("memoryReservation", 0),
            ("numCpu", vm.numvcpus),
            ("numEthernetCards", 1),
            ("numVirtualDisks", 0),
            ("uuid", vm.uuid),
            ("instanceUuid", vm.instance_uuid),
            ("guestId", vm.guest_id),
            ("guestFullName", vm.guest_full_name),
            ("annotation", vm.annotation),
            ("product", Null("vim.vApp.ProductInfo")),
            ("installBootRequired", False),
            ("ftInfo", Null("vim.vm.FaultToleranceConfigInfo")),
            ("managedBy", Null("vim.ext.ManagedByInfo")),
        ],
    )
    quick = Obj(
        "vim.vm.Summary.QuickStats",
        [
            ("overallCpuUsage", 0 if on else UNSET),
            ("overallCpuDemand", 0 if on else UNSET),
            ("guestMemoryUsage", 0 if on else UNSET),
            ("hostMemoryUsage", vm.memsize if on else UNSET),
            ("guestHeartbeatStatus", "green" if vm.tools_running else "gray"),
            ("distributedCpuEntitlement", 0 if on else UNSET),
            ("distributedMemoryEntitlement", 0 if on else UNSET),
            ("staticCpuEntitlement", 0 if on else UNSET),
            ("staticMemoryEntitlement", 0 if on else UNSET),
            ("privateMemory", 0 if on else UNSET),
            ("sharedMemory", 0 if on else UNSET),
            ("swappedMemory", 0 if on else UNSET),
            ("balloonedMemory", 0 if on else UNSET),
            ("consumedOverheadMemory", 0 if on else UNSET),
            ("ftLogBandwidth", -1),
            ("ftSecondaryLatency", -1),
            ("ftLatencyStatus", "gray"),
            ("compressedMemory", 0 if on else UNSET),
            ("uptimeSeconds", vm.uptime if on else UNSET),
            ("ssdSwappedMemory", 0 if on else UNSET),
        ],
    )
    summary = Obj(
        "vim.vm.Summary",
        [
            ("vm", Ref(f"vim.VirtualMachine:{vm.vmid}")),
            ("runtime", runtime),
            ("guest", guest),
            ("config", config),
            (
                "storage",
                Obj(
                    "vim.vm.Summary.StorageSummary",
                    [
                        ("committed", 4096),
                        ("uncommitted", 0),
                        ("unshared", 4096),
                        ("timestamp", "1970-01-01T00:00:00Z"),
                    ],
                ),
            ),
            ("quickStats", quick),
            ("overallStatus", "green"),
            ("customValue", Arr("vim.CustomFieldsManager.Value", [])),
        ],
    )
    return "Listsummary:\n\n" + vmodl(summary, version)


def get_config(vm: VmView, version: tuple[int, int, int]) -> str:
    ds_dir = vm.file.rsplit("/", 1)[0] + "/"
    fields: list[tuple[str, Any]] = [
        ("changeVersion", "1970-01-01T00:00:00.000000Z"),
        ("modified", "1970-01-01T00:00:00Z"),
        ("name", vm.name),
        ("guestFullName", vm.guest_full_name),
        ("version", f"vmx-{vm.hw_version:02d}"),
        ("uuid", vm.uuid),
        ("instanceUuid", vm.instance_uuid),
        ("npivTemporaryDisabled", True),
        ("locationId", vm.uuid),
        ("template", False),
        ("guestId", vm.guest_id),
        ("alternateGuestName", ""),
        ("annotation", vm.annotation),
        (
            "files",
            Obj(
                "vim.vm.FileInfo",
                [
                    ("vmPathName", vm.file),
                    ("snapshotDirectory", ds_dir),
                    ("suspendDirectory", ds_dir),
                    ("logDirectory", ds_dir),
                ],
            ),
        ),
        (
            "hardware",
            Obj(
                "vim.vm.VirtualHardware",
                [
                    ("numCPU", vm.numvcpus),
                    ("numCoresPerSocket", 1),
                    ("memoryMB", vm.memsize),
                    ("virtualICH7MPresent", False),
                    ("virtualSMCPresent", False),
                    ("device", Arr("vim.vm.device.VirtualDevice", [])),
                ],
            ),
        ),
    ]
    if version >= (5, 1, 0):
        fields += [("nestedHVEnabled", vm.nested_hv), ("vPMCEnabled", vm.vpmc)]
    fields.append(
        (
            "extraConfig",
            Arr(
                "vim.option.OptionValue",
                [Obj("vim.option.OptionValue", [("key", k), ("value", v)]) for k, v in vm.extra_config],
            ),
        )
    )
    return "Configuration:\n\n" + vmodl(Obj("vim.vm.ConfigInfo", fields), version)


VIM_CMD_USAGE = """Commands available under /:
hbrsvc/       internalsvc/  solo/         vmsvc/
hostsvc/      proxysvc/     vimsvc/       help
"""

VMSVC_USAGE = """Commands available under vmsvc/:
get.config          get.guest           get.summary         getallvms
power.getstate      power.off           power.on            power.shutdown
reload              unregister          upgrade
"""

HOSTSVC_USAGE = """Commands available under hostsvc/:
disable_ssh         enable_ssh          start_ssh           stop_ssh
"""

SOLO_USAGE = """Commands available under solo/:
registervm
"""

LOGIN_BANNER = """The time and date of this login have been sent to the system logs.

VMware offers supported, powerful system administration tools.  Please
see www.vmware.com/go/sysadmintools for details.

The ESXi Shell can be disabled by an administrative user. See the
vSphere Security documentation for more information.
"""
