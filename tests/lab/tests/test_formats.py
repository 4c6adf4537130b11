"""What each simulated ESXi release prints over SSH: the captured-output fixtures byte for byte
(tests/unit/fixtures/esxi, one source of truth with the parser unit tests), and the rest of what
esxi-facts.md says about the shell."""

from __future__ import annotations

import re
import subprocess

import fixture_sources
import pytest

from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import load_fixture

pytestmark = pytest.mark.lab

REPRODUCED = [fx for fx in fixture_sources.table() if fx.host]

VERSIONS = {
    "esxi50": "5.0.0",
    "esxi51": "5.1.0",
    "esxi55": "5.5.0",
    "esxi60": "6.0.0",
    "esxi65": "6.5.0",
    "esxi67": "6.7.0",
    "esxi700": "7.0.0",
    "esxi80": "8.0.1",
    "esxi800": "8.0.0",
    "esxi803": "8.0.3",
    "esxi90": "9.0.0",
}


@pytest.mark.parametrize("fx", REPRODUCED, ids=[fx.id for fx in REPRODUCED])
def test_the_lab_prints_each_fixture(lab, fx):
    assert fixture_sources.run(lab, fx) == fx.text


@pytest.mark.parametrize("host", sorted(VERSIONS))
def test_every_release_reports_itself(lab, host):
    r = lab.ssh(host, "vmware -v; uname -s; uname -r; hostname; ls -l /vmfs/volumes/; cat /etc/vmware/config")
    lines = r.stdout.splitlines()
    build = lab.host(host).build
    assert lines[:4] == [f"VMware ESXi {VERSIONS[host]} build-{build}", "VMkernel", VERSIONS[host], host]
    for ds in lab.host(host).datastores:  # /vmfs/volumes/<datastore> -> <uuid>
        assert f"{ds.name} -> {ds.uuid}" in r.stdout
    assert 'libdir = "/usr/lib/vmware"' in r.stdout


def test_version_strings(lab):
    l55 = lab.ssh("esxi55", "vmware -l").stdout  # 5.5 build-1331820 is the GA build
    assert l55 == load_fixture("5.5.0", "vmware-l-ga-capture") == "VMware ESXi 5.5.0 GA\n"
    for host, text in (("esxi700", "VMware ESXi 7.0 GA\n"), ("esxi90", "VMware ESXi 9.0 GA\n")):
        assert lab.ssh(host, "vmware -l").stdout == text  # two-part versions from 7.0 on
    assert lab.hostd("esxi70", "vmware", "-v") == (0, "VMware ESXi 7.0.3 build-20328353\n")
    assert lab.ssh("esxi55", "esxcli system version get").stdout.splitlines() == [
        "   Product: VMware ESXi",
        "   Version: 5.5.0",
        "   Build: Releasebuild-1331820",
        "   Update: 0",
    ]


def test_getallvms_pitfalls(lab):
    out = lab.ssh("esxi55p", "vim-cmd vmsvc/getallvms").stdout
    lines = out.splitlines()
    assert lines[0] == "Skipping invalid VM '16'"  # before the header
    assert re.fullmatch(r"Vmid +Name +File +Guest OS +Version +Annotation", lines[1])
    assert "Creator: Leo\nHost IP: 192.168.0.148\nProject: Test2.0\n\n103 " in out  # continuation + blank
    row496 = next(line for line in lines if line.startswith("496 "))
    assert "vm-ark-mcnc-9 (nonpersistent: vmwarewinxp-base234-v12)" in row496
    assert re.search(
        r"\[nfs-datastore\] vm-ark-mcnc-9_234-v12/vm-ark-mcnc-9_234-v12\.vmx +winXPProGuest +vmx-04$", row496
    )
    assert any("[datastore1 (4)] sap-router/win2k8x64.vmx" in line for line in lines)
    vmids = [int(m.group(1)) for line in lines if (m := re.match(r"(\d+) ", line))]
    assert vmids == sorted(vmids) and 16 not in vmids
    listed = [int(line.split()[0]) for line in lab.ssh("esxi67", "vim-cmd vmsvc/getallvms").stdout.splitlines()[1:]]
    assert listed == [112, 128, 144, 80, 96]  # string order


def test_getallvms_rows_of_a_clustered_host(lab):
    out = lab.ssh("esxi90", "vim-cmd vmsvc/getallvms").stdout
    vcls = [line for line in out.splitlines() if " vCLS-" in line]
    assert len(vcls) == 1
    vmid, name = vcls[0].split()[:2]
    assert re.fullmatch(r"vCLS-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", name)
    assert f"   [] /var/run/crx/infra/{name}/{name}.vmx   crxSys1Guest" in vcls[0]
    assert vcls[0].endswith("vmx-21    ")  # this host keeps the Version column's padding
    assert "[nas:vol1 (2)] v90/v90.vmx" in out  # ':' in a datastore name


def test_faults_per_version(lab):
    r = lab.ssh("esxi67", "vim-cmd vmsvc/power.getstate 2")
    assert (r.stdout, r.returncode) == (load_fixture("6.7.0", "vim-cmd-vmsvc-power.getstate-notfound-capture"), 1)
    out50 = lab.ssh("esxi50", "vim-cmd vmsvc/get.summary 7").stdout.splitlines()
    assert out50[1] == "   dynamicType = <unset>, " and out50[-2].endswith('"7"", ')
    on55 = lab.ssh("esxi55", "vim-cmd vmsvc/power.on 200")
    assert on55.returncode == 1 and on55.stdout.startswith("Powering on VM:\n(vim.fault.InvalidPowerState) {\n")
    notools = lab.ssh("esxi55", "vim-cmd vmsvc/power.shutdown 202")
    assert notools.returncode == 1 and "(vim.fault.ToolsUnavailable) {" in notools.stdout
    on90 = lab.ssh("esxi90", "vim-cmd vmsvc/power.on 1")  # 9.0: the block starts mid-line
    assert on90.returncode == 1 and "\nPower on failed: (vim.fault.InvalidPowerState) {\n" in on90.stdout


