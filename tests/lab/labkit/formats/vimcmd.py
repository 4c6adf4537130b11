"""The exact text of vim-cmd's outputs: getallvms, power.*, get.guest / get.summary /
get.config (from a `VmView`) and the usage texts. Pure functions; `d` is a vmodl.Dialect.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import releases
from .vmodl import (
    NO_VHV_MESSAGES,
    POWER_TEXT,
    UNSET,
    Arr,
    Null,
    Obj,
    Ref,
    dialect,
    generic_vm_config_fault,
    invalid_power_state,
    vmodl,
)

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


def getallvms(rows: list[Row], invalid: list[int], order: str = "numeric", trailing_blanks: bool = False) -> str:
    """Columns padded (in bytes) to the widest value (header included) plus 3 spaces; the annotation last,
    verbatim (so a multi-line annotation continues on lines of its own). Invalid registrations are
    reported first. A row without annotation ends after its Version, unless `trailing_blanks`
    (some hosts keep the Version column's padding there)."""

    def key(vmid: int):
        return str(vmid) if order == "string" else vmid

    rows = sorted(rows, key=lambda r: key(r.vmid))
    cols = [[str(r.vmid), r.name, r.file, r.guest_id, r.version] for r in rows]
    widths = [max([len(h)] + [_width(c[i]) for c in cols]) + 3 for i, h in enumerate(GETALLVMS_HEADER[:5])]
    out = [f"Skipping invalid VM '{v}'\n" for v in sorted(invalid, key=key)]
    out.append("".join(_pad(h, w) for h, w in zip(GETALLVMS_HEADER, widths, strict=False)) + GETALLVMS_HEADER[5] + "\n")
    for r, c in zip(rows, cols, strict=True):
        line = "".join(_pad(x, w) for x, w in zip(c, widths, strict=True)) + r.annotation
        if not r.annotation and not trailing_blanks:
            line = line.rstrip(" ")
        out.append(line + "\n")
    return "".join(out)


def getstate(power: str) -> str:
    return f"Retrieved runtime info\n{POWER_TEXT[power]}\n"


POWER_HEAD = {"on": "Powering on VM:\n", "off": "Powering off VM:\n", "reset": ""}
POWER_VERDICT = {"on": "Power on failed", "off": "Power off failed", "reset": "Reset failed"}


def power_failed(op: str, requested: str, existing: str, d) -> str:
    """What power.on / power.off / power.reset print when the VM is in the wrong state: the
    InvalidPowerState block, `Power on failed` alone (6.0, 6.5) or, on 9.0, the block after the
    verdict on the same line (`Power on failed: (vim.fault.InvalidPowerState) {`)."""
    d = dialect(d)
    how = releases.power_failure(d.version)
    if how == "line":
        return POWER_HEAD[op] + POWER_VERDICT[op] + "\n"
    prefix = POWER_VERDICT[op] + ": " if how == "inline" else ""
    return POWER_HEAD[op] + invalid_power_state(requested, existing, d, prefix)


def power_on_config_fault(d, messages: list[tuple[str, str]] = NO_VHV_MESSAGES) -> str:
    """A power-on the VMX refuses (GenericVmConfigFault): the block after `Powering on VM:`,
    mid-line after `Power on failed: ` on 9.0."""
    d = dialect(d)
    prefix = "Power on failed: " if releases.power_failure(d.version) == "inline" else ""
    return POWER_HEAD["on"] + generic_vm_config_fault(messages, d, prefix)


def power_on_misreported() -> str:
    """Apache VCL: power.on "will occasionally incorrectly report that it failed" while the VM did
    power on; the one failure text the facts show for power.on (6.0/6.5)."""
    return POWER_HEAD["on"] + POWER_VERDICT["on"] + "\n"


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


def get_guest(vm: VmView, d) -> str:
    version = dialect(d).version
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
    return "Guest information:\n\n" + vmodl(Obj("vim.vm.GuestInfo", fields), d)


def get_summary(vm: VmView, d) -> str:
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
    return "Listsummary:\n\n" + vmodl(summary, d)


def get_config(vm: VmView, d) -> str:
    version = dialect(d).version
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
    return "Configuration:\n\n" + vmodl(Obj("vim.vm.ConfigInfo", fields), d)


VIM_CMD_USAGE = """Commands available under /:
hbrsvc/       internalsvc/  solo/         vmsvc/
hostsvc/      proxysvc/     vimsvc/       help
"""

VMSVC_USAGE = """Commands available under vmsvc/:
get.config          get.guest           get.summary         getallvms
power.getstate      power.off           power.on            power.reset
power.shutdown      reload              unregister          upgrade
"""

HOSTSVC_USAGE = """Commands available under hostsvc/:
disable_ssh         enable_ssh          start_ssh           stop_ssh
"""

SOLO_USAGE = """Commands available under solo/:
registervm
"""
