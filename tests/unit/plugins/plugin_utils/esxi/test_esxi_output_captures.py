"""The parsers on captured ESXi output (tests/unit/fixtures/esxi), release by release.

Each test reads every fixture of its command, so a capture added for another release is covered
without a new test. The classes of behaviour come from esxi-facts.md's "Corrections and
additions": GA builds, esxcli's Maintenance line and unindented lines, vCLS rows, CRLF from a
pty, `, ` line ends, fault blocks that start mid-line, strings that hold a newline.
"""

import re

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._inventory import nesting_method
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import (
    describe_fault,
    parse_fault,
    parse_getallvms,
    parse_guest_info,
    parse_power_state,
    parse_properties,
    parse_vmware_version,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import (
    SED_VMX_PATH,
    TRANSIENT_VIM_CMD,
    host_script,
    split_sections,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote
from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import fixtures, load_fixture


def ids(found):
    return ["%s/%s" % (release, name) for release, name, _text in found]


def params(command):
    found = fixtures(command)
    assert found, "no fixture of %s" % command
    return pytest.mark.parametrize(("release", "name", "text"), found, ids=ids(found))


@params("vmware")
def test_every_vmware_version_capture_parses(release, name, text):
    parsed = parse_vmware_version(text)
    major = release.split(".")[0]
    assert parsed["version"].split(".")[0] == major
    if " GA" in text:
        assert parsed["update"] == 0
    if "build-" in text:
        assert parsed["version"] == release and parsed["build"] == re.search(r"build-(\d+)", text).group(1)


def test_ga_and_two_part_versions():
    assert parse_vmware_version(load_fixture("7.0.0", "vmware-l-ga-capture")) == {
        "version": "7.0",
        "build": None,
        "update": 0,
    }
    assert parse_vmware_version(load_fixture("7.0.3", "vmware-l-capture"))["version"] == "7.0"
    assert parse_vmware_version(load_fixture("6.0.0", "vmware-lv-ga-capture")) == {
        "version": "6.0.0",
        "build": "2494585",
        "update": 0,
    }


def test_esxi_9_uses_per_vm_nesting():
    release = parse_vmware_version(load_fixture("9.0.0", "vmware-v-capture"))
    assert release == {"version": "9.0.0", "build": "24755229", "update": None}
    assert nesting_method(release["version"])["key"] == "vhv.enable"


@params("vim-cmd-vmsvc-getallvms")
def test_every_getallvms_capture_parses(release, name, text):
    vms, invalid = parse_getallvms(text)
    for vm in vms:
        assert vm["vmid"].isdigit()
        assert vm["vmx_path"].endswith(".vmx") and vm["vmx_path"].startswith("/")
        assert "\r" not in vm["name"] + vm["annotation"] + vm["vmx_path"]
        assert vm["name"] == vm["name"].strip()
        assert vm["system"] is (vm["datastore"] == "")
    assert all(vmid.isdigit() for vmid in invalid)


def test_vcls_rows_are_system_vms_at_their_absolute_path():
    vms, _invalid = parse_getallvms(load_fixture("9.0.0", "vim-cmd-vmsvc-getallvms-vcls-capture"))
    runner, vcls = vms
    assert not runner["system"] and runner["vmx_path"] == "/vmfs/volumes/datastore1/lab-runner-01/lab-runner-01.vmx"
    assert vcls["system"] and vcls["datastore"] == "" and vcls["hardware_version"] == 21
    assert vcls["name"].startswith("vCLS-") and vcls["guest_os"] == "crxSys1Guest"
    assert vcls["vmx_path"] == "/var/run/crx/infra/%s/%s.vmx" % (vcls["name"], vcls["name"])
    assert vcls["datastore_path"] == "[] " + vcls["vmx_path"]


def test_skipping_before_the_header():
    vms, invalid = parse_getallvms(load_fixture("6.5.0", "vim-cmd-vmsvc-getallvms-skipping-capture"))
    assert invalid == ["16"] and [vm["name"] for vm in vms] == ["web01"]


def test_pty_capture_crlf_trailing_blanks_and_colons_in_datastores():
    text = load_fixture("6.7.0", "vim-cmd-vmsvc-getallvms-pty-capture")
    assert "\r\n" in text
    nfs, web = parse_getallvms(text)[0]
    assert (nfs["name"], nfs["datastore"], nfs["annotation"]) == ("nfs vm", "nas:vol1 (2)", "")
    assert nfs["vmx_path"] == "/vmfs/volumes/nas:vol1 (2)/nfs vm/nfs vm.vmx"
    assert web["annotation"] == "built by ci"


def test_markers_read_through_a_pty():
    sections = split_sections(
        "login banner\r\n@@nestedvirt version\r\nVMware ESXi 9.0.0 build-24755229\r\n"
        "@@nestedvirt summary 12\r\nx\r\n@@nestedvirt end\r\n"
    )
    assert [(name, arg) for name, arg, _text in sections] == [("version", None), ("summary", "12"), ("end", None)]


def test_a_failed_power_on_reports_esxis_own_messages():
    fault = parse_fault(load_fixture("9.0.0", "vim-cmd-vmsvc-power.on-failed-capture"))
    assert fault["name"] == "GenericVmConfigFault"
    assert fault["msg"] == "This host does not support AMD-V."
    assert fault["messages"] == [
        "This host does not support AMD-V.",
        "This host appears to be running in a virtual machine with VHV disabled. Ensure that VHV is "
        "enabled in the virtual machine configuration file.",
    ]
    described = describe_fault(fault)
    assert described.startswith("GenericVmConfigFault: This host does not support AMD-V. This host appears")


def test_a_fault_block_that_starts_mid_line_with_comma_blank_ends():
    fault = parse_fault(load_fixture("9.0.0", "vim-cmd-vmsvc-power.reset-invalidstate-capture"))
    assert fault["name"] == "InvalidPowerState" and fault["existing_state"] == "poweredOff"
    assert fault["msg"] == "The attempted operation cannot be performed in the current state (Powered off)."


@params("vim-cmd-vmsvc-power.getstate-notfound")
def test_not_found_in_every_era(release, name, text):
    fault = parse_fault(text)
    assert fault["name"] == "NotFound"
    assert re.fullmatch(r'Unable to find a VM corresponding to "\d+"', fault["msg"])


@params("vim-cmd-vmsvc-get.guest")
def test_every_get_guest_capture_parses(release, name, text):
    guest = parse_guest_info(text)
    assert guest["tools_running"] is (guest["tools_running_status"] == "guestToolsRunning")
    assert guest["ip_address"] is None or re.match(r"^[0-9a-f.:]+$", guest["ip_address"])


def test_get_guest_with_comma_blank_line_ends():
    guest = parse_guest_info(load_fixture("6.7.0", "vim-cmd-vmsvc-get.guest-commas-capture"))
    assert guest == {"tools_running_status": "guestToolsNotRunning", "tools_running": False, "ip_address": None}


@params("vim-cmd-vmsvc-power.getstate")
def test_every_power_state_capture_parses_or_says_why_not(release, name, text):
    if parse_fault(text):
        with pytest.raises(ValueError):
            parse_power_state(text)
    else:
        assert parse_power_state(text) in ("poweredOn", "poweredOff", "suspended")


def test_strings_holding_a_newline_and_a_last_field_without_comma():
    text = '(vim.Foo) {\n   a = "one\ntwo", \n   b = 3, \n   c = "last"\n}\n'
    assert parse_properties(text, ("a", "b", "c")) == {"a": "one\ntwo", "b": "3", "c": "last"}


@pytest.mark.parametrize(
    ("summary_line", "path"),
    [
        ('      vmPathName = "[datastore1] a/a.vmx",', "/vmfs/volumes/datastore1/a/a.vmx"),
        ('      vmPathName = "[datastore1] a/a.vmx", ', "/vmfs/volumes/datastore1/a/a.vmx"),
        ('      vmPathName = "[nas:vol1 (2)] b c/b.vmx"', "/vmfs/volumes/nas:vol1 (2)/b c/b.vmx"),
        ('      vmPathName = "[] /var/run/crx/infra/vCLS-1/vCLS-1.vmx",', "/var/run/crx/infra/vCLS-1/vCLS-1.vmx"),
    ],
)
def test_the_host_side_path_mapping(busybox_sh, summary_line, path):
    done = busybox_sh("sed -n %s" % quote(SED_VMX_PATH), stdin=(summary_line + "\n").encode())
    assert done.stdout.decode() == path + "\n"


def fake_sleep(directory):
    """A shell function ``sleep`` (a function comes before BusyBox's applet) that notes how long it
    was asked to nap and returns at once: the retry's nap is seen without being waited for."""
    naps = directory / "naps"
    return 'sleep() { echo "$*" >> %s; }' % quote(str(naps)), naps


@pytest.mark.parametrize(("release", "name"), [(r, n) for r, n, _t in fixtures("vim-cmd-transient")])
def test_a_transient_vim_cmd_failure_is_tried_once_more(busybox_sh, busybox_bin, tmp_path, release, name):
    text = load_fixture(release, name)
    assert any(sign in text for sign in TRANSIENT_VIM_CMD)
    count = tmp_path / "count"
    fake = tmp_path / "bin" / "vim-cmd"
    fake.parent.mkdir()
    # Fails the first time with the captured text (exit 1, or 134 for an abort), then answers.
    rc = 134 if "Aborted" in text else 1
    fake.write_text(
        "#!%s/sh\necho x >> %s\nif [ $(wc -l < %s) -eq 1 ]; then printf %%s %s; exit %d; fi\n"
        "printf 'Retrieved runtime info\\nPowered on\\n'\n" % (busybox_bin, count, count, quote(text), rc)
    )
    fake.chmod(0o755)
    nap, naps = fake_sleep(tmp_path)
    command = host_script("PATH=%s:$PATH" % fake.parent, nap, 'vim_cmd vmsvc/power.getstate 1; echo "rc=$?"')
    done = busybox_sh(command)
    assert done.stdout.decode() == "Retrieved runtime info\nPowered on\nrc=0\n"
    assert count.read_text().count("x") == 2
    assert naps.read_text() == "1\n"  # the second call came after the host's one-second nap


def test_a_lasting_failure_is_tried_only_twice(busybox_sh, busybox_bin, tmp_path):
    count = tmp_path / "count"
    fake = tmp_path / "bin" / "vim-cmd"
    fake.parent.mkdir()
    fake.write_text(
        "#!%s/sh\necho x >> %s\necho 'Failed to login: Connection reset by peer'\nexit 1\n" % (busybox_bin, count)
    )
    fake.chmod(0o755)
    nap, naps = fake_sleep(tmp_path)
    done = busybox_sh(host_script("PATH=%s:$PATH" % fake.parent, nap, 'vim_cmd vmsvc/getallvms; echo "rc=$?"'))
    assert done.stdout.decode() == "Failed to login: Connection reset by peer\nrc=1\n"
    assert count.read_text().count("x") == 2
    assert naps.read_text() == "1\n"
