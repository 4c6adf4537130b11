"""A counting HTTPS proxy in front of one vSphere API endpoint: how many API calls a tool makes.

The lab's API simulator logs only what it asks hostd to change, not every call, and the calls
travel inside TLS. So the benchmark puts this proxy between a tool and the simulator: it ends
the tool's TLS with a certificate of its own (made here, for the proxy's loopback address),
reads each HTTP request, counts it by SOAP method (``GET <path>`` for the few plain GETs),
forwards it over one upstream HTTPS connection per client connection, and returns the answer.
Long polls (WaitForUpdatesEx) hold only their own connection's thread.

Gaps of the lab's simulator (Debian's govmomi vcsim) stop community.vmware, which reads every VM
property through pyVmomi's ``Fetch``; where asked, the proxy answers as ESXi and vCenter do, and
counts how often it had to (``shimmed``):

- ``Fetch`` of an unset property (``VirtualMachine.snapshot`` of a VM without snapshots) makes
  vcsim panic and drop the connection; ESXi and vCenter answer an empty value (``empty_fetch``;
  on by default with the Tools shim). Still needed on the lab's vCenter as on its hosts.
- ``VirtualMachine.guest`` used to say Tools were never running, so ``vmware_guest_powerstate``
  refused ``shutdown-guest``; with ``tools_running(vmid)`` the proxy sets the Tools status from
  hostd's own view of the VM. The lab's simulator now reports Tools from hostd itself (its vCenter
  too), so the bench no longer asks for this shim (``tools_running`` None); it stays, counted, for
  a simulator that does not.

Only the standard library and the ``openssl`` command (to make the certificate) are used.
"""

from __future__ import annotations

import collections
import http.client
import http.server
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

_METHOD = re.compile(rb"<(?:[A-Za-z0-9_]+:)?Body\b[^>]*>\s*<(?:[A-Za-z0-9_]+:)?([A-Za-z0-9_]+)")
# Hop-by-hop headers (RFC 9110 7.6.1) and the ones this proxy sets itself.
_DROP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length", "host"}
_FETCH = re.compile(rb"<_this[^>]*type=\"([A-Za-z]+)\"[^>]*>([^<]*)</_this>\s*<prop[^>]*>([^<]*)</prop>")
_EMPTY_FETCH = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soapenv:Body><FetchResponse xmlns="urn:vim25"></FetchResponse></soapenv:Body></soapenv:Envelope>'
)
_TOOLS_RUNNING = [
    (b"<toolsStatus>toolsNotInstalled</toolsStatus>", b"<toolsStatus>toolsOk</toolsStatus>"),
    (b"<toolsStatus>toolsNotRunning</toolsStatus>", b"<toolsStatus>toolsOk</toolsStatus>"),
    (
        b"<toolsRunningStatus>guestToolsNotRunning</toolsRunningStatus>",
        b"<toolsRunningStatus>guestToolsRunning</toolsRunningStatus>",
    ),
    (b"<guestState></guestState>", b"<guestState>running</guestState>"),
]


def make_certificate(directory: Path, address: str) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for ``address``, valid for a day."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "proxy-cert.pem", directory / "proxy-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-days", "1", "-subj", "/CN=%s" % address, "-addext", "subjectAltName=IP:%s" % address]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


class CountingProxy:
    """Serve ``https://listen:port`` and forward to ``https://upstream_host:upstream_port``."""

    def __init__(
        self,
        listen: str,
        port: int,
        upstream_host: str,
        upstream_port: int,
        workdir: Path,
        tools_running: Callable[[str], bool] | None = None,
        empty_fetch: bool | None = None,
    ) -> None:
        self.address = (listen, port)
        self.upstream = (upstream_host, upstream_port)
        self.tools_running = tools_running  # set: the Tools shim is on
        self.empty_fetch = tools_running is not None if empty_fetch is None else empty_fetch
        self.shimmed: collections.Counter[str] = collections.Counter()
        self.cert, self.key = make_certificate(workdir, listen)
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.trace: list[str] | None = None  # every call in order, when a list

    # --- counts ---------------------------------------------------------------------------

    def count(self, name: str, body: bytes = b"") -> None:
        with self._lock:
            self._counts[name] += 1
            if self.trace is not None:
                self.trace.append((name, body))

    def take(self) -> dict[str, int]:
        """The calls counted since the last take, by method, and reset."""
        with self._lock:
            counts, self._counts = dict(self._counts), collections.Counter()
        return counts

    def shim(self, what: str) -> None:
        with self._lock:
            self.shimmed[what] += 1

    def patch_guest(self, fetch: re.Match, data: bytes) -> bytes:
        """A VM's ``guest`` with the Tools status hostd knows."""
        kind, ref, prop = (group.decode() for group in fetch.groups())
        if kind != "VirtualMachine" or prop.split(".")[0] != "guest" or b"guestToolsNotRunning" not in data:
            return data
        if not self.tools_running(ref):
            return data
        for old, new in _TOOLS_RUNNING:
            data = data.replace(old, new)
        self.shim("Tools status of VirtualMachine.guest")
        return data

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        proxy = self
        upstream_context = ssl.create_default_context()
        upstream_context.check_hostname = False
        upstream_context.verify_mode = ssl.CERT_NONE  # the lab's own simulator, on loopback
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(self.cert, self.key)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                self.request.do_handshake()  # here, in this connection's thread, not the accept loop
                super().setup()

            def log_message(self, format, *args):  # noqa: A002 - the base class's name
                pass

            def _relay(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                found = _METHOD.search(body[:4096]) if body else None
                name = found.group(1).decode() if found else "%s %s" % (method, self.path.split("?")[0])
                proxy.count(name, body)
                upstream = getattr(self, "_upstream", None)
                if upstream is None:
                    upstream = http.client.HTTPSConnection(*proxy.upstream, context=upstream_context, timeout=600)
                    self._upstream = upstream
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _DROP}
                headers["Host"] = "%s:%d" % proxy.upstream
                fetch = _FETCH.search(body) if name == "Fetch" else None
                try:
                    upstream.request(method, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    status, reason, data = answer.status, answer.reason, answer.read()
                    answer_headers = answer.getheaders()
                except (OSError, http.client.HTTPException):
                    upstream.close()
                    self._upstream = None
                    if fetch is None or not proxy.empty_fetch:
                        self.send_error(502, "upstream failed")
                        return
                    proxy.shim("empty Fetch of %s.%s" % (fetch.group(1).decode(), fetch.group(3).decode()))
                    status, reason, data = 200, "OK", _EMPTY_FETCH
                    answer_headers = [("Content-Type", "text/xml; charset=utf-8")]
                if fetch is not None and proxy.tools_running is not None and status == 200:
                    data = proxy.patch_guest(fetch, data)
                self.send_response_only(status, reason)
                for key, value in answer_headers:
                    if key.lower() not in _DROP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server's naming
                self._relay("POST")

            def do_GET(self):  # noqa: N802
                self._relay("GET")

            def finish(self):
                super().finish()
                upstream = getattr(self, "_upstream", None)
                if upstream is not None:
                    upstream.close()

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            address_family = socket.AF_INET

            def get_request(self):
                conn, addr = super().get_request()
                return server_context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                pass  # a client that hangs up mid-request is its own business

        self._server = Server(self.address, Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
