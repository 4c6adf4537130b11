# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Building commands for the ESXi shell (BusyBox ash): the one place that quotes.

Every value that reaches a command line on the host (paths, VM names, keys) goes through
``quote``; nothing is ever interpolated raw. Single quotes make everything literal in POSIX sh
(``$``, backticks, ``;``, ``|``, newlines); a single quote itself is closed, escaped, reopened.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# fullmatch, not match with "$": "$" also matches before a final newline, which would leave
# "word\n" bare and let the newline end the command.
_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def quote(value):
    """Quote ``value`` as one word for a POSIX shell."""
    if not isinstance(value, str):
        raise TypeError("quote() takes a string, got %s" % type(value).__name__)
    if "\x00" in value:
        raise ValueError("a shell word cannot contain a NUL byte")
    if _SAFE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def script(*lines):
    """Join lines into one command string (newlines, so each line stays readable in -vvv)."""
    return "\n".join(lines)
