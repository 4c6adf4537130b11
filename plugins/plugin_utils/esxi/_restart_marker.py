# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restart marker: a file beside a VM's .vmx saying that a run powered the VM off to change it.

The enable_nesting role shuts a running VM down, edits its .vmx and powers it on again. A run
killed in between (controller crash, Ctrl-C twice, lost connection) would leave the VM down, and
the next run, seeing it off, would have no reason to power it on. So the shutdown writes this
marker on the host, in the same command and before the power operation; the power-on that follows
removes it; host_info reports it, and the next run powers such a VM on again.

Rules, applied by every vm_power command at its end: a VM that ends powered on has no marker; one
that ends powered off keeps it when the command asked for it (``restart_marker``: written only when
the VM was running; kept when a resumed run finds the VM off) or was a power-on that failed (the
next run tries again); otherwise it is removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import SED_VMX_PATH, FromShell, mark
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote

NAME = "nestedvirt-power-on-pending"
NOTE = (
    "nestedvirt.esxi powered this VM off to change its configuration and powers it on again when done. "
    "If this file is still here, that run was interrupted: the next run of nestedvirt.esxi.enable_nesting "
    "powers the VM on. Delete this file to keep the VM off."
)


def marker_path(vmx_path):
    """The marker's path on the host for the VM whose .vmx is at ``vmx_path``."""
    return "%s/%s" % (vmx_path.rsplit("/", 1)[0], NAME)


def locate_lines(vmx_path=None):
    """Lines setting $m to the marker's path (empty when the host does not say where VM $id is)
    and printing the marker ``restart_found`` when the file is there."""
    if isinstance(vmx_path, FromShell):
        lines = ['m="${%s%%/*}/%s"' % (vmx_path.var, NAME)]
    elif vmx_path:
        lines = ["m=%s" % quote(marker_path(vmx_path))]
    else:
        lines = [
            'm=$(vim_cmd vmsvc/get.summary "$id" 2>&1 | sed -n %s | head -n 1)' % quote(SED_VMX_PATH),
            '[ -n "$m" ] && m="${m%%/*}/%s"' % NAME,
        ]
    return lines + ['[ -n "$m" ] && [ -e "$m" ] && %s' % mark("restart_found")]


def pending_after(found, before, after, state, restart_marker):
    """Whether the marker is there after a vm_power command that found the VM ``before`` and left
    it ``after``, by the rules above as the script applies them: for check mode's prediction."""
    if after == "poweredOn":
        return False
    if after != "poweredOff":
        return found
    if restart_marker and state != "poweredon":
        return found or before == "poweredOn"
    return found and state == "poweredon"


def leave_lines(state_var, abort):
    """Lines writing the marker when the state read (in ``$<state_var>``) is powered on (a suspended
    VM was not running: powering it off is no reason to power it on later). When it cannot be
    written they print why under the marker ``marker_failed`` and run ``abort`` (which must keep
    the power operation from being sent)."""
    return [
        'case "$%s" in *"Powered on"*)' % state_var,
        # A write that fails (full or read-only datastore) may still leave an empty file: check it.
        '  if [ -n "$m" ] && e=$( { printf \'%%s\\n\' %s > "$m"; } 2>&1 ) && [ -s "$m" ]; then :; else' % quote(NOTE),
        '    [ -n "$m" ] && rm -f "$m" 2>/dev/null',
        "    " + mark("marker_failed"),
        "    printf '%s\\n' \"${e:-the host does not say where the VM's files are}\"",
        "    " + abort,
        "  fi;;",
        "esac",
    ]


def settle_lines(state_var, keep_when_off):
    """Lines applying the rules above once the final state (in ``$<state_var>``) is known, then
    printing the marker ``restart_pending`` when the marker is there."""
    off = ":" if keep_when_off else 'rm -f "$m"'
    return [
        'if [ -n "$m" ]; then',
        '  case "$%s" in *"Powered on"*) rm -f "$m";; *"Powered off"*) %s;; esac' % (state_var, off),
        '  [ -e "$m" ] && %s' % mark("restart_pending"),
        "fi",
    ]
