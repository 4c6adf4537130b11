# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and atomically replace a small text file on a host that has only BusyBox sh.

Two round trips: ``read_command`` prints a header (state, host-side md5) and the file;
``write_command`` takes the new content on stdin, takes the file's lock on the host (host_lock:
concurrent writers wait their turn), checks that the file is still what was read, writes a
temporary file in the same directory (same mode and owner, via ``cp -p``), verifies its md5,
optionally keeps a backup, renames it over the original and drops the lock. A run that dies
half-way leaves the original intact and at most a temporary file, which the next write removes
(and, if it was killed while holding the lock, a stale lock that the next write reports).
A dropped connection does not stop the write half-way: it ignores SIGHUP and SIGPIPE; the same
write sent again finds its own content in place and reports success.

Only applets present on every ESXi release are used: test, cat, cp, mv, rm, md5sum, echo,
mkdir, date, sleep.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import posixpath

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._lock import (
    DEFAULT_STALE_AFTER,
    DEFAULT_WAIT,
    acquire_lines,
    locked_message,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import FromShell
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote, script

READ_MARK = "nestedvirt-read-v1"
WRITE_MARK = "nestedvirt-write-v1"
TEMP_INFIX = ".nestedvirt-tmp."

_STATE_MESSAGES = {
    "directory": "%s is a directory, not a file",
    "symlink": "%s is a symbolic link; give the path of the file it points to",
    "special": "%s is not a regular file",
    "unreadable": "%s cannot be read",
}
_WRITE_MESSAGES = {
    "changed": "%s changed on the host between reading and writing it; nothing was written, run again",
    "copy": "could not create a temporary copy beside %s; nothing was written",
    "create": "could not create a temporary file beside %s (is the directory missing or read-only?)",
    "write": "writing the new content beside %s failed (datastore full or read-only?); the file is unchanged",
    "verify": "the temporary copy of %s did not verify after writing; the file is unchanged",
    "backup": "could not write the backup of %s; the file is unchanged",
    "rename": "could not rename the new content over %s; the file is unchanged",
    "lock": "could not create the lock beside %s (datastore full or read-only, or the directory is missing?); "
    "nothing was written",
}


class RemoteFileError(NestedvirtError):
    """A read or write that could not be done; the message says why and what state is left.

    ``reason``: the failure word (``changed_meanwhile``, ``locked``, ``write``...).
    """

    reason = "file_error"


def md5_hex(text):
    data = text.encode("utf-8", "surrogateescape")
    try:
        digest = hashlib.md5(data, usedforsecurity=False)
    except TypeError:  # Python < 3.9
        digest = hashlib.md5(data)  # noqa: S324 - an integrity check, not security
    return digest.hexdigest()


def temp_prefix(path):
    """Temporary files of ``path`` are ``<dir>/.<name>.nestedvirt-tmp.<token>``."""
    directory, name = posixpath.split(path)
    return posixpath.join(directory, "." + name + TEMP_INFIX)


class RemoteFile:
    """What the read found: ``state`` (file, missing, ...), and for a file its text and md5."""

    __slots__ = ("path", "state", "content", "md5", "parent_exists")

    def __init__(self, path, state, content=None, md5=None, parent_exists=True):
        self.path = path
        self.state = state
        self.content = content
        self.md5 = md5
        self.parent_exists = parent_exists

    @property
    def exists(self):
        return self.state == "file"


def read_command(path):
    """``path``: a literal, or a FromShell variable (a batch's function argument)."""
    if isinstance(path, FromShell):
        f, parent = '"$%s"' % path.var, '"${%s%%/*}"' % path.var
    else:
        f, parent = quote(path), quote(posixpath.dirname(path) or "/")
    return script(
        "f=%s" % f,
        'if [ -L "$f" ]; then echo "%s state=symlink"' % READ_MARK,
        'elif [ -d "$f" ]; then echo "%s state=directory"' % READ_MARK,
        'elif [ ! -e "$f" ]; then if [ -d %s ]; then echo "%s state=missing parent=yes"; '
        'else echo "%s state=missing parent=no"; fi' % (parent, READ_MARK, READ_MARK),
        'elif [ ! -f "$f" ]; then echo "%s state=special"' % READ_MARK,
        'elif [ ! -r "$f" ]; then echo "%s state=unreadable"' % READ_MARK,
        'else set -- $(md5sum < "$f") && echo "%s state=file md5=$1" && cat "$f"' % READ_MARK,
        "fi",
    )


def parse_read(path, stdout, rc=0, stderr=""):
    """Turn the read command's output into a RemoteFile, or raise RemoteFileError."""
    start = stdout.find(READ_MARK + " ")
    if start < 0 or (start > 0 and stdout[start - 1] != "\n"):
        raise RemoteFileError(
            "reading %s failed (rc=%s): %s" % (path, rc, (stderr or stdout).strip() or "no output from the host")
        )
    header_end = stdout.find("\n", start)
    if header_end < 0:
        header_end = len(stdout)
    fields = dict(item.split("=", 1) for item in stdout[start:header_end].split()[1:] if "=" in item)
    state = fields.get("state")
    if state in _STATE_MESSAGES:
        raise RemoteFileError(_STATE_MESSAGES[state] % path)
    if state == "missing":
        return RemoteFile(path, "missing", parent_exists=fields.get("parent") == "yes")
    if state != "file" or "md5" not in fields:
        raise RemoteFileError("reading %s gave an unexpected answer: %r" % (path, stdout[start:header_end]))
    content = stdout[header_end + 1 :]
    if md5_hex(content) != fields["md5"]:
        # Most likely another run renamed its new version over the file between md5sum and cat.
        raise RemoteFileError(
            "%s arrived altered or changed while being read (md5 mismatch); nothing was written, run again" % path,
            "changed_meanwhile",
        )
    return RemoteFile(path, "file", content=content, md5=fields["md5"])


def write_command(found, new_content, token, backup_path=None, lock_wait=DEFAULT_WAIT, owner=None, source=None):
    """The command that replaces ``found.path`` with ``new_content``, which goes in on stdin (or
    is read from ``source``, a host file a batch staged it in).

    ``lock_wait``: seconds to wait on the host for another run's lock. ``owner``: who this run is,
    for the lock's owner file (default: this controller's host name and pid).
    Returns ``(command, stdin_bytes)``.
    """
    path = found.path
    temp = temp_prefix(path) + token
    lines = [
        # A dropped connection must not stop the script between taking the lock and dropping it.
        "trap '' HUP PIPE",
        "f=%s" % quote(path),
        "t=%s" % quote(temp),
        'fail() { lock_release; echo "%s error=$1"; exit 1; }' % WRITE_MARK,
    ]
    lines += acquire_lines(path, "fail", owner=owner, wait=lock_wait)
    # Leftovers of an interrupted earlier run (under the lock: never another writer's temp).
    lines.append("rm -f -- %s*" % quote(temp_prefix(path)))
    # The file already holds the new content: this very write, sent again after a dropped
    # connection, had done its work (a vm write still reloads: the drop may have come before).
    lines.append(
        'if [ -f "$f" ] && [ ! -L "$f" ]; then set -- $(md5sum < "$f"); '
        'if [ "$1" = %s ]; then lock_release; echo "%s ok"; exit 0; fi; fi' % (quote(md5_hex(new_content)), WRITE_MARK)
    )
    if found.exists:
        lines += [
            '[ -f "$f" ] && [ ! -L "$f" ] || fail changed',
            'set -- $(md5sum < "$f")',
            '[ "$1" = %s ] || fail changed' % quote(found.md5),
            'cp -p "$f" "$t" || fail copy',
        ]
    else:
        lines += [
            '[ -e "$f" ] || [ -L "$f" ] && fail changed',
            "umask 022",
            ': > "$t" || fail create',
        ]
    lines += [
        '%s > "$t" || { rm -f "$t"; fail write; }' % ("cat" if source is None else "cat %s" % source),
        'set -- $(md5sum < "$t")',
        '[ "$1" = %s ] || { rm -f "$t"; fail verify; }' % quote(md5_hex(new_content)),
    ]
    if backup_path and found.exists:
        lines.append('cp -p "$f" %s || { rm -f "$t"; fail backup; }' % quote(backup_path))
    lines += [
        'mv -f "$t" "$f" || { rm -f "$t"; fail rename; }',
        "lock_release",
        'echo "%s ok"' % WRITE_MARK,
    ]
    return script(*lines), new_content.encode("utf-8", "surrogateescape")


def parse_write(path, stdout, rc=0, stderr="", lock_wait=DEFAULT_WAIT):
    """Raise RemoteFileError unless the write command reported success."""
    lines = stdout.splitlines()
    for line in lines:
        if line == WRITE_MARK + " ok":
            return
        if line.startswith(WRITE_MARK + " error="):
            reason = line.split("=", 1)[1]
            if reason == "locked":
                raise RemoteFileError(locked_message(path, lines, lock_wait, DEFAULT_STALE_AFTER), reason)
            message = _WRITE_MESSAGES.get(reason, "writing %s failed (" + reason + ")") % path
            detail = stderr.strip()
            # The host's word "changed" is the one reason every caller retries on: named for that.
            raise RemoteFileError(
                message + (": " + detail if detail else ""), "changed_meanwhile" if reason == "changed" else reason
            )
    raise RemoteFileError(
        "writing %s gave no answer (rc=%s, connection lost?): %s; the file is either unchanged or fully "
        "replaced, never partial; run again" % (path, rc, (stderr or stdout).strip() or "no output"),
        "no_answer",
    )
