"""What each simulated ESXi release prints over SSH, against the samples in esxi-facts.md."""

from __future__ import annotations

import re
import subprocess

import esxi_facts as facts
import pytest

pytestmark = pytest.mark.lab

VERSIONS = {
    "esxi50": "5.0.0",
    "esxi51": "5.1.0",
    "esxi55": "5.5.0",
    "esxi60": "6.0.0",
    "esxi65": "6.5.0",
    "esxi67": "6.7.0",
    "esxi80": "8.0.1",
    "esxi803": "8.0.3",
}


def test_version_commands(lab):
    assert lab.ssh("esxi55", "vmware -v").stdout == facts.VMWARE_V_55
    assert lab.ssh("esxi67", "vmware -lv").stdout == facts.VMWARE_LV_67
    assert lab.ssh("esxi80", "esxcli system version get").stdout == facts.ESXCLI_VERSION_801
    assert lab.hostd("esxi70", "vmware", "-l") == (0, facts.VMWARE_L_70)  # its SSH starts stopped
    out = lab.ssh("esxi55", "esxcli system version get").stdout
    assert out.splitlines() == [
        "   Product: VMware ESXi",
        "   Version: 5.5.0",
        "   Build: Releasebuild-1331820",
        "   Update: 1",
    ]


@pytest.mark.parametrize("host", sorted(VERSIONS))
def test_every_release_reports_itself(lab, host):
    r = lab.ssh(host, "vmware -v; uname -s; uname -r; hostname; ls -l /vmfs/volumes/; cat /etc/vmware/config")
    lines = r.stdout.splitlines()
    build = lab.host(host).build
    assert lines[:4] == [f"VMware ESXi {VERSIONS[host]} build-{build}", "VMkernel", VERSIONS[host], host]
    for ds in lab.host(host).datastores:  # /vmfs/volumes/<datastore> -> <uuid>
        assert f"{ds.name} -> {ds.uuid}" in r.stdout
    assert 'libdir = "/usr/lib/vmware"' in r.stdout


def test_getallvms_literal_rows(lab):
    assert (
        lab.ssh("esxi80", "vim-cmd vmsvc/getallvms").stdout
        == facts.GETALLVMS_HEADER.replace(
            "Name          File              Guest OS       ", "Name   File                  Guest OS          "
        )
        + facts.GETALLVMS_ROW_X8
    )
    out = lab.ssh("esxi51", "vim-cmd vmsvc/getallvms").stdout
    assert out.splitlines(True)[0] == facts.GETALLVMS_HEADER


def test_getallvms_pitfalls(lab):
    out = lab.ssh("esxi55", "vim-cmd vmsvc/getallvms").stdout
    lines = out.splitlines()
    assert lines[0] == facts.SKIPPING_INVALID
    assert re.fullmatch(r"Vmid +Name +File +Guest OS +Version +Annotation", lines[1])
    assert f"Creator: Leo\n{facts.ANNOTATION_CONTINUATION}\n103 " in out  # continuation + blank line
    row496 = next(line for line in lines if line.startswith("496 "))
    assert facts.NAME_WITH_PARENTHESES in row496
    assert re.search(
        r"\[nfs-datastore\] vm-ark-mcnc-9_234-v12/vm-ark-mcnc-9_234-v12\.vmx +winXPProGuest +vmx-04$", row496
    )
    assert any(facts.DATASTORE_WITH_SPACES in line for line in lines)
    vmids = [int(m.group(1)) for line in lines if (m := re.match(r"(\d+) ", line))]
    assert vmids == sorted(vmids) and 16 not in vmids
    listed = [int(line.split()[0]) for line in lab.ssh("esxi67", "vim-cmd vmsvc/getallvms").stdout.splitlines()[1:]]
    assert listed == facts.STRING_ORDER


def test_faults_per_version(lab):
    r = lab.ssh("esxi67", "vim-cmd vmsvc/power.getstate 2")
    assert (r.stdout, r.returncode) == (facts.NOT_FOUND_67, 1)
    out55 = lab.ssh("esxi55", "vim-cmd vmsvc/power.getstate 2").stdout
    assert out55.splitlines()[:2] == ["(vim.fault.NotFound) {", "   dynamicType = <unset>,"]
    out50 = lab.ssh("esxi50", "vim-cmd vmsvc/get.summary 7").stdout.splitlines()
    assert out50[1] == "   dynamicType = <unset>, " and out50[-2].endswith('"7"", ')
    assert lab.ssh("esxi60", "vim-cmd vmsvc/power.on 1").stdout == "Powering on VM:\nPower on failed\n"
    assert lab.ssh("esxi65", "vim-cmd vmsvc/power.on 1").stdout == "Powering on VM:\nPower on failed\n"
    on55 = lab.ssh("esxi55", "vim-cmd vmsvc/power.on 200")
    assert on55.returncode == 1 and on55.stdout.startswith("Powering on VM:\n(vim.fault.InvalidPowerState) {\n")
    assert 'existingState = "poweredOn"' in on55.stdout and facts.INVALID_POWER_STATE_MSG in on55.stdout
    notools = lab.ssh("esxi55", "vim-cmd vmsvc/power.shutdown 202")
    assert notools.returncode == 1 and facts.TOOLS_UNAVAILABLE in notools.stdout
    assert "(vim.fault.ToolsUnavailable) {" in notools.stdout


