"""ESXi releases and what differs between them, as esxi-facts.md records it.

Everything release-specific the lab does is decided here, from the version tuple: builds and
update levels, the newest virtual hardware, Python, how vim-cmd prints vmodl blocks and power
failures, whether execInstalledOnly is on, whether a host can be in a cluster (vCLS VMs).
"""

from __future__ import annotations

import dataclasses
import re

Version = tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Release:
    version: str  # "6.7.0"
    build: int  # default build
    update: int  # update level of that build (0: GA)
    hw_max: int  # newest virtual hardware version the release runs
    python: tuple[str, str] | None  # (python version, path) or None
    builds: dict[int, int] = dataclasses.field(default_factory=dict)  # other real builds -> update
    python_also: tuple[str, ...] = ()  # further paths of the same Python

    @property
    def vtuple(self) -> Version:
        return parse(self.version)


def parse(version: str) -> Version:
    return tuple(int(x) for x in version.split("."))  # type: ignore[return-value]


# Builds: the facts' real builds first; GA builds (update 0) print `GA` in `vmware -l`.
RELEASES: dict[str, Release] = {
    r.version: r
    for r in (
        Release("5.0.0", 469512, 0, 8, None),
        Release("5.1.0", 799733, 0, 9, None),
        Release("5.5.0", 1331820, 0, 10, None, {3248547: 3}),  # 1331820 is 5.5 GA
        Release("6.0.0", 5050593, 3, 11, ("2.7.9", "/usr/bin/python"), {2494585: 0}),
        Release("6.5.0", 13932383, 3, 13, ("3.5.6", "/bin/python"), {4564106: 0}),
        Release("6.7.0", 15820472, 3, 15, ("3.5.6", "/bin/python"), {8169922: 0}),
        Release("7.0.0", 15843807, 0, 17, ("3.8.3", "/bin/python"), python_also=("/usr/bin/python",)),
        Release("7.0.3", 20328353, 3, 19, ("3.8.13", "/bin/python"), python_also=("/usr/bin/python",)),
        Release("8.0.0", 20513097, 0, 20, ("3.8.16", "/bin/python")),
        Release("8.0.1", 21495797, 1, 20, ("3.8.16", "/bin/python")),
        Release("8.0.2", 22380479, 2, 21, ("3.8.16", "/bin/python")),
        Release("8.0.3", 24022510, 3, 21, ("3.8.16", "/bin/python")),
        Release("9.0.0", 24755229, 0, 22, ("3.8.16", "/bin/python")),  # Python minor UNCONFIRMED
    )
}

GUEST_OS = {  # API guestId -> (vmx guestOS, guestFullName)
    "otherLinux64Guest": ("otherlinux-64", "Other Linux (64-bit)"),
    "otherLinuxGuest": ("otherlinux", "Other Linux (32-bit)"),
    "other26xLinux64Guest": ("other26xlinux-64", "Other 2.6.x Linux (64-bit)"),
    "other3xLinux64Guest": ("other3xlinux-64", "Other 3.x Linux (64-bit)"),
    "other4xLinux64Guest": ("other4xlinux-64", "Other 4.x or later Linux (64-bit)"),
    "centos64Guest": ("centos-64", "CentOS 4/5/6 (64-bit)"),
    "centos7_64Guest": ("centos7-64", "CentOS 7 (64-bit)"),
    "centos8_64Guest": ("centos8-64", "CentOS 8 (64-bit)"),
    "centos9_64Guest": ("centos9-64", "CentOS Stream 9 (64-bit)"),
    "debian10_64Guest": ("debian10-64", "Debian GNU/Linux 10 (64-bit)"),
    "debian11_64Guest": ("debian11-64", "Debian GNU/Linux 11 (64-bit)"),
    "debian12_64Guest": ("debian12-64", "Debian GNU/Linux 12 (64-bit)"),
    "ubuntu64Guest": ("ubuntu-64", "Ubuntu Linux (64-bit)"),
    "rhel7_64Guest": ("rhel7-64", "Red Hat Enterprise Linux 7 (64-bit)"),
    "winXPProGuest": ("winxppro", "Microsoft Windows XP Professional (32-bit)"),
    "windows9_64Guest": ("windows9-64", "Microsoft Windows 10 (64-bit)"),
    "windows9Server64Guest": ("windows9srv-64", "Microsoft Windows Server 2016 (64-bit)"),
    "vmkernel65Guest": ("vmkernel65", "VMware ESXi 6.5"),
    "vmkernel7Guest": ("vmkernel7", "VMware ESXi 7.0"),
    "vmkernel8Guest": ("vmkernel8", "VMware ESXi 8.0 or later"),
    "crxSys1Guest": ("crxsys1", "VMware CRX Sys1"),
    "otherGuest": ("other", "Other (32-bit)"),
    "otherGuest64": ("other-64", "Other (64-bit)"),
}
_VMX_GUEST = {vmx.lower(): gid for gid, (vmx, _) in GUEST_OS.items()}


