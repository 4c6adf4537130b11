"""esxilab up: build everything (host roots and keys, guest image, vSphere simulator) so build
errors show in the terminal, start labd, wait until the lab is ready, write the inventory."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .. import config as cfgmod
from .. import rootfs, sshd
from ..addresses import busy_ports, free_networks
from ..labd import Pids, State
from .common import CliError, labd_pid, say, ssh_options
from .down import down


def keygen(path: Path, comment: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


# --- up -----------------------------------------------------------------------------------------------


def prepare(lab: cfgmod.Lab, state: State) -> dict:
    """Everything that can fail at build time, before labd starts (errors show here)."""
    for sub in ("hosts", "guests", "vcenters", "pids", "logs", "keys", "secrets"):
        shutil.rmtree(state.root / sub, ignore_errors=True)
    for f in ("ready", "failed", "inventory.yml", "known_hosts", "config.json", "build.json", "labd.log"):
        (state.root / f).unlink(missing_ok=True)
    for sub in ("hosts", "guests", "vcenters", "pids", "logs", "keys", "secrets"):
        (state.root / sub).mkdir(parents=True)
    state.secrets.chmod(0o700)
    state.keys.chmod(0o700)
    pub = keygen(state.key, "esxilab")
    state.authorized_keys.write_text(pub + "\n")
    known = []
    for h in lab.hosts:
        hd = state.host(h.name)
        hd.mkdir(parents=True)
        key = keygen(hd / "ssh_host_ed25519_key", f"root@{h.name}")
        known.append(f"{h.address} {' '.join(key.split()[:2])}")
        rootfs.build_root(h, hd / "root")
        sshd.write_host_files(h, hd, state.authorized_keys)
    for name in [h.name for h in lab.hosts if h.api] + [vc.name for vc in lab.vcenters]:
        pw = state.api_password(name)
        pw.write_text(secrets.token_urlsafe(18) + "\n")
        pw.chmod(0o600)
    state.known_hosts.write_text("".join(line + "\n" for line in known))
    build: dict = {}
    if lab.guests():
        from ..guestimage import build_guest_image

        say("esxilab: guest image ...")
        img = build_guest_image(cfgmod.CACHE_DIR / "guest")
        build["guest_image"] = {
            "kernel": str(img.kernel),
            "initrd": str(img.initrd),
            "kernel_version": img.kernel_version,
        }
    if any(h.api for h in lab.hosts) or lab.vcenters:
        from ..vsphere import build_vsphere_sim

        say("esxilab: vSphere API simulator ...")
        build["vsphere_sim"] = str(build_vsphere_sim(cfgmod.CACHE_DIR / "vsphere", cfgmod.LAB_DIR / "vsphere"))
    state.build.write_text(json.dumps(build, indent=1) + "\n")
    state.config.write_text(lab.to_json() + "\n")
    return build


def api_vars(state: State, name: str, address: str, username: str, ca_file: Path) -> dict:
    """How Ansible reaches a host's or a vCenter's vSphere API; the password stays in secrets/."""
    return {
        "nestedvirt_api_hostname": address,
        "nestedvirt_api_port": cfgmod.API_PORT,
        "nestedvirt_api_username": username,
        "nestedvirt_api_password": "{{ lookup('ansible.builtin.file', '%s') }}" % state.api_password(name),
        "nestedvirt_api_ca_file": str(ca_file),
        "nestedvirt_api_validate_certs": True,
    }


def inventory(lab: cfgmod.Lab, state: State) -> str:
    import yaml

    common = {
        "ansible_user": "root",
        "ansible_connection": "ssh",
        "ansible_ssh_private_key_file": str(state.key),
        "ansible_ssh_common_args": " ".join(shlex.quote(o) for o in ssh_options(state)[:6]),
    }
    hosts = {}
    for h in lab.hosts:
        hv = {
            "ansible_host": h.address,
            "ansible_port": cfgmod.SSH_PORT,
            **common,
            "esxilab_version": h.version,
            "esxilab_build": h.build,
            "esxilab_ssh_at_start": h.ssh,
        }
        if h.api:
            hv.update(api_vars(state, h.name, h.address, h.api_username, state.api_dir(h.name) / "cert.pem"))
            hv["esxilab_license"] = h.license
        vc = lab.vcenter_of(h.name)
        if vc is not None:
            hv["nestedvirt_vcenter"] = vc.name
        hosts[h.name] = hv
    vcenters = {
        vc.name: {
            "ansible_host": vc.address,
            "ansible_connection": "local",  # an API endpoint: nothing ever connects to it over SSH
            **api_vars(state, vc.name, vc.address, vc.username, state.vcenter_dir(vc.name) / "cert.pem"),
            "nestedvirt_vcenter_datacenter": vc.datacenter,
            "nestedvirt_vcenter_cluster": vc.cluster,
        }
        for vc in lab.vcenters
    }
    guests = {}
    for h, vm in lab.guests():
        if not vm.inventory:
            continue
        guests[vm.inventory_name] = {
            "ansible_host": vm.address,
            "ansible_port": cfgmod.SSH_PORT,
            **common,
            "nestedvirt_esxi_host": h.name,
            "nestedvirt_vm_name": vm.name,
        }
    doc = {
        "all": {
            "vars": {"esxilab_state_dir": str(state.root)},
            "children": {
                "esxi_hosts": {"hosts": hosts},
                "nested_guests": {"hosts": guests},
                **({"vcenters": {"hosts": vcenters}} if vcenters else {}),
            },
        }
    }
    return "# written by tests/lab/esxilab up; the lab's passwords are in secrets/, not here\n" + yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, width=1000
    )


def cmd_up(args) -> int:
    state = State(args.dir)
    t0 = time.monotonic()
    if str(state.root).startswith("/run/") or state.root == Path("/run"):
        raise CliError("the state directory must not be under /run")
    try:
        raw = cfgmod.read_raw(Path(args.config))
        if args.free_nets:
            # Shared machines: other labs may hold the config's nets; take a free pair instead.
            raw = next(free_networks(raw, shuffle=True))
        lab = cfgmod.normalise(raw)
    except (OSError, cfgmod.ConfigError, RuntimeError) as e:
        raise CliError(str(e)) from None
    state.root.mkdir(parents=True, exist_ok=True)
    pid = labd_pid(state)
    if pid:
        raise CliError(f"a lab is already up in {state.root} (labd pid {pid}); `esxilab down --dir {state.root}`")
    if state.pids.is_dir() and any(state.pids.iterdir()):
        say("esxilab: cleaning up what a previous lab left in this directory")
        down(state, quiet=True)
    busy = busy_ports(lab)
    if busy:
        raise CliError(f"lab addresses in use: {', '.join(busy)} (another lab? set lab.host_net/guest_net)")
    try:
        prepare(lab, state)
    except Exception as e:  # noqa: BLE001 - build errors end here, with their message
        raise CliError(f"build failed: {e}") from e
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(cfgmod.LAB_DIR), os.environ.get("PYTHONPATH")])),
    }
    with open(state.log, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labkit.labd", "--dir", str(state.root)],
            cwd=cfgmod.LAB_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    Pids(state.pids).record("labd", proc.pid)
    say(f"esxilab: labd pid {proc.pid}; waiting for the lab (at most {lab.ready_timeout:.0f} s)")
    deadline = time.monotonic() + lab.ready_timeout + 30
    failure = None
    while True:
        if state.ready.exists():
            break
        if state.failed.exists():
            failure = state.failed.read_text().strip()
            break
        if proc.poll() is not None:
            failure = f"labd exited with status {proc.returncode}"
            break
        if time.monotonic() > deadline:
            failure = "timed out waiting for labd"
            break
        time.sleep(0.1)
    if failure:
        say(f"esxilab: the lab did not come up: {failure}\n--- last lines of {state.log} ---")
        say("".join(state.log.read_text(errors="replace").splitlines(True)[-40:]).rstrip())
        left = down(state, quiet=True)
        if left:
            say("esxilab: after stopping, left behind:\n  " + "\n  ".join(left))
        return 1
    state.inventory.write_text(inventory(lab, state))
    took = time.monotonic() - t0
    say(
        f"esxilab: lab up in {took:.1f} s ({len(lab.hosts)} hosts, {len(lab.vcenters)} vCenters, "
        f"{len(lab.guests())} guests); "
        f"inventory: {state.inventory}"
    )
    return 0
