"""Run Ansible as a user would, from a directory of its own, and read what happened.

A ``Job`` is one ansible-playbook run: its inventories, a playbook (a path, or plays written to
play.yml), its flags and extra vars (a vars file whose strings are all !unsafe: names are data,
never templates). It runs with its own ANSIBLE_HOME and temp directory and the keep_results callback
(callback_plugins/), which keeps every task's result by task name.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
CALLBACKS = Path(__file__).with_name("callback_plugins")


def environment(home: Path, temp: Path | None = None, clean: bool = False, keep_results: Path | None = None, **extra):
    """The environment of one run: ANSIBLE_HOME ``home``, ANSIBLE_LOCAL_TEMP ``temp`` (home/tmp), no
    colour; ``clean`` drops every ANSIBLE_* setting of the caller's; ``keep_results``: the file the
    keep_results callback writes; ``extra``: more variables."""
    env = {k: v for k, v in os.environ.items() if not (clean and k.startswith("ANSIBLE_"))}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(temp or Path(home) / "tmp"))
    if keep_results is not None:
        env.update(
            ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
            ANSIBLE_CALLBACKS_ENABLED="keep_results",
            KEEP_RESULTS_FILE=str(keep_results),
        )
    env.update(extra)
    return env


_RECAP = re.compile(r"^(\S.*?)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def recap(output: str) -> dict[str, dict[str, int]]:
    """{inventory host: {ok, changed, unreachable, failed, skipped}} from a run's PLAY RECAP."""
    keys = ("ok", "changed", "unreachable", "failed", "skipped")
    return {m.group(1): dict(zip(keys, map(int, m.groups()[1:]), strict=True)) for m in _RECAP.finditer(output)}


class Run:
    """One ended ansible-playbook run: its rc, its output, each task's result by task name."""

    def __init__(self, rc: int, output: str, results: dict, seconds: float) -> None:
        self.rc = rc
        self.output = output
        self.results = results
        self.seconds = seconds

    def __getitem__(self, name: str) -> dict:
        return self.results[name]

    def failures(self) -> dict[str, str]:
        return {name: r.get("msg", "") for name, r in self.results.items() if r.get("failed") or r.get("unreachable")}

    def recap(self) -> dict[str, dict[str, int]]:
        return recap(self.output)


def unsafe(value) -> str:
    """YAML for ``value`` with every string tagged !unsafe (JSON strings are YAML double-quoted strings)."""
    if isinstance(value, str):
        return "!unsafe %s" % json.dumps(value, ensure_ascii=False)  # no \\ud83d surrogates: YAML refuses them
    if isinstance(value, list):
        return "[%s]" % ", ".join(unsafe(item) for item in value)
    return json.dumps(value)


class Job:
    """One ansible-playbook run prepared in ``work`` (created): run it to its end, or start it and
    finish it later. ``env``: variables over ``environment``'s (which this sets to ``work``'s
    ansible-home and ansible-tmp, this Python as the interpreter, keep_results on)."""

    def __init__(self, work: Path, inventories, playbook, *flags, extra_vars=None, env=None) -> None:
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        if not isinstance(playbook, (str, Path)):
            path = self.work / "play.yml"
            path.write_text(yaml.safe_dump(playbook, sort_keys=False, allow_unicode=True))
            playbook = path
        self.results = self.work / "results.json"
        self.argv = [str(BIN / "ansible-playbook")]
        for inventory in [inventories] if isinstance(inventories, (str, Path)) else inventories:
            self.argv += ["-i", str(inventory)]
        self.argv += [str(playbook), *map(str, flags)]
        if extra_vars:
            values = self.work / "vars.yml"
            values.write_text("".join("%s: %s\n" % (key, unsafe(v)) for key, v in extra_vars.items()), encoding="utf-8")
            self.argv += ["-e", "@%s" % values]
        self.env = environment(
            self.work / "ansible-home",
            self.work / "ansible-tmp",
            keep_results=self.results,
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        )
        self.env.update(env or {})
        self.started = 0.0

    def run(self, timeout: float = 600) -> Run:
        """Run it to its end (its output: stdout, then stderr)."""
        self.started = time.monotonic()
        done = subprocess.run(
            self.argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        (self.work / "output.txt").write_text(done.stdout + done.stderr)
        return self._ended(done.returncode)

    def start(self) -> subprocess.Popen:
        """Start it in a session of its own (os.killpg reaches its workers), output to work/output.txt."""
        self.started = time.monotonic()
        with open(self.work / "output.txt", "w") as output:
            return subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )

    def finish(self, process: subprocess.Popen, timeout: float = 600) -> Run:
        """Wait for a ``start``ed run to end."""
        process.wait(timeout=timeout)
        return self._ended(process.returncode)

    def _ended(self, rc: int) -> Run:
        kept = json.loads(self.results.read_text()) if self.results.exists() else {}
        return Run(rc, (self.work / "output.txt").read_text(), kept, time.monotonic() - self.started)
