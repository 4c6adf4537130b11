# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for what ESXi's own commands print (vmware, esxcli, vim-cmd).

Formats are those recorded in esxi-facts.md (its "Corrections and additions" stand over the older
sections) and captured in tests/unit/fixtures/esxi; each parser tolerates the variations real hosts
print: column widths, string-ordered rows, multi-line annotations, vCLS system VMs with an empty
datastore, CRLF line ends from a pty, trailing blanks, `, ` line ends on any release, fault blocks
that start mid-line, string values holding a newline, GA builds. vim-cmd's exit codes are not
trusted: faults are recognised from the text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError


class EsxiOutputError(NestedvirtError, ValueError):
    """Output that does not have the expected shape: never act on a guess."""

    reason = "unreadable_output"


# ---------------------------------------------------------------------------------------------
# Version

_VERSION_BUILD = re.compile(r"^VMware ESXi (?P<version>\d+\.\d+(?:\.\d+)?) build-(?P<build>\d+)\s*$", re.M)
# `vmware -l`: "7.0 Update 3", "6.7.0 U2", or "GA" on a release's first build (update 0).
_VERSION_UPDATE = re.compile(
    r"^VMware ESXi (?P<version>\d+\.\d+(?:\.\d+)?)(?: (?:(?:Update|U) ?(?P<update>\d+)|(?P<ga>GA)))?\s*$", re.M
)


def _full_version(version):
    parts = version.split(".")
    return ".".join((parts + ["0", "0"])[:3])


def parse_vmware_version(text):
    """Parse ``vmware -v``, ``-l`` or ``-lv`` into version, build and update.

    The version comes from the build line (``-v``) when present: ``-l`` alone says "7.0 Update 3"
    for what ``-v`` calls 7.0.3, so it is kept as printed then. "GA" is update 0.
    """
    result = {"version": None, "build": None, "update": None}
    match = _VERSION_BUILD.search(text)
    if match:
        result["version"] = _full_version(match.group("version"))
        result["build"] = match.group("build")
    for line in _VERSION_UPDATE.finditer(text):
        result["version"] = result["version"] or line.group("version")
        if line.group("update") is not None:
            result["update"] = int(line.group("update"))
        elif line.group("ga"):
            result["update"] = 0
    if result["version"] is None:
        raise EsxiOutputError("not an ESXi version string: %r" % text.strip()[:200])
    return result


def version_tuple(version):
    """'6.7.0' -> (6, 7, 0), for comparisons."""
    return tuple(int(part) for part in version.split("."))


# ---------------------------------------------------------------------------------------------
# vim-cmd vmsvc/getallvms

_GETALLVMS_HEADER = re.compile(r"^Vmid\s+Name\s+File\s+Guest OS\s+Version\s+Annotation\s*$")
# A row: vmid, name, the first "[datastore] path.vmx", guest OS, version, annotation. System VMs
# of a vCenter cluster (vCLS) have an empty datastore and an absolute path: "[] /var/run/crx/...".
_GETALLVMS_ROW = re.compile(
    r"^(?P<vmid>\d+)\s+(?P<name>.*?)\s+\[(?P<datastore>[^\]]*)\] (?P<path>.*?\.vmx)"
    r"\s+(?P<guest>\S+)\s+(?P<version>vmx-\d+)(?:\s(?P<annotation>.*))?$"
)
_SKIPPING = re.compile(r"^Skipping invalid VM '(?P<vmid>[^']*)'")


def datastore_path_to_absolute(datastore, path):
    """``[datastore1] dir/x.vmx`` -> ``/vmfs/volumes/datastore1/dir/x.vmx``; ``[] /abs/x.vmx`` -> itself."""
    if not datastore:
        if not path.startswith("/"):
            raise EsxiOutputError("a VM path with no datastore must be absolute: %r" % ("[] " + path))
        return path
    return "/vmfs/volumes/%s/%s" % (datastore, path)


def _new_vm(vmid, name, datastore, path, guest, version, annotation):
    return {
        "vmid": vmid,
        "name": name,
        "datastore": datastore,
        "datastore_path": "[%s] %s" % (datastore, path),
        "vmx_path": datastore_path_to_absolute(datastore, path),
        "guest_os": guest,
        "hardware_version": int(version[4:]),
        "annotation": (annotation or "").strip(),
        # Outside every datastore (vCLS, on hosts in a vCenter cluster): the cluster's own, never
        # ours to select by pattern or ``all``.
        "system": datastore == "",
        "_continued": [],
    }


_DATASTORE_PATH = re.compile(r"^\[(?P<datastore>[^\]]*)\] (?P<path>.*)$", re.S)
_ROW_START = re.compile(r"^(?P<vmid>\d+)\s")
# A row whose name may span lines (a name with a newline), anchored on the VM's own path.
_ANCHORED_ROW = (
    r"^%s\s+(?P<name>[\s\S]*?)\s+%s\s+(?P<guest>\S+)\s+(?P<version>vmx-\d+)(?:[ \t](?P<annotation>[^\n]*))?$"
)
_MAX_ROW_LINES = 64


