"""The client layer against the lab's vSphere simulator: faults raised inside tasks, and waits."""

import time

import pytest

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._client import VsphereClient
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._errors import (
    AuthenticationError,
    PowerStateError,
    WaitTimeoutError,
)

pytestmark = pytest.mark.lab


@pytest.fixture
def client(lab):
    hostvars = lab.hostvars["lic70"]
    with VsphereClient(
        hostname=lab.address("lic70"),
        username="root",
        password=lab.password("lic70"),
        ca_file=hostvars["nestedvirt_api_ca_file"],
    ) as connected:
        yield connected


def test_a_task_that_fails_raises_the_typed_error_of_its_fault(client, lab):
    vm = client.find_vm(name="client")
    assert lab.vm("lic70", "client")["power"] == "poweredOn"
    with pytest.raises(PowerStateError) as caught:
        client.reconfigure(vm, "reconfiguring VM 'client'", nestedHVEnabled=True)
    assert str(caught.value) == (
        "reconfiguring VM 'client' failed: the VM is in the wrong power state (it is poweredOn): The attempted "
        "operation cannot be performed in the current state (Powered On) (InvalidPowerState)."
    )
    with pytest.raises(PowerStateError, match="powering VM 'client' on failed: .*Powered On"):
        client.power_on(vm, "powering VM 'client' on")
    assert lab.vm("lic70", "client")["nested_hv_enabled"] is False


def test_a_wait_ends_at_its_deadline(client):
    vm = client.find_vm(name="client")
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError, match="runtime.powerState did not change as expected within 2 s"):
        client.wait_power_state(vm, "suspended", 2)
    assert 1.9 < time.monotonic() - started < 5


def test_a_wait_that_is_already_satisfied_returns_at_once(client):
    vm = client.find_vm(name="client")
    started = time.monotonic()
    assert client.wait_power_state(vm, "poweredOn", 30) == "poweredOn"
    assert time.monotonic() - started < 1


def test_host_and_service_are_read(client):
    host, name = client.find_host()
    assert name == "lic70"
    assert not client.is_vcenter and client.api_version == "7.0.3.0"
    assert set(client.service(host, "TSM-SSH")) == {"running", "policy"}


def test_wrong_password(lab):
    with pytest.raises(AuthenticationError, match="user name or password is wrong"):
        VsphereClient(
            hostname=lab.address("lic70"),
            username="root",
            password="wrong",  # noqa: S106
            validate_certs=False,
        ).connect()
