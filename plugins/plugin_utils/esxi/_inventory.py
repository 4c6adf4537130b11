# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_info: everything the collection needs to know about an ESXi host, in one round trip.

The script prints the release, which Python the host has, /etc/vmware/config, whether the CPU
can expose hardware virtualization (`esxcli hardware cpu global get`), getallvms, and
for every VM the lines of its summary that matter, its nesting keys read from the .vmx and the
same settings as hostd holds them (get.config). ``build_host_facts`` turns that into facts; a
truncated answer is an error, never a guess.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import (
    HOST_CONFIG_PATH,
    HOSTD_FIELDS,
    MIN_HARDWARE_VERSION,
    PER_VM_NESTING_SINCE,
    SWITCH_KEYS,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._hv_support import (
    HV_SUPPORT_COMMAND,
    HV_USABLE,
    hv_support_meaning,
    parse_hv_support,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import (
    EsxiOutputError,
    parse_fault,
    parse_getallvms,
    parse_properties,
    parse_vmware_version,
    version_tuple,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._restart_marker import NAME as RESTART_MARKER
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import (
    host_script,
    mark,
    mark_with_vmid,
    split_sections,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import VmxDocument

# The vmx keys reported for every VM: every switch's (nesting_rules) and what the plan and
# verify need beside them (the firmware and secure boot: the vbs switch's preconditions).
VM_KEYS = SWITCH_KEYS + ("vhv.allow", "virtualHW.version", "numvcpus", "memsize", "firmware", "uefi.secureBoot.enabled")
# The port group of each virtual NIC (ethernet0.networkName, ...): nested ESXi networking.
_NETWORK_KEY = r"ethernet[0-9]+\.networkName"
_KEY_ALTERNATIVES = "|".join([re.escape(key) for key in VM_KEYS] + [_NETWORK_KEY])

# ESXi's reader takes only space and tab as blanks (a \v or NBSP is part of the name), so the
# pattern names exactly those two; the tab stands in it literally for BusyBox grep -E.
_KEYS_PATTERN = "^[ \t]*(%s)[ \t]*=" % _KEY_ALTERNATIVES
_SUMMARY_LINES = r"^ *(powerState|toolsRunningStatus|ipAddress|vmPathName) = |\((vim|vmodl)\.fault\.|^ *msg = "
# hostd's copy of the switches (nesting_rules.HOSTD_FIELDS): a difference from the .vmx is an
# edit hostd has not reloaded.
_HOSTD_LINES = "^ *(%s) = " % "|".join(HOSTD_FIELDS)


# How many VMs host_info reads at once on the host (hostd answers vim-cmd calls side by side).
PARALLEL_READS = 4


def _vm_lines():
    """What host_info prints for VM $id, with as few processes as the shell allows: on ESXi (and
    the lab) a process costs milliseconds, and a fleet host has hundreds of VMs. The .vmx path and
    hostd's switches are cut out of vim-cmd's answers with the shell's own pattern matching."""
    lines = [
        mark_with_vmid("summary"),
        's=$(vim_cmd vmsvc/get.summary "$id" 2>&1)',
        "printf '%%s\\n' \"$s\" | grep -E %s" % quote(_SUMMARY_LINES),
        # vmPathName = "[ds] dir/x.vmx" -> /vmfs/volumes/ds/dir/x.vmx; "[] /abs/x.vmx" (vCLS) -> /abs/x.vmx
        "f=",
        'case "$s" in *\'vmPathName = "\'*)',
        # The value runs to its line's end, which is '",' or '", ' or '"' (a name may hold '"').
        '  p=${s#*vmPathName = \\"}; p=${p%%"$nl"*}',
        '  case "$p" in *\'", \') p=${p%\\", };; *\'",\') p=${p%\\",};; *\'"\') p=${p%\\"};; *) p=;; esac',
        '  case "$p" in',
        '    "[] /"*) f=${p#\\[\\] };;',
        '    "["*"] "*) d=${p#\\[}; d=${d%%\\]*}; f="/vmfs/volumes/$d/${p#*\\] }";;',
        "  esac;;",
        "esac",
        mark_with_vmid("vmx"),
        # ESXi also ends a line at a lone CR: make it a newline before grep reads lines (the sed
        # script holds a literal CR and a literal newline, so no escape need be understood).
        '[ -n "$f" ] && sed %s "$f" | grep -i -E %s' % (quote("s/\r/\\\n/g"), quote(_KEYS_PATTERN)),
        # The checksum the plan's handle carries: later steps see whether the file moved on.
        mark_with_vmid("checksum"),
        '[ -n "$f" ] && md5sum < "$f" 2>/dev/null',
        # A run that powered the VM off to change it and was killed before powering it on.
        '[ -n "$f" ] && [ -e "${f%%/*}/%s" ] && %s' % (RESTART_MARKER, mark_with_vmid("restart_pending")),
        mark_with_vmid("hostd"),
        'c=$(vim_cmd vmsvc/get.config "$id" 2>&1)',
    ]
    for field in sorted(HOSTD_FIELDS):
        lines.append(
            'case "$c" in *"   %s = true"*) echo "%s = true";; *"   %s = false"*) echo "%s = false";; esac'
            % (field, field, field, field)
        )
    return lines


def host_info_command():
    return host_script(
        mark("version"),
        "vmware -lv 2>&1",
        mark("python"),
        'for p in /bin/python /usr/bin/python /bin/python3 /usr/bin/python3; do [ -x "$p" ] && echo "$p"; done',
        mark("hostconfig"),
        "cat /etc/vmware/config 2>/dev/null",
        # Can the CPU expose VT-x/AMD-V to VMs at all (read before any VM is powered down).
        mark("cpu"),
        HV_SUPPORT_COMMAND + " 2>&1",
        mark("getallvms"),
        "all=$(vim_cmd vmsvc/getallvms 2>&1)",
        "printf '%s\\n' \"$all\"",
        "nl='\n'",
        "nv_vm() {",
        *("  " + line for line in _vm_lines()),
        "}",
        # Each VM's lines into a file of its own, PARALLEL_READS VMs at a time, then all of them in
        # the order the vmids came. Candidate vmids: lines starting with digits;
        # annotation lines may too, and only the vmids the controller's parse of getallvms finds count.
        # n counts from 100000 so that the names sort as numbers do (no process to pad them).
        'b=/tmp/nestedvirt-info.$$; rm -rf "$b"; mkdir -p "$b"; n=100000',
        "for id in $(printf '%s\\n' \"$all\" | sed -n 's/^\\([0-9][0-9]*\\)[[:space:]].*/\\1/p'); do",
        '  n=$((n + 1)); ( nv_vm ) > "$b/$n" &',
        "  [ $((n %% %d)) = 0 ] && wait" % PARALLEL_READS,
        "done",
        "wait",
        '[ "$n" -gt 100000 ] && cat "$b"/*',
        'rm -rf "$b"',
        mark("end"),
    )


def nesting_method(version):
    """How this release enables nesting: host-wide vhv.allow (5.0) or per VM vhv.enable (5.1+)."""
    if version_tuple(version)[:3] < PER_VM_NESTING_SINCE:
        return {"method": "host", "key": "vhv.allow", "path": HOST_CONFIG_PATH, "min_hardware_version": None}
    return {"method": "vm", "key": "vhv.enable", "path": None, "min_hardware_version": MIN_HARDWARE_VERSION}


def vm_nesting_enabled(method, vm, host_allow, document):
    """Whether the VM's configuration exposes hardware virtualization by the release's rules; a
    vhv.enable defined twice with different values never counts (VmxDocument.holds)."""
    if method["method"] == "host":
        return host_allow
    return document.holds("vhv.enable", "TRUE") and (vm["hardware_version"] or 0) >= MIN_HARDWARE_VERSION


_KEY_LINE = re.compile(_KEYS_PATTERN, re.I | re.A)  # the host script greps the same lines
_NETWORK_LINE = re.compile(r"^%s$" % _NETWORK_KEY, re.I | re.A)


def host_cpu_nesting(text):
    """What `esxcli hardware cpu global get` says of the host's hardware virtualization:
    ``hv_support`` (an int, None when the output is unreadable or the command is missing),
    ``hv_support_meaning``, and ``nested_hv_supported`` (HV Support 3; None when unknown). An
    unreadable answer is kept visible in the meaning, never taken as "cannot nest"."""
    try:
        value = parse_hv_support(text)
    except EsxiOutputError:
        first = (text.strip().split("\n") or [""])[0].strip()[:120]
        return {
            "hv_support": None,
            "hv_support_meaning": "unknown: esxcli hardware cpu global get printed no HV Support (%s)"
            % (first or "nothing"),
            "nested_hv_supported": None,
        }
    return {
        "hv_support": value,
        "hv_support_meaning": hv_support_meaning(value),
        "nested_hv_supported": value == HV_USABLE,
    }


def vm_networks(document):
    """The port groups the VM's NICs use (``ethernetN.networkName``), each once, in file order."""
    found = []
    for key in document.keys():  # noqa: SIM118 - not a dict
        value = document.get(key)
        if _NETWORK_LINE.match(key) and value and value not in found:
            found.append(value)
    return found


def hostd_view(text):
    """{field: True/False} of the HOSTD_FIELDS that get.config printed (none before 5.1)."""
    found = parse_properties(text, tuple(HOSTD_FIELDS))
    return {field: value == "true" for field, value in found.items() if value in ("true", "false")}


def hostd_stale(view, document):
    """The .vmx keys whose value hostd does not hold: the file was edited and not reloaded, and
    hostd would write its own copy back at the VM's next power-off or reconfigure."""
    stale = []
    for field, held in sorted(view.items()):
        key = HOSTD_FIELDS[field]
        if document.ambiguous(key):
            continue  # rewritten to one line by any plan that touches it
        if held != document.holds(key, "TRUE"):
            stale.append(key)
    return stale


def _check_consistent(release, vms, paths, summaries, vmx_lines):
    """The parts of host_info's answer must agree; a damaged answer is an error, never facts.

    The script prints the build (``vmware -lv``), a summary and a vmx section for every vmid of
    the listing, summaries with a power state and a path, and only key lines in a vmx section.
    """
    if not release["build"]:
        raise EsxiOutputError("'vmware -lv' printed no build line; the host's answer is damaged")
    listed = set(vm["vmid"] for vm in vms)
    lost = sorted(set(paths) - listed, key=int)
    if lost:
        raise EsxiOutputError(
            "VM %s (%s) answered for its summary but has no readable row in getallvms; nothing is assumed"
            % (lost[0], paths[lost[0]])
        )
    for vm in vms:
        vmid = vm["vmid"]
        if vmid not in summaries or vmid not in vmx_lines:
            raise EsxiOutputError("the host's answer lacks the summary or the vmx keys of VM %s; it is damaged" % vmid)
        summary = summaries[vmid]
        if not parse_fault(summary):
            props = parse_properties(summary, ("powerState", "vmPathName"))
            if props.get("powerState") not in ("poweredOn", "poweredOff", "suspended"):
                raise EsxiOutputError("the summary of VM %s has no readable power state: %r" % (vmid, summary[:200]))
        for line in vmx_lines[vmid].split("\n"):
            if line.strip() and not _KEY_LINE.match(line):
                raise EsxiOutputError("unexpected line among the vmx keys of VM %s: %r" % (vmid, line[:200]))


def build_host_facts(stdout):
    sections = split_sections(stdout)
    names = [name for name, _arg, _text in sections]
    if "end" not in names:
        raise EsxiOutputError("the host's answer to host_info was cut short (no end marker); nothing is assumed")
    single = {name: text for name, arg, text in sections if arg is None}
    release = parse_vmware_version(single.get("version", ""))
    method = nesting_method(release["version"])
    host_config = VmxDocument.parse(single.get("hostconfig", ""))
    host_allow = host_config.holds("vhv.allow", "TRUE")
    summaries = {arg: text for name, arg, text in sections if name == "summary"}
    # Each VM's own summary says where its .vmx is, or that no such VM exists: that settles the
    # rows getallvms alone leaves ambiguous (names with newlines, annotations that look like rows).
    paths, missing = {}, set()
    for vmid, summary in summaries.items():
        fault = parse_fault(summary)
        if fault:
            if fault["name"] == "NotFound":
                missing.add(vmid)
            continue
        path = parse_properties(summary, ("vmPathName",)).get("vmPathName")
        if path:
            paths[vmid] = path
    vms, invalid = parse_getallvms(single.get("getallvms", ""), paths=paths, missing=missing)

    vmx_lines = {arg: text for name, arg, text in sections if name == "vmx"}
    restart_pending = set(arg for name, arg, _text in sections if name == "restart_pending")
    hostd = {arg: text for name, arg, text in sections if name == "hostd"}
    checksums = {arg: (text.split() or [None])[0] for name, arg, text in sections if name == "checksum"}
    _check_consistent(release, vms, paths, summaries, vmx_lines)
    for vm in vms:
        summary = summaries.get(vm["vmid"], "")
        fault = parse_fault(summary)
        props = parse_properties(summary, ("powerState", "toolsRunningStatus", "ipAddress"))
        vm["power_state"] = None if fault else props.get("powerState")
        vm["tools_running_status"] = props.get("toolsRunningStatus")
        vm["ip_address"] = props.get("ipAddress")
        if fault:
            vm["fault"] = "%s: %s" % (fault["name"], fault["msg"])
        document = VmxDocument.parse(vmx_lines.get(vm["vmid"], ""))
        vm["vmx"] = {key: document.get(key) for key in VM_KEYS if document.get(key) is not None}
        vm["networks"] = vm_networks(document)
        # Keys defined twice with values that disagree: ESXi reads the first, but which one was
        # meant is unknown, so the plan rewrites them to one line (never "already set").
        vm["vmx_conflicts"] = [key for key in VM_KEYS if document.ambiguous(key)]
        vm["nested_hv_enabled"] = vm_nesting_enabled(method, vm, host_allow, document)
        vm["restart_pending"] = vm["vmid"] in restart_pending
        vm["vmx_md5"] = checksums.get(vm["vmid"])
        vm["hostd"] = hostd_view(hostd.get(vm["vmid"], ""))
        vm["hostd_stale"] = hostd_stale(vm["hostd"], document)

    python = [line.strip() for line in single.get("python", "").split("\n") if line.strip()]
    return {
        "version": release["version"],
        "build": release["build"],
        "update_level": release["update"],
        "python": python,
        "nesting": dict(method, host_vhv_allow=host_allow, **host_cpu_nesting(single.get("cpu", ""))),
        "host_config": host_config.as_dict(),
        "vms": vms,
        "invalid_vmids": invalid,
    }


def vm_listing_command():
    """Only the VM list: for finding a VM by name when no host_info facts are at hand."""
    return host_script(mark("getallvms"), "vim_cmd vmsvc/getallvms 2>&1", mark("end"))


def parse_vm_listing(stdout):
    sections = split_sections(stdout)
    if "end" not in [name for name, _arg, _text in sections]:
        raise EsxiOutputError("the host's VM list was cut short (no end marker); nothing is assumed")
    text = next(text for name, _arg, text in sections if name == "getallvms")
    return parse_getallvms(text)[0]