def test_getstate_and_vmodl_dumps(lab):
    assert lab.ssh("esxi55", "vim-cmd vmsvc/power.getstate 200").stdout == facts.GETSTATE_ON
    guest = lab.ssh("esxi803", "vim-cmd vmsvc/get.guest 1").stdout
    address = lab.config.host("esxi803").vms[0].address
    assert guest.startswith("Guest information:\n\n(vim.vm.GuestInfo) {\n")
    assert '   toolsRunningStatus = "guestToolsRunning",\n' in guest
    assert f'\n   ipAddress = "{address}",\n' in guest and "ipAddress = (string) [" in guest
    off = lab.ssh("esxi803", "vim-cmd vmsvc/get.guest 2").stdout
    assert "\n   ipAddress = <unset>,\n" in off and '"guestToolsNotRunning"' in off
    summary = lab.ssh("esxi55", "vim-cmd vmsvc/get.summary 102").stdout
    assert summary.startswith("Listsummary:\n\n(vim.vm.Summary) {\n")
    for needle in (
        'powerState = "poweredOn"',
        'toolsRunningStatus = "guestToolsRunning"',
        "ipAddress = <unset>",
        'vmPathName = "[datastore1] Test2.0_192.168.0.148/Test2.0_192.168.0.148.vmx"',
        'annotation = "Creator: Leo\nHost IP: 192.168.0.148\nProject: Test2.0\n"',
        "uptimeSeconds = ",
    ):
        assert needle in summary
    config = lab.ssh("esxi55", "vim-cmd vmsvc/get.config 102").stdout
    assert config.startswith("Configuration:\n\n(vim.vm.ConfigInfo) {\n") and 'version = "vmx-08"' in config


def test_host_commands_and_security_policy(lab):
    assert (
        lab.ssh("esxi55", "esxcli network vswitch standard policy security get -v vSwitch0").stdout
        == facts.SECURITY_GET
    )
    assert lab.ssh("esxi55", "esxcli system foo get").returncode == 1
    r = lab.ssh("esxi55", "df -P; echo rc=$?; df -h | head -1")
    assert "rc=1" in r.stdout and re.search(r"\nFilesystem +Size +Used +Available +Use% +Mounted on\n$", r.stdout)


@pytest.mark.parametrize(
    "host, present, python",
    [
        ("esxi50", True, None),
        ("esxi55", True, None),
        ("esxi60", True, ("/usr/bin/python", "Python 2.7.9")),
        ("esxi65", False, ("/bin/python", "Python 3.5.6")),
        ("esxi67", True, ("/bin/python", "Python 3.5.6")),
        ("esxi80", True, ("/bin/python", "Python 3.8.16")),
    ],
)
def test_shell_environment(lab, host, present, python):
    r = lab.ssh(host, "echo x | tr x y")
    assert (r.stdout == "y\n") is present  # tr is missing on 6.5 only
    r = lab.ssh(host, "command -v ls; echo rc=$?; ls /bin/bash; echo $PATH")
    assert "rc=127" in r.stdout and "/bin/bash: No such file" in r.stderr and r.stdout.endswith("/bin:/sbin\n")
    r = lab.ssh(host, "python -V; /usr/bin/python -V; /bin/python -V")
    if python is None:
        assert "Python" not in r.stdout + r.stderr
    else:
        path, text = python
        assert text in (r.stdout if text.startswith("Python 3") else r.stderr)
        assert lab.ssh(host, f"{path} --version").returncode == 0


def test_interactive_prompt(lab):
    for host, prompt in (("esxi55", "~ # "), ("esxi67", "[root@esxi67:~] ")):
        argv = lab.ssh_argv(lab.address(host), "", "-tt")[:-1]  # no command: a login shell
        r = subprocess.run(argv, input="cd /vmfs\nexit\n", capture_output=True, text=True, timeout=30)
        assert prompt in r.stdout
        assert ("/vmfs # " if host == "esxi55" else "[root@esxi67:/vmfs] ") in r.stdout
