"""The tools compared: ours (the packaged collection), the peers (bench/peers) and the bare playbook,
each as an ansible-playbook command line and environment; the counting API proxies; their set-up."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from harness.ansible import environment

from .apiproxy import CountingProxy
from .lab import Lab
from .paths import (
    BARE_PLAYBOOK,
    BENCH,
    FORKS,
    PACKAGED,
    PEERS_REQUIREMENTS,
    PEERS_VENV,
    PROXY_PORT,
    ROOT,
    VENV_BIN,
    WORK,
    say,
)


class Tools:
    """ansible-playbook command lines: ours from the snapshot of the packaged collection (with
    ``-e nestedvirt_batch=N`` when the bench was given --batch), the peers, the bare playbook."""

    def __init__(self, collections: Path, batch: int | None = None) -> None:
        self.collections = collections
        self.batch = batch

    def argv_env(self, tool: str, inventory: Path, home: Path, extra: list[str]) -> tuple[list[str], dict]:
        playbook = str(VENV_BIN / "ansible-playbook")
        if tool in ("ours-ssh", "ours-api"):
            argv = [playbook, "-i", str(inventory), "nestedvirt.esxi.enable_nesting"]
            if tool == "ours-api":
                argv += ["-e", "enable_nesting_method=api"]
            if self.batch:
                argv += ["-e", "nestedvirt_batch=%d" % self.batch]
            return argv + extra, ansible_env(self.collections, home)
        if tool in ("naive", "bare"):
            path = BENCH / "peers" / "naive.yml" if tool == "naive" else BARE_PLAYBOOK
            return [playbook, "-i", str(inventory), str(path)] + extra, ansible_env(None, home)
        if tool == "community":
            path = BENCH / "peers" / "community_vmware.yml"
            argv = [str(PEERS_VENV / "bin" / "ansible-playbook"), "-i", str(inventory), str(path)]
            env = ansible_env(None, home)
            env["PATH"] = "%s:%s" % (PEERS_VENV / "bin", env.get("PATH", ""))
            return argv + extra, env
        raise ValueError(tool)


def uses_api(tool: str) -> bool:
    return tool in ("ours-api", "community")


def proxies_for(lab: Lab, workdir: Path) -> dict[str, CountingProxy]:
    """A counting proxy on <address>:8443 in front of each API endpoint, each ESXi host's own and
    each vCenter's, answering the simulator's panicking empty Fetch as vSphere does (apiproxy). No
    Tools shim: the simulator reports Tools from hostd itself, on the hosts and in the vCenter."""
    endpoints = {host: (lab.hosts[host], 443) for host in lab.api_hosts}
    endpoints.update(
        {name: (hv["nestedvirt_api_hostname"], int(hv["nestedvirt_api_port"])) for name, hv in lab.vcenters.items()}
    )
    proxies = {}
    for name, (address, port) in endpoints.items():
        proxy = CountingProxy(address, PROXY_PORT, address, port, workdir / name, empty_fetch=True)
        proxy.start()
        proxies[name] = proxy
    return proxies


def api_counts(proxies: dict[str, CountingProxy]) -> dict:
    by_method: dict[str, int] = {}
    shimmed: dict[str, int] = {}
    for proxy in proxies.values():
        for method, count in proxy.take().items():
            by_method[method] = by_method.get(method, 0) + count
        for what, count in proxy.shimmed.items():
            shimmed[what] = shimmed.get(what, 0) + count
        proxy.shimmed.clear()
    return {"total": sum(by_method.values()), "by_method": by_method, "shimmed": shimmed}


def peers_venv() -> None:
    """The peers' own venv (ansible with community.vmware), rebuilt when its pins change."""
    stamp = PEERS_VENV / ".requirements.sha256"
    digest = hashlib.sha256(PEERS_REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and (PEERS_VENV / "bin" / "ansible-playbook").exists():
        return
    say("installing the peers' venv (%s)" % PEERS_VENV.relative_to(ROOT))
    shutil.rmtree(PEERS_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)  # from the base interpreter
    pip = [str(PEERS_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run(pip + ["-r", str(PEERS_REQUIREMENTS)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit("bench: pip install -r %s failed:\n%s" % (PEERS_REQUIREMENTS, done.stderr[-3000:]))
    stamp.write_text(digest)


def snapshot_collection() -> Path:
    """A private copy of the collection as `make package` installed it (others may rebuild theirs)."""
    if not (PACKAGED / "MANIFEST.json").exists():
        raise SystemExit("bench: %s is missing; run `make package` first" % PACKAGED.relative_to(ROOT))
    target = WORK / "collections"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(PACKAGED, target / "ansible_collections" / "nestedvirt" / "esxi")
    return target


def ansible_env(collections: Path | None, home: Path) -> dict[str, str]:
    """Ansible's defaults (no ANSIBLE_* of the caller's, an empty ansible.cfg), the bench's forks."""
    env = environment(
        home,
        clean=True,
        ANSIBLE_FORKS=str(FORKS),
        ANSIBLE_DEPRECATION_WARNINGS="0",
        ANSIBLE_CONFIG=str(WORK / "ansible.cfg"),  # empty: no ansible.cfg of the checkout or the user
    )
    if collections is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    return env
