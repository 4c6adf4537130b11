"""The lab's guests are real QEMU machines: nesting, the Tools channel, power-off.

Two guests boot at once (TCG; a few seconds each): `plain` without nesting and without Tools,
`nested` with both. The tests that end a guest's life come last in each group.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[1]
if str(LAB) not in sys.path:  # labkit lives in tests/lab
    sys.path.insert(0, str(LAB))

from labkit.addresses import address_busy  # noqa: E402
from labkit.guest import Guest  # noqa: E402
from labkit.guestimage import build_guest_image  # noqa: E402

pytestmark = pytest.mark.lab

REPO = LAB.parents[1]
BOOT_TIMEOUT = 120.0


def _free_addresses(count: int) -> list[str]:
    """Loopback addresses in 127.0.20.200-254 whose port 22 is free (per xdist worker)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    base = 200 + 10 * (int(worker.removeprefix("gw") or 0) % 5)
    found = []
    for last in range(base, base + 10):
        address = f"127.0.20.{last}"
        if address_busy(address, 22):
            continue
        found.append(address)
        if len(found) == count:
            return found
    raise RuntimeError("no free 127.0.20.x:22 for the test guests")


class Ssh:
    def __init__(self, key: Path, known_hosts: Path) -> None:
        self.key = key
        self.known_hosts = known_hosts

    def run(self, address: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                "ssh",
                "-F",
                "/dev/null",
                "-i",
                str(self.key),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                f"UserKnownHostsFile={self.known_hosts}",
                "-o",
                "LogLevel=ERROR",
                f"root@{address}",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def wait(self, guest: Guest, timeout: float) -> float:
        """Seconds until the guest answers over SSH."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            assert guest.is_running(), f"QEMU exited: {_logs(guest)}"
            if self.run(guest.address, "true", timeout=20).returncode == 0:
                return time.monotonic() - start
            time.sleep(0.5)
        raise AssertionError(f"{guest.name} not reachable over SSH after {timeout}s")


@pytest.fixture(scope="module")
def image():
    return build_guest_image(REPO / ".cache" / "lab" / "guest")


@pytest.fixture(scope="module")
def ssh(tmp_path_factory):
    d = tmp_path_factory.mktemp("ssh")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-test", "-f", str(d / "id_ed25519")], check=True
    )
    return Ssh(d / "id_ed25519", d / "known_hosts")


@pytest.fixture(scope="module")
def guests(image, ssh, tmp_path_factory):
    """Both guests, started together so they boot in parallel; every QEMU is gone afterwards."""
    key = (ssh.key.parent / "id_ed25519.pub").read_text()
    plain_addr, nested_addr = _free_addresses(2)
    base = tmp_path_factory.mktemp("guests")
    made = {
        "plain": Guest(
            name="plain",
            address=plain_addr,
            image=image,
            authorized_key=key,
            vcpus=1,
            memsize_mb=256,
            workdir=base / "plain",
            tools=False,
        ),
        "nested": Guest(
            name="nested",
            address=nested_addr,
            image=image,
            authorized_key=key,
            vcpus=2,
            memsize_mb=384,
            workdir=base / "nested",
            tools=True,
        ),
    }
    try:
        made["plain"].start(nested=False)
        made["nested"].start(nested=True)
        yield made
    finally:
        for guest in made.values():
            guest.power_off()
            assert not guest.is_running(), f"QEMU of {guest.name} left behind"


def _logs(guest: Guest) -> str:
    tails = []
    for log in (guest.qemu_log, guest.console_log):
        text = log.read_text(errors="replace") if log.exists() else "(none)"
        tails.append(f"--- {log} ---\n{text[-2000:]}")
    return "\n".join(tails)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.fixture(scope="module")
def plain(guests, ssh):
    guest = guests["plain"]
    seconds = ssh.wait(guest, BOOT_TIMEOUT)
    print(f"\nplain guest: SSH after {seconds:.1f}s, QEMU RSS {_rss_kb(guest.pid) // 1024} MiB")
    return guest


@pytest.fixture(scope="module")
def nested(guests):
    guest = guests["nested"]
    assert guest.wait_tools(BOOT_TIMEOUT), f"no Tools `ready`: {_logs(guest)}"
    print(f"\nnested guest: Tools ready after {guest.ready_at:.1f}s, QEMU RSS {_rss_kb(guest.pid) // 1024} MiB")
    return guest


def _cpuinfo(ssh: Ssh, guest: Guest) -> tuple[set[str], int]:
    res = ssh.run(guest.address, "cat /proc/cpuinfo")
    assert res.returncode == 0, res.stderr
    flags = set()
    cpus = 0
    for line in res.stdout.splitlines():
        if line.startswith("processor"):
            cpus += 1
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    return flags, cpus


# --- without nesting, without Tools -------------------------------------------------------


def test_without_nesting_no_svm_and_kvm_amd_refuses(plain, ssh):
    flags, cpus = _cpuinfo(ssh, plain)
    assert "svm" not in flags
    assert {"lm", "hypervisor"} <= flags
    assert cpus == plain.vcpus == 1
    res = ssh.run(plain.address, "modprobe kvm_amd; echo rc=$?; dmesg | grep -i kvm; ls /dev/kvm")
    assert "rc=0" not in res.stdout
    assert "no hardware support" in res.stdout + res.stderr
    assert "/dev/kvm" in res.stderr  # ls: /dev/kvm: No such file or directory


def test_without_tools_no_agent_and_shutdown_refused(plain, ssh):
    assert not plain.wait_tools(0.5)
    assert not plain.tools_running
    assert plain.ip is None
    res = ssh.run(plain.address, "ls /sys/class/virtio-ports; ps")
    assert res.returncode == 0, res.stderr
    assert "tools-agent" not in res.stdout and "vport" not in res.stdout
    assert plain.request_shutdown() is False
    assert plain.is_running()


def test_power_off_is_hard_and_immediate(plain):
    pid = plain.pid
    start = time.monotonic()
    plain.power_off()
    assert time.monotonic() - start < 10
    assert not plain.is_running() and plain.pid is None
    assert not Path(f"/proc/{pid}").exists()


# --- with nesting and Tools ----------------------------------------------------------------


def test_tools_report_ready_and_ip(nested):
    assert nested.tools_running
    assert nested.ip == nested.address
    assert nested.ready_at is not None and nested.ready_at < BOOT_TIMEOUT


def test_with_nesting_svm_and_kvm_amd_loads(nested, ssh):
    flags, cpus = _cpuinfo(ssh, nested)
    assert {"svm", "lm", "hypervisor"} <= flags
    assert cpus == nested.vcpus == 2
    res = ssh.run(nested.address, "modprobe kvm_amd; echo rc=$?; test -c /dev/kvm && echo kvm-ok")
    assert "rc=0" in res.stdout, res.stdout + res.stderr
    assert "kvm-ok" in res.stdout


def test_request_shutdown_powers_off_cleanly(nested):
    pid = nested.pid
    start = time.monotonic()
    assert nested.request_shutdown() is True
    assert not nested.tools_running and nested.ip is None
    assert nested.wait_exit(60), "guest did not power off after `shutdown`"
    print(f"\nnested guest: powered off {time.monotonic() - start:.1f}s after `shutdown`")
    assert nested.exit_code == 0
    assert "reboot: Power down" in nested.console_log.read_text(errors="replace")
    assert nested.pid is None and not Path(f"/proc/{pid}").exists()
    assert nested.request_shutdown() is False
