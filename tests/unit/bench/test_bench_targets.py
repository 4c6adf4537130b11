"""bench/benchlib/targets.py: the exact floor, the round-trip budget and the target verdicts, on
made-up summaries (no lab)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from benchlib import targets  # noqa: E402


def _vm(name, delay=4.5, boot=5, **extra):
    return {"name": name, "guest": "none", "shutdown_delay": delay, "boot_seconds": boot, **extra}


def _floor_row(wall, floor=10.0, bare=4.0, round_trips=4, vms=20, ok=True):
    return {
        "label": "2 x 20",
        "ok": ok,
        "rc": 0 if ok else 2,
        "failures": [] if ok else ["run.log (rc 2, 0/40 done)"],
        "wall_s": wall,
        "floor_s": floor,
        "overhead_s": wall - floor,
        "bare_wall_s": bare,
        "vms": 2 * vms,
        "ssh_total": 2 * round_trips,
        "controller_cpu_s": 3.0,
        "phases": {},
        "per_host": {
            host: {"round_trips": round_trips, "changed_vms": vms, "by_kind": {"host facts": 1}}
            for host in ("esxi-a", "esxi-b")
        },
    }


def _idle_row(vms, wall, ssh_total=2, memory=100.0, bare=4.0, cpu=5.0, ok=True):
    return {
        "ok": ok,
        "rc": 0,
        "failures": [],
        "vms": vms,
        "hosts": 2,
        "wall_s": wall,
        "ssh_total": ssh_total,
        "ssh_by_kind": {"host facts": ssh_total},
        "controller_cpu_s": cpu,
        "memory_mb": memory,
        "largest_process_mb": 60.0,
        "processes": 11,
        "ms_per_vm": 1000 * wall / vms,
        "bare_wall_s": bare,
        "bare_controller_cpu_s": 2.0,
        "bare_memory_mb": 90.0,
        "bare_ssh_total": 2,
    }


def test_budget_is_one_per_host_and_three_per_batch():
    assert targets.round_trip_budget(4, None) == 4
    assert targets.round_trip_budget(20, None) == 4
    assert targets.round_trip_budget(20, 8) == 1 + 3 * 3
    assert targets.round_trip_budget(0, None) == 1


def test_exact_floor_adds_hostds_own_shutdown_time():
    hosts = [{"name": "a", "vms": [_vm("v1"), _vm("v2")]}, {"name": "b", "vms": [_vm("v3", delay=1.5)]}]
    floor = targets.exact_floor(hosts, 0.5)
    assert floor["floor_s"] == pytest.approx(10.0)
    assert floor["per_host"]["b"]["floor_s"] == pytest.approx(7.0)


def test_exact_floor_runs_batches_one_after_another_slowest_together():
    vms = [_vm("slow%d" % i, delay=9.5) for i in range(2)] + [_vm("fast%d" % i, delay=0) for i in range(3)]
    floor = targets.exact_floor([{"name": "a", "vms": vms}], 0.5, batch=2)
    # batches {slow, slow}, {fast, fast}, {fast}: 15 + 5.5 + 5.5
    assert floor["per_host"]["a"]["batches"] == 3
    assert floor["floor_s"] == pytest.approx(26.0)


def test_exact_floor_refuses_vms_it_cannot_know():
    with pytest.raises(ValueError):
        targets.exact_floor([{"name": "a", "vms": [{"name": "x", "guest": "linux"}]}], 0.5)
    with pytest.raises(ValueError):
        targets.exact_floor([{"name": "a", "vms": [_vm("x", tools=False)]}], 0.5)
    assert targets.exact_floor([{"name": "a", "vms": [_vm("x", power=True)]}], 0.5)["floor_s"] == 10.0


def test_full_round_trips_within_budget_and_per_vm_commands_named():
    met = targets.full_round_trips("2 x 20", _floor_row(20.0, round_trips=4), None)
    assert met["met"] is True and "cause" not in met
    row = _floor_row(20.0, round_trips=81)
    row["per_host"]["esxi-a"]["by_kind"] = {"host facts": 1, "shutdown + wait": 20, "power on + wait": 20}
    missed = targets.full_round_trips("2 x 20", row, None)
    assert missed["met"] is False
    assert "esxi-a sent 81 round trips, 77 over its budget of 4" in missed["cause"]
    assert "once per VM instead of once per batch: shutdown + wait, power on + wait" in missed["cause"]
    # Smaller batches raise the budget: 20 VMs in batches of 5 may take 1 + 3 * 4.
    assert targets.full_round_trips("2 x 20", _floor_row(20.0, round_trips=13), 5)["met"] is True


def test_floor_overhead_allows_the_bare_playbook_and_a_tenth_of_the_floor():
    assert targets.floor_overhead(_floor_row(wall=15.0))["met"] is True  # 5.0 <= 4.0 + 1.0
    missed = targets.floor_overhead(_floor_row(wall=15.1))
    assert missed["met"] is False and missed["cause"].startswith("0.1 s over the allowance")
    failed = targets.floor_overhead(_floor_row(wall=12.0, ok=False))
    assert failed["met"] is False and "the run failed" in failed["cause"]


def test_idle_targets():
    small, large = _idle_row(20, 4.5), _idle_row(200, 6.0)
    assert targets.idle_wall(large)["met"] is True  # 6.0 <= 1.5 x 4.0
    assert targets.idle_wall(_idle_row(200, 6.1))["met"] is False
    wall, trips = targets.idle_growth(small, large)
    assert wall["met"] is True and trips["met"] is True  # 1.5 s / 180 VMs = 8.3 ms
    wall, trips = targets.idle_growth(small, _idle_row(200, 6.5, ssh_total=4))
    assert wall["met"] is False and trips["met"] is False
    assert "2 more round trips for 180 more VMs" in trips["cause"]
    assert targets.idle_memory(large)["met"] is True
    assert targets.idle_memory(_idle_row(200, 6.0, memory=151))["met"] is False


def test_versus_peers():
    ours = {"ok": True, "wall_s": 20.0, "floor_s": 15.0, "overhead_s": 5.0, "ssh_total": 4, "phases": {}}
    naive = {"ok": True, "wall_s": 30.0, "floor_s": 15.0, "overhead_s": 10.0, "ssh_total": 28}
    community = {"ok": True, "wall_s": 40.0}
    assert targets.versus_naive(ours, naive)["met"] is True
    assert targets.versus_community(ours, community)["met"] is True
    slower = {**ours, "wall_s": 21.0, "overhead_s": 6.0}
    assert targets.versus_naive(slower, naive)["met"] is False
    missed = targets.versus_community(slower, community)
    assert missed["met"] is False and "finish in 20.0 s" in missed["cause"]


def test_unmeasured_targets_are_neither_met_nor_missed():
    out = targets.evaluate({"full": {}, "idempotent": {}, "floor": {}})
    assert out and all(t["met"] is None and t["cause"] == "not measured in this run" for t in out)
    assert {"name", "goal", "measured", "met"} <= set(out[0])


def test_a_failed_run_misses_with_its_measurements_in_the_cause():
    row = _floor_row(wall=30.0, round_trips=81, ok=False)
    row["vms_in_output"] = {"esxi-a": 20, "esxi-b": 0}
    overhead = targets.floor_overhead(row)
    assert overhead["met"] is False
    assert overhead["cause"].startswith("the run failed: run.log")
    assert "15.0 s over the allowance" in overhead["cause"]
    assert "names only 20 of the 40 VMs beside their host: esxi-a 20, esxi-b 0" in overhead["measured"]
    trips = targets.full_round_trips("2 x 20", row, None)
    assert trips["cause"].startswith("the run failed") and "77 over its budget" in trips["cause"]


def test_through_a_vcenter_api_calls_and_no_ssh():
    ours = {"ok": True, "api_total": 78, "api_per_vm": 19.5, "api_by_method": {"ReconfigVM_Task": 12}}
    community = {"ok": True, "api_total": 1224, "api_per_vm": 306.0, "api_by_method": {"Fetch": 1116}}
    met = targets.api_calls_vs_community(ours, community, "vCenter 1 x 4")
    assert met["met"] is True and met["measured"].startswith("0.064x (78 vs 1224 calls")
    missed = targets.api_calls_vs_community({**ours, "api_total": 130}, community, "vCenter 1 x 4")
    assert missed["met"] is False and "at most 122 calls and made 130" in missed["cause"]
    quiet = {"ok": True, "ssh_max": 0, "ssh_by_kind": {}}
    assert targets.no_ssh({"vc-1x4": quiet, "vc-2x4": quiet})["met"] is True
    noisy = {"ok": True, "ssh_max": 1, "ssh_by_kind": {"host facts": 1}}
    sent = targets.no_ssh({"vc-1x4": quiet, "vc-2x4": noisy})
    assert sent["met"] is False and "vc-2x4: 1 (host facts" in sent["cause"]
    assert targets.no_ssh({"vc-1x4": None})["met"] is None