def _anchored_row(lines, start, vmid, datastore_path):
    """The VM row of ``vmid`` starting at lines[start], which ends with the VM's own path and may
    span lines: (vm, lines used), or None."""
    where = _DATASTORE_PATH.match(datastore_path)
    if where is None:
        return None
    pattern = re.compile(_ANCHORED_ROW % (re.escape(vmid), re.escape(datastore_path)))
    for end in range(start, min(len(lines), start + _MAX_ROW_LINES)):
        match = pattern.match("\n".join(lines[start : end + 1]))
        if match:
            vm = _new_vm(
                vmid,
                match.group("name"),
                where.group("datastore"),
                where.group("path"),
                match.group("guest"),
                match.group("version"),
                match.group("annotation"),
            )
            return vm, end + 1 - start
    return None


def parse_getallvms(text, paths=None, missing=()):
    """Parse ``vim-cmd vmsvc/getallvms``; returns (vms, invalid_vmids).

    Each VM is a dict: vmid, name, datastore, datastore_path, vmx_path, guest_os,
    hardware_version (int), annotation. Rows keep their order; vmids are strings.

    The listing alone is ambiguous: names and annotations are printed verbatim, so a name with a
    newline spans lines and an annotation line can look exactly like a row. ``paths``
    ({vmid: "[datastore] dir/x.vmx"}, from each VM's own summary) and ``missing`` (vmids the
    host says do not exist) settle it: a row of a VM in ``paths`` is read up to that VM's own
    path, however many lines its name takes; a line that only looks like a row (its vmid is
    ``missing``) is annotation text of the VM above it.
    """
    paths = paths or {}
    vms = []
    invalid = []
    seen_header = False
    current = None
    lines = text.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not seen_header:
            if _GETALLVMS_HEADER.match(line):
                seen_header = True
            elif _SKIPPING.match(line):
                invalid.append(_SKIPPING.match(line).group("vmid"))
            continue
        skipping = _SKIPPING.match(line)
        start = _ROW_START.match(line)
        vmid = start.group("vmid") if start else None
        if skipping:
            invalid.append(skipping.group("vmid"))
            current = None
            continue
        if vmid is not None and vmid in paths:
            found = _anchored_row(lines, index - 1, vmid, paths[vmid])
            if found is None:
                if any(vm["vmid"] == vmid for vm in vms):
                    if current is not None:
                        current["_continued"].append(line)  # an annotation line with a real vmid
                    continue
                raise EsxiOutputError(
                    "the row of VM %s (%s) in 'vim-cmd vmsvc/getallvms' cannot be read: %r; refusing to guess"
                    % (vmid, paths[vmid], line[:200])
                )
            current, used = found
            vms.append(current)
            index += used - 1
            continue
        if vmid is not None and vmid in missing:
            # Not a VM: text of the annotation above (or of a VM gone since the listing).
            if current is not None:
                current["_continued"].append(line)
            continue
        row = _GETALLVMS_ROW.match(line)
        if row:
            current = _new_vm(
                row.group("vmid"),
                row.group("name"),
                row.group("datastore"),
                row.group("path"),
                row.group("guest"),
                row.group("version"),
                row.group("annotation"),
            )
            vms.append(current)
        elif current is not None:
            # The annotation is printed verbatim: its further lines stand on their own.
            current["_continued"].append(line)
        elif line.strip():
            raise EsxiOutputError("unexpected line in 'vim-cmd vmsvc/getallvms' output: %r" % line[:200])
    if not seen_header:
        raise EsxiOutputError("'vim-cmd vmsvc/getallvms' printed no header: %r" % text.strip()[:200])
    for vm in vms:
        lines = [vm["annotation"]] + vm.pop("_continued")
        vm["annotation"] = "\n".join(lines).rstrip("\n")
    _check_unique([vm["vmid"] for vm in vms])
    return vms, invalid


def _check_unique(vmids):
    seen = set()
    for vmid in vmids:
        if vmid in seen:
            raise EsxiOutputError("vmid %s is listed twice by getallvms; refusing to guess" % vmid)
        seen.add(vmid)


# ---------------------------------------------------------------------------------------------
# Faults and vim-cmd's data object printing

# A fault block may start mid-line ("Power on failed: (vim.fault.GenericVmConfigFault) {").
_FAULT = re.compile(r"\((?P<type>(?:vim|vmodl)\.fault\.[A-Za-z]+)\)\s*\{")
# `name = "` opening a string value; vim-cmd prints strings verbatim (no escaping), so a value may
# hold quotes and newlines: it ends at the last `"` of a line followed only by an optional comma
# and blanks (`, ` line ends occur on every release; the last field has no comma).
_STRING_START = re.compile(r'^[ \t]*(?P<key>[A-Za-z][A-Za-z0-9]*) = "', re.M)
_STRING_END = re.compile(r'"[ \t]*,?[ \t]*\r?$')
_MAX_STRING_LINES = 64


