"""The lab's pure parts, without starting anything: vmx files, output formats, config, BusyBox."""

from __future__ import annotations

import subprocess

import esxi_facts as facts
import pytest
from hypothesis import given
from hypothesis import strategies as st
from labkit import config as cfgmod
from labkit import formats as fmt
from labkit import rootfs
from labkit.vmxfile import Vmx, escape, new_vmx, unescape

pytestmark = pytest.mark.lab


# --- the samples are the facts -----------------------------------------------------------------


def test_samples_are_verbatim_in_esxi_facts():
    text = facts.facts_text_blocks()
    if text is None:
        pytest.skip(f"{facts.FACTS_FILE} is not beside this checkout")
    missing = [s for s in facts.VERBATIM if s not in text]
    assert not missing


# --- vmx ---------------------------------------------------------------------------------------


def test_vmx_escapes_as_vmware_writes():
    assert escape('a "b" | c\nd\te\x7f') == "a |22b|22 |7C c|0Ad\te|7F"
    assert unescape("|0a|0A|zz|7c") == "\n\n|zz|"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_vmx_value_round_trip(value):
    vmx = new_vmx([("annotation", value)])
    assert Vmx.parse(vmx.render()).get("annotation") == value


def test_vmx_reader_rules():
    data = (
        '\ufeff.encoding = "UTF-8"\r\n'
        'displayName = "a # b"  # comment\r\n'
        "numvcpus = 2\n"
        "garbage line\n"
        'VHV.Enable = "true"\n'
        'vhv.enable = "FALSE"\n'
    ).encode()
    vmx = Vmx.parse(data)
    assert vmx.get("displayname") == "a # b"
    assert vmx.get_int("numvcpus", 0) == 2
    assert vmx.get_bool("vhv.enable") is False  # a later duplicate wins
    vmx.set("vhv.enable", "TRUE")
    text = vmx.render().decode()
    assert 'VHV.Enable = "TRUE"\n' in text and "vhv.enable =" not in text  # spelling kept, one line
    assert "garbage line\n" in text


def test_new_vmx_puts_encoding_first():
    assert new_vmx([("displayName", 'x"y')]).render() == b'.encoding = "UTF-8"\ndisplayName = "x|22y"\n'


# --- formats ------------------------------------------------------------------------------------


def test_vmware_and_esxcli_text():
    assert fmt.vmware(["-v"], "5.5.0", 1331820, 1) == (0, facts.VMWARE_V_55)
    assert fmt.vmware(["-l"], "7.0.3", 20328353, 3) == (0, facts.VMWARE_L_70)
    assert fmt.vmware(["-lv"], "6.7.0", 15820472, 3) == (0, facts.VMWARE_LV_67)
    assert fmt.vmware(["-l"], "5.0.0", 469512, 0) == (0, "VMware ESXi 5.0.0 GA\n")
    assert fmt.vmware(["-x"], "5.0.0", 469512, 0)[0] == 1
    assert fmt.esxcli_version("8.0.1", 21495797, 1, 0) == facts.ESXCLI_VERSION_801
    assert "Patch" not in fmt.esxcli_version("5.5.0", 1331820, 1, 0)


def test_getallvms_layout():
    x8 = fmt.Row(1, "x8", "[pve-esx] x8/x8.vmx", "centos9_64Guest", "vmx-20", "")
    assert fmt.getallvms([x8], []).splitlines(True)[1] == facts.GETALLVMS_ROW_X8
    wide = fmt.Row(1, "Lab-VM-0001", "[ds] a/abcd.vmx", "otherGuest64", "vmx-08", "")
    assert fmt.getallvms([wide], []).splitlines(True)[0] == facts.GETALLVMS_HEADER
    assert fmt.getallvms([], []) == "Vmid   Name   File   Guest OS   Version   Annotation\n"
    rows = [fmt.Row(v, f"s{v}", f"[d] s{v}/s{v}.vmx", "otherGuest", "vmx-08", "") for v in (80, 96, 112, 128, 144)]
    listed = [int(line.split()[0]) for line in fmt.getallvms(rows, [], "string").splitlines()[1:]]
    assert listed == facts.STRING_ORDER
    out = fmt.getallvms(rows, [16])
    assert out.startswith(facts.SKIPPING_INVALID + "\n")


