"""Host output that is cut short, garbled or unknown is a specific error, never a guess.

Complements the reliability suite (tests/reliability/test_malformed.py, on the lab's real output):
here the parsers and the power script alone, on samples in esxi-facts.md's formats.
"""

import subprocess

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._inventory import build_host_facts
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import EsxiOutputError, parse_getallvms
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import host_script
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vm_power import (
    PowerError,
    interpret_power,
    power_lines,
)

HEADER = "Vmid   Name                      File                          Guest OS            Version   Annotation"
PATHS = {"1": "[datastore1] a/a.vmx", "2": "[datastore1] nl/nl.vmx", "3": "[datastore1] c/c.vmx"}


def listing(*rows):
    return "\n".join((HEADER,) + rows) + "\n"


def test_a_name_with_a_newline_is_read_whole_with_the_vms_own_path():
    text = listing(
        "1      a                         [datastore1] a/a.vmx          otherLinux64Guest   vmx-15",
        "2      line one",
        "line two $(x)                   [datastore1] nl/nl.vmx        otherLinux64Guest   vmx-15    note",
        "3      c                         [datastore1] c/c.vmx          otherLinux64Guest   vmx-15",
    )
    # Alone, the listing hides VM 2 in VM 1's annotation; the paths settle it.
    alone = parse_getallvms(text)[0]
    assert [vm["vmid"] for vm in alone] == ["1", "3"] and "line one" in alone[0]["annotation"]
    vms = parse_getallvms(text, paths=PATHS)[0]
    assert [(vm["vmid"], vm["name"], vm["annotation"]) for vm in vms] == [
        ("1", "a", ""),
        ("2", "line one\nline two $(x)", "note"),
        ("3", "c", ""),
    ]
    assert vms[1]["vmx_path"] == "/vmfs/volumes/datastore1/nl/nl.vmx"


def test_an_annotation_that_looks_like_a_row_stays_an_annotation():
    spoof = "77      a   [datastore1] spoofer/spoofer.vmx   otherLinux64Guest   vmx-15"
    text = listing(
        "1      a                         [datastore1] a/a.vmx          otherLinux64Guest   vmx-15",
        "3      c                         [datastore1] c/c.vmx          otherLinux64Guest   vmx-15    harmless",
        spoof,
    )
    assert len(parse_getallvms(text)[0]) == 3  # alone: a second VM named 'a', which does not exist
    vms = parse_getallvms(text, paths=PATHS, missing={"77"})[0]
    assert [vm["name"] for vm in vms] == ["a", "c"]
    assert vms[1]["annotation"] == "harmless\n" + spoof


def test_a_copy_of_a_real_row_in_an_annotation_is_refused():
    row = "1      a                         [datastore1] a/a.vmx          otherLinux64Guest   vmx-15"
    text = listing(row, "3      c                         [datastore1] c/c.vmx   otherLinux64Guest   vmx-15    x", row)
    with pytest.raises(EsxiOutputError, match="listed twice"):
        parse_getallvms(text, paths=PATHS)


def test_a_real_vms_row_that_cannot_be_read_is_an_error():
    row = "1      a                         [datastore1] a/a.vmx          otherLinux64Guest   vmx-15"
    text = listing(row, "3      c")
    with pytest.raises(EsxiOutputError, match=r"row of VM 3 \(\[datastore1\] c/c.vmx\).*cannot be read"):
        parse_getallvms(text, paths=PATHS)


def host_info_answer():
    parts = ["@@nestedvirt version", "VMware ESXi 6.7.0 build-15820472", "VMware ESXi 6.7.0 Update 3"]
    parts += ["@@nestedvirt python", "/bin/python"]
    parts += ["@@nestedvirt hostconfig", 'vhv.allow = "FALSE"', "@@nestedvirt getallvms"]
    parts += [
        HEADER,
        "1      a                         [datastore1] a/a.vmx          otherLinux64Guest   vmx-15",
        "3      c                         [datastore1] c/c.vmx          otherLinux64Guest   vmx-15",
    ]
    for vmid in ("1", "3"):
        parts += [
            "@@nestedvirt summary %s" % vmid,
            '      powerState = "poweredOn",',
            '      toolsRunningStatus = "guestToolsRunning",',
            "      ipAddress = <unset>,",
            '      vmPathName = "%s",' % PATHS[vmid],
            "@@nestedvirt vmx %s" % vmid,
            'virtualHW.version = "15"',
        ]
    return "\n".join(parts + ["@@nestedvirt end"]) + "\n"


