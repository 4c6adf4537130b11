"""The lab's pure parts, without starting anything: vmx files, output formats, config, BusyBox."""

from __future__ import annotations

import subprocess

import fixture_sources
import pytest
from hypothesis import given
from hypothesis import strategies as st
from labkit import config as cfgmod
from labkit import formats as fmt
from labkit import rootfs
from labkit.vmxfile import Vmx, escape, new_vmx, unescape

from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import ROOT, load_fixture

pytestmark = pytest.mark.lab


# --- the fixtures: listed, and the facts samples among them verbatim in the facts ----------------


def test_every_fixture_is_listed_in_sources():
    listed = {fx.id for fx in fixture_sources.table()}
    present = {f"{p.parent.name}/{p.stem}" for p in ROOT.glob("*/*.txt")}
    assert listed - present == set()  # every row names a file
    # every file but the parser tests' own captures says where it comes from
    assert {f for f in present - listed if not f.endswith("-capture")} == set()


def test_facts_samples_are_verbatim_in_esxi_facts():
    text = fixture_sources.facts_text_blocks()
    if text is None:
        pytest.skip(f"{fixture_sources.FACTS_FILE} is not beside this checkout")
    samples = [(fx.id, part) for fx in fixture_sources.table() for part in fx.facts_parts()]
    assert len(samples) >= 10
    assert [fx_id for fx_id, part in samples if part not in text] == []


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
    assert fmt.vmware(["-v"], "5.5.0", 1331820, 0) == (0, load_fixture("5.5.0", "vmware-v"))
    assert fmt.vmware(["-l"], "5.5.0", 1331820, 0) == (0, load_fixture("5.5.0", "vmware-l-ga-capture"))
    assert fmt.vmware(["-l"], "7.0.3", 20328353, 3) == (0, load_fixture("7.0.3", "vmware-l-capture"))
    assert fmt.vmware(["-l"], "7.0.0", 15843807, 0) == (0, load_fixture("7.0.0", "vmware-l-ga-capture"))
    assert fmt.vmware(["-lv"], "6.7.0", 15820472, 3) == (0, load_fixture("6.7.0", "vmware-lv"))
    assert fmt.vmware(["-lv"], "6.0.0", 2494585, 0) == (0, load_fixture("6.0.0", "vmware-lv-ga-capture"))
    assert fmt.vmware(["-x"], "5.0.0", 469512, 0)[0] == 1
    assert fmt.esxcli_version("8.0.1", 21495797, 1, 0) == load_fixture("8.0.1", "esxcli-system-version-get")
    assert fmt.esxcli_version("9.0.0", 24755229, 0, 0) == load_fixture("9.0.0", "esxcli-system-version-get-capture")
    assert fmt.esxcli_version("8.0.1", 21495797, 1, 0, indent=False) == load_fixture(
        "8.0.1", "esxcli-system-version-get-noindent-capture"
    )
    assert "Patch" not in fmt.esxcli_version("5.5.0", 1331820, 0, 0)


def test_getallvms_layout():
    x8 = fmt.Row(1, "x8", "[pve-esx] x8/x8.vmx", "centos9_64Guest", "vmx-20", "")
    assert fmt.getallvms([x8], []) == load_fixture("8.0.1", "vim-cmd-vmsvc-getallvms")
    wide = fmt.Row(1, "Lab-VM-0001", "[ds] a/abcd.vmx", "otherGuest64", "vmx-08", "")
    assert fmt.getallvms([wide], []) == load_fixture("5.1.0", "vim-cmd-vmsvc-getallvms")
    assert fmt.getallvms([], []) == "Vmid   Name   File   Guest OS   Version   Annotation\n"
    rows = [fmt.Row(v, f"s{v}", f"[d] s{v}/s{v}.vmx", "otherGuest", "vmx-08", "") for v in (80, 96, 112, 128, 144)]
    listed = [int(line.split()[0]) for line in fmt.getallvms(rows, [], "string").splitlines()[1:]]
    assert listed == [112, 128, 144, 80, 96]
    out = fmt.getallvms(rows, [16])
    assert out.startswith("Skipping invalid VM '16'\nVmid ")
    assert fmt.getallvms([x8], [], trailing_blanks=True).splitlines()[1].endswith("vmx-20    ")


