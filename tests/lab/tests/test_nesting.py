"""Nesting as the guest sees it: the seed's manual steps over SSH turn on svm in the real QEMU
guest, kvm_amd then loads; without them it does not (acceptance points 1 and 2)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab

WAIT_OFF = (
    'i=0; until vim-cmd vmsvc/power.getstate {vmid} | grep -q "Powered off"; do sleep 0.5; i=$((i+1)); '
    "[ $i -lt 240 ] || exit 9; done"
)
WAIT_IP = (
    'i=0; until vim-cmd vmsvc/get.guest {vmid} | grep -q "^   ipAddress = \\""; do sleep 0.5; i=$((i+1)); '
    "[ $i -lt 360 ] || exit 9; done"
)
KVM_CHECK = (
    "grep -c -w svm /proc/cpuinfo; grep -c -w hypervisor /proc/cpuinfo; nproc; modprobe kvm_amd; echo rc=$?; "
    "ls /dev/kvm"
)


def guest_state(lab, guest: str) -> dict:
    r = lab.ssh(guest, KVM_CHECK, timeout=60)
    svm, hypervisor, nproc, *_ = r.stdout.splitlines()
    return {
        "svm": int(svm) > 0,
        "hypervisor": int(hypervisor) > 0,
        "nproc": int(nproc),
        "kvm": "rc=0" in r.stdout and "/dev/kvm" in r.stdout,
        "stderr": r.stderr,
    }


def test_guests_start_without_nesting(lab):
    for guest, cpus in (("lab_vm_50", 1), ("lab_vm_55", 2), ("lab_vm_80", 1)):
        st = guest_state(lab, guest)
        assert (st["svm"], st["hypervisor"], st["nproc"], st["kvm"]) == (False, True, cpus, False), guest
        assert "kvm_amd" in st["stderr"]


def test_seed_by_hand_on_55(lab):
    vmx = "/vmfs/volumes/datastore1/Lab VM 55/Lab VM 55.vmx"
    r = lab.ssh(
        "esxi55",
        f"vim-cmd vmsvc/power.shutdown 1 && {WAIT_OFF.format(vmid=1)} && "
        f"echo 'vhv.enable = \"TRUE\"' >> '{vmx}' && vim-cmd vmsvc/reload 1 && "
        f"vim-cmd vmsvc/power.on 1 && {WAIT_IP.format(vmid=1)}",
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    st = guest_state(lab, "lab_vm_55")
    assert st["svm"] and st["kvm"] and st["nproc"] == 2
    assert "nestedHVEnabled = true" in lab.ssh("esxi55", "vim-cmd vmsvc/get.config 1").stdout


def test_vhv_allow_on_50(lab):
    r = lab.ssh(
        "esxi50",
        f"vim-cmd vmsvc/power.shutdown 1 && {WAIT_OFF.format(vmid=1)} && "
        "cp /etc/vmware/config /tmp/config.orig && echo 'vhv.allow = \"TRUE\"' >> /etc/vmware/config && "
        f"vim-cmd vmsvc/power.on 1 && {WAIT_IP.format(vmid=1)}; "
        "rc=$?; cp /tmp/config.orig /etc/vmware/config; exit $rc",
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    st = guest_state(lab, "lab_vm_50")
    assert st["svm"] and st["kvm"]


def test_edit_while_running_is_gone_after_power_off(lab):
    vmx = "/vmfs/volumes/datastore1/Lab VM 80/Lab VM 80.vmx"
    r = lab.ssh(
        "esxi803",
        f"echo 'vhv.enable = \"TRUE\"' >> '{vmx}' && vim-cmd vmsvc/power.off 1 && "
        f"grep -c vhv.enable '{vmx}'; vim-cmd vmsvc/power.on 1 && {WAIT_IP.format(vmid=1)}",
        timeout=300,
    )
    assert r.stdout.startswith("Powering off VM:\n0\nPowering on VM:\n"), r.stdout + r.stderr
    assert not guest_state(lab, "lab_vm_80")["svm"]
