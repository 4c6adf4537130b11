"""A lab guest of kind esxi: a real QEMU machine whose shell answers as a nested ESXi's.

Two such guests boot at once: `esxi_nested` (CPU with svm) and `esxi_plain` (without). Each must
say VMkernel, print a VMware ESXi version line, and report `HV Support: 3` exactly when QEMU gave
it svm (esxi-facts.md: `esxcli hardware cpu global get`), `0` otherwise.
"""

from __future__ import annotations

import pytest
from labkit.guest import Guest
from test_guest import BOOT_TIMEOUT, _cpuinfo, _free_addresses, _logs, image, ssh  # noqa: F401 - fixtures

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def esxi_guests(image, ssh, tmp_path_factory):  # noqa: F811 - the fixtures imported above
    key = (ssh.key.parent / "id_ed25519.pub").read_text()
    base = tmp_path_factory.mktemp("esxi-guests")
    made = {}
    for name, address in zip(("esxi_nested", "esxi_plain"), _free_addresses(2), strict=True):
        made[name] = Guest(
            name=name,
            address=address,
            image=image,
            authorized_key=key,
            vcpus=2,
            memsize_mb=256,
            workdir=base / name,
            tools=True,
            kind="esxi",
        )
    try:
        for name, guest in made.items():
            guest.start(nested=name == "esxi_nested")
        for guest in made.values():
            assert guest.wait_tools(BOOT_TIMEOUT), f"no Tools `ready`: {_logs(guest)}"
        yield made
    finally:
        for guest in made.values():
            guest.power_off()
            assert not guest.is_running(), f"QEMU of {guest.name} left behind"


@pytest.mark.parametrize("name, hv_support, flag", [("esxi_nested", "3", True), ("esxi_plain", "0", False)])
def test_esxi_guest_answers_as_nested_esxi(esxi_guests, ssh, name, hv_support, flag):  # noqa: F811
    guest = esxi_guests[name]
    res = ssh.run(guest.address, "uname -s; vmware -v; esxcli hardware cpu global get")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "VMkernel"
    assert lines[1] == "VMware ESXi 8.0.0 build-20513097"
    assert lines[2:] == [
        "CPU Packages: 1",
        "CPU Cores: 2",
        "CPU Threads: 2",
        "Hyperthreading Active: false",
        "Hyperthreading Supported: false",
        "Hyperthreading Enabled: true",
        "HV Support: " + hv_support,
    ]
    # The value follows the CPU QEMU gave the guest, as a Linux guest's flags do.
    flags, _cpus = _cpuinfo(ssh, guest)
    assert ("svm" in flags) is flag


def test_esxi_guest_refuses_other_commands(esxi_guests, ssh):  # noqa: F811
    res = ssh.run(esxi_guests["esxi_nested"].address, "esxcli network vswitch standard list; echo rc=$?")
    assert "rc=1" in res.stdout
    assert "Unknown command or namespace" in res.stderr
    # uname's other options are still BusyBox's.
    assert ssh.run(esxi_guests["esxi_nested"].address, "uname -m").stdout.strip() == "x86_64"
