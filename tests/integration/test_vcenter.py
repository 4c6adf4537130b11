"""The API path through a vCenter, end to end: ansible-playbook -> the collection's API modules ->
the lab's vCenter (vcsim's vCenter model) -> each lab host's hostd and VMs. SSH is off on every
host and stays unused: each check also counts the SSH commands the hosts logged (none).

VMs are selected by name, inventory path or instance UUID; a name two VMs share is refused; a host
in maintenance mode or disconnected has its VMs refused before any power operation; ssh_service
and vm_nested_hv act on one named host of the vCenter.
"""

from __future__ import annotations

import ssl
from contextlib import contextmanager

import pytest
import yaml
from harness import roundtrips
from vsphere_lab import api, enable_nesting, lab_up

pytestmark = pytest.mark.lab

CONFIG = {
    "lab": {"ready_timeout": 120},
    "vcenters": [{"name": "vc1", "datacenter": "DC1", "cluster": "Lab", "hosts": ["vc70", "vc80"]}],
    "hosts": [
        {
            "name": "vc70",
            "version": "7.0.3",
            "ssh": False,
            "vms": [
                {"name": "by name", "guest": "none", "power": "on"},
                {"name": "by uuid", "guest": "none", "power": "on"},
                {"name": "by path", "guest": "none", "power": "on", "folder": "Teams/Blue"},
                {"name": "twin", "guest": "none", "power": "on", "folder": "X"},
                {"name": "twin", "guest": "none", "power": "on", "folder": "Y", "path": "twin-y/twin.vmx"},
            ],
        },
        {
            "name": "vc80",
            "version": "8.0.1",
            "ssh": False,
            "vms": [
                {"name": "in maintenance", "guest": "none", "power": "on"},
                {"name": "cut off", "guest": "none", "power": "on"},
                {"name": "auto", "guest": "none", "power": "on"},
            ],
        },
    ],
}


def on(host, method="api"):
    """The extra vars that run the playbook on that one ESXi host (through the API)."""
    return ("-e", "nestedvirt_esxi_group=%s" % host, "-e", "enable_nesting_method=%s" % method)


@pytest.fixture(scope="module")
def vclab(tmp_path_factory):
    with lab_up(CONFIG, tmp_path_factory.mktemp("vcenter-lab")) as lab:
        yield lab


def ssh_commands(lab):
    return sum(len(roundtrips.commands(lab.state, host)) for host in ("vc70", "vc80"))


@contextmanager
def vcenter(lab):
    """A pyVmomi session on the lab's vCenter (for what the tests do around a run: host states)."""
    from pyVim.connect import Disconnect, SmartConnect

    password = (lab.state / "secrets" / "vc1.api_password").read_text().strip()
    context = ssl.create_default_context(cafile=str(lab.state / "vcenters" / "vc1" / "cert.pem"))
    address = yaml.safe_load(lab.inventory.read_text())["all"]["children"]["vcenters"]["hosts"]["vc1"]["ansible_host"]
    si = SmartConnect(host=address, user="administrator@vsphere.local", pwd=password, sslContext=context)
    try:
        yield si.RetrieveContent()
    finally:
        Disconnect(si)


def host_task(lab, host, method, *args):
    """Run a HostSystem task (EnterMaintenanceMode_Task ...) through the vCenter and wait for it."""
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    with vcenter(lab) as content:
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
        found = next(each for each in view.view if each.name == host)
        WaitForTask(getattr(found, method)(*args))


def outcome(run, host):
    """{VM name: (action, reason)} of the run's enable_nesting_result for ``host``."""
    result = next(r for name, r in run.results.items() if name.endswith("Sum up what happened to each VM"))
    facts = result["ansible_facts"]["enable_nesting_result"]
    assert facts["esxi_host"] == host and facts["method"] == "api"
    return dict((vm["name"], (vm["action"], vm.get("reason"))) for vm in facts["vms"])


def test_vms_by_name_path_and_uuid_through_the_vcenter_without_ssh(vclab, tmp_path):
    uuid = vclab.vm("vc70", "by uuid")["instance_uuid"]
    before = ssh_commands(vclab)
    selected = ["by name", "DC1/vm/Teams/Blue/by path", uuid.upper()]
    checked = enable_nesting(vclab, tmp_path / "check", "vc70", selected, "--check", *on("vc70"))
    assert checked.rc == 0, checked.output[-3000:]
    assert all(not vm["nested_hv_enabled"] and vm["power"] == "poweredOn" for vm in vclab.vms("vc70").values())

    run = enable_nesting(vclab, tmp_path / "apply", "vc70", selected, *on("vc70"))
    assert run.rc == 0, run.output[-3000:]
    assert outcome(run, "vc70") == {name: ("power_cycle", None) for name in ("by name", "by path", "by uuid")}
    vms = vclab.vms("vc70")
    for name in ("by name", "by path", "by uuid"):
        assert vms[name]["nested_hv_enabled"] and vms[name]["power"] == "poweredOn", vms[name]

    again = enable_nesting(vclab, tmp_path / "again", "vc70", selected, *on("vc70"))
    assert again.rc == 0, again.output[-3000:]
    assert set(outcome(again, "vc70").values()) == {("nothing", None)}
    assert ssh_commands(vclab) == before == 0


