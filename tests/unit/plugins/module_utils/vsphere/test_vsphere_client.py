"""The vSphere client's error mapping, with real pyvmomi faults and real network failures.

No vSphere server is needed: faults are pyvmomi's own classes, and the connection failures come
from real sockets (a closed port, a TLS server with an untrusted certificate, an HTTPS server that
is not vSphere).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyVmomi import vim, vmodl

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._client import VsphereClient, ssl_context
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._errors import (
    AuthenticationError,
    CertificateError,
    ConnectError,
    NotFoundError,
    PermissionDeniedError,
    PowerStateError,
    RestrictedVersionError,
    ToolsUnavailableError,
    VsphereError,
    translate_error,
)

ENDPOINT = "esxi01:443"
RESTRICTED = "Current license or ESXi version prohibits execution of the requested operation."
PASSWORD = "s3cret-Passw0rd"  # noqa: S105 - a test value that must never show up in messages


def translate(error, action="starting service TSM-SSH"):
    return translate_error(error, action, ENDPOINT)


# --- vSphere faults -----------------------------------------------------------------------------


def test_restricted_version_says_the_license_makes_the_api_read_only():
    error = translate(vim.fault.RestrictedVersion(msg=RESTRICTED))
    assert error.__class__ is RestrictedVersionError
    text = str(error)
    assert text.startswith("esxi01:443: ")
    assert "free ESXi" in text and "read-only" in text
    assert "starting service TSM-SSH was refused" in text
    assert "Current license or ESXi version prohibits execution of the requested operation (RestrictedVersion)" in text


def test_invalid_login_is_an_authentication_error():
    error = translate(vim.fault.InvalidLogin(msg="Cannot complete login due to an incorrect user name or password."))
    assert error.__class__ is AuthenticationError
    assert "user name or password is wrong" in str(error)


def test_a_lost_session_is_an_authentication_error_too():
    error = translate(vim.fault.NotAuthenticated(msg="The session is not authenticated."), "reading name")
    assert error.__class__ is AuthenticationError
    assert "session ended" in str(error) and "reading name" in str(error)


def test_missing_privilege_is_named():
    fault = vim.fault.NoPermission(
        msg="Permission to perform this operation was denied.", privilegeId="Host.Config.Service"
    )
    error = translate(fault)
    assert error.__class__ is PermissionDeniedError
    assert "Host.Config.Service" in str(error)


def test_tools_unavailable_is_a_power_state_error_of_its_own():
    fault = vim.fault.ToolsUnavailable(
        msg="Cannot complete operation because VMware Tools is not running in this virtual machine."
    )
    error = translate(fault, "asking the guest of VM 'x' to shut down")
    assert error.__class__ is ToolsUnavailableError
    assert isinstance(error, PowerStateError)
    assert str(error).startswith("asking the guest of VM 'x' to shut down failed: VMware Tools is not running")


def test_invalid_power_state_names_the_state_found():
    fault = vim.fault.InvalidPowerState(
        msg="The attempted operation cannot be performed in the current state (Powered on).",
        existingState="poweredOn",
        requestedState="poweredOff",
    )
    error = translate(fault, "reconfiguring VM 'x'")
    assert error.__class__ is PowerStateError
    assert "(it is poweredOn)" in str(error)


@pytest.mark.parametrize(
    "fault",
    [
        vmodl.fault.ManagedObjectNotFound(msg="The object has already been deleted.", obj=vim.VirtualMachine("9")),
        vim.fault.NotFound(msg="The object or item referred to could not be found."),
    ],
)
def test_objects_that_are_gone_are_not_found(fault):
    assert translate(fault, "reading name").__class__ is NotFoundError


def test_other_faults_keep_their_message_and_name():
    error = translate(vmodl.fault.SystemError(msg="A general system error occurred: disk full", reason="disk full"))
    assert error.__class__ is VsphereError
    assert str(error) == ("starting service TSM-SSH failed: A general system error occurred: disk full (SystemError).")


def test_a_fault_without_msg_uses_its_fault_message():
    fault = vim.fault.TaskInProgress(
        faultMessage=[vmodl.LocalizableMessage(key="k", message="Another task is running")]
    )
    assert str(translate(fault, "reconfiguring VM 'x'")) == (
        "reconfiguring VM 'x' failed: Another task is running (TaskInProgress)."
    )


def test_a_fault_without_any_text_is_named():
    assert str(translate(vim.fault.TaskInProgress())) == "starting service TSM-SSH failed: TaskInProgress."


def test_typed_errors_pass_through_unchanged():
    original = NotFoundError("no VM named 'x'")
    assert translate(original) is original


def test_anything_else_is_a_vsphere_error_with_its_type():
    error = translate(ValueError("odd"))
    assert error.__class__ is VsphereError
    assert str(error) == "starting service TSM-SSH failed: ValueError: odd."


# --- network and TLS, for real ------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def https_server(certificate):
    """An HTTPS server on 127.0.0.1 that is not vSphere: it answers 404 to everything."""

    class NotVsphere(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            self.send_error(404)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotVsphere)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connect(**kwargs):
    options = dict(hostname="127.0.0.1", username="root", password=PASSWORD)
    options.update(kwargs)
    with VsphereClient(**options):
        pass


def test_untrusted_certificate_is_a_certificate_error(https_server):
    with pytest.raises(CertificateError) as caught:
        connect(port=https_server)
    text = str(caught.value)
    assert "127.0.0.1:%d: the TLS certificate is not trusted (self-signed certificate)" % https_server in text
    assert "ca_file" in text and "validate_certs: false" in text
    assert PASSWORD not in text


def test_certificate_for_another_name_is_a_certificate_error(https_server, certificate):
    with pytest.raises(CertificateError, match="mismatch"):
        connect(hostname="localhost", port=https_server, ca_file=str(certificate[0]))


@pytest.mark.parametrize("trust", [{"validate_certs": False}, {"ca_file": "cert"}])
def test_a_trusted_server_that_is_not_vsphere_is_a_connect_error(https_server, certificate, trust):
    if trust.get("ca_file"):
        trust = {"ca_file": str(certificate[0])}
    with pytest.raises(ConnectError) as caught:
        connect(port=https_server, **trust)
    assert caught.value.__class__ is ConnectError
    assert "127.0.0.1:%d: " % https_server in str(caught.value)
    assert "not a VIM server" in str(caught.value)


def test_closed_port_is_connection_refused():
    port = closed_port()
    with pytest.raises(ConnectError) as caught:
        connect(port=port)
    assert str(caught.value) == "127.0.0.1:%d: connection refused; is the host up and the port right?" % port


def test_plain_tcp_port_is_a_failed_handshake():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer():
            peer = listener.accept()[0]
            peer.recv(4096)
            peer.sendall(b"SSH-2.0-OpenSSH_8.8\r\n")
            peer.close()

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        with pytest.raises(ConnectError, match="TLS handshake failed .*vSphere API port"):
            connect(port=port)
        thread.join(5)


def test_unresolvable_name_is_a_connect_error():
    with pytest.raises(ConnectError, match="cannot be resolved"):
        connect(hostname="no-such-host.invalid")


def test_ca_file_that_is_not_pem_is_refused_before_connecting(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(CertificateError, match="cannot be used as a PEM bundle"):
        ssl_context(True, str(bad))
    with pytest.raises(CertificateError, match="cannot be used as a PEM bundle"):
        ssl_context(True, str(tmp_path / "missing.pem"))


def test_validation_off_checks_nothing(tmp_path):
    context = ssl_context(False, str(tmp_path / "ignored.pem"))
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_validation_on_checks_name_and_chain(certificate):
    context = ssl_context(True, str(certificate[0]))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
