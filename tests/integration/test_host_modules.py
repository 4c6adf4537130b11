"""The SSH host modules on the lab: ESXi 5.0, 5.5, 6.7, 8.0 and 9.0 (clustered), check -> apply -> idempotent.

Every module runs through the real `ansible-playbook` over real SSH to the lab's hosts; the lab's
log of SSH commands is the witness for round trips.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from harness.lab import esxilab
from vsphere_lab import lab_up

pytestmark = pytest.mark.lab

HOSTILE = 'Lab "VM" $(touch /tmp/pwned); 1'
CANARY = Path("/tmp/pwned")
RELEASES = {"e50": "5.0.0", "e55": "5.5.0", "e67": "6.7.0", "e80": "8.0.1", "e90": "9.0.0"}


def _config():
    hosts = []
    for name, version in RELEASES.items():
        vms = [{"name": "vm-a", "guest": "none", "power": "on", "hardware_version": 8 if name == "e50" else 10}]
        # 9.0 in a vCenter cluster: its getallvms lists a vCLS system VM too
        hosts.append({"name": name, "version": version, "ssh": True, "vms": vms, "clustered": name == "e90"})
    hosts[2]["vms"] += [
        {"name": HOSTILE, "guest": "none", "power": "on", "annotation": "line one\nline two\n\n12 not a vmid"},
        {"name": "old hw", "guest": "none", "power": "off", "hardware_version": 8},
        {"name": "busy", "guest": "none", "power": "on"},
    ]
    return {"lab": {"ready_timeout": 120}, "hosts": hosts}


@pytest.fixture(scope="module")
def ssh_lab(tmp_path_factory):
    with lab_up(_config(), tmp_path_factory.mktemp("ssh-lab")) as lab:
        yield lab


def commands(lab, host):
    """The SSH commands the host ran so far (the lab's log)."""
    return [entry["command"] for entry in lab.commands(host)]


def play(lab, host, tasks, tmp_path, *flags):
    """Run tasks on one host after host_info; returns (results, commands the tasks sent)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    before = len(commands(lab, host))
    run = lab.playbook(host, [{"name": "facts", "nestedvirt.esxi.host_facts": {}}] + tasks, *flags, tmp_path=tmp_path)
    sent = commands(lab, host)[before:]
    return run, sent[1:]  # the first command is host_info's


def each_host(function, hosts=tuple(RELEASES)):
    with ThreadPoolExecutor(len(hosts)) as pool:
        return dict(zip(hosts, pool.map(function, hosts), strict=True))


def quartet(lab, host, task, tmp_path):
    """check, apply, apply again: the three runs' results and the commands each sent."""
    runs = []
    for flags in (["--check"], [], []):
        run, sent = play(lab, host, [dict(task, name="step")], tmp_path / ("%s-%d" % (host, len(runs))), *flags)
        assert run.rc == 0, run.output
        runs.append((run["step"], sent))
    return runs


def test_host_info_one_round_trip_everywhere(ssh_lab, tmp_path):
    def check(host):
        run, sent = play(ssh_lab, host, [], tmp_path / host)
        facts = run["facts"]["ansible_facts"]["nestedvirt_esxi"]
        assert facts["version"] == RELEASES[host]
        assert facts["nesting"]["method"] == ("host" if host == "e50" else "vm")
        assert run["facts"]["changed"] is False
        return facts

    facts = each_host(check)
    assert {vm["name"] for vm in facts["e67"]["vms"]} == {"vm-a", HOSTILE, "old hw", "busy"}
    hostile = next(vm for vm in facts["e67"]["vms"] if vm["name"] == HOSTILE)
    assert hostile["annotation"] == "line one\nline two\n\n12 not a vmid"
    assert facts["e80"]["python"] and not facts["e50"]["python"]


def test_modules_check_apply_idempotent_on_every_release(ssh_lab, tmp_path):
    shutdown = {"nestedvirt.esxi.vm_power": {"name": "vm-a", "state": "shutdown", "timeout": 60}}
    power_on = {"nestedvirt.esxi.vm_power": {"name": "vm-a", "state": "poweredon", "wait_for_ip": False}}

    def configure(host):
        if host == "e50":  # ESXi 5.0: host-wide vhv.allow
            return {"nestedvirt.esxi.vmx": {"path": "/etc/vmware/config", "settings": {"vhv.allow": True}}}
        return {"nestedvirt.esxi.vmx": {"vm": "vm-a", "settings": {"vhv.enable": True}}}

    def chain(host):
        steps = {}
        for label, task in (("shutdown", shutdown), ("configure", configure(host)), ("power_on", power_on)):
            steps[label] = quartet(ssh_lab, host, task, tmp_path / label)
        return steps

    for host, steps in each_host(chain).items():
        for label, ((checked, check_sent), (applied, apply_sent), (again, again_sent)) in steps.items():
            where = "%s %s" % (host, label)
            assert (checked["changed"], applied["changed"], again["changed"]) == (True, True, False), where
            # check mode and the idempotent run only read; apply writes
            assert len(check_sent) == 1 and len(again_sent) == 1, where
            expected = 2 if label == "configure" else 1  # vmx: read, then write (+ reload)
            assert len(apply_sent) == expected, (where, apply_sent)
        assert not any("power." in c and "getstate" not in c for c in steps["shutdown"][2][1]), host
        assert steps["shutdown"][1][0]["power_state"] == "poweredOff"
        assert steps["power_on"][1][0]["power_state"] == "poweredOn"
    vm = ssh_lab.vm("e80", "vm-a")
    assert vm["power"] == "poweredOn"


def test_hostile_name_found_shut_down_edited_reloaded_powered_on(ssh_lab, tmp_path):
    CANARY.unlink(missing_ok=True)
    run, sent = play(
        ssh_lab,
        "e67",
        [
            {"name": "down", "nestedvirt.esxi.vm_power": {"name": HOSTILE, "state": "shutdown", "timeout": 60}},
            {"name": "edit", "nestedvirt.esxi.vmx": {"vm": HOSTILE, "settings": {"vhv.enable": True}}},
            {"name": "up", "nestedvirt.esxi.vm_power": {"name": HOSTILE, "state": "poweredon", "wait_for_ip": False}},
        ],
        tmp_path,
    )
    assert run.rc == 0, run.output
    assert run["down"]["operations"] == ["shutdown"]
    assert run["edit"]["reloaded"] is True and run["edit"]["key_values"]["vhv.enable"]["after"] == "TRUE"
    assert run["up"]["power_state"] == "poweredOn"
    assert len(sent) == 4  # shutdown, read, write + reload, power on
    assert "vmsvc/reload" in sent[2]
    time.sleep(0.5)
    assert not CANARY.exists()


def host_file(lab, host, path):
    """A file's bytes as the host sees them (datastores live in the host's own mount namespace)."""
    done = esxilab("ssh", "--dir", lab.state, host, "cat '%s'" % path)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_running_vm_is_refused_and_untouched(ssh_lab, tmp_path):
    vmx = "/vmfs/volumes/datastore1/busy/busy.vmx"
    vmx_before = host_file(ssh_lab, "e67", vmx)
    run, sent = play(
        ssh_lab,
        "e67",
        [{"name": "edit", "nestedvirt.esxi.vmx": {"vm": "busy", "settings": {"vhv.enable": True}}}],
        tmp_path,
    )
    assert run.rc != 0
    assert "is poweredOn" in run["edit"]["msg"] and "only edited while it is powered off" in run["edit"]["msg"]
    assert len(sent) == 1
    assert host_file(ssh_lab, "e67", vmx) == vmx_before


def test_hardware_8_is_refused_then_upgraded(ssh_lab, tmp_path):
    task = {"nestedvirt.esxi.vmx": {"vm": "old hw", "settings": {"vhv.enable": True}}}
    run = play(ssh_lab, "e67", [dict(task, name="edit")], tmp_path / "refused")[0]
    assert run.rc != 0
    assert "virtual hardware version 8; vhv.enable needs 9 or later" in run["edit"]["msg"]
    assert "upgrade_hardware: true" in run["edit"]["msg"]

    task["nestedvirt.esxi.vmx"]["upgrade_hardware"] = True
    run, sent = play(ssh_lab, "e67", [dict(task, name="edit")], tmp_path / "upgraded")
    assert run.rc == 0, run.output
    assert run["edit"]["hardware_upgraded"] == {"before": 8, "after": 9}
    assert any("vmsvc/upgrade" in c for c in sent)
    facts = play(ssh_lab, "e67", [], tmp_path / "after")[0]
    vm = next(vm for vm in facts["facts"]["ansible_facts"]["nestedvirt_esxi"]["vms"] if vm["name"] == "old hw")
    assert vm["hardware_version"] == 9 and vm["nested_hv_enabled"] is True


def test_ssh_off_says_how_to_turn_it_on(ssh_lab, tmp_path):
    from labkit import hostd

    address = ssh_lab.address("e55")
    assert hostd.request(address, ["vim-cmd", "hostsvc/stop_ssh"], timeout=30)[0] == 0
    try:
        # A new connection: an earlier test's ControlPersist master would still get through.
        no_master = {"ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}
        run = ssh_lab.playbook(
            "e55", [{"name": "facts", "nestedvirt.esxi.host_facts": {}}], tmp_path=tmp_path, env=no_master
        )
    finally:
        assert hostd.request(address, ["vim-cmd", "hostsvc/start_ssh"], timeout=30)[0] == 0
    assert run.rc != 0
    assert "Connection refused -- if SSH (the TSM-SSH service) is off on the ESXi host" in run.output
    assert "nestedvirt.esxi.ssh_service" in run.output


def test_restart_marker_written_reported_and_removed_on_every_release(ssh_lab, tmp_path):
    """vm_power's restart marker (what lets a killed run's VM be powered on by the next run)."""
    from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._restart_marker import NAME, NOTE

    def lifecycle(host):
        name = HOSTILE if host == "e67" else "vm-a"  # e67: a directory name full of shell syntax
        down = {"name": name, "state": "shutdown", "timeout": 60, "restart_marker": True}
        run, sent = play(
            ssh_lab,
            host,
            [
                {"name": "down", "nestedvirt.esxi.vm_power": down},
                {"name": "facts", "nestedvirt.esxi.host_facts": {}},
                {"name": "again", "nestedvirt.esxi.vm_power": down},
            ],
            tmp_path / host / "down",
        )
        assert run.rc == 0, run.output
        vm = next(vm for vm in run["facts"]["ansible_facts"]["nestedvirt_esxi"]["vms"] if vm["name"] == name)
        marker = "%s/%s" % (vm["vmx_path"].rsplit("/", 1)[0], NAME)
        left = host_file(ssh_lab, host, marker)
        up = {"vmid": vm["vmid"], "state": "poweredon", "wait_for_ip": False}
        run2, sent2 = play(
            ssh_lab,
            host,
            [
                {"name": "predict", "check_mode": True, "nestedvirt.esxi.vm_power": up},
                {"name": "up", "nestedvirt.esxi.vm_power": up},  # by vmid: the host says where the marker is
                {"name": "facts", "nestedvirt.esxi.host_facts": {}},
            ],
            tmp_path / host / "up",
        )
        assert run2.rc == 0, run2.output
        gone = esxilab("ssh", "--dir", ssh_lab.state, host, "ls -a '%s'" % marker.rsplit("/", 1)[0])
        return run, len(sent), left, run2, len(sent2), gone.stdout

    for host, (run, sent, left, run2, sent2, listing) in each_host(lifecycle).items():
        assert run["down"]["operations"] == ["shutdown"] and run["down"]["restart_pending"] is True, host
        assert left.strip() == NOTE, host
        assert [vm["restart_pending"] for vm in run["facts"]["ansible_facts"]["nestedvirt_esxi"]["vms"]].count(
            True
        ) == 1, host
        assert run["again"]["changed"] is False and run["again"]["restart_pending"] is True, host
        assert sent == 3, host  # down, facts, again: the marker adds no round trip
        assert run2["predict"]["changed"] is True and run2["up"]["operations"] == ["on"], host
        assert run2["up"]["restart_pending"] is False and NAME not in listing, host
        assert not any(vm["restart_pending"] for vm in run2["facts"]["ansible_facts"]["nestedvirt_esxi"]["vms"]), host
        assert sent2 == 3, host