def test_a_name_two_vms_share_is_refused_and_neither_is_touched(vclab, tmp_path):
    run = enable_nesting(vclab, tmp_path / "twin", "vc70", ["twin"], *on("vc70"))
    assert run.rc != 0
    assert outcome(run, "vc70") == {"twin": ("refuse", "vm_ambiguous")}
    assert "DC1/vm/X/twin" in run.output and "DC1/vm/Y/twin" in run.output
    twins = [vm for vm in vclab.hostd("vc70", "lab", "inventory")["vms"] if vm["name"] == "twin"]
    assert [(vm["power"], vm["nested_hv_enabled"]) for vm in twins] == [("poweredOn", False)] * 2

    one = enable_nesting(vclab, tmp_path / "one", "vc70", ["/DC1/vm/Y/twin"], *on("vc70"))
    assert one.rc == 0, one.output[-3000:]
    twins = {vm["folder"]: vm for vm in vclab.hostd("vc70", "lab", "inventory")["vms"] if vm["name"] == "twin"}
    assert twins["Y"]["nested_hv_enabled"] and not twins["X"]["nested_hv_enabled"]
    assert twins["X"]["power"] == twins["Y"]["power"] == "poweredOn"


@pytest.mark.parametrize(
    "vm, enter, leave, reason",
    [
        ("in maintenance", ("EnterMaintenanceMode_Task", 0), ("ExitMaintenanceMode_Task", 0), "host_in_maintenance"),
        ("cut off", ("DisconnectHost_Task",), ("ReconnectHost_Task",), "host_disconnected"),
    ],
)
def test_a_host_that_cannot_act_has_its_vms_refused_before_any_power_operation(
    vclab, tmp_path, vm, enter, leave, reason
):
    host_task(vclab, "vc80", *enter)
    powered = roundtrips.power_operations(vclab.state)
    try:
        run = enable_nesting(vclab, tmp_path / reason, "vc80", [vm], *on("vc80"))
    finally:
        host_task(vclab, "vc80", *leave)
    assert run.rc != 0
    assert outcome(run, "vc80") == {vm: ("refuse", reason)}
    assert roundtrips.power_operations(vclab.state) == powered
    assert vclab.vm("vc80", vm)["power"] == "poweredOn" and not vclab.vm("vc80", vm)["nested_hv_enabled"]


def test_ssh_service_and_vm_nested_hv_act_on_one_named_host_of_the_vcenter(vclab, tmp_path):
    tasks = [
        api("ssh_service", "started", state="started", esxi_hostname="vc80"),
        {
            "name": "ssh_answers",
            "ansible.builtin.wait_for": {"host": vclab.address("vc80"), "port": 22, "timeout": 20},
            "delegate_to": "localhost",
        },
        api("ssh_service", "stopped", state="stopped", esxi_hostname="vc80"),
        api("vm_nested_hv", "nested", check_mode=True, name="cut off", esxi_hostname="vc80", power_cycle=True),
    ]
    run = vclab.playbook("vc1", tasks, tmp_path=tmp_path)
    assert run.rc == 0, run.output[-3000:]
    assert run["started"]["changed"] and run["started"]["host"] == "vc80"
    assert run["stopped"]["after"] == {"state": "stopped", "policy": "off"}
    assert run["nested"]["changed"] and run["nested"]["vm"]["host"] == "vc80"
    assert run["nested"]["power_operations"] == ["shutdown", "on"]
    assert vclab.status("vc70")["ssh"]["running"] is False


def test_auto_takes_the_vcenter_where_its_api_takes_writes(vclab, tmp_path):
    before = ssh_commands(vclab)
    run = enable_nesting(vclab, tmp_path / "auto", "vc80", ["auto"], *on("vc80", "auto"))
    assert run.rc == 0, run.output[-3000:]
    assert outcome(run, "vc80") == {"auto": ("power_cycle", None)}
    assert vclab.vm("vc80", "auto")["nested_hv_enabled"] and vclab.vm("vc80", "auto")["power"] == "poweredOn"
    assert ssh_commands(vclab) == before == 0