def test_vmodl_line_ends_per_release():
    assert fmt.not_found("2", (6, 7, 0)) == load_fixture("6.7.0", "vim-cmd-vmsvc-power.getstate-notfound-capture")
    assert fmt.not_found("2", (5, 5, 0)).splitlines()[1] == "   dynamicType = <unset>,"
    lines_50 = fmt.not_found("2", (5, 0, 0)).splitlines()
    assert lines_50[1] == "   dynamicType = <unset>, "
    assert all(line.endswith(", ") for line in lines_50[1:-1])  # 5.0: the last field too
    lines_90 = fmt.not_found("2", (9, 0, 0)).splitlines()  # 9.0: ", " but the last field
    assert all(line.endswith(", ") for line in lines_90[1:-2]) and lines_90[-2].endswith('"2""')
    assert fmt.not_found("2", fmt.Dialect((6, 7, 0), "comma-blank")).splitlines()[1].endswith(", ")
    assert fmt.not_found("2", fmt.Dialect((9, 0, 0), "comma")).splitlines()[1].endswith("null,")


def test_power_failures_per_version():
    assert fmt.power_failed("on", "poweredOn", "poweredOn", (6, 0, 0)) == load_fixture(
        "6.0.0", "vim-cmd-vmsvc-power.on-invalidstate"
    )
    assert fmt.power_failed("off", "poweredOff", "poweredOff", (6, 5, 0)) == "Powering off VM:\nPower off failed\n"
    for v in ((5, 1, 0), (6, 7, 0), (8, 0, 1)):
        text = fmt.power_failed("on", "poweredOn", "poweredOn", v)
        assert text.startswith("Powering on VM:\n(vim.fault.InvalidPowerState) {\n")
        assert 'msg = "The attempted operation cannot be performed in the current state (Powered On)."' in text
    assert fmt.power_failed("on", "poweredOn", "poweredOn", (9, 0, 0)) == load_fixture(
        "9.0.0", "vim-cmd-vmsvc-power.on-invalidstate"
    )
    assert fmt.power_on_config_fault((9, 0, 0)) == load_fixture("9.0.0", "vim-cmd-vmsvc-power.on-failed-capture")
    assert fmt.power_failed("reset", "poweredOn", "poweredOff", (9, 0, 0)).startswith(
        "Reset failed: (vim.fault.InvalidPowerState) {\n"
    )


def test_transient_texts_are_the_captures():
    for kind, release, name in (
        ("ssl", "6.7.0", "ssl"),
        ("reset", "6.7.0", "reset"),
        ("localhost", "6.0.0", "localhost"),
        ("bad_alloc", "6.5.0", "badalloc"),
    ):
        rc, out, err = fmt.TRANSIENT[kind]
        assert out + err == load_fixture(release, f"vim-cmd-transient-{name}-capture")
        assert rc == (134 if kind == "bad_alloc" else 1)


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
    assert (a.build, a.update, b.build, b.update) == (1331820, 0, 21495797, 1)  # 1331820: 5.5 GA
    assert [vm.vmid for vm in a.vms] == [1, 2]
    assert a.vms[0].hardware_version == 10 and b.vms[0].hardware_version == 20
    assert [(vm.inventory_name, vm.address) for _, vm in lab.guests()] == [
        ("lab_vm_1", "127.0.20.1"),
        ("b_lab_vm_1", "127.0.20.2"),
    ]
    assert a.vms[0].path == "Lab VM 1/Lab VM 1.vmx"
    assert cfgmod.normalise(__import__("json").loads(lab.to_json())) == lab


def test_esxi_guests_are_qemu_guests_in_the_inventory():
    lab = cfgmod.normalise(
        {"hosts": [{"name": "a", "version": "8.0.3", "vms": [{"name": "N", "guest": "esxi"}, {"name": "L"}]}]}
    )
    esxi, linux = lab.hosts[0].vms
    assert (esxi.guest, esxi.shell, linux.guest, linux.shell) == ("linux", "esxi", "linux", "linux")
    assert (esxi.guest_os, linux.guest_os) == ("vmkernel8Guest", "otherLinux64Guest")
    assert cfgmod.normalise(__import__("json").loads(lab.to_json())) == lab
    assert [(vm.name, vm.address) for _, vm in lab.guests()] == [("N", "127.0.20.1"), ("L", "127.0.20.2")]


def test_clustered_hosts_get_vcls_system_vms():
    lab = cfgmod.normalise(
        {
            "hosts": [
                {"name": "c", "version": "9.0.0", "clustered": 2, "vms": [{"name": "x", "vmid": 1698}]},
                {"name": "d", "version": "7.0.3", "clustered": True},
            ]
        }
    )
    c, d = lab.hosts
    vcls = cfgmod.system_vms(c)
    assert [vm.vmid for vm in vcls] == [1699, 1700] and cfgmod.system_vms(c) == vcls  # stable names
    assert all(vm.path == f"/var/run/crx/infra/{vm.name}/{vm.name}.vmx" and vm.datastore == "" for vm in vcls)
    assert [vm.hardware_version for vm in vcls + cfgmod.system_vms(d)] == [21, 21, 19]  # never above hw_max
    assert [vm.name for vm in c.vms] == ["x"]  # not part of the config (nor of config.json)
    assert cfgmod.normalise(__import__("json").loads(lab.to_json())) == lab
    assert cfgmod.normalise({"hosts": [{"name": "e", "version": "8.0.0"}]}).hosts[0].guards_exec is True
    assert cfgmod.normalise({"hosts": [{"name": "e", "version": "7.0.3"}]}).hosts[0].guards_exec is False


