"""One lab for tests/integration: up once per session, down (and verified clean) at the end."""

import pytest
from vsphere_lab import LAB_CONFIG, lab_up


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    with lab_up(LAB_CONFIG, tmp_path_factory.mktemp("vsphere-lab")) as lab:
        yield lab
