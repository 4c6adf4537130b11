"""Run a module of the collection through `ansible localhost`, as a play would, and read its result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ANSIBLE = Path(sys.executable).parent / "ansible"


@pytest.fixture
def run_module(tmp_path):
    def run(module, args, *flags, env=None):
        tree = tmp_path / "results"
        environment = dict(
            os.environ,
            ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
            ANSIBLE_HOME=str(tmp_path / "ansible-home"),
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        )
        for name in list(environment):
            if name.startswith("VMWARE_"):
                del environment[name]
        environment.update(env or {})
        done = subprocess.run(
            [str(ANSIBLE), "localhost", "-c", "local", "-m", "nestedvirt.esxi.%s" % module]
            + ["-a", json.dumps(args), "--tree", str(tree), *flags],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
        )
        result = json.loads((tree / "localhost").read_text())
        result["output"] = done.stdout + done.stderr
        result["failed"] = done.returncode != 0
        return result

    return run
