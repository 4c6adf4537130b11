"""The lab's vSphere API simulator (tests/lab/vsphere), driven with pyvmomi.

The simulator talks to its host's hostd over the lab's request protocol. hostd is another lab
component; here a small fake hostd (below) stands in for it, speaks the same protocol, keeps a
tiny host state and records every request, so each test can check what reached "the host".
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

LAB = Path(__file__).resolve().parents[1]
if str(LAB) not in sys.path:  # labkit lives in tests/lab
    sys.path.insert(0, str(LAB))

from labkit.vsphere import build_vsphere_sim, start_vsphere_sim, stop_vsphere_sim  # noqa: E402

pytestmark = pytest.mark.lab

REPO = LAB.parents[1]
ADDRESS = "127.0.77.1"  # away from the lab's 127.0.10.x hosts
USER, PASSWORD = "root", "lab-Passw0rd"
RESTRICTED = "Current license or ESXi version prohibits execution of the requested operation."

INVENTORY = {
    "name": "esxi55",
    "version": "5.5.0",
    "build": "1331820",
    "nested_hv_supported": True,
    "datastores": [
        {"name": "datastore1", "uuid": "5a1b2c3d-11111111-2222-001122334455"},
        {"name": "datastore1 (4)", "uuid": "5a1b2c3d-33333333-4444-001122334455"},
    ],
    "vms": [
        {
            "vmid": "1",
            "name": "Lab VM 1",
            "vmx_datastore_path": "[datastore1] Lab VM 1/Lab VM 1.vmx",
            "power": "poweredOn",
            "hardware_version": 10,
            "numvcpus": 2,
            "memsize": 256,
            "nested_hv_enabled": False,
            "annotation": "first",
        },
        {
            "vmid": "2",
            "name": "vm (two)",
            "vmx_datastore_path": "[datastore1 (4)] vm2/vm (two).vmx",
            "power": "poweredOff",
            "hardware_version": 8,
            "numvcpus": 1,
            "memsize": 128,
            "nested_hv_enabled": False,
            "annotation": "",
        },
    ],
}


class FakeHostd:
    """hostd's request server in miniature: argc line, NUL-ended args; rc line, stdout."""

    def __init__(self) -> None:
        self.inventory = copy.deepcopy(INVENTORY)
        self.ssh = {"running": False, "policy": "off"}
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                argc = int(self.rfile.readline())
                data = b""
                while data.count(b"\0") < argc:
                    chunk = self.rfile.read1(4096)
                    if not chunk:
                        return
                    data += chunk
                argv = [a.decode() for a in data.split(b"\0")[:argc]]
                with fake.lock:
                    fake.calls.append(argv)
                    rc, out = fake.answer(argv)
                self.wfile.write(f"{rc}\n{out}".encode())

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((ADDRESS, 0), Handler)
        self.server.daemon_threads = True
        self.address = f"{ADDRESS}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def vm(self, vmid: str) -> dict:
        return next(v for v in self.inventory["vms"] if v["vmid"] == vmid)

    def writes(self) -> list[list[str]]:
        """Every request except the reads the simulator makes on its own."""
        reads = (["lab", "inventory"], ["lab", "ssh_state"])
        with self.lock:
            return [c for c in self.calls if c not in reads]

    def answer(self, argv: list[str]) -> tuple[int, str]:
        match argv:
            case ["lab", "inventory"]:
                return 0, json.dumps(self.inventory)
            case ["lab", "ssh_state"]:
                return 0, json.dumps(self.ssh)
            case ["lab", "ssh_policy", policy]:
                self.ssh["policy"] = policy
                return 0, ""
            case ["vim-cmd", "hostsvc/start_ssh"]:
                self.ssh["running"] = True
                return 0, ""
            case ["vim-cmd", "hostsvc/stop_ssh"]:
                self.ssh["running"] = False
                return 0, ""
            case ["lab", "set_vmx", vmid, key, value]:
                vm = self.vm(vmid)
                if vm["power"] != "poweredOff":
                    return 1, "set_vmx: VM is powered on; edit the vmx only while it is off\n"
                if key == "vhv.enable":
                    vm["nested_hv_enabled"] = value.upper() == "TRUE"
                return 0, ""
            case ["vim-cmd", "vmsvc/power.on" | "vmsvc/power.off" as op, vmid]:
                vm = self.vm(vmid)
                want = "poweredOn" if op.endswith(".on") else "poweredOff"
                if vm["power"] == want:
                    state = "Powered On" if want == "poweredOn" else "Powered Off"
                    return 1, (
                        "(vim.fault.InvalidPowerState) {\n"
                        f'   msg = "The attempted operation cannot be performed in the current state ({state})."\n'
                        "}\n"
                    )
                vm["power"] = want
                return 0, "Powering on VM:\n" if want == "poweredOn" else "Powering off VM:\n"
            case ["vim-cmd", "vmsvc/power.shutdown", vmid]:
                vm = self.vm(vmid)
                if vm.get("tools") is False:
                    return 1, (
                        '(vim.fault.ToolsUnavailable) {\n   msg = "Cannot complete operation because '
                        'VMware Tools is not running in this virtual machine."\n}\n'
                    )
                vm["power"] = "poweredOff"  # the guest shuts down "later"; immediately is fine here
                return 0, ""
        return 1, f"fake hostd: unknown request {argv}\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sim_binary() -> Path:
    return build_vsphere_sim(REPO / ".cache" / "lab" / "vsphere", LAB / "vsphere")


