"""`python -m labkit.cli` (tests/lab/esxilab): the esxilab command."""

import sys

from .main import main

sys.exit(main())
