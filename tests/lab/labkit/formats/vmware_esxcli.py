"""The exact text of `vmware -v|-l`, `esxcli` (system version, CPU, vSwitch security policy) and the
login banner, per ESXi release. Pure functions.
"""

from __future__ import annotations

from .. import releases

# --- vmware / esxcli --------------------------------------------------------------------------


def _product_line(version: str, update: int) -> str:
    """`vmware -l`: `GA` on a release's first build (update 0), two-part versions from 7.0 on."""
    short = releases.short_version(releases.parse(version))
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


def _esxcli_lines(pairs: list[tuple[str, str]], indent: bool) -> str:
    """esxcli's `Key: value` records: indented by 3 blanks, or (some captures) not at all."""
    lead = "   " if indent else ""
    return "".join(f"{lead}{k}: {v}\n" for k, v in pairs)


def esxcli_version(version: str, build: int, update: int, patch: int, maintenance: int = 0, indent: bool = True) -> str:
    v = releases.parse(version)
    pairs = [("Product", "VMware ESXi"), ("Version", version), ("Build", f"Releasebuild-{build}")]
    pairs.append(("Update", str(update)))
    if releases.esxcli_has_patch(v):
        pairs.append(("Patch", str(patch)))
    if releases.esxcli_has_maintenance(v):
        pairs.append(("Maintenance", str(maintenance)))
    return _esxcli_lines(pairs, indent)


def esxcli_cpu_global(version: str, nested_hv_supported: bool, indent: bool = True) -> str:
    """`esxcli hardware cpu global get`: the facts' sample (one package, four cores, no
    hyperthreading). `HV Support: 3` (VT-x/AMD-V enabled and usable) on a host that can nest, `1`
    (may be available but not supported: a CPU without EPT/RVI) on one that cannot; 9.0 and later
    add `Reliable Memory:` (the facts: "newer builds")."""
    pairs = [
        ("CPU Packages", "1"),
        ("CPU Cores", "4"),
        ("CPU Threads", "4"),
        ("Hyperthreading Active", "false"),
        ("Hyperthreading Supported", "false"),
        ("Hyperthreading Enabled", "true"),
        ("HV Support", "3" if nested_hv_supported else "1"),
    ]
    if releases.esxcli_has_reliable_memory(releases.parse(version)):
        pairs.append(("Reliable Memory", "false"))
    return _esxcli_lines(pairs, indent)


def esxcli_security(
    policy: dict[str, bool], portgroup: bool = False, override: dict[str, bool] | None = None, indent: bool = True
) -> str:
    def b(x: bool) -> str:
        return "true" if x else "false"

    pairs = [
        ("Allow Promiscuous", b(policy["promiscuous"])),
        ("Allow MAC Address Change", b(policy["mac_change"])),
        ("Allow Forged Transmits", b(policy["forged"])),
    ]
    if portgroup:
        o = override or {}
        pairs += [
            ("Override Vswitch Allow Promiscuous", b(o.get("promiscuous", False))),
            ("Override Vswitch Allow MAC Address Change", b(o.get("mac_change", False))),
            ("Override Vswitch Allow Forged Transmits", b(o.get("forged", False))),
        ]
    return _esxcli_lines(pairs, indent)


LOGIN_BANNER = """The time and date of this login have been sent to the system logs.

VMware offers supported, powerful system administration tools.  Please
see www.vmware.com/go/sysadmintools for details.

The ESXi Shell can be disabled by an administrative user. See the
vSphere Security documentation for more information.
"""
