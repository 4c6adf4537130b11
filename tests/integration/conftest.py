"""One lab for tests/integration: up once per session, down (and verified clean) at the end."""

import time

import pytest
import yaml
from vsphere_lab import LAB_CONFIG, Lab, esxilab, free_networks


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("vsphere-lab")
    config = root / "lab.yml"
    state = root / "state"
    started = time.monotonic()
    for host_net, guest_net in free_networks():
        LAB_CONFIG["lab"].update(host_net=host_net, guest_net=guest_net)
        config.write_text(yaml.safe_dump(LAB_CONFIG, sort_keys=False))
        up = esxilab("up", "--config", config, "--dir", state)
        if up.returncode == 0 or "lab addresses in use" not in up.stdout + up.stderr:
            break  # up, or failed for a reason another address range will not cure
    if up.returncode != 0:
        esxilab("down", "--dir", state)
        pytest.fail("esxilab up failed (%d):\n%s\n%s" % (up.returncode, up.stdout, up.stderr))
    print("\nvSphere lab up in %.1f s (%s)" % (time.monotonic() - started, state))
    try:
        yield Lab(state)
    finally:
        down = esxilab("down", "--dir", state)
        assert down.returncode == 0, "esxilab down left something behind:\n%s\n%s" % (down.stdout, down.stderr)
