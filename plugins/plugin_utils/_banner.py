# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wait_for_banner's options and its one look at a port (the action plugin loops over it)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

ARGUMENT_SPEC = dict(
    host=dict(type="str", required=True),
    port=dict(type="int", default=22),
    search=dict(type="str", default="^SSH-"),
    timeout=dict(type="int", default=60),
    required=dict(type="bool", default=True),
)
CONNECT_TIMEOUT = 5


def look(host, port, pattern):
    """The banner the port greets with when it matches ``pattern`` (a compiled regex), else None."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as conn:
            conn.settimeout(CONNECT_TIMEOUT)
            banner = conn.recv(256).decode("utf-8", "replace").strip()
    except (OSError, UnicodeError):
        return None
    return banner if pattern.search(banner) else None
