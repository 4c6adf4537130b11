"""esxcli vswitch security policy: commands and parsing (format from esxi-facts.md)."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vswitch_policy import (
    PolicyError,
    get_command,
    parse_policy,
    set_command,
)

GET = "   Allow Promiscuous: false\n   Allow MAC Address Change: false\n   Allow Forged Transmits: false\n"


def answer(policy=GET, set_output=None):
    parts = [] if set_output is None else ["@@nestedvirt set", set_output]
    return "\n".join(parts + ["@@nestedvirt policy", policy, "@@nestedvirt end"]) + "\n"


def test_parse_the_esxi_facts_sample():
    assert parse_policy(answer(), "vSwitch0") == {
        "allow_promiscuous": False,
        "allow_mac_change": False,
        "allow_forged_transmits": False,
    }


def test_portgroup_override_lines_are_not_the_policy():
    text = GET.replace("Promiscuous: false", "Promiscuous: true") + "   Override Vswitch Allow Promiscuous: true\n"
    assert parse_policy(answer(text), "VM Network")["allow_promiscuous"] is True


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (answer("Error: Unable to find vswitch vSwitch9"), "did not show"),
        (answer(GET, "Error: bad option"), "refused"),
        ("@@nestedvirt policy\n" + GET, "cut short"),
    ],
)
def test_errors(stdout, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(stdout, "x")


def test_commands_quote_names_and_set_only_what_is_asked():
    assert "-p 'VM Network'" in get_command(portgroup="VM Network")
    command = set_command({"allow_promiscuous": True}, vswitch="vSwitch0")
    assert "policy security set -v vSwitch0 --allow-promiscuous=true 2>&1" in command
    assert "forged" not in command
