"""esxilab: bring a lab of simulated ESXi hosts up, inspect it, inject faults, take it down.

esxilab up --config CONFIG.yml --dir STATE   builds, starts labd, returns when ready
esxilab status --dir STATE
esxilab log --dir STATE [--host NAME] [--json | --count]
esxilab fault --dir STATE --host NAME KNOB ARGS...
esxilab ssh --dir STATE NAME [COMMAND...]     an ESXi host or a guest (inventory name)
esxilab down --dir STATE                      stops all, verifies nothing is left

By job: main.py (the argument parser), up.py, down.py, running.py (status, log, fault, ssh),
common.py (what they share); `python -m labkit.cli` runs main. This module: `run_esxilab`, how
the test suites drive the command.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ESXILAB = Path(__file__).resolve().parents[2] / "esxilab"


def run_esxilab(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    """esxilab in a process of its own, as the test suites drive a lab; its output captured.

    Never with the caller's stdin: `esxilab ssh` runs ssh, which makes its stdin non-blocking, and
    an ansible-playbook started meanwhile on that same stdin refuses to run.
    """
    return subprocess.run(
        [str(ESXILAB), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
