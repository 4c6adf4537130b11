"""No credential leaks, even with -vvv; SSH host keys and TLS certificates are checked by default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rlab import PLAYBOOK, ROOT, normalize, play

pytestmark = pytest.mark.lab

API = "rapi"


def files_holding(root: Path, secret: bytes, skip=()):
    """Every file under ``root`` (but not under ``skip``) whose bytes contain ``secret``."""
    hits = []
    for directory, _dirs, names in os.walk(root):
        if any(Path(directory).is_relative_to(s) for s in skip):
            continue
        for name in names:
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            try:
                if secret in path.read_bytes():
                    hits.append(str(path.relative_to(root)))
            except OSError:
                continue
    return sorted(hits)


@pytest.mark.case("H1", "The API password through a -vvv run of the whole playbook", promise="secrets")
def test_no_password_anywhere(lab, case, tmp_path):
    password = (lab.state / "secrets" / ("%s.api_password" % API)).read_text().strip().encode()
    case.inject(
        "the enable-nesting playbook with -vvv on host rapi, whose SSH is off, and whose VM api-vm is changed"
        " through the API (method api, no SSH): the password goes to vsphere_host_facts, vsphere_vm_power and"
        " vsphere_vm_config"
    )
    run = lab.playbook(
        tmp_path,
        PLAYBOOK,
        {
            "nestedvirt_esxi_group": API,
            "nestedvirt_guest_group": "nested_guests_by_name",
            "nestedvirt_vms": ["api-vm"],
            "enable_nesting_method": "api",
            "enable_nesting_verify": False,
            "enable_nesting_wait_for_ip": False,
        },
        "-vvv",
    )
    in_output = password in run.output.encode()
    controller = files_holding(tmp_path, password)
    lab_files = files_holding(lab.state, password, skip=(lab.state / "secrets",))
    vm = lab.vms(API)["api-vm"]
    case.observe(
        "the run (-vvv): rc %d; SSH %s; the VM is %s with nesting %s"
        % (
            run.rc,
            "turned on through the API"
            if any(r.get("changed") for n, r in run.results.items() if "Turn SSH on" in n)
            else "left off",
            vm["power"],
            "on" if vm["nested_hv_enabled"] else "OFF",
        )
    )
    case.observe("the password in the run's output: %s" % ("YES" if in_output else "no"))
    case.observe(
        "the password in a file of the run (results, ansible's temporary and home directories): %s"
        % (controller or "none")
    )
    case.observe(
        "the password in a file of the lab's state directory other than secrets/ (every log: SSH commands, sshd,"
        " labd, the API simulator): %s" % (lab_files or "none")
    )
    assert run.rc == 0, run.output[-3000:]
    assert vm["nested_hv_enabled"]
    assert not in_output and not controller and not lab_files


@pytest.mark.case("H2", "Host keys and certificates are checked by default", promise="secrets")
def test_keys_and_certificates_checked(lab, case, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    hostvars = lab.hostvars["r67"]
    case.inject(
        "host_info on r67 with a known_hosts file that does not hold the lab's host key, and no SSH master"
        " connection of an earlier run to reuse (nothing else changed)"
    )
    ssh = lab.playbook(
        tmp_path,
        play("r67", [{"name": "facts", "nestedvirt.esxi.host_facts": {}}]),
        {"ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o IdentitiesOnly=yes" % empty},
        env={"ANSIBLE_SSH_ARGS": "-o ControlMaster=no"},  # a live ControlPersist master skips the key check
    )
    case.observe(
        "refused (rc %d): %s"
        % (ssh.rc, "Host key verification failed" if "Host key verification failed" in ssh.output else "NOT refused")
    )
    api = lab.hostvars[API]
    task = {
        "name": "ssh",
        "nestedvirt.esxi.ssh_service": {
            "hostname": api["nestedvirt_api_hostname"],
            "port": api["nestedvirt_api_port"],
            "username": api["nestedvirt_api_username"],
            "password": "{{ nestedvirt_api_password }}",
            "state": "started",
        },
        "delegate_to": "localhost",
    }
    case.inject("ssh_service on rapi's API without ca_file (validate_certs left at its default)")
    tls = lab.playbook(tmp_path, play(API, [task]))
    message = tls["ssh"].get("msg", "")
    case.observe("refused (rc %d): %s" % (tls.rc, normalize(message, lab).split(". ", maxsplit=1)[0]))
    task["nestedvirt.esxi.ssh_service"]["ca_file"] = api["nestedvirt_api_ca_file"]
    case.inject("the same with ca_file: the lab's certificate (nestedvirt_api_ca_file)")
    trusted = lab.playbook(tmp_path, play(API, [task]))
    case.observe("accepted (rc %d)" % trusted.rc)
    readme = (ROOT / "README.md").read_text()
    told = all(
        text in readme
        for text in ("UserKnownHostsFile", "nestedvirt_api_ca_file", "ssh-keyscan", "/etc/vmware/ssl/rui.crt")
    )
    case.observe(
        "README.md says how to trust the lab's keys and a real host's key and certificate: %s"
        % ("yes" if told else "NO")
    )
    assert hostvars["ansible_host"]
    assert ssh.rc != 0 and "Host key verification failed" in ssh.output
    assert tls.rc != 0 and "TLS certificate is not trusted" in message
    assert trusted.rc == 0, trusted.output[-2000:]
    assert told
