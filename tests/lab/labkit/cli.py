"""esxilab: bring a lab of simulated ESXi hosts up, inspect it, inject faults, take it down.

esxilab up --config CONFIG.yml --dir STATE   builds, starts labd, returns when ready
esxilab status --dir STATE
esxilab log --dir STATE [--host NAME] [--json | --count]
esxilab fault --dir STATE --host NAME KNOB ARGS...
esxilab ssh --dir STATE NAME [COMMAND...]     an ESXi host or a guest (inventory name)
esxilab down --dir STATE                      stops all, verifies nothing is left
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from . import config as cfgmod
from . import hostd as hostdmod
from . import rootfs, sshd
from .labd import Pids, State, start_time

FAULT_HELP = """knobs (also settable under `faults:` / per VM in CONFIG.yml):
  drop_ssh PATTERN [--at start|end] [--delay S] [--times N]   drop SSH sessions whose command matches
  ignore_shutdown VM on|off        the guest ignores power.shutdown
  shutdown_delay VM SECONDS        the guest acts on power.shutdown after SECONDS
  datastore_full DATASTORE on|off  writes to the datastore fail with ENOSPC
  datastore_readonly DATASTORE on|off  the datastore is mounted read-only (EROFS)
  vanish VM AFTER                  the VM is unregistered after AFTER more SSH commands
  power_on_fails VM|all [TIMES]    power.on fails: GenericVmConfigFault (no AMD-V, VHV disabled)
  power_on_misreports VM|all [TIMES]  power.on powers the VM on but prints `Power on failed`
  vim_cmd_transient KIND [TIMES] [PATTERN]  vim-cmd fails once (TIMES) as a transient failure does:
                                   ssl, reset, localhost, bad_alloc, mo_not_found
  clear                            remove every fault
"""


ESXILAB = Path(__file__).resolve().parents[1] / "esxilab"


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


def listeners(addresses: set[str]) -> list[str]:
    """LISTEN sockets bound to one of the addresses (from /proc/net/tcp)."""
    out = []
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        f = line.split()
        if len(f) < 4 or f[3] != "0A":
            continue
        hexip, hexport = f[1].split(":")
        ip = socket.inet_ntoa(bytes.fromhex(hexip)[::-1])
        if ip in addresses:
            out.append(f"{ip}:{int(hexport, 16)}")
    return out


def address_busy(address: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of an earlier lab is fine
    try:
        s.bind((address, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def busy_ports(lab: cfgmod.Lab) -> list[str]:
    """The lab's address:port pairs something else listens on already (`up` refuses those)."""
    ports = [(h.address, p) for h in lab.hosts for p in (cfgmod.SSH_PORT, cfgmod.HOSTD_PORT, cfgmod.API_PORT)]
    ports += [(vm.address, cfgmod.SSH_PORT) for _, vm in lab.guests()]
    return [f"{a}:{p}" for a, p in ports if address_busy(a, p)]


def free_networks(raw: dict, *, shuffle: bool = False) -> Iterator[dict]:
    """Copies of the CONFIG.yml mapping `raw` moved to 127.0.X.0/24 nets where none of the lab's
    addresses is in use (other developers' labs and tests may run on this machine at once).

    Candidates: the nets `raw` names itself, if any, then host_net 127.0.X.0 with guest_net
    127.0.X+1.0 for even X from 2 to 252, in that order or, with `shuffle`, in random order (so
    that sessions starting together rarely pick the same pair). The default nets (a developer's
    own lab) are never picked. Each copy is checked as it is asked for; `up` still refuses if
    another lab took the addresses in between, so a caller may go on to the next copy. Raises
    RuntimeError when no candidate is free.
    """
    lab_block = raw.get("lab") or {}
    defaults = {cfgmod.Lab.host_net, cfgmod.Lab.guest_net}
    pairs = [{"host_net": f"127.0.{x}.0", "guest_net": f"127.0.{x + 1}.0"} for x in range(2, 253, 2)]
    pairs = [p for p in pairs if defaults.isdisjoint(p.values())]
    if shuffle:
        random.shuffle(pairs)
    names_nets = any(k in d for d in (raw, lab_block) for k in ("host_net", "guest_net"))
    for nets in ([{}] if names_nets else []) + pairs:
        candidate = {**raw, "lab": {**lab_block, **nets}}
        if not busy_ports(cfgmod.normalise(candidate)):
            yield candidate
    raise RuntimeError("no free 127.0.X.0/24 nets for a lab")


