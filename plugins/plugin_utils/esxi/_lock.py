# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lock on the host that serializes writers of one file: shell lines to take and drop it, and
the parser that explains why it could not be taken.

The lock is a directory beside the file, ``<dir>/.<name>.nestedvirt-lock``: ``mkdir`` either
creates it or fails, atomically, on every filesystem ESXi has (VMFS, NFS, the visorfs of /etc).
Inside, a small ``owner`` file says who holds it: the controller's host name and process id,
the holding shell's pid on the host and the time it was taken (``date +%s``).

A writer that finds the lock waits on the host, in short naps within the same command (no
extra round trip), up to a bounded time. It never breaks a lock: a lock whose holder's process
is gone from the host, or that is older than a threshold, or that has no owner file after the
whole wait (a run killed while taking it), and is still the same a nap later, is reported as
stale, with the exact command that removes it, and nothing is written. The one exception is a
lock this very controller process left when its connection dropped (same controller and pid,
the host-side holder gone): the command sent again after the reconnect takes it back.

Only applets every ESXi release has: mkdir, rm, cat, date, sleep, and ash's ``kill`` builtin
(``kill -0`` asks whether a process exists).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath
import socket
import time

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import NAP
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote

LOCK_INFIX = ".nestedvirt-lock"
OWNER_MARK = "nestedvirt-lock-owner"
VERDICT_MARK = "nestedvirt-lock-verdict"
# How long a writer waits for another run's lock, and the age at which a lock whose holder still
# exists is called stale anyway (a write holds it for well under a second).
DEFAULT_WAIT = 30
DEFAULT_STALE_AFTER = 900
OWNER_KEYS = ("controller", "controller_pid", "host_pid", "started")
# How many times a writer looks again at a lock that seemed stale and had moved on (each look is
# one nap): a bound, for a stream of other writers.
STALE_RECHECKS = 50


def lock_path(path):
    """The lock of ``path``: ``<dir>/.<name>.nestedvirt-lock``."""
    directory, name = posixpath.split(path)
    return posixpath.join(directory, "." + name + LOCK_INFIX)


def remove_command(path):
    """The command an admin runs on the host to remove a stale lock of ``path``."""
    return "rm -rf -- %s" % quote(lock_path(path))


def controller_owner():
    """Who this controller process is, for the owner file."""
    return {"controller": socket.gethostname() or "unknown", "controller_pid": str(os.getpid())}


def _clean(value):
    # One line of printable text: the owner file is read back line by line.
    return "".join(ch if ch.isprintable() else "?" for ch in str(value))[:200] or "unknown"


