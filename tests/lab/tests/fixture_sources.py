"""The captured-output fixtures (tests/unit/fixtures/esxi) as the lab's tests use them: the table of
esxi/SOURCES.md (where each file comes from, how the lab reproduces it) and the facts file.

The fixtures are the one source of truth for output formats: the parser unit tests read them, the
lab must print the ones it reproduces byte for byte, and the ones marked as facts samples must
still appear verbatim in ../shared/reference/esxi-facts.md when that file is beside the checkout.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import ROOT, load_fixture

SOURCES = ROOT / "SOURCES.md"
FACTS_FILE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "esxi-facts.md"

_ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| (?P<source>[^|]+) \| (?P<lab>.+) \|$")
_HOW = re.compile(r"^`(?P<host>[\w-]+)(?: \((?P<mode>[^)]*)\))?: (?P<command>.+)`$")
_LINES = re.compile(r"facts sample, lines (\d+)-(\d+)")


@dataclasses.dataclass(frozen=True)
class Fixture:
    release: str
    name: str
    source: str
    host: str | None = None  # the lab host that prints it (None: the lab does not)
    mode: str = ""  # "", "pty", "hostd" or "fault KNOB ARGS"
    command: str = ""

    @property
    def id(self) -> str:
        return f"{self.release}/{self.name}"

    @property
    def text(self) -> str:
        return load_fixture(self.release, self.name)

    @property
    def fault(self) -> list[str]:
        return self.mode.split()[1:] if self.mode.startswith("fault ") else []

    def facts_parts(self) -> list[str]:
        """What must appear verbatim in the facts: the whole text, or the lines named."""
        parts = []
        if re.search(r"(^|; )facts sample(;|$)", self.source):
            parts.append(self.text)
        lines = self.text.splitlines(True)
        for first, last in _LINES.findall(self.source):  # lines may stand inline in the facts' prose
            parts.append("".join(lines[int(first) - 1 : int(last)]).removesuffix("\n"))
        return parts


def table() -> list[Fixture]:
    out = []
    for line in SOURCES.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        release, _, file = m["file"].partition("/")
        how = _HOW.match(m["lab"].strip())
        extra = {"host": how["host"], "mode": how["mode"] or "", "command": how["command"]} if how else {}
        out.append(Fixture(release, file.removesuffix(".txt"), m["source"].strip(), **extra))
    return out


def facts_text_blocks() -> str | None:
    """The facts file with its 4- and 8-space code indents (and `$ ` prompts) removed, or None."""
    if not FACTS_FILE.is_file():
        return None
    out = []
    for line in FACTS_FILE.read_text().splitlines():
        for indent in ("        ", "    "):
            if line.startswith(indent):
                line = line[len(indent) :]
                break
        out.append(line.removeprefix("$ "))
    return "\n".join(out) + "\n"


def run(lab, fx: Fixture) -> str:
    """What the lab prints for `fx` (its SOURCES.md row), as the fixture would hold it."""
    import subprocess

    if fx.fault:
        lab.fault(fx.host, *fx.fault)
    if fx.mode == "hostd":
        rc, out = lab.hostd(fx.host, *shlex.split(fx.command))
        return out
    if fx.mode == "pty":  # a terminal turns each \n into \r\n (the pty's onlcr)
        argv = lab.ssh_argv(lab.address(fx.host), fx.command, "-tt")
        r = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        return r.stdout.decode("utf-8", "surrogateescape")
    return lab.ssh(fx.host, fx.command).stdout