@pytest.fixture
def hostd():
    fake = FakeHostd()
    yield fake
    fake.close()


class Sim:
    def __init__(self, proc, listen: str, workdir: Path) -> None:
        self.proc = proc
        self.host, port = listen.split(":")
        self.port = int(port)
        self.cert = workdir / "cert.pem"
        self.sessions: list = []

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def connect(self, user: str = USER, pwd: str = PASSWORD):
        si = SmartConnect(host=self.host, port=self.port, user=user, pwd=pwd, sslContext=self.context())
        self.sessions.append(si)
        return si


@pytest.fixture
def start_sim(sim_binary, hostd, tmp_path):
    started: list[Sim] = []

    def start(license: str, **kwargs) -> Sim:
        listen = f"{ADDRESS}:{free_port()}"
        workdir = tmp_path / f"sim-{len(started)}"
        proc = start_vsphere_sim(
            sim_binary,
            listen=listen,
            hostd=hostd.address,
            license=license,
            username=USER,
            password=PASSWORD,
            workdir=workdir,
            **kwargs,
        )
        sim = Sim(proc, listen, workdir)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        for si in sim.sessions:
            with contextlib.suppress(Exception):  # the server may already be gone
                Disconnect(si)
        stop_vsphere_sim(sim.proc)
        assert sim.proc.poll() is not None, "simulator still running"


@pytest.fixture
def licensed(start_sim) -> Sim:
    return start_sim("licensed")


@pytest.fixture
def free(start_sim) -> Sim:
    return start_sim("free")


def host_of(si) -> vim.HostSystem:
    return si.content.rootFolder.childEntity[0].hostFolder.childEntity[0].host[0]


def vms_by_name(si) -> dict[str, vim.VirtualMachine]:
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim.VirtualMachine], True)
    try:
        return {vm.name: vm for vm in view.view}
    finally:
        view.Destroy()


def ssh_service(si) -> vim.host.Service:
    services = host_of(si).configManager.serviceSystem.serviceInfo.service
    return next(s for s in services if s.key == "TSM-SSH")


# --- connection --------------------------------------------------------------------------


def test_trusted_certificate_connects(licensed):
    si = licensed.connect()
    assert si.content.about.fullName == "VMware ESXi 5.5.0 build-1331820"
    assert si.content.about.apiVersion == "5.5"


