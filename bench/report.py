#!/usr/bin/env python
"""Print the markdown of bench/run's results again, without a lab (after a change to the tables, say).

    bench/report.py [bench/results/latest.json]     # prints the markdown (bench/run writes it too)

The rows are benchlib/summary.py's, the markdown benchlib/render.py's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.render import render  # noqa: E402

if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results" / "latest.json"
    print(render(json.loads(path.read_text())))
