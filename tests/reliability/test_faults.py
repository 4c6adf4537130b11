"""The role under the lab's fault knobs: a full datastore, a guest that ignores shutdown, a VM
that vanishes or moves between discovery and change. The VM is never left down by the role, no
wait is endless, and nothing but the VM that was found is touched."""

from __future__ import annotations

import pytest
from rlab import PLAYBOOK, failure_message, nesting_run, nesting_vars, normalize, play, vmx_path, vmx_task

pytestmark = pytest.mark.lab

HOST = "r67"


def snapshot(lab):
    """Every file on the host's datastores (md5) and every VM's power state."""
    return lab.tree_digest(HOST), {name: vm["power"] for name, vm in lab.vms(HOST).items()}


def touched(before, after, allowed):
    """Files and VMs that changed between two snapshots, except those of the ``allowed`` VMs."""
    files = {p for p in set(before[0]) | set(after[0]) if before[0].get(p) != after[0].get(p)}
    files = sorted(p for p in files if not any("/%s/" % name in p for name in allowed))
    vms = sorted(n for n in set(before[1]) | set(after[1]) if before[1].get(n) != after[1].get(n) and n not in allowed)
    return files, vms


def _datastore_case(lab, case, tmp_path, vm, knob, injected, error):
    """A datastore fault on before the run: the role stops before the shutdown (the restart marker
    cannot be written), so the running VM is never taken down; the next run, fault gone, completes."""
    path = vmx_path(vm, "small")
    before = lab.read(HOST, path)
    lab.fault(HOST, knob, "small", "on")
    case.inject("`esxilab fault %s small on`: %s" % (knob, injected))
    try:
        run = nesting_run(lab, tmp_path, HOST, [vm])
        message = failure_message(run)
        after, power = lab.read(HOST, path), lab.power(HOST, vm)
        shutdowns = [c for c in lab.commands(HOST) if "power.shutdown" in c["command"] and vm in c["command"]]
    finally:
        lab.fault(HOST, knob, "small", "off")
    case.observe("the role failed (rc %d): %s" % (run.rc, normalize(message, lab)))
    case.observe(
        "the .vmx is %s; the VM is %s (the command that would have shut it down stopped before the shutdown)"
        % ("unchanged, byte for byte" if after == before else "CHANGED", power)
    )
    again = nesting_run(lab, tmp_path, HOST, [vm])
    final, state = lab.read(HOST, path), lab.vms(HOST)[vm]
    case.observe(
        "with the datastore writable again, the next run: rc %d; the VM is %s with nesting %s"
        % (again.rc, state["power"], "on" if state["nested_hv_enabled"] else "OFF")
    )
    case.files_lost = int(after != before or b'vhv.enable = "TRUE"' not in final)
    case.vms_left_down = int(power != "poweredOn") + int(state["power"] != "poweredOn")
    assert run.rc != 0 and "was not powered off: the restart marker" in message and error in message
    assert after == before and power == "poweredOn" and len(shutdowns) == 1
    assert [n for n in lab.listdir(HOST, path.rsplit("/", 1)[0]) if "nestedvirt" in n] == []
    assert again.rc == 0 and state["nested_hv_enabled"] and state["power"] == "poweredOn"


@pytest.mark.case("B1", "The datastore is full when the role is to change a running VM", promise="down")
def test_datastore_full(lab, case, tmp_path):
    injected = "the datastore of the running VM full-vm (no page, no inode)"
    _datastore_case(lab, case, tmp_path, "full-vm", "datastore_full", injected, "No space left on device")


@pytest.mark.case("B2", "The datastore is read-only when the role is to change a running VM", promise="down")
def test_datastore_readonly(lab, case, tmp_path):
    injected = "the datastore of the running VM readonly-vm is remounted read-only"
    _datastore_case(lab, case, tmp_path, "readonly-vm", "datastore_readonly", injected, "Read-only file system")