def test_host_info_cut_at_any_line_is_an_error_or_the_full_answer():
    full = host_info_answer()
    expected = build_host_facts(full)
    lines = full.split("\n")
    errors = 0
    for cut in range(len(lines)):
        text = "\n".join(lines[:cut])
        try:
            facts = build_host_facts(text)
        except EsxiOutputError:
            errors += 1
            continue
        assert facts == expected, cut  # never a different answer
    assert errors == len(lines) - 1  # only the whole answer has its end marker


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "\x00\x01\x02",
        "sh: vim-cmd: not found",
        "@@nestedvirt end",
        "@@nestedvirt version\nVMware ESXi 6.7.0 build-15820472\n"
        "@@nestedvirt getallvms\nFailed to login\n@@nestedvirt end",
    ],
)
def test_host_info_garbage_is_an_error(garbage):
    with pytest.raises(EsxiOutputError):
        build_host_facts(garbage)


@pytest.fixture
def fake_vim_cmd(tmp_path, busybox_bin):
    """A PATH with BusyBox and a vim-cmd whose power.getstate prints what the test says; every
    call is logged, so a test sees which power operations the script sent."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "vim-cmd").write_text(
        "#!%s/sh\n"
        'echo "$*" >> %s/calls\n'
        'case "$1" in vmsvc/power.getstate) cat %s/state;; esac\n' % (busybox_bin, tmp_path, tmp_path)
    )
    (fake / "vim-cmd").chmod(0o755)

    def run(state_text, state, force=False):
        (tmp_path / "state").write_text(state_text.rstrip("\n") + "\n")
        (tmp_path / "calls").write_text("")
        done = subprocess.run(
            [
                str(busybox_bin / "sh"),
                "-c",
                host_script(*power_lines("7", state, timeout=2, force=force, wait_for_ip=True)),
            ],
            capture_output=True,
            env={"PATH": "%s:%s" % (fake, busybox_bin)},
            check=False,
            timeout=30,
        )
        return done.stdout.decode(), (tmp_path / "calls").read_text().split("\n")

    return run


@pytest.mark.parametrize(
    ("state_text", "message"),
    [
        ("hostd is restarting, try later", "cannot read the power state of VM 7 before any change"),
        ("Retrieved runtime info\n", "cannot read the power state of VM 7 before any change"),
        ('(vim.fault.BrandNewFault) {\n   msg = "something new"\n}', "BrandNewFault: something new"),
        ('(vmodl.fault.SystemError) {\n   reason = "boom"\n}', "SystemError"),
    ],
)
@pytest.mark.parametrize("state", ["shutdown", "poweredoff", "poweredon"])
def test_an_unreadable_power_state_sends_no_power_operation(fake_vim_cmd, state_text, message, state):
    stdout, calls = fake_vim_cmd(state_text, state, force=True)
    assert not [c for c in calls if c.startswith("vmsvc/power.") and "getstate" not in c], calls
    with pytest.raises(PowerError, match=message):
        interpret_power(stdout, "7", state, 2, True)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (("VMware ESXi 6.7.0 build-15820472\n", ""), "printed no build line"),
        (("@@nestedvirt summary 3\n", "@@nestedvirt summaryx 3\n"), "lacks the summary or the vmx keys of VM 3"),
        (("@@nestedvirt vmx 1\n", ""), "lacks the summary or the vmx keys of VM 1"),
        (
            (
                'virtualHW.version = "15"\n@@nestedvirt summary 3',
                'virtualHW.version = "15"\nrm -rf /\n@@nestedvirt summary 3',
            ),
            "unexpected line among the vmx keys of VM 1",
        ),
        (('      powerState = "poweredOn",\n', "", 1), "the summary of VM 1 has no readable power state"),
        (("3      c                         [datastore1] c/c.vmx", "3      c"), r"VM 3 \(\[datastore1\] c/c.vmx\)"),
    ],
)
def test_host_info_parts_that_disagree_are_an_error(damage, message):
    text = host_info_answer().replace(*damage)
    assert text != host_info_answer()
    with pytest.raises(EsxiOutputError, match=message):
        build_host_facts(text)
