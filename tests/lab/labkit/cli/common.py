"""What the esxilab commands share: their error, output, the running labd's pid, the lab's
config and the ssh options of the lab's key and known_hosts."""

from __future__ import annotations

from .. import config as cfgmod
from ..labd import Pids, State, start_time


class CliError(Exception):
    pass


def say(text: str) -> None:
    print(text, flush=True)


# --- helpers ------------------------------------------------------------------------------------


def labd_pid(state: State) -> int | None:
    entry = Pids(state.pids).entries().get("labd") if state.pids.is_dir() else None
    if entry and entry[1] is not None and start_time(entry[0]) == entry[1]:
        return entry[0]
    return None


def load_lab(state: State) -> cfgmod.Lab:
    if not state.config.exists():
        raise CliError(f"{state.root}: no lab here (no config.json); run `esxilab up` first")
    return cfgmod.load(state.config)


def ssh_options(state: State) -> list[str]:
    return [
        "-o",
        f"UserKnownHostsFile={state.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        str(state.key),
    ]
