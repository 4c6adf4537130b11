"""The one test harness: what the integration tests, the reliability suite, the molecule helpers and
bench share to drive the lab and Ansible.

  lab         start and stop a lab (tests/lab/esxilab) on free nets; a running lab: its inventory,
              its hosts, hostd's view of them, its fault knobs
  ansible     run ansible-playbook in a clean environment; each task's result, the recap
  ports       free 127.0.X.0/24 nets for a lab; whether a port answers
  roundtrips  the SSH commands a lab's hosts logged and what they were; the API calls
  hostfiles   files on a lab host, as its own shell sees them

Importable as ``harness`` with tests/ on sys.path (tests/conftest.py and bench/run put it there);
it puts the lab's labkit on sys.path itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = ROOT / "tests" / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))