def keygen(path: Path, comment: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


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


# --- up -----------------------------------------------------------------------------------------------


def prepare(lab: cfgmod.Lab, state: State) -> dict:
    """Everything that can fail at build time, before labd starts (errors show here)."""
    for sub in ("hosts", "guests", "pids", "logs", "keys", "secrets"):
        shutil.rmtree(state.root / sub, ignore_errors=True)
    for f in ("ready", "failed", "inventory.yml", "known_hosts", "config.json", "build.json", "labd.log"):
        (state.root / f).unlink(missing_ok=True)
    for sub in ("hosts", "guests", "pids", "logs", "keys", "secrets"):
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
        if h.api:
            pw = state.api_password(h.name)
            pw.write_text(secrets.token_urlsafe(18) + "\n")
            pw.chmod(0o600)
    state.known_hosts.write_text("".join(line + "\n" for line in known))
    build: dict = {}
    if lab.guests():
        from .guestimage import build_guest_image

        say("esxilab: guest image ...")
        img = build_guest_image(cfgmod.CACHE_DIR / "guest")
        build["guest_image"] = {
            "kernel": str(img.kernel),
            "initrd": str(img.initrd),
            "kernel_version": img.kernel_version,
        }
    if any(h.api for h in lab.hosts):
        from .vsphere import build_vsphere_sim

        say("esxilab: vSphere API simulator ...")
        build["vsphere_sim"] = str(build_vsphere_sim(cfgmod.CACHE_DIR / "vsphere", cfgmod.LAB_DIR / "vsphere"))
    state.build.write_text(json.dumps(build, indent=1) + "\n")
    state.config.write_text(lab.to_json() + "\n")
    return build


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
            hv.update(
                {
                    "nestedvirt_api_hostname": h.address,
                    "nestedvirt_api_port": cfgmod.API_PORT,
                    "nestedvirt_api_username": h.api_username,
                    "nestedvirt_api_password": "{{ lookup('ansible.builtin.file', '%s') }}"
                    % state.api_password(h.name),
                    "nestedvirt_api_ca_file": str(state.api_dir(h.name) / "cert.pem"),
                    "nestedvirt_api_validate_certs": True,
                    "esxilab_license": h.license,
                }
            )
        hosts[h.name] = hv
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
            "children": {"esxi_hosts": {"hosts": hosts}, "nested_guests": {"hosts": guests}},
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
        f"esxilab: lab up in {took:.1f} s ({len(lab.hosts)} hosts, {len(lab.guests())} guests); "
        f"inventory: {state.inventory}"
    )
    return 0


# --- status / log / fault / ssh ---------------------------------------------------------------------


