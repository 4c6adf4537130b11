"""nestedvirt.esxi.vswitch_security in process: esxcli answers in the layout captured on ESXi 5.5."""


def test_read_then_set_only_what_differs(run_action, esxi_host):
    host = esxi_host("5.5.0")
    args = {"vswitch": "vSwitch0", "allow_promiscuous": True, "allow_forged_transmits": True}
    before = dict(allow_promiscuous=False, allow_mac_change=False, allow_forged_transmits=False)
    after = dict(before, allow_promiscuous=True, allow_forged_transmits=True)

    checked = run_action("vswitch_security", args, host=host, check=True, diff=True)
    assert checked["changed"] and checked["before"] == before and checked["after"] == after
    assert checked["diff"] == {"before": before, "after": after}
    assert not any(" set " in call for call in host.calls)  # check mode sends no change

    applied = run_action("vswitch_security", args, host=host)
    assert applied["changed"] and applied["after"] == after
    assert len(run_action.connection.sent) == 2  # the read, then the set that reads back
    sets = [call for call in host.calls if " set " in call]
    assert sets == [
        "network vswitch standard policy security set -v vSwitch0 --allow-forged-transmits=true "
        "--allow-promiscuous=true"
    ]
    assert "   Allow Promiscuous: true" in host.policy() and "   Allow MAC Address Change: false" in host.policy()

    again = run_action("vswitch_security", args, host=host, diff=True)
    assert again["changed"] is False and "diff" not in again and len(run_action.connection.sent) == 1


def test_a_policy_that_does_not_take_fails_with_its_reason(run_action, esxi_host):
    host = esxi_host("5.5.0")
    esxcli = host.bin / "esxcli"
    esxcli.write_text(esxcli.read_text().replace('sed -i "s', ': "s'))  # the set is accepted, nothing changes
    result = run_action("vswitch_security", {"vswitch": "vSwitch0", "allow_mac_change": True}, host=host)
    assert result["failed"] and result["reason"] == "vswitch_policy"
    assert result["msg"].startswith("vSwitch 'vSwitch0' still shows")


def test_arguments_are_checked_before_anything_is_sent(run_action, esxi_host):
    host = esxi_host("5.5.0")
    result = run_action("vswitch_security", {"vswitch": "vSwitch0", "portgroup": "VM Network"}, host=host)
    assert result["failed"] and "mutually exclusive: vswitch|portgroup" in result["msg"]
    assert run_action.connection.sent == []