@pytest.mark.parametrize(
    ("version", "build", "api_version"),
    [
        ("5.0.0", "469512", "5.0"),
        ("5.5.0", "3248547", "5.5"),
        ("6.0.0", "3620759", "6.0"),
        ("6.7.0", "15820472", "6.7"),
        ("7.0.3", "20328353", "7.0.3.0"),
        ("8.0.1", "21495797", "8.0.1.0"),
    ],
)
def test_each_version_speaks_its_own_api(start_sim, hostd, version, build, api_version):
    hostd.inventory.update(version=version, build=build)
    si = start_sim("licensed").connect()
    assert si.content.about.fullName == f"VMware ESXi {version} build-{build}"
    assert si.content.about.apiVersion == api_version
    assert f"urn:vim25/{api_version}" in si._stub.versionId  # negotiated the host's own version
    # Everything a client reads parses in that version (no data types from later releases).
    host = host_of(si)
    assert host.config.product.build == build
    assert host.summary.runtime.connectionState == "connected"
    assert host.hardware.memorySize > 0
    vm = vms_by_name(si)["vm (two)"]
    assert vm.config.name == "vm (two)"
    WaitForTask(vm.PowerOnVM_Task())
    assert vm.summary.runtime.powerState == "poweredOn"


def test_untrusted_certificate_is_refused(licensed):
    with pytest.raises(ssl.SSLCertVerificationError):
        SmartConnect(
            host=licensed.host,
            port=licensed.port,
            user=USER,
            pwd=PASSWORD,
            sslContext=ssl.create_default_context(),  # system CAs only: the lab cert is not among them
        )


def test_certificate_given_by_the_lab(start_sim, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "lab-cert.pem", tmp_path / "lab-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=esxi55",
         "-addext", f"subjectAltName=IP:{ADDRESS}"],
        check=True, capture_output=True,
    )  # fmt: skip
    sim = start_sim("licensed", cert=cert, key=key)
    assert sim.cert.read_text() == cert.read_text()  # cert.pem is what is served
    assert sim.connect().content.about.name == "VMware ESXi"


def test_wrong_password_is_invalid_login(licensed):
    with pytest.raises(vim.fault.InvalidLogin) as err:
        licensed.connect(pwd="wrong")  # noqa: S106
    assert err.value.msg == "Cannot complete login due to an incorrect user name or password."
    with pytest.raises(vim.fault.InvalidLogin):
        licensed.connect(user="admin")


# --- inventory ---------------------------------------------------------------------------


def test_host_and_vms_come_from_the_inventory(licensed):
    si = licensed.connect()
    host = host_of(si)
    assert host.name == "esxi55"
    assert host.summary.config.product.version == "5.5.0"
    assert host.summary.config.product.build == "1331820"
    assert host.capability.nestedHVSupported is True
    assert sorted(ds.name for ds in host.datastore) == ["datastore1", "datastore1 (4)"]
    assert {ds.name: ds.info.vmfs.uuid for ds in host.datastore}["datastore1"] == INVENTORY["datastores"][0]["uuid"]

    vms = vms_by_name(si)
    assert sorted(vms) == ["Lab VM 1", "vm (two)"]  # vcsim's default VMs are gone
    one, two = vms["Lab VM 1"], vms["vm (two)"]
    assert one._moId == "1" and two._moId == "2"  # ESXi: the moref is the vmid
    assert one.summary.config.vmPathName == "[datastore1] Lab VM 1/Lab VM 1.vmx"
    assert two.config.files.vmPathName == "[datastore1 (4)] vm2/vm (two).vmx"
    assert one.runtime.powerState == "poweredOn"
    assert two.runtime.powerState == "poweredOff"
    assert one.config.version == "vmx-10" and two.config.version == "vmx-08"
    assert one.config.hardware.numCPU == 2 and one.config.hardware.memoryMB == 256
    assert one.config.nestedHVEnabled is False
    assert one.config.annotation == "first"
    assert one.capability.nestedHVSupported is True
    assert two.capability.nestedHVSupported is False  # hardware version 8 < 9


