# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_power: bring a VM to a power state in one round trip, waiting on the host.

The script asks the state first and sends no power command when the VM is already there, nor
when the state cannot be read (a fault, output it does not know).
A graceful shutdown (through VMware Tools) is waited for on the host up to a timeout; with
``force`` a refused or timed-out shutdown ends in a hard power-off. Powering on can wait, on the
host, until Tools run and report an address. Every command also keeps the restart marker
(restart_marker.py) true to the VM's final state; a power-on that finds the marker reloads the VM
first. ``interpret_power`` reads the answer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import (
    EsxiOutputError,
    describe_fault,
    parse_fault,
    parse_guest_info,
    parse_power_state,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import parse_read, read_command
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._restart_marker import (
    leave_lines,
    locate_lines,
    settle_lines,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import (
    NAP,
    FromShell,
    identity_check,
    identity_error,
    mark,
    split_sections,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote, script

STATES = ("poweredoff", "shutdown", "poweredon")
ARGUMENT_SPEC = dict(
    name=dict(type="str"),
    vmid=dict(type="str"),
    state=dict(type="str", required=True, choices=list(STATES)),
    timeout=dict(type="int", default=300),
    force=dict(type="bool", default=False),
    wait_for_ip=dict(type="bool", default=True),
    restart_marker=dict(type="bool", default=False),
    # A batch: the plan's handles (vmid, name, datastore_path, vmx_path), all at once on the host.
    vms=dict(type="list", elements="dict"),
    read_vmx=dict(type="bool", default=False),
)
_TARGET = {"poweredoff": "poweredOff", "shutdown": "poweredOff", "poweredon": "poweredOn"}
_STATE_WORDS = {"poweredoff": "Powered off", "shutdown": "Powered off", "poweredon": "Powered on"}


def target_state(state):
    """The power state vim-cmd reports once ``state`` is reached."""
    return _TARGET[state]


class PowerError(NestedvirtError):
    """The VM could not be brought to the state; the message says where it stands.

    ``outcome`` holds what is known of what happened (states, operations sent), so that a
    failed task still reports a change it made.
    """

    reason = "power_failed"

    def __init__(self, message, outcome=None, reason=None):
        super(PowerError, self).__init__(message, reason)
        self.outcome = outcome or {}


def power_lines(
    vmid,
    state,
    timeout=300,
    force=False,
    wait_for_ip=True,
    expect_path=None,
    vmx_path=None,
    restart_marker=False,
    read_vmx=False,
    wait_for_tools=False,
):
    """The lines bringing VM ``vmid`` to ``state``; ``vmx_path`` (when known) saves looking up where
    the restart marker goes, ``restart_marker`` (off states) leaves it before powering off (see
    restart_marker), ``wait_for_tools`` (power-on) waits until VMware Tools run, ``wait_for_ip``
    also until they report an address, and ``read_vmx`` (off states, with ``vmx_path``) prints the .vmx once the VM
    is off, under a last, raw section ``file``: a file is only read for an edit once the VM is
    off, since hostd writes its copy of the configuration back at power-off."""
    hard_off = [mark("op", "off"), 'vim_cmd vmsvc/power.off "$id" 2>&1'] if force else []
    lines = [] if isinstance(vmid, FromShell) else ["id=%s" % quote(str(vmid))]
    lines += [
        'st() { vim_cmd vmsvc/power.getstate "$id" 2>&1; }',
        "deadline=$(( $(date +%%s) + %d ))" % int(timeout),
    ]
    lines += identity_check(expect_path)
    lines += locate_lines(vmx_path)
    lines += [
        mark("before"),
        "s=$(st)",
        "printf '%s\\n' \"$s\"",
        # A power operation only follows a state read for sure; anything else (a fault, output
        # this script does not know) sends nothing and is reported.
        'case "$s" in *%s*) already=1;; *"(vim.fault."*|*"(vmodl.fault."*) already=fault;;'
        % quote(_STATE_WORDS[state]),
        '  *"Powered on"*|*"Powered off"*|*"Suspended"*) already=0;; *) already=unknown;; esac',
    ]
    if restart_marker and state != "poweredon":
        lines += ['if [ "$already" = 0 ]; then'] + ["  " + line for line in leave_lines("s", "already=marker")] + ["fi"]
    if state == "poweredoff":
        lines += ['if [ "$already" = 0 ]; then', mark("op", "off"), '  vim_cmd vmsvc/power.off "$id" 2>&1', "fi"]
    elif state == "shutdown":
        lines += [
            'if [ "$already" = 0 ]; then',
            mark("op", "shutdown"),
            '  o=$(vim_cmd vmsvc/power.shutdown "$id" 2>&1)',
            "  printf '%s\\n' \"$o\"",
            '  case "$o" in',
            # Refused (no Tools, suspended, ...): hard off only with force.
            '    *"(vim.fault."*|*"(vmodl.fault."*|*"failed"*) %s;;' % ("; ".join(hard_off) or ":"),
            "    *) while :; do",
            '         case "$(st)" in *"Powered on"*) ;; *) break;; esac',
            '         if [ "$(date +%%s)" -ge "$deadline" ]; then %s; break; fi'
            % "; ".join([mark("timeout")] + hard_off),
            "         " + NAP,
            "       done;;",
            "  esac",
            "fi",
        ]
    else:
        lines += [
            'if [ "$already" = 0 ]; then',
            # The run that left the marker may have been cut between its write and its reload:
            # hostd reads the .vmx again first, so the VM starts with hostd and the file agreeing.
            '  if [ -n "$m" ] && [ -e "$m" ]; then %s; vim_cmd vmsvc/reload "$id" 2>&1; fi' % mark("reload"),
            mark("op", "on"),
            '  o=$(vim_cmd vmsvc/power.on "$id" 2>&1)',
            "  printf '%s\\n' \"$o\"",
            # power.on can report a failure while the VM did power on (Apache VCL's notes): the
            # state is read again, a few naps later, before anything is concluded.
            '  case "$o" in *"(vim.fault."*|*"(vmodl.fault."*|*"failed"*)',
            "    n=0; while [ $n -lt 5 ]; do",
            '      case "$(st)" in *"Powered on"*) break;; esac',
            "      n=$((n + 1)); " + NAP,
            "    done;;",
            "  esac",
            "fi",
        ]
        if wait_for_ip or wait_for_tools:
            # Done when Tools run and, with wait_for_ip, the top-level ipAddress (3-space indent)
            # is a string.
            ready = ['    case "$g" in *guestToolsRunning*) break;; esac']
            if wait_for_ip:
                ready = [
                    '    case "$g" in *guestToolsRunning*) case "$g" in *"',
                    '   ipAddress = \\""*) break;; esac;; esac',
                ]
            lines += [
                'if [ "$already" = 0 ] || [ "$already" = 1 ]; then',
                "  while :; do",
                '    g=$(vim_cmd vmsvc/get.guest "$id" 2>&1)',
                # A VM that did not come on (a failed power-on) will not get an address: no wait.
                '    case "$(st)" in *"Powered on"*) ;; *) break;; esac',
            ]
            lines += ready
            lines += [
                '    case "$g" in *"(vim.fault."*) break;; esac',
                '    if [ "$(date +%%s)" -ge "$deadline" ]; then %s; break; fi' % mark("timeout"),
                "    " + NAP,
                "  done",
                "  " + mark("guest"),
                "  printf '%s\\n' \"$g\"",
                "fi",
            ]
    lines += [mark("after"), "a=$(st)", "printf '%s\\n' \"$a\""]
    # A power-on that failed keeps the marker: the next run tries again.
    lines += settle_lines("a", keep_when_off=restart_marker or state == "poweredon")
    lines += [mark("end")]
    if read_vmx and vmx_path and state != "poweredon":
        lines += ['case "$a" in *"Powered off"*) %s; %s;; esac' % (mark("file"), read_command(vmx_path))]
    return lines


def power_state_of(text, vmid, when):
    """The state in a power.getstate answer; a VM that is gone, or an answer not understood, as the
    PowerError that says so (the run and check mode read it alike)."""
    fault = parse_fault(text)
    if fault and fault["name"] == "NotFound":
        raise PowerError("VM %s does not exist (any more) on the host (%s)" % (vmid, when), reason="vm_gone")
    try:
        return parse_power_state(text)
    except EsxiOutputError as error:
        raise PowerError(
            "cannot read the power state of VM %s %s: %s" % (vmid, when, error), reason="unreadable_output"
        ) from error


def interpret_power(stdout, vmid, state, timeout, force, vmx_path=None):
    """Read the power script's answer; return a dict of what happened or raise PowerError. With
    ``vmx_path``, the .vmx read once the VM was off (read_vmx) is returned as ``vmx``."""
    sections = split_sections(stdout, raw_tail="file")
    mismatch = identity_error(sections, "VM %s" % vmid)
    if mismatch:
        raise PowerError(mismatch, reason="vm_moved")
    by_name = {}
    ops = []
    for name, arg, text in sections:
        if name == "op":
            ops.append((arg, text))
        else:
            by_name[name] = text
    if "end" not in by_name:
        raise PowerError(
            "the host's answer for VM %s was cut short (connection lost?); run again" % vmid, reason="no_answer"
        )
    before = power_state_of(by_name.get("before", ""), vmid, "before any change")
    after = power_state_of(by_name.get("after", ""), vmid, "after the power operation")
    result = {
        "vmid": str(vmid),
        "power_state_before": before,
        "power_state": after,
        # Writing or removing the restart marker is a change on the host too.
        "changed": bool(ops) or ("restart_found" in by_name) != ("restart_pending" in by_name),
        "operations": [op for op, _text in ops],
        "restart_pending": "restart_pending" in by_name,
        "reloaded": "reload" in by_name and not parse_fault(by_name["reload"]),
    }
    if "marker_failed" in by_name:
        raise PowerError(
            "VM %s was not powered off: the restart marker that lets a later run power it on again, should"
            " this one be interrupted, could not be written beside its .vmx: %s"
            % (vmid, by_name["marker_failed"].strip() or "no reason given"),
            result,
            "marker_unwritable",
        )
    if "file" in by_name and vmx_path:
        found = parse_read(vmx_path, by_name["file"])
        result["vmx"] = {"path": vmx_path, "md5": found.md5, "content": found.content}
    if "guest" in by_name:
        guest = parse_guest_info(by_name["guest"])
        result["tools_running"] = guest["tools_running"]
        result["ip_address"] = guest["ip_address"]
    if after != _TARGET[state]:
        shutdown = dict(ops).get("shutdown", "")
        refused = parse_fault(shutdown)
        if refused:
            raise PowerError(
                "VM %s refused a graceful shutdown (%s); it is still %s. Set force: true to power it off hard."
                % (vmid, describe_fault(refused), after),
                result,
                "tools_unavailable",
            )
        if "timeout" in by_name:
            raise PowerError(
                "VM %s did not shut down within %d s; it is still %s.%s"
                % (vmid, timeout, after, "" if force else " Set force: true to power it off hard after the timeout."),
                result,
                "shutdown_timeout",
            )
        failure = next((parse_fault(text) for _op, text in ops if parse_fault(text)), None)
        raise PowerError(
            "VM %s is %s, not %s%s" % (vmid, after, _TARGET[state], ": " + describe_fault(failure) if failure else ""),
            result,
        )
    if state == "poweredon" and "timeout" in by_name:
        raise PowerError(
            "VM %s is powered on but VMware Tools did not run, or report an address, within %d s" % (vmid, timeout),
            result,
            "no_address",
        )
    return result


def progress_command(vmids, state):
    """A short look at how far a batch is, for its progress line (one line per VM: vmid, then its
    power state, or after a power-on whether Tools run)."""
    look = (
        'vim-cmd vmsvc/get.guest "$id" 2>/dev/null | grep -m 1 toolsRunningStatus'
        if state == "poweredon"
        else 'vim-cmd vmsvc/power.getstate "$id" 2>/dev/null | tail -n 1'
    )
    return script(
        "for id in %s; do printf '%%s ' \"$id\"; %s; echo; done" % (" ".join(quote(str(v)) for v in vmids), look)
    )


def describe_progress(stdout, names, state):
    """What a batch still waits for, from progress_command's answer: ``names`` {vmid: name}."""
    waiting = []
    for line in stdout.splitlines():
        vmid, _blank, rest = line.strip().partition(" ")
        if vmid not in names:
            continue
        ready = "guestToolsRunning" in rest if state == "poweredon" else "Powered off" in rest
        if not ready:
            waiting.append(names[vmid])
    verb = "booting (no VMware Tools yet)" if state == "poweredon" else "shutting down"
    if not waiting:
        return "every VM of the batch is %s; finishing" % ("up" if state == "poweredon" else "off")
    return "%d of %d VMs still %s: %s" % (len(waiting), len(names), verb, ", ".join(sorted(waiting)))