@pytest.mark.case("B3", "The datastore fills up after the role shut the VM down, before the .vmx write", promise="down")
def test_datastore_full_after_shutdown(lab, case, tmp_path):
    vm, path = "fills-up-vm", vmx_path("fills-up-vm", "small")
    before = lab.read(HOST, path)

    def shut_down(commands):
        return any("power.shutdown" in c for c in commands) and lab.power(HOST, vm) == "poweredOff"

    case.inject(
        "`esxilab fault datastore_full small on` as soon as the role's shutdown has powered the running VM %s off"
        " (the restart marker is already written beside its .vmx)" % vm
    )
    extra = nesting_vars(HOST, [vm])
    try:
        filled, run = lab.playbook_watched(
            tmp_path, PLAYBOOK, HOST, shut_down, lambda _p: lab.fault(HOST, "datastore_full", "small", "on"), extra
        )
        message = failure_message(run)
        after, power = lab.read(HOST, path), lab.power(HOST, vm)
        left = [n for n in lab.listdir(HOST, path.rsplit("/", 1)[0]) if "nestedvirt" in n]
    finally:
        lab.fault(HOST, "datastore_full", "small", "off")
    case.observe(
        "filled after the shutdown: %s; the role failed (rc %d): %s"
        % ("yes" if filled else "NO", run.rc, normalize(message, lab))
    )
    case.observe(
        "the .vmx is %s; the VM is %s (the role's rescue powered it back on); left beside it: %s"
        % ("unchanged, byte for byte" if after == before else "CHANGED", power, left or "nothing")
    )
    again = nesting_run(lab, tmp_path, HOST, [vm])
    final, state = lab.read(HOST, path), lab.vms(HOST)[vm]
    case.observe(
        "with space again, the next run: rc %d; the VM is %s with nesting %s"
        % (again.rc, state["power"], "on" if state["nested_hv_enabled"] else "OFF")
    )
    case.files_lost = int(after != before or b'vhv.enable = "TRUE"' not in final) + len(left)
    case.vms_left_down = int(power != "poweredOn") + int(state["power"] != "poweredOn")
    assert filled and run.rc != 0
    assert "could not create the lock beside" in message and "datastore full" in message
    assert "was powered back on" in message
    assert after == before and power == "poweredOn" and not left
    assert again.rc == 0 and state["nested_hv_enabled"] and state["power"] == "poweredOn"


@pytest.mark.case("C1", "The guest ignores the shutdown request", promise="bounded")
def test_guest_ignores_shutdown(lab, case, tmp_path):
    before = lab.read(HOST, vmx_path("stubborn"))
    seen = len(lab.commands(HOST))
    case.inject("VM stubborn with `ignore_shutdown: true` (power.shutdown succeeds, the guest stays up); timeout 3 s")
    run = nesting_run(lab, tmp_path, HOST, ["stubborn"], enable_nesting_shutdown_timeout=3)
    message = failure_message(run)
    sent = [c["command"] for c in lab.commands(HOST)[seen:]]
    shutdowns = [c for c in sent if "power.shutdown" in c]
    power = lab.power(HOST, "stubborn")
    case.observe("the role failed (rc %d) within the run's bound: %s" % (run.rc, normalize(message, lab)))
    case.observe(
        "one SSH command asked for the shutdown and waited on the host (%d sent); the VM is %s; its .vmx %s"
        % (len(shutdowns), power, "unchanged" if lab.read(HOST, vmx_path("stubborn")) == before else "CHANGED")
    )
    case.vms_left_down = int(power != "poweredOn")
    case.files_lost = int(lab.read(HOST, vmx_path("stubborn")) != before)
    assert run.rc != 0 and "did not shut down within 3 s; it is still poweredOn" in message
    assert "Set force: true" in message
    assert len(shutdowns) == 1 and power == "poweredOn"
    assert run.seconds < 120


@pytest.mark.case("C2", "The guest ignores the shutdown request; a hard power-off is allowed", promise="bounded")
def test_guest_ignores_shutdown_forced(lab, case, tmp_path):
    case.inject("VM stubborn-forced with `ignore_shutdown: true`; timeout 3 s, `enable_nesting_force: true`")
    seen = len(lab.commands(HOST))
    run = nesting_run(
        lab, tmp_path, HOST, ["stubborn-forced"], enable_nesting_shutdown_timeout=3, enable_nesting_force=True
    )
    sent = [c["command"] for c in lab.commands(HOST)[seen:]]
    vm = lab.vms(HOST)["stubborn-forced"]
    case.observe(
        "rc %d; after the timeout the shutdown command powered the VM off hard (%s); it was configured and is %s "
        "with nesting %s"
        % (
            run.rc,
            "power.off sent" if any("power.off" in c for c in sent) else "NO power.off",
            vm["power"],
            "on" if vm["nested_hv_enabled"] else "OFF",
        )
    )
    case.vms_left_down = int(vm["power"] != "poweredOn")
    assert run.rc == 0, run.output[-3000:]
    assert vm["power"] == "poweredOn" and vm["nested_hv_enabled"]


