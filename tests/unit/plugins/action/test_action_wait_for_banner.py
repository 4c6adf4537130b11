"""nestedvirt.esxi.wait_for_banner in process, against a loopback socket the test opens."""

import socket
import threading

import pytest


@pytest.fixture
def banner_server():
    """A loopback port that greets each connection with an SSH banner; ``(port, close)``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)  # accept() wakes up to see ``stop``
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_8.8 test\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    thread.join(5)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_banner_that_answers_is_reported(run_action, banner_server):
    result = run_action("wait_for_banner", {"host": "127.0.0.1", "port": banner_server, "timeout": 5})
    assert result["answered"] is True and result["changed"] is False and not result.get("failed")
    assert result["banner"].startswith("SSH-2.0-OpenSSH_8.8")


def test_no_banner_within_the_timeout_fails_or_not_as_asked(run_action):
    port = free_port()
    result = run_action("wait_for_banner", {"host": "127.0.0.1", "port": port, "timeout": 1})
    assert result["failed"] and result["reason"] == "no_banner" and result["answered"] is False
    assert result["msg"] == "127.0.0.1:%d gave no banner matching '^SSH-' within 1 s" % port
    optional = run_action("wait_for_banner", {"host": "127.0.0.1", "port": port, "timeout": 0, "required": False})
    assert not optional.get("failed") and optional["answered"] is False and optional["banner"] is None
