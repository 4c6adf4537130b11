"""The run's report (nestedvirt_report): one record per VM from the host's outcome, what was found
and what the guest showed; pure, no host."""

import json

from ansible_collections.nestedvirt.esxi.plugins.filter.run_report import run_report as report_filter
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._host_plan import host_plan, outcome
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._run_report import run_report, seconds_between


def vm(name, vmid, power="poweredOn", hardware=14, vmx=None):
    return {
        "vmid": vmid,
        "name": name,
        "datastore_path": "[ds] %s/%s.vmx" % (name, name),
        "vmx_path": "/vmfs/volumes/ds/%s/%s.vmx" % (name, name),
        "vmx_md5": "0" * 32,
        "power_state": power,
        "tools_running_status": "guestToolsRunning" if power == "poweredOn" else "guestToolsNotRunning",
        "ip_address": "10.0.0.%s" % vmid if power == "poweredOn" else None,
        "hardware_version": hardware,
        "vmx": dict(vmx or {}, numvcpus="2"),
        "nested_hv_enabled": bool(vmx),
        "restart_pending": False,
    }


FACTS = {
    "version": "6.7.0",
    "build": "15820472",
    "nesting": {"method": "vm", "host_vhv_allow": False},
    "vms": [
        vm("web", "1"),
        vm("done", "2", vmx={"vhv.enable": "TRUE"}),
        vm("old", "3", hardware=8),
        vm("cold", "4", power="poweredOff"),
    ],
}
NAMES = ["web", "done", "old", "cold", "ghost"]


def host_result(check_mode=False):
    """enable_nesting_result of a run: web power-cycled, cold configured, old and ghost refused."""
    plan = host_plan(FACTS, NAMES)
    (batch,) = plan["batches"]
    steps = [
        {
            "entries": batch,
            "shutdown": {
                "vms": [
                    {"vmid": "1", "operations": ["shutdown"], "power_state": "poweredOff"},
                    {"vmid": "4", "operations": [], "power_state": "poweredOff"},
                ]
            },
            "configure": {"vms": [{"vmid": "1", "changed": True}, {"vmid": "4", "changed": True}]},
            "boot": {
                "vms": [{"vmid": "1", "operations": ["on"], "power_state": "poweredOn", "ip_address": "10.0.0.1"}]
            },
        }
    ]
    result = outcome(plan, steps)  # in check mode the steps report what they would do
    result.update(
        esxi_host="esxi01",
        release="6.7.0",
        method="ssh",
        check_mode=check_mode,
        guests={"web": "web-guest"},
        started="2026-12-02T10:00:00.000000Z",
        ended="2026-12-02T10:00:21.500000Z",
        batch_timings=[
            {"vmids": ["4", "1"], "started": "2026-12-02T10:00:01.250000Z", "ended": "2026-12-02T10:00:20Z"}
        ],
    )
    return result


SHOWN = {"nested_virtualization": True, "virtualization_flag": "svm", "long_mode": True, "processors": 2, "kvm": None}


def records(report):
    return dict((record["vm"], record) for record in report["vms"])


def test_one_record_per_vm_with_what_was_found_done_and_shown():
    report = run_report([host_result()], {"esxi01": FACTS}, {"web-guest": SHOWN}, generated_at="2026-12-02T10:01:00Z")
    assert (report["format"], report["complete"], report["check_mode"]) == (1, True, False)
    assert report["generated_at"] == "2026-12-02T10:01:00Z"
    assert [record["vm"] for record in report["vms"]] == NAMES
    web = records(report)["web"]
    assert (web["esxi_host"], web["esxi_release"], web["esxi_build"], web["method"]) == (
        "esxi01",
        "6.7.0",
        "15820472",
        "ssh",
    )
    assert web["found"] == {
        "power_state": "poweredOn",
        "hardware_version": 14,
        "nested_hv_enabled": False,
        "vhv.enable": None,
        "tools_running_status": "guestToolsRunning",
        "restart_pending": False,
    }
    assert (web["action"], web["outcome"], web["done"], web["failed"]) == (
        "power_cycle",
        "configured, power-cycled",
        True,
        False,
    )
    assert (web["power_cycled"], web["power_state"], web["ip_address"]) == (True, "poweredOn", "10.0.0.1")
    assert web["verification"] == {
        "status": "passed",
        "guest": "web-guest",
        "note": None,
        "virtualization_flag": "svm",
        "nested_virtualization": True,
        "long_mode": True,
        "processors": 2,
        "kvm": None,
    }
    assert web["timings"] == {
        "host_started": "2026-12-02T10:00:00.000000Z",
        "host_ended": "2026-12-02T10:00:21.500000Z",
        "host_seconds": 21.5,
        "batch_started": "2026-12-02T10:00:01.250000Z",
        "batch_ended": "2026-12-02T10:00:20Z",
        "batch_seconds": 18.75,
    }