def test_not_found_per_version():
    assert fmt.not_found("2", (6, 7, 0)) == facts.NOT_FOUND_67
    assert fmt.not_found("2", (5, 5, 0)).splitlines()[1] == "   dynamicType = <unset>,"
    lines_50 = fmt.not_found("2", (5, 0, 0)).splitlines()
    assert lines_50[1] == "   dynamicType = <unset>, "
    assert all(line.endswith(", ") for line in lines_50[1:-1])


def test_power_failures_per_version():
    assert fmt.power_failed("on", "poweredOn", "poweredOn", (6, 0, 0)) == "Powering on VM:\nPower on failed\n"
    assert fmt.power_failed("off", "poweredOff", "poweredOff", (6, 5, 0)) == "Powering off VM:\nPower off failed\n"
    for v in ((5, 1, 0), (6, 7, 0), (8, 0, 1)):
        text = fmt.power_failed("on", "poweredOn", "poweredOn", v)
        assert "(vim.fault.InvalidPowerState) {" in text and 'existingState = "poweredOn"' in text
        assert facts.INVALID_POWER_STATE_MSG in text


# --- config --------------------------------------------------------------------------------------


def test_config_defaults_and_addresses():
    lab = cfgmod.normalise(
        {
            "hosts": [
                {"name": "a", "version": "5.5.0", "vms": [{"name": "Lab VM 1"}, {"name": "n", "guest": "none"}]},
                {"name": "b", "version": "8.0.1", "vms": ["Lab VM 1"]},
            ]
        }
    )
    a, b = lab.hosts
    assert (a.address, b.address) == ("127.0.10.1", "127.0.10.2")
    assert (a.build, a.update, b.build, b.update) == (1331820, 1, 21495797, 1)
    assert [vm.vmid for vm in a.vms] == [1, 2]
    assert a.vms[0].hardware_version == 10 and b.vms[0].hardware_version == 20
    assert [(vm.inventory_name, vm.address) for _, vm in lab.guests()] == [
        ("lab_vm_1", "127.0.20.1"),
        ("b_lab_vm_1", "127.0.20.2"),
    ]
    assert a.vms[0].path == "Lab VM 1/Lab VM 1.vmx"
    assert cfgmod.normalise(__import__("json").loads(lab.to_json())) == lab


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"hosts": [{"name": "a", "version": "4.1.0"}]}, "version must be one of"),
        ({"hosts": [{"name": "a", "version": "5.5.0", "colour": 1}]}, "unknown key 'colour'"),
        (
            {"hosts": [{"name": "a", "version": "5.1.0", "vms": [{"name": "x", "hardware_version": 10}]}]},
            "out of range",
        ),
        (
            {"hosts": [{"name": "a", "version": "5.5.0", "vms": [{"name": "x", "vmid": 3}, {"name": "y", "vmid": 3}]}]},
            "duplicate vmid",
        ),
        ({"hosts": [{"name": "a", "version": "5.5.0", "faults": {"drop_ssh": [{"pattern": "("}]}}]}, "pattern"),
        (
            {"hosts": [{"name": "a", "version": "5.5.0", "vms": [{"name": "x", "datastore": "nope"}]}]},
            "not a datastore",
        ),
    ],
)
def test_config_errors_name_the_problem(bad, message):
    with pytest.raises(cfgmod.ConfigError, match=message):
        cfgmod.normalise(bad)


def test_guest_os_ids_round_trip():
    for gid in cfgmod.GUEST_OS:
        assert cfgmod.guest_os_from_vmx(cfgmod.guest_os_to_vmx(gid)) == gid


# --- BusyBox ------------------------------------------------------------------------------------


def test_busybox_hides_what_esxi_lacks(tmp_path):
    host = cfgmod.normalise({"hosts": [{"name": "h", "version": "6.5.0"}]}).hosts[0]
    keep = rootfs.applets_for(host) & rootfs.available_applets()
    bb = rootfs.patched_busybox(keep, command_builtin=False)

    def sh(script):
        return subprocess.run(
            [str(bb), "sh", "-c", script], capture_output=True, text=True, env={"PATH": "/nonexistent"}
        )

    assert "not found" in sh("echo x | tr x y").stderr  # 6.5 has no tr
    assert "not found" in sh("uname").stderr  # the lab's script answers, not BusyBox
    assert sh("command -v sh").returncode == 127  # ESXi's ash has no `command`
    assert sh("echo abc | sed s/b/x/").stdout == "axc\n"  # the rest still works