def guest_os_to_vmx(guest_id: str) -> str:
    if guest_id in GUEST_OS:
        return GUEST_OS[guest_id][0]
    base = guest_id[:-5] if guest_id.endswith("Guest") else guest_id
    return re.sub(r"_?64$", "-64", base).lower()


def guest_os_from_vmx(value: str | None) -> str:
    if not value:
        return "otherGuest"
    if value.lower() in _VMX_GUEST:
        return _VMX_GUEST[value.lower()]
    if value.endswith("-64"):
        base = value[:-3]
        return base + ("_64Guest" if base[-1:].isdigit() else "64Guest")
    return value + "Guest"


def guest_full_name(guest_id: str) -> str:
    return GUEST_OS.get(guest_id, (None, guest_id))[1]


# --- behaviour per release -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VmodlStyle:
    """How vim-cmd ends the field lines of a vmodl block."""

    dynamic_type: bool  # 4.x/5.x: every object starts with `dynamicType = <unset>,`
    end: str  # after every field but the last: "," or ", "
    last: str  # after the last field: "" or (5.0) ", "


LINE_ENDS = ("auto", "comma", "comma-blank")


def vmodl_style(v: Version, kind: str, line_end: str = "auto") -> VmodlStyle:
    """kind: "fault" (fault blocks) or "data" (get.guest, get.summary, get.config).

    5.0 ends every line with ", " (the last one too). The `, ` ending is not 5.0's alone: 6.7's
    get.guest and 9.0's fault blocks have it, while the facts' 6.7 fault and 8.0 get.guest samples
    end with a bare ","; the releases the facts do not show keep ",". `line_end` (a host option)
    overrides the ending for any release.
    """
    spaced = v[:2] == (5, 0) or (v[:2] == (6, 7) and kind == "data") or v[0] >= 9
    end = ", " if spaced else ","
    if line_end == "comma":
        end = ","
    elif line_end == "comma-blank":
        end = ", "
    return VmodlStyle(v[0] == 5, end, end if v[:2] == (5, 0) else "")


def power_failure(v: Version) -> str:
    """How power.on/off print a failure: "block" (the fault block on a line of its own), "line"
    (6.0 and 6.5: `Power on failed` and no block), "inline" (9.0: `Power on failed: (vim.fault.X) {`)."""
    if v[:2] in ((6, 0), (6, 5)):
        return "line"
    if v[0] >= 9:
        return "inline"
    return "block"


def exec_installed_only(v: Version) -> bool:
    """ESXi 8.0 turned execInstalledOnly on by default."""
    return v[0] >= 8


def can_be_clustered(v: Version) -> bool:
    """vCLS system VMs: seen on 9.0, expected from 7.0 U1 on (esxi-facts "getallvms")."""
    return v >= (7, 0, 1)


def vcls_hardware(v: Version, hw_max: int) -> int:
    return min(21, hw_max)  # vmx-21 on 9.0 (the facts' row); never above what the release runs


def esxcli_has_patch(v: Version) -> bool:
    return v[0] >= 6  # 5.5 prints no `Patch:` line


def esxcli_has_maintenance(v: Version) -> bool:
    return v[0] >= 9


def esxcli_has_reliable_memory(v: Version) -> bool:
    return v[0] >= 9  # `esxcli hardware cpu global get`; the facts' only sample with it is 9.0


def short_version(v: Version) -> str:
    """The version `vmware -l` prints: two parts from 7.0 on (`7.0`), three before (`6.7.0`)."""
    return f"{v[0]}.{v[1]}" if v[0] >= 7 else ".".join(map(str, v))
