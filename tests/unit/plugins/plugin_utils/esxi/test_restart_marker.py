"""The restart marker's rules, as check mode predicts them (the script applying them runs on the lab)."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._restart_marker import (
    NAME,
    locate_lines,
    marker_path,
    pending_after,
)


def test_the_marker_sits_beside_the_vmx():
    assert marker_path("/vmfs/volumes/ds 1/a b/a b.vmx") == "/vmfs/volumes/ds 1/a b/" + NAME
    assert locate_lines("/vmfs/volumes/ds/a'b/x.vmx")[0] == "m='/vmfs/volumes/ds/a'\"'\"'b/%s'" % NAME


def test_without_a_path_the_host_is_asked():
    lines = locate_lines()
    assert "vim_cmd vmsvc/get.summary" in lines[0] and NAME in lines[1]


@pytest.mark.parametrize(
    "found, before, after, state, asked, pending",
    [
        (False, "poweredOn", "poweredOff", "shutdown", True, True),  # the role takes the VM down
        (True, "poweredOff", "poweredOff", "shutdown", True, True),  # the resumed run finds it off
        (False, "poweredOff", "poweredOff", "shutdown", True, False),  # off before: no reason to boot it
        (False, "suspended", "poweredOff", "poweredoff", True, False),  # suspended is not running
        (True, "poweredOff", "poweredOff", "shutdown", False, False),  # an explicit shutdown wins
        (True, "poweredOff", "poweredOn", "poweredon", False, False),  # the power-on removes it
        (True, "poweredOn", "poweredOn", "poweredon", False, False),  # stale: removed
        (True, "poweredOff", "poweredOff", "poweredon", False, True),  # a failed power-on keeps it
        (True, "suspended", "suspended", "poweredoff", False, True),  # unknown end: left alone
    ],
)
def test_rules(found, before, after, state, asked, pending):
    assert pending_after(found, before, after, state, asked) is pending