def test_getstate_and_vmodl_dumps(lab):
    guest = lab.ssh("esxi803", "vim-cmd vmsvc/get.guest 1").stdout
    address = lab.config.host("esxi803").vms[0].address
    assert guest.startswith("Guest information:\n\n(vim.vm.GuestInfo) {\n")
    assert '   toolsRunningStatus = "guestToolsRunning",\n' in guest
    assert f'\n   ipAddress = "{address}",\n' in guest and "ipAddress = (string) [" in guest
    summary = lab.ssh("esxi55p", "vim-cmd vmsvc/get.summary 102").stdout
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


def test_host_commands(lab):
    assert lab.ssh("esxi55", "esxcli system foo get").returncode == 1
    r = lab.ssh("esxi55", "df -P; echo rc=$?; df -h | head -1")
    assert "rc=1" in r.stdout and re.search(r"\nFilesystem +Size +Used +Available +Use% +Mounted on\n$", r.stdout)
    assert "df: invalid option -- 'P'" in r.stderr
    r = lab.ssh("esxi65", "head -1 /bin/df; df -P; echo rc=$?; df | head -1")  # 6.5: a Python script
    assert r.stdout.startswith("#!/bin/python\nrc=2\nFilesystem ") and "df: error: no such option: -P" in r.stderr
    r = lab.ssh("esxi800", "esxcli network vswitch standard policy security get -v vSwitch0")
    assert r.stdout.startswith("Allow Promiscuous: false\n")  # this host prints esxcli without indent


@pytest.mark.parametrize(
    "host, present, python",
    [
        ("esxi50", True, None),
        ("esxi55", True, None),
        ("esxi60", True, ("/usr/bin/python", "Python 2.7.9")),
        ("esxi65", False, ("/bin/python", "Python 3.5.6")),
        ("esxi67", True, ("/bin/python", "Python 3.5.6")),
        ("esxi700", True, ("/usr/bin/python", "Python 3.8.3")),
        ("esxi80", True, ("/bin/python", "Python 3.8.16")),
        ("esxi90", True, ("/bin/python", "Python 3.8.16")),
    ],
)
def test_shell_environment(lab, host, present, python):
    r = lab.ssh(host, "echo x | tr x y")
    assert (r.stdout == "y\n") is present  # tr is missing on 6.5 only
    r = lab.ssh(host, "command -v ls; echo rc=$?; ls /bin/bash; echo $PATH")
    assert "rc=127" in r.stdout and "/bin/bash: No such file" in r.stderr and r.stdout.endswith("/bin:/sbin\n")
    r = lab.ssh(host, "mount; id; netstat; ip a; ps")  # commands ESXi does not have
    assert r.stdout == "" and [line.split(": ")[1] for line in r.stderr.splitlines()] == [
        "mount",
        "id",
        "netstat",
        "ip",
        "ps",
    ]
    r = lab.ssh(host, "python -V; /usr/bin/python -V; /bin/python -V")
    if python is None:
        assert "Python" not in r.stdout + r.stderr
    else:
        path, text = python
        assert text in (r.stdout if text.startswith("Python 3") else r.stderr)
        assert lab.ssh(host, f"{path} --version").returncode == 0


@pytest.mark.parametrize("host, guarded", [("esxi67", False), ("esxi700", False), ("esxi800", True), ("esxi90", True)])
def test_exec_installed_only_from_80(lab, host, guarded):
    """ESXi 8's execInstalledOnly: a file the user wrote does not run, wherever it is; `sh -c`, a
    script piped into sh and `sh FILE` (the installed sh reads it) still do."""
    ds = f"/vmfs/volumes/{lab.host(host).datastores[0].name}"
    script = [
        "printf '#!/bin/sh\\necho ran\\n' > /tmp/x.sh",
        "chmod +x /tmp/x.sh",
        f"cp /tmp/x.sh '{ds}/y.sh'",
        "cp /tmp/x.sh /bin/z.sh",
        "/tmp/x.sh",
        "echo rc=$?",
        "cd /tmp && ./x.sh",
        f"'{ds}/y.sh'",
        "z.sh",
        "sh /tmp/x.sh",
        "sh -c 'echo sh-c'",
        "echo 'echo piped' | sh",
        "rm -f /tmp/x.sh /bin/z.sh",
    ]
    r = lab.ssh(host, "; ".join(script))
    if guarded:
        assert r.stdout == "rc=126\nran\nsh-c\npiped\n"
        assert r.stderr.splitlines() == [
            "/bin/sh: /tmp/x.sh: Operation not permitted",
            "/bin/sh: ./x.sh: Operation not permitted",
            f"/bin/sh: {ds}/y.sh: Operation not permitted",
            "/bin/sh: z.sh: Operation not permitted",
        ]
    else:
        assert r.stdout == "ran\nrc=0\nran\nran\nran\nran\nsh-c\npiped\n" and r.stderr == ""


def test_interactive_prompt(lab):
    for host, prompt in (("esxi55", "~ # "), ("esxi67", "[root@esxi67:~] ")):
        argv = lab.ssh_argv(lab.address(host), "", "-tt")[:-1]  # no command: a login shell
        r = subprocess.run(argv, input="cd /vmfs\nexit\n", capture_output=True, text=True, timeout=30)
        assert prompt in r.stdout
        assert ("/vmfs # " if host == "esxi55" else "[root@esxi67:/vmfs] ") in r.stdout