def test_vcenter_config():
    lab = cfgmod.normalise(
        {
            "lab": {"host_net": "127.0.40.0"},
            "vcenters": [{"name": "vc1", "hosts": ["b", "a"]}, {"name": "vc2", "hosts": ["c"], "datacenter": "X"}],
            "hosts": [
                {"name": "a", "version": "7.0.3", "vms": [{"name": "x", "guest": "none", "folder": "A/B"}]},
                {"name": "b", "version": "8.0.1", "vms": [{"name": "x", "guest": "none"}]},
                {"name": "c", "version": "8.0.1"},
            ],
        }
    )
    vc1, vc2 = lab.vcenters
    assert (vc1.address, vc2.address) == ("127.0.40.201", "127.0.40.202")
    assert (vc1.datacenter, vc1.cluster, vc1.username) == ("DC1", "Lab", "administrator@vsphere.local")
    assert (vc2.datacenter, vc1.hosts, lab.vcenter_of("c")) == ("X", ["b", "a"], vc2)
    assert lab.hosts[0].vms[0].folder == "A/B" and "127.0.40.201" in lab.addresses()
    assert cfgmod.normalise(__import__("json").loads(lab.to_json())) == lab


def _vc(vcenters, vms_a=(), vms_b=()):
    return {
        "vcenters": vcenters,
        "hosts": [
            {"name": "a", "version": "7.0.3", "vms": [{"guest": "none", **v} for v in vms_a]},
            {"name": "b", "version": "8.0.1", "vms": [{"guest": "none", **v} for v in vms_b]},
        ],
    }


@pytest.mark.parametrize(
    "bad, message",
    [
        (_vc([{"name": "vc1", "hosts": ["a", "z"]}]), "no lab host named 'z'"),
        (_vc([{"name": "vc1", "hosts": []}]), "a non-empty list"),
        (_vc([{"name": "vc1", "hosts": ["a"]}, {"name": "vc1", "hosts": ["b"]}]), "duplicate vCenter name"),
        (_vc([{"name": "vc1", "hosts": ["a"]}, {"name": "vc2", "hosts": ["a"]}]), "already managed by vCenter vc1"),
        (_vc([{"name": "a", "hosts": ["b"]}]), "a lab host has that name"),
        (_vc([{"name": "vc1", "hosts": ["a"], "colour": 1}]), "unknown key 'colour'"),
        (_vc([{"name": "vc1", "hosts": ["a", "b"]}], [{"name": "x"}], [{"name": "x"}]), "two VMs named 'x'"),
        (
            _vc(
                [{"name": "vc1", "hosts": ["a"]}],
                [{"name": "x", "folder": "F"}, {"name": "x", "folder": "F", "path": "y/y.vmx"}],
            ),
            "two VMs named 'x' in folder 'F'",
        ),
        (_vc([{"name": "vc1", "hosts": ["a"]}], [{"name": "x", "folder": "A//B"}]), "folder names separated by '/'"),
        (_vc({"name": "vc1"}), "`vcenters:` must be a list"),
    ],
)
def test_vcenter_config_errors(bad, message):
    with pytest.raises(cfgmod.ConfigError, match=message):
        cfgmod.normalise(bad)


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
        ({"hosts": [{"name": "a", "version": "7.0.0", "clustered": True}]}, "vCLS system VMs exist from ESXi 7.0 U1"),
        ({"hosts": [{"name": "a", "version": "9.0.0", "vmodl_line_end": "semicolon"}]}, "vmodl_line_end"),
        (
            {"hosts": [{"name": "a", "version": "9.0.0", "faults": {"vim_cmd_transient": [{"kind": "flaky"}]}}]},
            "vim_cmd_transient",
        ),
        ({"hosts": [{"name": "a", "version": "9.0.0", "faults": {"power_on_fails": ["nope"]}}]}, "no VM 'nope'"),
        ({"hosts": [{"name": "a", "version": "8.0.0", "vms": [{"name": "x", "guest": "windows"}]}]}, "linux, esxi or"),
        (
            {"hosts": [{"name": "a", "version": "8.0.0", "vms": [{"name": "x", "guest": "esxi", "memsize": 64}]}]},
            "a QEMU guest \\(linux or esxi\\) needs at least 128 MB",
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