def test_reads_follow_hostd(licensed, hostd):
    si = licensed.connect()
    vm = vms_by_name(si)["vm (two)"]
    assert vm.runtime.powerState == "poweredOff"
    # Changed behind the API's back (over SSH, say): the next read shows it.
    hostd.vm("2")["power"] = "poweredOn"
    hostd.vm("2")["nested_hv_enabled"] = True
    assert vm.runtime.powerState == "poweredOn"
    assert vm.config.nestedHVEnabled is True
    # VMs registered and unregistered over SSH appear and disappear.
    hostd.inventory["vms"].append(
        {**INVENTORY["vms"][1], "vmid": "7", "name": "late", "vmx_datastore_path": "[datastore1] late/late.vmx"}
    )
    hostd.inventory["vms"] = [v for v in hostd.inventory["vms"] if v["vmid"] != "1"]
    assert sorted(vms_by_name(si)) == ["late", "vm (two)"]
    assert vms_by_name(si)["late"]._moId == "7"


def watch(si, vm, *paths: str):
    """A property collector of its own, filtering these properties of one VM."""
    pc = si.content.propertyCollector.CreatePropertyCollector()
    PC = vmodl.query.PropertyCollector  # noqa: N806 - pyvmomi's type
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=vm)], propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=list(paths))]
    )
    pc.CreateFilter(spec, partialUpdates=False)
    return pc


def wait_updates(pc, version: str, seconds: int):
    """One WaitForUpdatesEx: (new version, {property: value}), or (version, {}) after `seconds`."""
    update = pc.WaitForUpdatesEx(version, vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=seconds))
    if update is None:
        return version, {}
    changes = {c.name: c.val for f in update.filterSet for o in f.objectSet for c in o.changeSet}
    return update.version, changes


def test_wait_for_updates_sees_hostd_changes_unasked(licensed, hostd):
    """ESXi's hostd pushes VM changes: a guest that shut down by itself shows in WaitForUpdatesEx
    although no client read anything. The simulator pulls hostd's state every 0.2 s for that."""
    si = licensed.connect()
    pc = watch(si, vms_by_name(si)["Lab VM 1"], "runtime.powerState", "config.nestedHVEnabled")
    version, state = wait_updates(pc, "", 10)
    assert state == {"runtime.powerState": "poweredOn", "config.nestedHVEnabled": False}

    with hostd.lock:  # the guest shut down, and someone edited the vmx over SSH
        hostd.vm("1").update(power="poweredOff", nested_hv_enabled=True)
        asked = len(hostd.calls)
    started = time.monotonic()
    seen: dict = {}
    for _ in range(3):  # vcsim may hand the two changes over in separate updates
        version, changes = wait_updates(pc, version, 10)
        seen.update(changes)
        if len(seen) == 2:
            break
    took = time.monotonic() - started
    assert seen == {"runtime.powerState": "poweredOff", "config.nestedHVEnabled": True}
    assert took < 3, f"the change took {took:.1f} s to reach the waiting collector"
    with hostd.lock:  # what told the simulator: its own inventory pulls, nothing a client asked for
        assert set(map(tuple, hostd.calls[asked:])) == {("lab", "inventory")}
    version, changes = wait_updates(pc, version, 1)
    assert changes == {}  # unchanged state is not reported again
    pc.Destroy()


def test_without_push_a_wait_hears_nothing(start_sim, hostd):
    """The control for the test above: with the push off (-push 0) the same wait times out."""
    si = start_sim("licensed", push=0).connect()
    pc = watch(si, vms_by_name(si)["Lab VM 1"], "runtime.powerState")
    version, _ = wait_updates(pc, "", 10)
    with hostd.lock:
        hostd.vm("1")["power"] = "poweredOff"
    assert wait_updates(pc, version, 2) == (version, {})
    assert vms_by_name(si)["Lab VM 1"].runtime.powerState == "poweredOff"  # a read still pulls
    pc.Destroy()


