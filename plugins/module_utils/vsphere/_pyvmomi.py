# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The optional imports of the API path, in one place: pyvmomi (HAS_PYVMOMI says whether it is
there; the modules fail with a clear message when it is not) and the HTTP error type."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

__all__ = ["HAS_PYVMOMI", "HTTPException", "Disconnect", "SmartConnect", "vim", "vmodl"]

try:
    from http.client import HTTPException
except ImportError:  # pragma: no cover - Python 2 has no http.client; the modules need Python 3
    HTTPException = OSError

try:
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim, vmodl
except ImportError:
    HAS_PYVMOMI = False
    Disconnect = SmartConnect = vim = vmodl = None
else:
    HAS_PYVMOMI = True