def test_refused_and_untouched_vms_say_why_and_are_not_verified():
    found = records(run_report([host_result()], {"esxi01": FACTS}, {}))
    old, ghost, done, cold = found["old"], found["ghost"], found["done"], found["cold"]
    assert (old["action"], old["outcome"], old["failed"], old["reason"]) == (
        "refuse",
        "refused",
        True,
        "hardware_too_old",
    )
    assert "below the 9 that nesting needs" in old["msg"]
    assert old["found"]["hardware_version"] == 8 and old["timings"]["batch_seconds"] is None
    assert (ghost["reason"], ghost["found"], ghost["vmid"]) == ("vm_not_found", None, None)
    assert done["outcome"] == "nothing to do" and done["found"]["vhv.enable"] == "TRUE" and not done["failed"]
    assert done["verification"]["status"] == "not_verified" and done["verification"]["note"].startswith("not asked")
    assert cold["outcome"] == "configured (it stays off)" and cold["verification"]["note"] == "the VM is poweredOff"
    assert cold["timings"]["batch_seconds"] == 18.75
    assert old["verification"]["note"] == "the VM failed or was refused"


def test_a_guest_that_shows_no_nesting_fails_verification():
    shown = dict(SHOWN, nested_virtualization=False, virtualization_flag=None)
    web = records(run_report([host_result()], {"esxi01": FACTS}, {"web-guest": shown}))["web"]
    assert web["verification"]["status"] == "failed" and web["verification"]["virtualization_flag"] is None
    # Nesting turned off: a guest without the flag is what was wanted.
    web = records(run_report([host_result()], {"esxi01": FACTS}, {"web-guest": shown}, state="disabled"))["web"]
    assert web["verification"]["status"] == "passed"


def test_a_report_written_before_the_end_says_so():
    report = run_report([host_result()], {"esxi01": FACTS}, {}, complete=False)
    assert report["complete"] is False
    assert records(report)["web"]["verification"]["status"] == "not_reached"
    complete = records(run_report([host_result()], {"esxi01": FACTS}, {}))["web"]["verification"]
    assert complete["status"] == "not_verified" and complete["note"].startswith("no result from the guest")


def test_check_mode_says_what_would_be_done():
    report = run_report([host_result(check_mode=True)], {"esxi01": FACTS}, {})
    assert report["check_mode"] is True
    assert records(report)["web"]["outcome"] == "would configure and power-cycle"


def test_the_filter_copies_no_inventory_variable_into_the_report():
    hostvars = {
        "esxi01": {
            "enable_nesting_result": host_result(),
            "nestedvirt_esxi": FACTS,
            "nestedvirt_api_password": "s3cret-api",
            "ansible_password": "s3cret-ssh",
        },
        "web-guest": {"verify_result": SHOWN, "ansible_password": "s3cret-guest", "ansible_become_pass": "s3cret-b"},
        "unrelated": {"ansible_password": "s3cret-other"},
    }
    report = report_filter(hostvars, ["esxi01", "unrelated"], generated_at="2026-12-02T10:01:00Z")
    text = json.dumps(report)
    assert "s3cret" not in text
    assert records(report)["web"]["verification"]["status"] == "passed"
    assert len(report["vms"]) == len(NAMES)


def test_seconds_between_iso_times():
    assert seconds_between("2026-12-02T10:00:00Z", "2026-12-02T10:01:00.5+00:00") == 60.5
    assert seconds_between(None, "2026-12-02T10:00:00Z") is None
    assert seconds_between("yesterday", "2026-12-02T10:00:00Z") is None
