"""wait_for_banner's look at a port: a real server on loopback, started and stopped by the test."""

import re
import socket
import threading

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils._banner import look

SSH = re.compile("^SSH-")


def serve_once(greeting):
    """A one-connection server on 127.0.0.1 greeting with ``greeting``; returns its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def answer():
        with server:
            try:
                conn, _address = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(greeting)

    threading.Thread(target=answer, daemon=True).start()
    return server.getsockname()[1]


def test_a_server_that_greets_is_seen():
    assert look("127.0.0.1", serve_once(b"SSH-2.0-OpenSSH_9.2\r\n"), SSH) == "SSH-2.0-OpenSSH_9.2"


def test_an_open_port_without_the_banner_is_not_an_answer():
    assert look("127.0.0.1", serve_once(b"HTTP/1.1 400 Bad Request\r\n"), SSH) is None


def test_a_closed_port_is_not_an_answer():
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    assert look("127.0.0.1", port, SSH) is None
