# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vSphere API's errors as the collection's: one class per thing a playbook can act on, each
with its ``reason``. ``translate_error`` turns whatever pyvmomi or the network raises into one of
them; the client calls it for every request, so modules catch these and only these.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import ssl

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._pyvmomi import (
    HAS_PYVMOMI,
    HTTPException,
    vim,
    vmodl,
)


class VsphereError(NestedvirtError):
    """Something the vSphere API refused or could not do; the message says what and why."""

    reason = "api_error"


class ConnectError(VsphereError):
    """The endpoint could not be reached, or does not speak the vSphere API."""

    reason = "api_unreachable"


class CertificateError(ConnectError):
    """The endpoint's TLS certificate is not trusted."""

    reason = "certificate_untrusted"


class AuthenticationError(VsphereError):
    """Wrong user name or password, or the session ended."""

    reason = "authentication_failed"


class PermissionDeniedError(VsphereError):
    """The user lacks a privilege for the operation."""

    reason = "permission_denied"


class RestrictedVersionError(VsphereError):
    """The host's license (free ESXi) makes the API read-only."""

    reason = "restricted_version"


class NotFoundError(VsphereError):
    """No host, VM or service matches."""

    reason = "not_found"


class AmbiguousError(VsphereError):
    """More than one host or VM matches."""

    reason = "ambiguous"


class UnsupportedError(VsphereError):
    """The host's release cannot do what was asked through the API."""

    reason = "unsupported"


class NestedHvUnsupportedError(UnsupportedError):
    """The host's CPU or release does not support nested hardware virtualization."""

    reason = "host_cannot_nest"


class HardwareVersionError(UnsupportedError):
    """The VM's virtual hardware is too old."""

    reason = "hardware_too_old"


class PowerStateError(VsphereError):
    """The VM is not in the power state the operation needs."""

    reason = "power_state"


class ToolsUnavailableError(PowerStateError):
    """A graceful shutdown needs VMware Tools running in the guest."""

    reason = "tools_unavailable"


class HostUnavailableError(VsphereError):
    """The VM's host cannot act now: in maintenance mode, disconnected or not responding."""

    reason = "host_unavailable"


class WaitTimeoutError(VsphereError):
    """A task or a power state change did not finish in time."""

    reason = "timeout"


def _fault_message(fault):
    text = getattr(fault, "msg", None) or ""
    if not text:
        messages = getattr(fault, "faultMessage", None) or []
        text = "; ".join(m.message for m in messages if getattr(m, "message", None))
    name = getattr(fault, "_wsdlName", None) or type(fault).__name__
    return "%s (%s)" % (text.rstrip("."), name) if text else name


def translate_error(error, action, endpoint, timeout=None):
    """The VsphereError that says what ``error`` (from pyvmomi or the network) means.

    ``action`` says what was being done ("starting SSH on esxi01"), ``endpoint`` is the
    hostname:port connected to; both go into the message.
    """
    if isinstance(error, VsphereError):
        return error
    if HAS_PYVMOMI and isinstance(error, vmodl.MethodFault):
        detail = _fault_message(error)
        if isinstance(error, vim.fault.RestrictedVersion):
            return RestrictedVersionError(
                "%s: the host's license (the free ESXi / vSphere Hypervisor license) makes its vSphere API "
                "read-only, so %s was refused: %s." % (endpoint, action, detail)
            )
        if isinstance(error, vim.fault.InvalidLogin):
            return AuthenticationError(
                "%s: login refused, the user name or password is wrong: %s." % (endpoint, detail)
            )
        if isinstance(error, vim.fault.NotAuthenticated):
            return AuthenticationError(
                "%s: not logged in (the session ended) while %s: %s." % (endpoint, action, detail)
            )
        if isinstance(error, vim.fault.NoPermission):
            privilege = getattr(error, "privilegeId", None)
            needed = " (it needs the privilege %s)" % privilege if privilege else ""
            return PermissionDeniedError(
                "%s: the user may not do this%s; %s was refused: %s." % (endpoint, needed, action, detail)
            )
        if isinstance(error, vim.fault.ToolsUnavailable):
            return ToolsUnavailableError("%s failed: VMware Tools is not running in the guest: %s." % (action, detail))
        if isinstance(error, vim.fault.InvalidPowerState):
            state = getattr(error, "existingState", None)
            now = " (it is %s)" % state if state else ""
            return PowerStateError("%s failed: the VM is in the wrong power state%s: %s." % (action, now, detail))
        if isinstance(error, (vim.fault.InvalidHostState, vim.fault.InvalidHostConnectionState)):
            return HostUnavailableError(
                "%s failed: the VM's host cannot do it now (maintenance mode, or not connected): %s." % (action, detail)
            )
        if isinstance(error, (vmodl.fault.ManagedObjectNotFound, vim.fault.NotFound)):
            return NotFoundError("%s failed: the object no longer exists: %s." % (action, detail))
        return VsphereError("%s failed: %s." % (action, detail))
    if isinstance(error, ssl.SSLCertVerificationError):
        return CertificateError(
            "%s: the TLS certificate is not trusted (%s). Give the host's certificate, or the CA that "
            "signed it, in ca_file, or set validate_certs: false to skip the check (not recommended)."
            % (endpoint, getattr(error, "verify_message", None) or error)
        )
    if isinstance(error, ssl.SSLError):
        return ConnectError(
            "%s: the TLS handshake failed (%s); is this the vSphere API port (443 on ESXi and vCenter)?"
            % (endpoint, getattr(error, "reason", None) or error)
        )
    if isinstance(error, socket.gaierror):
        return ConnectError("%s: the host name cannot be resolved (%s)." % (endpoint, error.strerror or error))
    if isinstance(error, ConnectionRefusedError):
        return ConnectError("%s: connection refused; is the host up and the port right?" % endpoint)
    if isinstance(error, socket.timeout):
        within = " within %d s" % timeout if timeout else ""
        return ConnectError("%s: no answer%s while %s." % (endpoint, within, action))
    if isinstance(error, (OSError, HTTPException)):
        return ConnectError("%s: connection failed while %s: %s." % (endpoint, action, error))
    return VsphereError("%s failed: %s: %s." % (action, type(error).__name__, error))