def cmd_status(args) -> int:
    state = State(args.dir)
    lab = load_lab(state)
    pid = labd_pid(state)
    if not pid:
        say(f"lab in {state.root}: down")
        return 3
    say(f"lab in {state.root}: up (labd pid {pid})")
    for h in lab.hosts:
        try:
            rc, out = hostdmod.request(h.address, ["lab", "status"], timeout=10)
            st = json.loads(out)
        except (OSError, ValueError) as e:
            say(f"  {h.name}: hostd not answering: {e}")
            continue
        ssh = "running" if st["ssh"]["running"] else "stopped"
        api = f"  api https://{h.address}:{cfgmod.API_PORT} ({h.license})" if h.api else ""
        say(f"  {h.name}  ESXi {h.version} build-{h.build}  {h.address}  ssh {ssh} (policy {st['ssh']['policy']}){api}")
        for vm in st["vms"]:
            if vm.get("invalid"):
                say(f"    {vm['vmid']:>4}  {vm['name']!r}  (invalid)")
                continue
            extra = [f"system VM {vm['vmx_datastore_path']}"] if vm.get("system") else []
            if vm["guest"] == "linux":
                extra.append(f"guest {vm['address']}")
            if vm["power"] == "poweredOn":
                extra.append("tools running" if vm["tools_running"] else "tools not running")
                extra.append("nested" if vm["nested_now"] else "not nested")
            say(
                f"    {vm['vmid']:>4}  {vm['name']!r}  {vm['power']}  vmx-{vm['hardware_version']:02d}  "
                + "  ".join(extra)
            )
        faults = {k: v for k, v in st["faults"].items() if v}
        if faults:
            say(f"    faults: {json.dumps(faults, ensure_ascii=False)}")
    return 0


def cmd_log(args) -> int:
    state = State(args.dir)
    lab = load_lab(state)
    names = [args.host] if args.host else [h.name for h in lab.hosts]
    for n in names:
        lab.host(n)
    entries = []
    for n in names:
        f = state.commands_log(n)
        if f.exists():
            entries += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    entries.sort(key=lambda e: e["epoch"])
    if args.count:
        for n in names:
            say(f"{n} {sum(1 for e in entries if e['host'] == n)}")
        return 0
    for e in entries:
        if args.json:
            say(json.dumps(e, ensure_ascii=False))
            continue
        cmd = "(interactive login)" if e.get("interactive") else e["command"].replace("\\", "\\\\").replace("\n", "\\n")
        fault = f"  [{e['fault']}]" if e.get("fault") else ""
        say(f"{e['time']}  {e['host']}  {cmd}{fault}")
    return 0


def cmd_fault(args) -> int:
    state = State(args.dir)
    lab = load_lab(state)
    h = lab.host(args.host)
    if not labd_pid(state):
        raise CliError("the lab is down")
    a = list(args.args)
    if args.knob == "drop_ssh":
        if len(a) != 1:
            raise CliError("drop_ssh takes one PATTERN (and --at/--delay/--times)")
        a += [args.at, str(args.delay), str(args.times)]
    rc, out = hostdmod.request(h.address, ["lab", "fault", args.knob, *a], timeout=30)
    sys.stdout.write(out)
    return rc


def cmd_ssh(args) -> int:
    state = State(args.dir)
    lab = load_lab(state)
    address = None
    for h in lab.hosts:
        if h.name == args.name:
            address = h.address
    for _, vm in lab.guests():
        if vm.inventory_name == args.name:
            address = vm.address
    if address is None:
        raise CliError(f"no host or guest named {args.name!r}")
    argv = ["ssh", *ssh_options(state), "-o", "BatchMode=yes", f"root@{address}", *args.command]
    os.execvp("ssh", argv)  # noqa: S606 - replaces esxilab with the ssh client, as intended
    return 127


# --- down -----------------------------------------------------------------------------------------------


