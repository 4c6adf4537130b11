# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pieces shared by the scripts sent to an ESXi host: section markers, their splitting, naps.

Scripts are plain POSIX sh that BusyBox ash runs (no bash, no `command`, no `tr`, no mktemp),
every value quoted by shell.quote. One round trip can carry several commands' output: marker
lines cut it into sections, which the parsers in esxi_output read. Waiting (for a shutdown, for
Tools) happens on the host, inside the same command, in short naps.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote, script

MARK = "@@nestedvirt"
# A marker line; "\r" ends it too where the output came through a pty (CRLF line ends).
_SECTION = re.compile(r"^" + MARK + r" (?P<name>[a-z_]+)(?: (?P<arg>.*?))?\r?$")

# A short sleep where BusyBox was built with fractional sleep, one second where not.
NAP = "sleep 0.2 2>/dev/null || sleep 1"

# "[datastore] dir/x.vmx" -> /vmfs/volumes/datastore/dir/x.vmx, and "[] /abs/x.vmx" (vCLS system
# VMs, outside every datastore) -> /abs/x.vmx: sed on a get.summary line, whose end may be ",",
# ", " (any release) or nothing (a last field).
SED_VMX_PATH = (
    r's/^ *vmPathName = "\[\] \(\/.*\)",\{0,1\} *$/\1/p;'
    r's/^ *vmPathName = "\[\([^]][^]]*\)\] \(.*\)",\{0,1\} *$/\/vmfs\/volumes\/\1\/\2/p'
)

# vim-cmd failures that say nothing about the VM and pass (esxi-facts: hostd's login failing, a
# vim-cmd crash, the local connection refused): the call is made once more after a nap. A crash
# shows as "terminate called ..." text or an exit status above 128 (killed by a signal).
TRANSIENT_VIM_CMD = (
    "Failed to login",
    "terminate called",
    "std::bad_alloc",
    "Connect to localhost failed",
    "ManagedObjectNotFound",
)
VIM_CMD_FUNCTION = "\n".join(
    [
        "vim_cmd() {",
        '  _o=$(vim-cmd "$@" 2>&1); _r=$?',
        '  case "$_o" in %s) _t=1;; *) _t=0;; esac' % "|".join('*"%s"*' % text for text in TRANSIENT_VIM_CMD),
        '  if [ "$_t" = 1 ] || [ "$_r" -gt 128 ]; then sleep 1; _o=$(vim-cmd "$@" 2>&1); _r=$?; fi',
        '  [ -n "$_o" ] && printf \'%s\\n\' "$_o"',
        "  return $_r",
        "}",
    ]
)


def host_script(*lines):
    """A script for the ESXi host: its lines, after the vim_cmd function that the lines call
    instead of vim-cmd, so that every vim-cmd call survives one transient failure.

    A dropped connection does not stop it half-way (SIGHUP and SIGPIPE are ignored; output to a
    closed connection is lost, the work is done): the command the controller sends again after
    reconnecting then finds that work done (a VM already off, a file already written)."""
    return script("trap '' HUP PIPE", VIM_CMD_FUNCTION, *lines)


def mark(name, arg=None):
    """The command that prints a section marker."""
    return "printf '%%s\\n' %s" % quote(MARK + " " + name + ("" if arg is None else " " + arg))


def mark_with_vmid(name):
    """A marker whose argument is the shell variable $id (inside a loop over vmids)."""
    return "printf '%%s %%s\\n' %s \"$id\"" % quote(MARK + " " + name)


def split_sections(stdout, raw_tail=None):
    """[(name, arg, text), ...] in order; text before the first marker is dropped (login noise).

    After a marker named ``raw_tail`` nothing more is split: the rest of the output is that
    section's text byte for byte (a file's content, which may hold anything, even marker lines).
    """
    sections = []
    current = None
    lines = stdout.split("\n")
    for index, line in enumerate(lines):
        match = _SECTION.match(line)
        if match:
            current = [match.group("name"), match.group("arg"), []]
            sections.append(current)
            if match.group("name") == raw_tail:
                current[2] = lines[index + 1 :]
                break
        elif current is not None:
            current[2].append(line)
    return [(name, arg, "\n".join(body)) for name, arg, body in sections]


def section_map(stdout, raw_tail=None):
    """{name: text} of the sections that occur once (the last one wins)."""
    return {name: text for name, _arg, text in split_sections(stdout, raw_tail)}


class FromShell(object):
    """A value the lines take from a shell variable instead of a literal: a batch defines the
    lines of one VM once, as a function whose arguments are these (vm_batch.function_batch), so a
    command for many VMs grows by one short call per VM, not by the whole script."""

    def __init__(self, var):
        self.var = var


VMID, DATASTORE_PATH, VMX_PATH = FromShell("id"), FromShell("dsp"), FromShell("vp")


def identity_check(datastore_path):
    """Lines that stop the script (marker ``identity``) unless VM $id still is the one at this path.

    vmids found earlier (facts, a previous listing) could have been given to another VM since;
    checking the path costs one vim-cmd on the host, not a round trip.
    """
    if not datastore_path:
        return []
    if isinstance(datastore_path, FromShell):
        expected = '"vmPathName = \\"$%s\\""' % datastore_path.var
    else:
        expected = quote('vmPathName = "%s"' % datastore_path)
    return [
        "exp=%s" % expected,
        'p=$(vim_cmd vmsvc/get.summary "$id" 2>&1 | grep -E "^ *vmPathName = " | head -n 1)',
        'case "$p" in *"$exp"*) ;; *) %s; printf \'%%s\\n\' "$p"; %s; exit 0;; esac' % (mark("identity"), mark("end")),
    ]


def identity_error(sections, vm_label):
    """The error message when the identity check stopped the script, else None."""
    for name, _arg, text in sections:
        if name == "identity":
            return (
                "%s is not where it was when the VM list was read (the host now says %r); it was "
                "unregistered, renamed or moved meanwhile. Nothing was done; read the host again."
                % (vm_label, text.strip())
            )
    return None
