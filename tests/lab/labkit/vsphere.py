"""Build (and cache) and start the lab's vSphere API simulator (``tests/lab/vsphere``).

The simulator is a small Go program around the govmomi simulator (vcsim), built offline from
Debian's ``golang-go`` and ``golang-github-vmware-govmomi-dev`` in GOPATH mode. One process
serves one simulated ESXi host with ``api: true``, or (``vcenter=``) a vCenter managing several
lab hosts; it reads each host's inventory from that host's hostd and asks hostd again on reads
and every 0.2 s (as ESXi's hostd pushes changes to waiting property collectors), so what it
shows is what hostd has.

Cache layout (the lab uses ``<repo>/.cache/lab/vsphere``)::

    vsphere-sim-<key>      the binary; <key> hashes the Go sources and the Go toolchain
    gocache/               Go's build cache (HOME may vary, so it is never ~/.cache/go-build)
    .lock                  concurrent builders serialise here

``start_vsphere_sim`` leaves in its workdir: ``cert.pem`` (the served certificate, to trust),
``ready`` (the server URL, written once it listens), ``vsphere.log`` (stdout and stderr) and
``datastores/`` (vcsim's private files, never the lab host's datastores).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import time
from pathlib import Path

GOPATH = "/usr/share/gocode"  # where golang-github-vmware-govmomi-dev installs govmomi
BINARY_PREFIX = "vsphere-sim-"
READY_TIMEOUT = 30.0  # seconds; startup is well under one second


class VsphereSimError(RuntimeError):
    """The simulator cannot be built or did not start; the message says why."""


def _go_env(cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",  # GOPATH mode: Debian's packaged sources, no module proxy
        GOPATH=GOPATH,
        GOCACHE=str(cache_dir / "gocache"),
        GOFLAGS="",
        CGO_ENABLED="0",  # static binary, no C toolchain needed
    )
    return env


def _source_key(src_dir: Path, env: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(src_dir.glob("*.go")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    # A toolchain or govmomi upgrade changes the binary too.
    go_version = subprocess.run(["go", "version"], env=env, capture_output=True, text=True, check=True)
    digest.update(go_version.stdout.encode())
    govmomi = Path(GOPATH, "src/github.com/vmware/govmomi/go.mod")
    if govmomi.exists():
        digest.update(str(govmomi.stat().st_mtime_ns).encode())
    return digest.hexdigest()[:16]


def build_vsphere_sim(cache_dir: Path, src_dir: Path) -> Path:
    """Return the simulator binary for the sources in *src_dir*, building it if needed."""
    cache_dir = Path(cache_dir).resolve()  # GOCACHE must be absolute
    src_dir = Path(src_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    env = _go_env(cache_dir)
    try:
        key = _source_key(src_dir, env)
    except FileNotFoundError as exc:
        raise VsphereSimError("go not found: install golang-go (apt-get install golang-go)") from exc
    binary = cache_dir / f"{BINARY_PREFIX}{key}"
    if binary.exists():
        return binary
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():  # built by another process while we waited
            return binary
        tmp = binary.with_name(binary.name + ".tmp")
        result = subprocess.run(
            ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp), "."],
            cwd=src_dir,
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise VsphereSimError(
                f"go build in {src_dir} failed (needs golang-go and "
                f"golang-github-vmware-govmomi-dev):\n{result.stderr.strip()}"
            )
        tmp.rename(binary)
        for old in cache_dir.glob(f"{BINARY_PREFIX}*"):  # earlier builds of changed sources
            if old != binary:
                old.unlink(missing_ok=True)
    return binary


def start_vsphere_sim(
    binary: Path,
    *,
    listen: str,
    hostd: str | dict[str, str],
    license: str,
    username: str,
    password: str,
    workdir: Path,
    cert: Path | None = None,
    key: Path | None = None,
    push: float | None = None,
    vcenter: tuple[str, str] | None = None,
    timeout: float = READY_TIMEOUT,
) -> subprocess.Popen:
    """Start one simulator and return once it serves ``https://<listen>/sdk``.

    *listen* and *hostd* are ``address:port``; *license* is ``free`` or ``licensed``. With
    *vcenter* (datacenter, cluster) it serves a vCenter: *hostd* is then ``{host name: hostd
    address:port}`` of the hosts it manages, in the cluster's order, and *license* ``licensed``. It serves
    *cert*/*key* (PEM) if given, else a self-signed certificate for the listen address made at
    start; either way the served certificate is at ``workdir/cert.pem``. *push* is how often (s)
    it pulls hostd's VM state for waiting property collectors (default 0.2; 0: only when a
    client reads). The caller owns the process: stop it with :func:`stop_vsphere_sim`.
    """
    if license not in ("free", "licensed"):
        raise ValueError(f"license must be 'free' or 'licensed', not {license!r}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / "ready"
    cert_out = workdir / "cert.pem"
    for stale in (ready, cert_out):
        stale.unlink(missing_ok=True)
    if vcenter is None:
        hostd_args = ["-hostd", hostd]
    else:
        hostd_args = ["-vcenter", "-datacenter", vcenter[0], "-cluster", vcenter[1]]
        for name, address in dict(hostd).items():
            hostd_args += ["-hostd", f"{name}={address}"]
    argv = [
        str(binary),
        "-listen", listen,
        *hostd_args,
        "-license", license,
        "-username", username,
        "-password", password,
        "-cert-out", str(cert_out),
        "-ready-file", str(ready),
        "-workdir", str(workdir),
    ]  # fmt: skip
    if cert is not None:
        argv += ["-cert", str(cert), "-key", str(key)]
    if push is not None:
        argv += ["-push", f"{push}s"]
    with open(workdir / "vsphere.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while not ready.exists():
        exited = proc.poll() is not None
        if exited or time.monotonic() > deadline:
            why = f"exited with {proc.returncode}" if exited else f"not ready after {timeout:.0f} s"
            stop_vsphere_sim(proc)
            tail = (workdir / "vsphere.log").read_text(errors="replace")[-2000:]
            raise VsphereSimError(f"vSphere simulator on {listen} {why}:\n{tail}")
        time.sleep(0.02)
    return proc


def stop_vsphere_sim(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a simulator started by :func:`start_vsphere_sim` (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