# --- TSM-SSH -----------------------------------------------------------------------------


def test_service_list(licensed):
    si = licensed.connect()
    services = {s.key: s for s in host_of(si).configManager.serviceSystem.serviceInfo.service}
    assert {"TSM-SSH", "TSM", "DCUI", "ntpd"} <= set(services)
    assert services["TSM-SSH"].label == "SSH"
    assert services["TSM"].label == "ESXi Shell"
    assert services["TSM-SSH"].running is False
    assert services["TSM-SSH"].policy == "off"


def test_start_and_stop_ssh(licensed, hostd):
    si = licensed.connect()
    system = host_of(si).configManager.serviceSystem
    system.StartService(id="TSM-SSH")
    assert hostd.writes() == [["vim-cmd", "hostsvc/start_ssh"]]
    assert ssh_service(si).running is True
    system.StopService(id="TSM-SSH")
    assert hostd.writes()[-1] == ["vim-cmd", "hostsvc/stop_ssh"]
    assert ssh_service(si).running is False


def test_ssh_state_changed_over_ssh_is_seen(licensed, hostd):
    si = licensed.connect()
    assert ssh_service(si).running is False
    hostd.ssh.update(running=True, policy="on")  # e.g. vim-cmd hostsvc/enable_ssh + start_ssh
    assert ssh_service(si).running is True
    assert ssh_service(si).policy == "on"
    hostd.ssh["running"] = False
    host_of(si).configManager.serviceSystem.RefreshServices()
    assert ssh_service(si).running is False


def test_update_service_policy(licensed, hostd):
    si = licensed.connect()
    system = host_of(si).configManager.serviceSystem
    system.UpdateServicePolicy(id="TSM-SSH", policy="on")
    assert hostd.writes() == [["lab", "ssh_policy", "on"]]
    assert ssh_service(si).policy == "on"
    with pytest.raises(vmodl.fault.InvalidArgument):
        system.UpdateServicePolicy(id="TSM-SSH", policy="sometimes")
    # Other services live in the model only.
    system.StartService(id="ntpd")
    assert next(s for s in system.serviceInfo.service if s.key == "ntpd").running is True
    assert hostd.writes() == [["lab", "ssh_policy", "on"]]


# --- free license ------------------------------------------------------------------------


def test_free_license_refuses_writes(free, hostd):
    si = free.connect()
    vm = vms_by_name(si)["vm (two)"]
    system = host_of(si).configManager.serviceSystem
    calls = [
        lambda: vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(nestedHVEnabled=True)),
        lambda: vm.PowerOnVM_Task(),
        lambda: system.StartService(id="TSM-SSH"),
        lambda: system.UpdateServicePolicy(id="TSM-SSH", policy="on"),
        lambda: vm.CreateSnapshot_Task(name="s", memory=False, quiesce=False),
    ]
    for call in calls:
        with pytest.raises(vim.fault.RestrictedVersion) as err:
            call()
        assert err.value.msg == RESTRICTED
    assert hostd.writes() == []  # nothing reached the host


def test_free_license_reads_work(free, hostd):
    si = free.connect()
    vm = vms_by_name(si)["Lab VM 1"]
    assert vm.runtime.powerState == "poweredOn"
    assert vm.config.nestedHVEnabled is False
    assert ssh_service(si).running is False
    hostd.ssh["running"] = True
    host_of(si).configManager.serviceSystem.RefreshServices()
    assert ssh_service(si).running is True
    assert si.content.licenseManager.licenses[0].editionKey == "esxBasic"


# --- licensed: the second door to the same VM --------------------------------------------


