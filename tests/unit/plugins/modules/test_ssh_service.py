"""nestedvirt.esxi.ssh_service run in process, without a server: options, environment, secrets.

The lab's vSphere simulator covers the rest (tests/integration/test_vsphere_modules.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

PASSWORD = "never-in-Output-7"  # noqa: S105 - a test value that must never be shown


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_options_come_from_the_environment(run_module):
    port = closed_port()
    env = {
        "VMWARE_HOST": "127.0.0.1",
        "VMWARE_USER": "root",
        "VMWARE_PASSWORD": PASSWORD,
        "VMWARE_PORT": str(port),
    }
    result = run_module("ssh_service", {"state": "started"}, env=env)
    assert result["failed"]
    assert result["msg"] == "127.0.0.1:%d: connection refused; is the host up and the port right?" % port
    assert result["invocation"]["module_args"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"  # noqa: S105
    assert PASSWORD not in result["output"]


def test_password_given_as_an_option_is_never_shown(run_module):
    port = closed_port()
    args = {"hostname": "127.0.0.1", "port": port, "username": "root", "password": PASSWORD, "policy": "on"}
    result = run_module("ssh_service", args)
    assert result["failed"] and "connection refused" in result["msg"]
    assert PASSWORD not in result["output"]


def test_missing_connection_options_are_named(run_module):
    result = run_module("ssh_service", {"state": "started"})
    assert result["failed"]
    assert result["msg"] == "missing required arguments: hostname, password, username"


def test_bad_choices_are_refused_before_connecting(run_module):
    args = {"hostname": "127.0.0.1", "username": "root", "password": PASSWORD, "policy": "sometimes"}
    result = run_module("ssh_service", args)
    assert result["failed"]
    assert "value of policy must be one of: on, off, automatic, got: sometimes" in result["msg"]
