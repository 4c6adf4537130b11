# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One round trip for many VMs: each VM's lines run in a subshell of their own, all at once or one
after the other, and their outputs come back one after the other, each behind a framing line.

All at once is for waiting (shutdowns, boots: a batch takes as long as its slowest VM, not the sum);
one after the other is for writes (short, and each under the file's lock anyway). A VM's lines stay
exactly what they are for one VM (vm_power.power_lines, vm_config's scripts), so each VM keeps its
identity check, its restart marker and its own answer, parsed as for one VM.

The framing lines carry a token drawn per command, so no output of a VM (a .vmx may hold any line)
can pass for one. Each subshell writes to a file under a directory named after the host shell's
pid, so the same command sent twice after a dropped connection (both may run: the first ignores
SIGHUP) never mixes its outputs with the other's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import secrets

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import host_script
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote

FRAME = "@@nestedvirt-vm"


def new_token():
    return secrets.token_hex(8)


def _frame(token, what):
    return "%s-%s %s" % (FRAME, token, what)


def batch_script(bodies, token, parallel=True, prelude=()):
    """The command running each body (a list of lines) for its VM; ``prelude``: lines run first,
    once, with ``$b`` the batch's own directory (e.g. staging content taken off stdin there)."""
    lines = ["b=/tmp/nestedvirt-batch.$$", 'rm -rf "$b"; mkdir -p "$b"'] + list(prelude)
    for index, body in enumerate(bodies):
        lines += [
            "(",
            body if isinstance(body, str) else "\n".join(body),
            ') > "$b/%d" 2>&1%s' % (index, " &" if parallel else ""),
        ]
    lines.append("wait")
    for index in range(len(bodies)):
        # The newline before each frame keeps a body whose output lacks a last newline apart from it.
        lines.append(
            "printf '%%s\\n' %s; cat \"$b/%d\" 2>/dev/null; printf '\\n'"
            % (quote(_frame(token, "vm %d" % index)), index)
        )
    lines += ['rm -rf "$b"', "printf '%%s\\n' %s" % quote(_frame(token, "end"))]
    return host_script(*lines)


def split_batch(stdout, token, count):
    """The output of each of ``count`` bodies, in order (None for one the answer lacks), and
    whether the answer arrived whole (its end frame)."""
    outputs = [None] * count
    whole = False
    current, body = None, []
    for line in stdout.split("\n"):
        if line.startswith(_frame(token, "")):
            if current is not None:
                # Each output is followed by the newline printed before the frame: the line
                # break that joins the body's lines restores exactly what the VM printed.
                outputs[current] = "\n".join(body)
            current, body = None, []
            what = line[len(_frame(token, "")) :].rstrip("\r")
            if what == "end":
                whole = True
            elif what.startswith("vm ") and what[3:].isdigit() and int(what[3:]) < count:
                current = int(what[3:])
            continue
        if current is not None:
            body.append(line)
    if current is not None and not whole:
        outputs[current] = None  # cut short in the middle of this VM's output
    return outputs, whole


def staging(sizes):
    """Prelude lines that take each VM's new content off stdin, in order, into ``$b/in.<index>``
    (the shell word each body reads it from: ``staged(index)``). ``dd bs=1`` reads exactly the
    bytes of one file and no more, so the next file starts where this one ends."""
    return ['dd bs=1 count=%d of="$b/in.%d" 2>/dev/null' % (size, index) for index, size in sizes]


def staged(index):
    return '"$b/in.%d"' % index


def function_batch(handles, lines_of, shape_of):
    """(prelude, bodies) for a parallel batch_script whose VMs run the same lines: ``lines_of(handle)``
    builds one VM's lines from esxi_script's FromShell values (VMID, DATASTORE_PATH, VMX_PATH); VMs
    of one ``shape_of(handle)`` share one shell function, defined once, and each VM's body is a call
    to it with its own vmid and paths. A command for a hundred VMs stays a few kilobytes beside the
    functions, far below the length of one argument (128 KiB on Linux) that sh -c can take."""
    functions, prelude, bodies = {}, [], []
    for handle in handles:
        shape = shape_of(handle)
        if shape not in functions:
            functions[shape] = "nv_vm%d" % len(functions)
            prelude += ["%s() {" % functions[shape], "id=$1; dsp=$2; vp=$3"] + list(lines_of(handle)) + ["}"]
        call = [functions[shape]] + [
            quote(str(handle.get(key) or "")) for key in ("vmid", "datastore_path", "vmx_path")
        ]
        bodies.append(" ".join(call))
    return prelude, bodies


# The most script text one command carries: one argument of sh -c may not exceed 128 KiB on Linux.
COMMAND_BUDGET = 96 * 1024


def chunks(bodies, budget=COMMAND_BUDGET):
    """The indexes of ``bodies`` cut into runs whose text fits one command each (sequential batches
    whose VMs do not share a function: a write's lines differ in every file's checksums)."""
    runs, current, size = [], [], 0
    for index, body in enumerate(bodies):
        length = len(body if isinstance(body, str) else "\n".join(body)) + 64
        if current and size + length > budget:
            runs.append(current)
            current, size = [], 0
        current.append(index)
        size += length
    return runs + ([current] if current else [])