def test_reconfig_nested_hv_goes_to_hostd(licensed, hostd):
    si = licensed.connect()
    vm = vms_by_name(si)["vm (two)"]
    WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(nestedHVEnabled=True)))
    assert hostd.writes() == [["lab", "set_vmx", "2", "vhv.enable", "TRUE"]]
    assert vm.config.nestedHVEnabled is True
    WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(nestedHVEnabled=False, vPMCEnabled=True)))
    assert hostd.writes()[-2:] == [
        ["lab", "set_vmx", "2", "vhv.enable", "FALSE"],
        ["lab", "set_vmx", "2", "vpmc.enable", "TRUE"],
    ]
    assert vm.config.nestedHVEnabled is False
    assert vm.config.vPMCEnabled is True


def test_reconfig_nested_hv_on_running_vm_fails(licensed, hostd):
    si = licensed.connect()
    vm = vms_by_name(si)["Lab VM 1"]
    with pytest.raises(vim.fault.InvalidPowerState) as err:
        WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(nestedHVEnabled=True)))
    assert err.value.existingState == "poweredOn"
    assert err.value.msg == "The attempted operation cannot be performed in the current state (Powered On)."
    assert hostd.writes() == [["lab", "set_vmx", "1", "vhv.enable", "TRUE"]]
    assert vm.config.nestedHVEnabled is False


def test_extra_config_stays_in_the_model(licensed, hostd):
    """As on a vCenter's hosts: set or replaced, removed by an empty value, vhv.* dropped (the API
    drops vhv.enable sent as extraConfig), on a running VM too; never written to the .vmx."""
    si = licensed.connect()
    vm = vms_by_name(si)["Lab VM 1"]
    opt = vim.option.OptionValue
    assert vm.runtime.powerState == "poweredOn" and list(vm.config.extraConfig) == []
    WaitForTask(
        vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=[opt(key="a", value="1"), opt(key="b", value="x")]))
    )
    WaitForTask(
        vm.ReconfigVM_Task(
            spec=vim.vm.ConfigSpec(extraConfig=[opt(key="a", value="2"), opt(key="vhv.enable", value="TRUE")])
        )
    )
    assert {o.key: o.value for o in vm.config.extraConfig} == {"a": "2", "b": "x"}
    WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=[opt(key="a", value="")])))
    time.sleep(0.5)  # hostd syncs in between leave it alone
    assert {o.key: o.value for o in vm.config.extraConfig} == {"b": "x"}
    assert hostd.writes() == [] and vm.config.nestedHVEnabled is False


def test_power_calls_go_to_hostd(licensed, hostd):
    si = licensed.connect()
    vm = vms_by_name(si)["vm (two)"]
    WaitForTask(vm.PowerOnVM_Task())
    assert hostd.writes() == [["vim-cmd", "vmsvc/power.on", "2"]]
    assert hostd.vm("2")["power"] == "poweredOn"
    assert vm.runtime.powerState == "poweredOn"
    with pytest.raises(vim.fault.InvalidPowerState) as err:
        WaitForTask(vm.PowerOnVM_Task())
    assert err.value.msg == "The attempted operation cannot be performed in the current state (Powered On)."
    WaitForTask(vm.PowerOffVM_Task())
    assert hostd.writes()[-1] == ["vim-cmd", "vmsvc/power.off", "2"]
    assert vm.runtime.powerState == "poweredOff"


def test_shutdown_guest_goes_to_hostd(licensed, hostd):
    si = licensed.connect()
    vm = vms_by_name(si)["Lab VM 1"]
    hostd.vm("1")["tools"] = False
    with pytest.raises(vim.fault.ToolsUnavailable):
        vm.ShutdownGuest()
    hostd.vm("1")["tools"] = True
    vm.ShutdownGuest()
    assert hostd.writes()[-1] == ["vim-cmd", "vmsvc/power.shutdown", "1"]
    assert vm.runtime.powerState == "poweredOff"


def test_simulator_stops(start_sim):
    sim = start_sim("licensed")
    stop_vsphere_sim(sim.proc)
    assert sim.proc.returncode == 0
    with pytest.raises(OSError):
        socket.create_connection((sim.host, sim.port), timeout=2).close()