def down(state: State, quiet: bool = False) -> list[str]:
    """Stop the lab in `state`; return what is left (empty when clean)."""
    pids = Pids(state.pids) if state.pids.is_dir() else None
    namespaces = pids.namespaces() if pids else {}
    lpid = labd_pid(state)
    if lpid:
        if not quiet:
            say(f"esxilab: stopping labd (pid {lpid})")
        os.kill(lpid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and labd_pid(state):
            time.sleep(0.1)
    if pids:
        entries = pids.entries()
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            left = {k: e for k, e in entries.items() if e[1] is not None and start_time(e[0]) == e[1]}
            if not left:
                break
            for k, (pid, st) in left.items():
                if not quiet:
                    say(f"esxilab: {'terminating' if sig == signal.SIGTERM else 'killing'} {k} (pid {pid})")
                if start_time(pid) == st:
                    sshd.kill(pid, sig)
            end = time.monotonic() + wait
            while time.monotonic() < end and any(start_time(p) == s for p, s in left.values()):
                time.sleep(0.05)
        for ns in namespaces.values():  # open SSH sessions of a host whose supervisor died
            for p in sshd.processes_in(ns, owner=state.root):
                sshd.kill(p)
    # verify
    left = []
    if pids:
        left += [f"process {k} (pid {p})" for k, p in pids.alive().items()]
        for ns in namespaces.values():
            time.sleep(0.05)
            left += [f"process {p} in a host namespace" for p in sshd.processes_in(ns, owner=state.root)]
    try:
        lab = cfgmod.load(state.config) if state.config.exists() else None
    except cfgmod.ConfigError:
        lab = None
    if lab:
        left += [f"listener {x}" for x in listeners(set(lab.addresses()))]
    root = str(state.root)
    left += [
        f"mount {ln.split()[1]}"
        for ln in Path("/proc/mounts").read_text().splitlines()
        if root in ln.split()[1] or root in ln.split()[0]
    ]
    if not left and pids:
        for f in list(state.pids.iterdir()):
            f.unlink()
        state.ready.unlink(missing_ok=True)
    return left


def cmd_down(args) -> int:
    state = State(args.dir)
    if not state.root.exists():
        say(f"esxilab: {state.root} does not exist; nothing to stop")
        return 0
    left = down(state)
    if left:
        say("esxilab: NOT clean, left behind:\n  " + "\n  ".join(left))
        return 1
    say("esxilab: down; no process, listener or mount left")
    return 0


# --- main ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="esxilab", description="The ESXi lab (tests/lab/README.md).")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build and start a lab; returns when it is ready")
    up.add_argument("--config", required=True)
    up.add_argument("--dir", required=True)
    up.add_argument(
        "--free-nets", action="store_true", help="use free 127.0.X.0/24 nets if the config's (or the default) are taken"
    )
    up.set_defaults(func=cmd_up)
    st = sub.add_parser("status", help="hosts, SSH, VMs and faults of a running lab")
    st.add_argument("--dir", required=True)
    st.set_defaults(func=cmd_status)
    lg = sub.add_parser("log", help="every SSH command each host ran, with its time")
    lg.add_argument("--dir", required=True)
    lg.add_argument("--host")
    g = lg.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="the raw JSON lines")
    g.add_argument("--count", action="store_true", help="commands per host")
    lg.set_defaults(func=cmd_log)
    ft = sub.add_parser(
        "fault",
        help="inject a fault at run time",
        epilog=FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ft.add_argument("--dir", required=True)
    ft.add_argument("--host", required=True)
    ft.add_argument("--at", choices=("start", "end"), default="start", help="drop_ssh: before or after the command")
    ft.add_argument("--delay", type=float, default=0.0, help="drop_ssh: seconds before the drop")
    ft.add_argument("--times", type=int, default=1, help="drop_ssh: how many commands (0: all)")
    ft.add_argument("knob")
    ft.add_argument("args", nargs="*")
    ft.set_defaults(func=cmd_fault)
    sh = sub.add_parser("ssh", help="ssh to an ESXi host or a guest of the lab")
    sh.add_argument("--dir", required=True)
    sh.add_argument("name")
    sh.add_argument("command", nargs=argparse.REMAINDER)
    sh.set_defaults(func=cmd_ssh)
    dn = sub.add_parser("down", help="stop everything and verify nothing is left")
    dn.add_argument("--dir", required=True)
    dn.set_defaults(func=cmd_down)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, cfgmod.ConfigError) as e:
        print(f"esxilab: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
