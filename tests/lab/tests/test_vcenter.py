"""A vCenter in the lab (issue 16): vcsim's vCenter model managing two lab hosts, driven with
pyvmomi the way the collection will drive it; every change it makes must reach the host's hostd
(and the QEMU guest), never through SSH. One lab for the module, on free nets."""

from __future__ import annotations

import json
import secrets
import ssl
import time
from pathlib import Path

import pytest
import yaml
from conftest import Lab
from harness import lab as harness_lab
from harness.ports import port_open, ssh_banner
from labkit.addresses import listeners
from labkit.labd import Pids
from labkit.vsphere import start_vsphere_sim, stop_vsphere_sim
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

pytestmark = pytest.mark.lab

SECOND_PASSWORD = secrets.token_urlsafe(12)  # a second simulator's, for this module only

CONFIG = """\
vcenters:
  - {name: vc1, datacenter: Site, cluster: Nested, hosts: [esxi70, esxi80]}
hosts:
  - name: esxi70
    version: "7.0.3"
    vms:
      - {name: "Idle 70", guest: none}
      - {name: Build, guest: none, power: off, folder: A}
  - name: esxi80
    version: "8.0.1"
    api: true   # its own simulator runs beside the vCenter
    vms:
      - {name: "Guest 80", guest: linux, folder: "Prod/Web"}
      - {name: Build, guest: none, power: off, folder: B}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    state = tmp_path_factory.mktemp("esxilab-vcenter")
    seconds = harness_lab.up(yaml.safe_load(CONFIG), state)
    print(f"\nvCenter lab: up in {seconds:.1f} s ({state})")
    lab = Lab(state)
    yield lab
    vc = lab.config.vcenters[0]
    r = harness_lab.down(state)
    assert r.returncode == 0, f"esxilab down left something behind:\n{r.stdout}\n{r.stderr}"
    assert "vc1-vcenter" not in Pids(state / "pids").alive()
    assert not listeners({vc.address})


def vcenter_vars(lab) -> dict:
    return yaml.safe_load((lab.state / "inventory.yml").read_text())["all"]["children"]["vcenters"]["hosts"]["vc1"]


@pytest.fixture(scope="module")
def si(lab):
    vc = vcenter_vars(lab)
    si = SmartConnect(
        host=vc["nestedvirt_api_hostname"],
        port=vc["nestedvirt_api_port"],
        user=vc["nestedvirt_api_username"],
        pwd=(lab.state / "secrets" / "vc1.api_password").read_text().strip(),
        sslContext=ssl.create_default_context(cafile=vc["nestedvirt_api_ca_file"]),
    )
    yield si
    Disconnect(si)


def hosts(si) -> dict[str, vim.HostSystem]:
    cluster = si.content.rootFolder.childEntity[0].hostFolder.childEntity[0]
    return {h.name: h for h in cluster.host}


def vm_on(si, host: str, name: str) -> vim.VirtualMachine:
    return next(vm for vm in hosts(si)[host].vm if vm.name == name)


def vmx(lab, host: str, vm: str) -> str:
    """The VM's .vmx as the host has it, read through the host's namespace (no SSH, so not logged)."""
    holder = Pids(lab.state / "pids").alive()[f"{host}-ns"]
    root = Path(f"/proc/{holder}/root/run/esxilab/root")
    return (root / "vmfs/volumes/datastore1" / vm / f"{vm}.vmx").read_text()


def hostd_vm(lab, host: str, name: str) -> dict:
    return next(v for v in lab.status(host)["vms"] if v["name"] == name)


def test_inventory_names_the_vcenter(lab):
    vc = vcenter_vars(lab)
    address = lab.config.vcenters[0].address
    assert vc["ansible_host"] == vc["nestedvirt_api_hostname"] == address
    assert address.endswith(".201") and address.rsplit(".", 1)[0] == lab.host("esxi70").address.rsplit(".", 1)[0]
    assert vc["ansible_connection"] == "local" and vc["nestedvirt_api_validate_certs"] is True
    assert (vc["nestedvirt_vcenter_datacenter"], vc["nestedvirt_vcenter_cluster"]) == ("Site", "Nested")
    assert vc["nestedvirt_api_username"] == "administrator@vsphere.local"
    password = (lab.state / "secrets" / "vc1.api_password").read_text().strip()
    assert password not in (lab.state / "inventory.yml").read_text()
    assert str(lab.state / "secrets" / "vc1.api_password") in vc["nestedvirt_api_password"]
    esxi = yaml.safe_load((lab.state / "inventory.yml").read_text())["all"]["children"]["esxi_hosts"]["hosts"]
    assert esxi["esxi70"]["nestedvirt_vcenter"] == esxi["esxi80"]["nestedvirt_vcenter"] == "vc1"
    assert "nestedvirt_api_hostname" not in esxi["esxi70"]  # no api: true, no simulator of its own


def test_hosts_in_the_cluster(si):
    about = si.content.about
    assert (about.apiType, about.version, about.apiVersion) == ("VirtualCenter", "8.0.3", "8.0.3.0")
    assert about.fullName.startswith("VMware vCenter Server 8.0.3 build-")
    dc = si.content.rootFolder.childEntity[0]
    assert (dc.name, [c.name for c in dc.hostFolder.childEntity]) == ("Site", ["Nested"])
    found = hosts(si)
    assert sorted(found) == ["esxi70", "esxi80"]
    for name, version, build in (("esxi70", "7.0.3", "20328353"), ("esxi80", "8.0.1", "21495797")):
        h = found[name]
        assert (h.summary.config.product.version, h.config.product.version) == (version, version)
        assert h.config.product.build == build and h.capability.nestedHVSupported is True
        assert [ds.name for ds in h.datastore] == ["datastore1"]
        assert (h.runtime.connectionState, h.runtime.inMaintenanceMode) == ("connected", False)
    assert si.content.searchIndex.FindByDnsName(dnsName="esxi80", vmSearch=False) == found["esxi80"]
    assert si.content.searchIndex.FindByDnsName(dnsName="nope", vmSearch=False) is None


def test_each_vm_on_its_host_in_its_folder(lab, si):
    uuids = {}
    for host in ("esxi70", "esxi80"):
        for v in lab.config.host(host).vms:
            vm = vm_on(si, host, v.name)
            assert vm._moId.startswith("vm-")
            folder = "/".join(reversed([f.name for f in iter_parents(vm)]))
            assert folder == "/".join(filter(None, ["vm", v.folder]))
            uuids[host, v.name] = (vm.config.instanceUuid, vm.config.uuid)
            assert vm.runtime.powerState == hostd_vm(lab, host, v.name)["power"]
    assert len({u for pair in uuids.values() for u in pair}) == 2 * len(uuids)  # unique
    search = si.content.searchIndex
    assert search.FindByInventoryPath("Site/vm/A/Build") == vm_on(si, "esxi70", "Build")
    assert search.FindByInventoryPath("Site/vm/B/Build") == vm_on(si, "esxi80", "Build")
    # Stable across restarts: a second simulator over the same hosts shows the same UUIDs.
    vc = lab.config.vcenters[0]
    other = lab.state / "second-vcenter"
    listen = vc.address.rsplit(".", 1)[0] + ".250"
    proc = start_vsphere_sim(
        Path(json.loads((lab.state / "build.json").read_text())["vsphere_sim"]),
        listen=f"{listen}:443",
        hostd={h: f"{lab.host(h).address}:8307" for h in vc.hosts},
        license="licensed",
        username="u",
        password=SECOND_PASSWORD,
        workdir=other,
        vcenter=("Site", "Nested"),
    )
    try:
        si2 = SmartConnect(
            host=listen, user="u", pwd=SECOND_PASSWORD, sslContext=ssl.create_default_context(cafile=other / "cert.pem")
        )
        view = si2.content.viewManager.CreateContainerView(si2.content.rootFolder, [vim.VirtualMachine], True)
        again = {(vm.runtime.host.name, vm.name): (vm.config.instanceUuid, vm.config.uuid) for vm in view.view}
        Disconnect(si2)
    finally:
        stop_vsphere_sim(proc)
    assert again == uuids


def iter_parents(vm):
    parent = vm.parent
    while isinstance(parent, vim.Folder):
        yield parent
        parent = parent.parent


def test_power_and_nesting_reach_hostd_and_the_guest(lab, si):
    vm = vm_on(si, "esxi80", "Guest 80")
    guest = lab.config.host("esxi80").vms[0]
    assert "svm" not in lab.ssh(guest.inventory_name, "cat /proc/cpuinfo", check=True).stdout
    WaitForTask(vm.PowerOffVM_Task())
    assert hostd_vm(lab, "esxi80", "Guest 80")["power"] == "poweredOff"
    assert not port_open(guest.address)  # QEMU is gone
    WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(nestedHVEnabled=True)))
    assert 'vhv.enable = "TRUE"' in vmx(lab, "esxi80", "Guest 80")
    assert vm.config.nestedHVEnabled is True
    WaitForTask(vm.PowerOnVM_Task())
    lab.wait_tools("esxi80", guest.vmid)
    assert hostd_vm(lab, "esxi80", "Guest 80")["nested_now"] is True
    assert "svm" in lab.ssh(guest.inventory_name, "cat /proc/cpuinfo", check=True).stdout
    with pytest.raises(vim.fault.InvalidPowerState):  # hostd refuses .vmx writes while it runs
        WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(nestedHVEnabled=False)))
    assert 'vhv.enable = "TRUE"' in vmx(lab, "esxi80", "Guest 80")


def extra(vm) -> dict[str, str]:
    return {o.key: o.value for o in vm.config.extraConfig}


def test_extra_config_on_a_running_vm(lab, si):
    vm = vm_on(si, "esxi70", "Idle 70")
    assert vm.runtime.powerState == "poweredOn"
    before = vmx(lab, "esxi70", "Idle 70")
    opt = vim.option.OptionValue
    WaitForTask(
        vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[opt(key="lab.a", value="1"), opt(key="lab.b", value="x")]))
    )
    WaitForTask(
        vm.ReconfigVM_Task(
            vim.vm.ConfigSpec(extraConfig=[opt(key="lab.a", value="2"), opt(key="vhv.enable", value="TRUE")])
        )
    )
    assert extra(vm) == {"lab.a": "2", "lab.b": "x"}  # replaced, vhv.* dropped
    time.sleep(0.5)  # a few hostd syncs later it is still there
    assert extra(vm) == {"lab.a": "2", "lab.b": "x"}
    WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[opt(key="lab.b", value="")])))
    assert extra(vm) == {"lab.a": "2"}
    assert vmx(lab, "esxi70", "Idle 70") == before and hostd_vm(lab, "esxi70", "Idle 70")["nested_hv_enabled"] is False


def test_tsm_ssh_through_a_host_service_system(lab, si):
    svc = hosts(si)["esxi70"].configManager.serviceSystem
    assert svc != hosts(si)["esxi80"].configManager.serviceSystem
    address = lab.host("esxi70").address
    assert not port_open(address)
    svc.StartService(id="TSM-SSH")
    assert ssh_banner(address, timeout=10)  # sshd answers (no login: nothing to log)
    assert next(s for s in svc.serviceInfo.service if s.key == "TSM-SSH").running is True
    assert not port_open(lab.host("esxi80").address)  # the other host's sshd stays off
    svc.StopService(id="TSM-SSH")
    assert not port_open(address)
    assert lab.status("esxi70")["ssh"]["running"] is False


def test_maintenance_mode_refuses_power_on_and_reconfigure(lab, si):
    host = hosts(si)["esxi70"]
    vm = vm_on(si, "esxi70", "Build")
    WaitForTask(host.EnterMaintenanceMode_Task(timeout=0))
    try:
        assert host.runtime.inMaintenanceMode is True and host.summary.runtime.inMaintenanceMode is True
        with pytest.raises(vim.fault.InvalidHostState):
            WaitForTask(vm.PowerOnVM_Task())
        with pytest.raises(vim.fault.InvalidHostState):
            WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(nestedHVEnabled=True)))
        assert hostd_vm(lab, "esxi70", "Build")["power"] == "poweredOff"
        assert "vhv.enable" not in vmx(lab, "esxi70", "Build")
    finally:
        WaitForTask(host.ExitMaintenanceMode_Task(timeout=0))
    assert host.runtime.inMaintenanceMode is False


def test_disconnected_host_refuses_and_hostd_never_hears(lab, si):
    host = hosts(si)["esxi70"]
    vm = vm_on(si, "esxi70", "Idle 70")
    calls = len(lab_api_calls(lab))
    WaitForTask(host.DisconnectHost_Task())
    try:
        assert host.runtime.connectionState == "disconnected"
        assert vm.runtime.connectionState == "disconnected"
        for call in (vm.PowerOffVM_Task, lambda: vm.ReconfigVM_Task(vim.vm.ConfigSpec(nestedHVEnabled=True))):
            with pytest.raises(vim.fault.InvalidHostConnectionState):
                WaitForTask(call())
        with pytest.raises(vmodl.fault.HostNotConnected):
            host.configManager.serviceSystem.StartService(id="TSM-SSH")
        assert len(lab_api_calls(lab)) == calls
        assert hostd_vm(lab, "esxi70", "Idle 70")["power"] == "poweredOn"
    finally:
        WaitForTask(host.ReconnectHost_Task())
    assert (host.runtime.connectionState, vm.runtime.connectionState) == ("connected", "connected")


def lab_api_calls(lab) -> list[str]:
    log = lab.state / "vcenters" / "vc1" / "vsphere.log"
    return [line for line in log.read_text().splitlines() if "hostd [" in line]


def test_status_lists_the_vcenter(lab):
    r = harness_lab.esxilab("status", "--dir", lab.state)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "vCenter vc1  https://%s:443  running" % lab.config.vcenters[0].address in r.stdout


def test_no_ssh_command_was_logged(lab):
    """Everything above went through the vCenter and hostd's request protocol, never SSH."""
    for host in ("esxi70", "esxi80"):
        assert lab.commands(host) == []
    assert "on esxi80" in "\n".join(lab_api_calls(lab))  # the vCenter did reach hostd