def _read_string(text, start):
    """The string value whose opening quote ends at ``start``, or None when it never closes."""
    lines = text[start:].split("\n", _MAX_STRING_LINES)[:_MAX_STRING_LINES]
    for count, line in enumerate(lines, start=1):
        end = _STRING_END.search(line)
        if end:
            return "\n".join(lines[: count - 1] + [line[: end.start()]])
    return None


def _strings(text, key):
    """Every string value of ``key`` in vim-cmd's data object printing, in order, at any depth."""
    found = (_read_string(text, match.end()) for match in _STRING_START.finditer(text) if match.group("key") == key)
    return [value for value in found if value is not None]


_EXISTING_STATE = re.compile(r'existingState = "(?P<state>\w+)"')


def parse_fault(text):
    """The first fault block in ``text`` as {type, name, msg, messages, existing_state}, or None.

    ``messages`` are the fault's localizable messages (``faultMessage``'s ``message`` values, e.g.
    "This host does not support AMD-V."), each without its trailing newline: ESXi's own words for
    why an operation failed. ``msg`` is the block's own ``msg`` (a newline inside it kept, the
    trailing one dropped).
    """
    match = _FAULT.search(text)
    if match is None:
        return None
    block = text[match.end() :]
    msg = _strings(block, "msg")
    messages = []
    for value in _strings(block, "message"):
        value = value.strip()
        if value and value not in messages:
            messages.append(value)
    state = _EXISTING_STATE.search(block)
    return {
        "type": match.group("type"),
        "name": match.group("type").rsplit(".", 1)[-1],
        # The outermost msg is the last one: nested objects print theirs before it.
        "msg": msg[-1].rstrip("\r\n") if msg else None,
        "messages": messages,
        "existing_state": state.group("state") if state else None,
    }


def describe_fault(fault):
    """``Name: msg`` plus ESXi's own messages where they say more than msg."""
    words = [fault["msg"]] if fault["msg"] else []
    words += [message for message in fault.get("messages", ()) if message not in words]
    return "%s: %s" % (fault["name"], " ".join(words) if words else "(no message)")


_PROPERTY = re.compile(r"^[ \t]*(?P<key>[A-Za-z][A-Za-z0-9]*) = (?P<value>[^\n]*?),?[ \t]*\r?$", re.M)


def parse_properties(text, keys):
    """First value of each wanted property in vim-cmd's data object printing, at any depth.

    Strings come back without quotes (one holding a newline whole), ``<unset>`` as None,
    numbers and booleans as text.
    """
    found = {}
    for match in _PROPERTY.finditer(text):
        key, value = match.group("key"), match.group("value")
        if key not in keys or key in found:
            continue
        if value == "<unset>":
            found[key] = None
        elif value.startswith('"'):
            string = _read_string(text, match.start("value") + 1)
            if string is not None:
                found[key] = string
        elif not (value.endswith("{") or value.endswith("[")):  # not a nested object or list
            found[key] = value
    return found


# ---------------------------------------------------------------------------------------------
# Power state, guest info

POWER_STATES = {"Powered on": "poweredOn", "Powered off": "poweredOff", "Suspended": "suspended"}


def parse_power_state(text):
    """``vim-cmd vmsvc/power.getstate``: 'poweredOn', 'poweredOff' or 'suspended'."""
    fault = parse_fault(text)
    if fault:
        raise EsxiOutputError("%s: %s" % (fault["name"], fault["msg"]))
    for line in text.split("\n"):
        if line.strip() in POWER_STATES:
            return POWER_STATES[line.strip()]
    raise EsxiOutputError("unexpected 'vim-cmd vmsvc/power.getstate' output: %r" % text.strip()[:200])


_TOP_LEVEL_IP = re.compile(r'^   ipAddress = (?:"(?P<ip>[^"]*)"|<unset>),?\s*$', re.M)


def parse_guest_info(text):
    """``vim-cmd vmsvc/get.guest``: Tools running status and the guest's primary IP (or None).

    Per-NIC addresses appear deeper as ``ipAddress = (string) [``; only the top-level one counts.
    """
    fault = parse_fault(text)
    if fault:
        raise EsxiOutputError("%s: %s" % (fault["name"], fault["msg"]))
    status = parse_properties(text, ("toolsRunningStatus",)).get("toolsRunningStatus")
    ip = _TOP_LEVEL_IP.search(text)
    return {
        "tools_running_status": status,
        "tools_running": status == "guestToolsRunning",
        "ip_address": ip.group("ip") if ip and ip.group("ip") else None,
    }
