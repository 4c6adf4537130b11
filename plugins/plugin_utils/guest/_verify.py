# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify by guest OS: which command the verify role sends to a guest, and how its answer reads.

``auto`` decides Windows from the connection alone (WinRM, PSRP, or a PowerShell shell over
OpenSSH). For an SSH guest it sends one command that prints ``uname -s`` first and then, from it,
either a nested ESXi's `esxcli hardware cpu global get` (VMkernel) or /proc/cpuinfo (anything
else): the guest is told apart in the round trip verify makes anyway.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.guest._cpuinfo import parse_cpuinfo
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.guest._esxi import ESXI_COMMAND, read_esxi_guest
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.guest._windows import (
    WINDOWS_COMMAND,
    read_windows_guest,
)

GUEST_OS_CHOICES = ("auto", "linux", "esxi", "windows")
WINDOWS_CONNECTIONS = ("winrm", "psrp", "ansible.builtin.winrm", "ansible.builtin.psrp")
LINUX_COMMAND = "cat /proc/cpuinfo"
UNAME_MARK = "nestedvirt-uname: "
AUTO_COMMAND = 's=$(uname -s 2>/dev/null); echo "%s$s"; if [ "$s" = VMkernel ]; then %s; else %s; fi' % (
    UNAME_MARK,
    ESXI_COMMAND,
    LINUX_COMMAND,
)
_COMMANDS = {"auto": AUTO_COMMAND, "linux": LINUX_COMMAND, "esxi": ESXI_COMMAND, "windows": WINDOWS_COMMAND}


class GuestOsError(NestedvirtError, ValueError):
    """A verify_guest_os that is not one of the choices."""

    reason = "unknown_guest_os"


def guest_probe(wanted="auto", connection=None, shell_type=None):
    """``{"guest_os", "command"}``: the guest OS as far as it is known before any command (``auto``
    stays ``auto`` for an SSH guest) and the one command that reads its CPU."""
    wanted = (wanted or "auto").lower()
    if wanted not in GUEST_OS_CHOICES:
        raise GuestOsError("verify_guest_os: one of %s, got %r" % (", ".join(GUEST_OS_CHOICES), wanted))
    if wanted == "auto" and (connection in WINDOWS_CONNECTIONS or shell_type == "powershell"):
        wanted = "windows"
    return {"guest_os": wanted, "command": _COMMANDS[wanted]}


def _linux(text):
    result = parse_cpuinfo(text)
    result.update(
        guest_os="linux",
        evidence="/proc/cpuinfo: %s, %d processor(s)%s"
        % (
            result["virtualization_flag"] or "no vmx/svm flag",
            result["processors"],
            "" if result["long_mode"] else ", no 64-bit (lm) flag",
        ),
    )
    return result


_READERS = {"linux": _linux, "esxi": read_esxi_guest, "windows": read_windows_guest}


def read_guest(text, guest_os="auto", expected=None):
    """The verify result of a guest from the answer to guest_probe's command: ``guest_os``,
    ``nested_virtualization`` (None: unknown), ``virtualization_flag``, ``long_mode``,
    ``processors``, ``evidence`` (the summary's words) and what the guest OS adds. With
    ``expected`` (nesting on or off), ``reason`` says why the reading fails it (None: it passes)."""
    if guest_os == "auto":
        first, _sep, rest = text.partition("\n")
        if first.startswith(UNAME_MARK):
            guest_os = "esxi" if first[len(UNAME_MARK) :].strip() == "VMkernel" else "linux"
            text = rest
        else:
            guest_os = "linux"
    if guest_os not in _READERS:
        raise GuestOsError("guest OS: one of %s, got %r" % (", ".join(sorted(_READERS)), guest_os))
    result = _READERS[guest_os](text)
    if expected is not None:
        shown, expected = result["nested_virtualization"], bool(expected)
        result.update(
            reason=None
            if shown is expected
            else "guest_virtualization_unknown"
            if shown is None
            else "guest_still_exposed"
            if not expected
            else "guest_hv_support"
            if guest_os == "esxi"
            else "guest_not_exposed"
        )
    return result