@pytest.mark.case("C3", "The VM has no running VMware Tools", promise="bounded")
def test_no_tools(lab, case, tmp_path):
    before = lab.read(HOST, vmx_path("no-tools"))
    case.inject("VM no-tools configured without VMware Tools (power.shutdown would be refused with ToolsUnavailable)")
    run = nesting_run(lab, tmp_path, HOST, ["no-tools"], enable_nesting_shutdown_timeout=60)
    message = failure_message(run)
    power = lab.power(HOST, "no-tools")
    case.observe("the role failed at once (rc %d): %s" % (run.rc, normalize(message, lab)))
    case.observe(
        "the VM is %s; its .vmx is %s"
        % (power, "unchanged" if lab.read(HOST, vmx_path("no-tools")) == before else "CHANGED")
    )
    case.vms_left_down = int(power != "poweredOn")
    # Refused by the plan, before any power operation: Tools do not run in the guest.
    assert run.rc != 0 and "no-tools (tools_unavailable): VMware Tools do not run in the guest" in message
    assert power == "poweredOn" and run.seconds < 120


@pytest.mark.case("D1", "The VM vanishes between discovery and shutdown", promise="identity")
def test_vm_vanishes_before_shutdown(lab, case, tmp_path):
    before = snapshot(lab)
    lab.fault(HOST, "vanish", "vanish-early", "1")
    case.inject("`esxilab fault vanish vanish-early 1`: host_info sees the VM, then it is unregistered (stopped hard)")
    run = nesting_run(lab, tmp_path, HOST, ["vanish-early"])
    message = failure_message(run)
    files, vms = touched(before, snapshot(lab), allowed={"vanish-early"})
    case.observe("the role failed (rc %d): %s" % (run.rc, normalize(message, lab)))
    case.observe(
        "files changed on the datastores: %s; other VMs whose power changed: %s" % (files or "none", vms or "none")
    )
    case.files_lost = len(files)
    assert run.rc != 0 and "unregistered, renamed or moved meanwhile. Nothing was done" in message
    assert not files and not vms


@pytest.mark.case("D2", "The VM vanishes after the role shut it down, before the .vmx write", promise="identity")
def test_vm_vanishes_before_configure(lab, case, tmp_path):
    before = snapshot(lab)
    lab.fault(HOST, "vanish", "vanish-late", "2")
    case.inject("`esxilab fault vanish vanish-late 2`: host_info and the shutdown see the VM, then it is unregistered")
    run = nesting_run(lab, tmp_path, HOST, ["vanish-late"])
    message = failure_message(run)
    files, vms = touched(before, snapshot(lab), allowed={"vanish-late"})
    case.observe("the role failed (rc %d): %s" % (run.rc, normalize(message, lab)))
    case.observe(
        "files changed on the datastores: %s; other VMs whose power changed: %s; the vanished VM's .vmx %s"
        % (
            files or "none",
            vms or "none",
            "unchanged"
            if before[0].get(vmx_path("vanish-late")) == snapshot(lab)[0].get(vmx_path("vanish-late"))
            else "CHANGED",
        )
    )
    case.files_lost = len(files)
    assert run.rc != 0 and "unregistered, renamed or moved meanwhile" in run.output
    assert not files and not vms


@pytest.mark.case(
    "D3", "The VM is registered again under another name between discovery and change", promise="identity"
)
def test_vm_reregistered(lab, case, tmp_path):
    path = vmx_path("moved")
    before, vmx_before = snapshot(lab), lab.read(HOST, path)
    vmid = next(str(vm["vmid"]) for name, vm in lab.vms(HOST).items() if name == "moved")
    tasks = [
        {"name": "facts", "nestedvirt.esxi.host_facts": {}},
        {
            "name": "re-register",
            "ansible.builtin.raw": "vim-cmd vmsvc/unregister %s && vim-cmd solo/registervm '%s' 'moved again'"
            % (vmid, path),
        },
        vmx_task("edit", vm="moved", settings={"vhv.enable": True}),
    ]
    case.inject(
        "between host_info and the .vmx edit of VM moved (powered off), the VM is unregistered and registered"
        " again as 'moved again' (a new vmid, the same .vmx)"
    )
    run = lab.playbook(tmp_path, play(HOST, tasks))
    after = snapshot(lab)
    files = touched(before, after, allowed={"moved"})[0]
    vms = touched(before, after, allowed={"moved", "moved again"})[1]
    # hostd itself rewrites the displayName of a VM registered under a new name; nothing else may change.
    changed_lines = set(lab.read(HOST, path).splitlines()) ^ set(vmx_before.splitlines())
    ours = sorted(line.decode() for line in changed_lines if not line.startswith(b"displayName"))
    case.observe("the edit failed (rc %d): %s" % (run.rc, normalize(run["edit"].get("msg", ""), lab)))
    case.observe(
        "other files changed on the datastores: %s; other VMs whose power changed: %s; lines of its .vmx changed "
        "other than hostd's new displayName: %s" % (files or "none", vms or "none", ours or "none")
    )
    case.files_lost = len(files) + len(ours)
    assert run.rc != 0 and "not where it was when the VM list was read" in run["edit"]["msg"]
    assert not files and not vms and not ours