def acquire_lines(path, fail, owner=None, wait=DEFAULT_WAIT, stale_after=DEFAULT_STALE_AFTER):
    """Shell lines that take the lock of ``path`` or stop the script through ``fail``.

    ``fail`` is the name of a shell function taking a reason word; it must end the script and
    should call ``lock_release``, which drops the lock when this script holds it. Reasons:
    ``lock`` (no lock can be created there: directory missing, read-only or full) and ``locked``
    (another run's lock, busy or stale), printed after the owner's lines
    (``nestedvirt-lock-owner key=value``) and a verdict line
    (``nestedvirt-lock-verdict why=busy|gone|old|noinfo age=<s>``).
    """
    owner = dict(owner or controller_owner())
    record = "; ".join("echo %s" % quote("%s=%s" % (key, _clean(owner.get(key)))) for key in OWNER_KEYS[:2])
    ours = quote("%s:%s" % (_clean(owner.get("controller")), _clean(owner.get("controller_pid"))))
    return [
        "lock=%s" % quote(lock_path(path)),
        "lock_held=",
        'lock_release() { if [ -n "$lock_held" ]; then rm -rf -- "$lock"; lock_held=; fi; }',
        "lock_deadline=$(( $(date +%%s) + %d ))" % int(wait),
        "lock_tries=0",
        "lock_rechecks=0",
        # Sets lock_pid and lock_started from the owner file (empty when missing or not numbers).
        "lock_owner() {",
        "  lock_pid=; lock_started=; lock_by=; lock_by_pid=",
        '  if [ -f "$lock/owner" ]; then',
        "    while IFS='=' read -r lock_k lock_v; do",
        '      case "$lock_k" in host_pid) lock_pid=$lock_v;; started) lock_started=$lock_v;; '
        "controller) lock_by=$lock_v;; controller_pid) lock_by_pid=$lock_v;; esac",
        '    done < "$lock/owner"',
        "  fi",
        '  case "$lock_pid" in ""|*[!0-9]*) lock_pid=;; esac',
        '  case "$lock_started" in ""|*[!0-9]*) lock_started=;; esac',
        "}",
        "while :; do",
        '  if mkdir "$lock" 2>/dev/null; then',
        "    lock_held=1",
        '    { %s; echo "host_pid=$$"; echo "started=$(date +%%s)"; } > "$lock/owner" || %s lock' % (record, fail),
        "    break",
        "  fi",
        # mkdir failed with no lock there (twice, in case its holder just dropped it): the
        # directory is missing, read-only or full.
        '  if [ ! -d "$lock" ]; then',
        "    lock_tries=$((lock_tries + 1))",
        '    [ "$lock_tries" -lt 2 ] || %s lock' % fail,
        "    continue",
        "  fi",
        "  lock_now=$(date +%s)",
        "  lock_owner",
        "  lock_why=",
        '  if [ -n "$lock_pid" ] && ! kill -0 "$lock_pid" 2>/dev/null; then lock_why=gone',
        # Left by this controller process itself, whose connection dropped while it held it.
        '    if [ "$lock_by:$lock_by_pid" = %s ]; then rm -rf -- "$lock"; continue; fi' % ours,
        '  elif [ -n "$lock_started" ] && [ $((lock_now - lock_started)) -ge %d ]; then lock_why=old'
        % int(stale_after),
        '  elif [ "$lock_now" -gt "$lock_deadline" ]; then',
        '    if [ -n "$lock_started" ]; then lock_why=busy; else lock_why=noinfo; fi',
        "  fi",
        # Stale only if the same lock is still there a nap later: its holder may have just
        # dropped it (so its pid is gone) or just taken it (its owner file not yet written).
        '  if [ -n "$lock_why" ] && [ "$lock_why" != busy ] && [ "$lock_rechecks" -lt %d ]; then' % STALE_RECHECKS,
        "    lock_rechecks=$((lock_rechecks + 1))",
        '    lock_seen="$lock_pid:$lock_started"',
        "    " + NAP,
        "    lock_owner",
        '    if [ ! -d "$lock" ] || [ "$lock_pid:$lock_started" != "$lock_seen" ]; then continue; fi',
        "  fi",
        '  if [ -n "$lock_why" ]; then',
        '    if [ -f "$lock/owner" ]; then',
        "      while IFS='=' read -r lock_k lock_v; do",
        '        case "$lock_k" in %s) printf \'%%s %%s=%%s\\n\' %s "$lock_k" "$lock_v";; esac'
        % ("|".join(OWNER_KEYS), OWNER_MARK),
        '      done < "$lock/owner"',
        "    fi",
        '    lock_age=; [ -n "$lock_started" ] && lock_age=$((lock_now - lock_started))',
        '    echo "%s why=$lock_why age=$lock_age"' % VERDICT_MARK,
        "    %s locked" % fail,
        "  fi",
        "  " + NAP,
        "done",
    ]


def parse_owner(lines):
    """The owner's fields and the verdict (why, age) from the lines the host printed."""
    info = {}
    for line in lines:
        if line.startswith(OWNER_MARK + " ") and "=" in line:
            key, value = line[len(OWNER_MARK) + 1 :].split("=", 1)
            info[key] = value
        elif line.startswith(VERDICT_MARK + " "):
            info.update(item.split("=", 1) for item in line.split(" ")[1:] if "=" in item)
    return info


def _when(epoch):
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(epoch)))
    except (TypeError, ValueError):
        return "an unknown time"


def locked_message(path, lines, wait=DEFAULT_WAIT, stale_after=DEFAULT_STALE_AFTER):
    """Why the lock of ``path`` could not be taken, from the lines the host printed."""
    info = parse_owner(lines)
    holder = "controller %s (pid %s), on the host as pid %s, at %s (%s s ago)" % (
        info.get("controller", "unknown"),
        info.get("controller_pid", "?"),
        info.get("host_pid", "?"),
        _when(info.get("started")),
        info.get("age") or "?",
    )
    lock = lock_path(path)
    remove = remove_command(path)
    why = info.get("why")
    if why == "busy":
        return (
            "%s is being changed by another run: its lock %s is held by %s. Waited %d s on the host; nothing was "
            "written. Run again when that run has finished." % (path, lock, holder, wait)
        )
    if why == "gone":
        return (
            "%s has a stale lock from a run that was killed or lost its connection: %s was taken by %s, and that "
            "process no longer exists on the host. Nothing was written. If no other run is changing this file, "
            "remove the lock on the host with: %s" % (path, lock, holder, remove)
        )
    if why == "old":
        return (
            "%s has a stale lock: %s was taken by %s, longer ago than the %d s any write takes. Nothing was "
            "written. If no other run is changing this file, remove the lock on the host with: %s"
            % (path, lock, holder, stale_after, remove)
        )
    if why == "noinfo":
        return (
            "%s has a stale lock: %s has held no owner information for %d s, so the run that took it was killed "
            "while taking it. Nothing was written. If no other run is changing this file, remove the lock on the "
            "host with: %s" % (path, lock, wait, remove)
        )
    return "%s is locked (%s) and the host did not say by whom; nothing was written" % (path, lock)
