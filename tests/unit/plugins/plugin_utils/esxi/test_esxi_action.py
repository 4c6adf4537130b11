"""The ESXi shell actions' round trip: a dropped connection is followed by new tries, bounded."""

from types import SimpleNamespace

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi import _action as esxi_action
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._action import RECONNECT_DELAYS, EsxiShellAction


class Connection:
    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1
        raise OSError("ssh -O stop: no master running")  # a dead master may fail to reset


class Action(EsxiShellAction):
    def run(self, tmp=None, task_vars=None):
        raise NotImplementedError


def action(answers):
    """An action whose round trips give ``answers`` in turn (an exception is raised)."""
    shell = Action.__new__(Action)
    shell._connection = Connection()
    shell._play_context = SimpleNamespace(remote_addr="esxi01")
    warnings = []
    shell._display = SimpleNamespace(warnings=warnings, warning=warnings.append)
    shell.sent = []

    def execute(command, sudoable=True, in_data=None):
        shell.sent.append((command, in_data))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    shell._low_level_execute_command = execute
    return shell


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(esxi_action.time, "sleep", slept.append)
    return slept


def test_the_command_is_sent_again_after_a_drop(no_sleep):
    ok = {"rc": 0, "stdout": "done", "stderr": ""}
    shell = action([AnsibleConnectionFailure("Connection reset by peer"), AnsibleConnectionFailure("refused"), ok])
    assert shell.run_sh("echo x", b"in") == {"rc": 0, "stdout": "done", "stderr": ""}
    assert shell.sent == [("echo x", b"in")] * 3  # the same command and input each time
    assert shell.reconnects == 2 and shell._connection.resets == 2
    assert no_sleep == list(RECONNECT_DELAYS[:2])
    assert len(shell._display.warnings) == 2 and "esxi01" in shell._display.warnings[0]


def test_a_host_that_stays_unreachable_fails_after_a_bounded_time(no_sleep):
    shell = action([AnsibleConnectionFailure("Connection timed out")] * (len(RECONNECT_DELAYS) + 1))
    with pytest.raises(AnsibleConnectionFailure, match=r"sent 6 times within 30 s.*TSM-SSH"):
        shell.run_sh("echo x")
    assert sum(no_sleep) == 30 and len(shell.sent) == len(RECONNECT_DELAYS) + 1


def test_a_host_that_refuses_the_first_try_fails_at_once_with_the_hint(no_sleep):
    shell = action([AnsibleConnectionFailure("ssh: connect to host esxi01 port 22: Connection refused")])
    with pytest.raises(AnsibleConnectionFailure, match="Connection refused -- if SSH .*ssh_service"):
        shell.run_sh("echo x")
    assert no_sleep == [] and shell.reconnects == 0
    # refused after a drop (sshd restarting): tried again
    ok = {"rc": 0, "stdout": "", "stderr": ""}
    shell = action([AnsibleConnectionFailure("reset"), AnsibleConnectionFailure("Connection refused"), ok])
    assert shell.run_sh("echo x")["rc"] == 0 and shell.reconnects == 2
