"""The vSphere API side of the lab, wired to hostd and sshd (acceptance point 3)."""

from __future__ import annotations

import json
import ssl
import stat

import pytest
import yaml
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

pytestmark = pytest.mark.lab

RESTRICTED = "Current license or ESXi version prohibits execution of the requested operation."


def connect(lab, host: str):
    hv = yaml.safe_load((lab.state / "inventory.yml").read_text())["all"]["children"]["esxi_hosts"]["hosts"][host]
    ctx = ssl.create_default_context(cafile=hv["nestedvirt_api_ca_file"])  # verifies the certificate
    password = (lab.state / "secrets" / f"{host}.api_password").read_text().strip()
    si = SmartConnect(
        host=hv["nestedvirt_api_hostname"],
        port=hv["nestedvirt_api_port"],
        user=hv["nestedvirt_api_username"],
        pwd=password,
        sslContext=ctx,
    )
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    return si, content, view.view[0]


def the_vm(content, name: str):
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    return next(vm for vm in view.view if vm.name == name)


def test_tsm_ssh_follows_the_api(lab):
    assert lab.ssh("esxi70", "true").returncode == 255  # ssh: false
    si, content, host = connect(lab, "esxi70")
    try:
        svc = host.configManager.serviceSystem
        svc.StartService(id="TSM-SSH")
        r = lab.ssh("esxi70", "vmware -v")
        assert r.stdout == "VMware ESXi 7.0.3 build-20328353\n"
        assert json.loads(lab.hostd("esxi70", "lab", "ssh_state")[1])["running"] is True
        svc.StopService(id="TSM-SSH")
        r = lab.ssh("esxi70", "true")
        assert r.returncode == 255 and "Connection refused" in r.stderr
        svc.UpdateServicePolicy(id="TSM-SSH", policy="automatic")
        assert json.loads(lab.hostd("esxi70", "lab", "ssh_state")[1]) == {"running": False, "policy": "automatic"}
        svc.UpdateServicePolicy(id="TSM-SSH", policy="off")
    finally:
        Disconnect(si)


def test_licensed_reconfig_reaches_the_vmx(lab):
    si, content, host = connect(lab, "esxi70")
    try:
        assert host.capability.nestedHVSupported is True
        WaitForTask(the_vm(content, "api vm").ReconfigVM_Task(vim.vm.ConfigSpec(nestedHVEnabled=True)))
        vm = next(v for v in json.loads(lab.hostd("esxi70", "lab", "inventory")[1])["vms"] if v["name"] == "api vm")
        assert vm["nested_hv_enabled"] is True
    finally:
        Disconnect(si)


def test_free_license_refuses_writes(lab):
    si, content, _ = connect(lab, "esxi803")
    try:
        with pytest.raises(vim.fault.RestrictedVersion) as err:
            WaitForTask(the_vm(content, "free vm").ReconfigVM_Task(vim.vm.ConfigSpec(nestedHVEnabled=True)))
        assert err.value.msg == RESTRICTED
        assert the_vm(content, "Lab VM 80").runtime.powerState == "poweredOn"  # reads work
    finally:
        Disconnect(si)
    assert "vhv.enable" not in lab.ssh("esxi803", "cat '/vmfs/volumes/datastore1/free vm/free vm.vmx'").stdout


def test_api_connection_vars_and_secrets(lab):
    inventory = (lab.state / "inventory.yml").read_text()
    hv = yaml.safe_load(inventory)["all"]["children"]["esxi_hosts"]["hosts"]
    assert "nestedvirt_api_hostname" not in hv["esxi55"]
    for host in ("esxi70", "esxi803"):
        secret = lab.state / "secrets" / f"{host}.api_password"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        password = secret.read_text().strip()
        assert password not in inventory and password not in (lab.state / "labd.log").read_text()
        assert str(secret) in hv[host]["nestedvirt_api_password"]
        assert hv[host]["nestedvirt_api_port"] == 443
