"""Malformed host output (cut short, garbled, an unknown fault) is a specific error; nothing is done
on a guess."""

from __future__ import annotations

import random

import pytest
from rlab import failure_message, nesting_run, normalize, play, vmx_path

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._inventory import build_host_facts, host_info_command
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import EsxiOutputError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import (
    RemoteFileError,
    parse_read,
    read_command,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import host_script
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vm_power import (
    PowerError,
    interpret_power,
    power_lines,
)

pytestmark = pytest.mark.lab

HOST = "rbad"
UNKNOWN_FAULT = '(vim.fault.BrandNewFault) {\n   faultCause = (vmodl.MethodFault) null,\n   msg = "something new"\n}'
GARBAGE = "\x00\x1b[31m\ufffdgarbage \xff line"


def _vm_key(vm):
    return (vm["vmid"], vm["name"], vm["datastore_path"], vm["power_state"], vm["hardware_version"], str(vm["vmx"]))


# host_info's facts of the host's CPU (esxcli hardware cpu global get).
CPU_FIELDS = ("hv_support", "hv_support_meaning", "nested_hv_supported")


def _cpu_unknown(full, damaged):
    """The nesting facts agree but for the CPU, which the damaged answer reports unknown (null,
    "unknown: ..."): the plan refuses nothing on that, it guesses no value."""
    nesting = damaged["nesting"]
    return (
        nesting["hv_support"] is None
        and nesting["nested_hv_supported"] is None
        and nesting["hv_support_meaning"].startswith("unknown")
        and dict(nesting, **{key: full["nesting"][key] for key in CPU_FIELDS}) == full["nesting"]
    )


def compare_facts(full, damaged):
    """'same' when everything decisions use agrees (not annotations); 'flagged' when the only
    differences are VMs marked with a fault (power state unknown: nothing acts on them) or the CPU
    reported unknown; else 'guess'."""
    if (full["version"], full["build"]) != (damaged["version"], damaged["build"]):
        return "guess"
    cpu_flagged = full["nesting"] != damaged["nesting"]
    if cpu_flagged and not _cpu_unknown(full, damaged):
        return "guess"
    truth = {vm["vmid"]: _vm_key(vm) for vm in full["vms"]}
    seen = {vm["vmid"]: vm for vm in damaged["vms"]}
    if set(truth) != set(seen):
        return "guess"
    differing = [vmid for vmid in truth if truth[vmid] != _vm_key(seen[vmid])]
    if not differing:
        return "flagged" if cpu_flagged else "same"
    flagged = all(seen[vmid].get("fault") and seen[vmid]["power_state"] is None for vmid in differing)
    return "flagged" if flagged else "guess"


def compare_equal(full, damaged):
    return "same" if full == damaged else "guess"


def mangled(text, rng):
    """Every way of damaging ``text`` the case tries: cut at every line and inside lines, a line
    replaced by garbage or by an unknown fault block, a line duplicated."""
    lines = text.split("\n")
    for cut in range(len(lines)):
        yield "cut after line %d" % cut, "\n".join(lines[:cut])
    for cut in sorted(rng.sample(range(1, len(text)), min(40, len(text) - 1))):
        yield "cut at byte %d" % cut, text[:cut]
    for index in range(len(lines)):
        yield "line %d garbled" % index, "\n".join(lines[:index] + [GARBAGE] + lines[index + 1 :])
        yield "line %d an unknown fault" % index, "\n".join(lines[:index] + [UNKNOWN_FAULT] + lines[index + 1 :])


def judge(full, damaged, parse, compare, errors):
    """'error' (a specific error), or what ``compare`` says of the answer against the whole one."""
    try:
        result = parse(damaged)
    except errors:
        return "error"
    return compare(parse(full), result)


@pytest.mark.case("G1", "The host's real answers, cut short, garbled, with unknown faults", promise="parse")
def test_parsers_on_damaged_lab_output(lab, case):
    rng = random.Random(8)  # noqa: S311 - a reproducible sample of cuts, not security
    victim = lab.vms(HOST)["victim"]
    samples = {
        "host_info (version, config, getallvms, summaries, vmx keys)": (
            lab.sh(HOST, host_info_command()).stdout.decode(),
            build_host_facts,
            compare_facts,
            (EsxiOutputError,),
        ),
        "vm_power (state, operation, state)": (
            lab.sh(
                HOST, host_script(*power_lines(str(victim["vmid"]), "poweredon", wait_for_ip=False))
            ).stdout.decode(),
            lambda text: interpret_power(text, str(victim["vmid"]), "poweredon", 60, False),
            compare_equal,
            (PowerError, EsxiOutputError),
        ),
        "read of /etc/vmware/config (header, md5, content)": (
            lab.sh(HOST, read_command("/etc/vmware/config")).stdout.decode(),
            lambda text: parse_read("/etc/vmware/config", text),
            lambda full, found: compare_equal(
                (full.state, full.content, full.md5), (found.state, found.content, found.md5)
            ),
            (RemoteFileError,),
        ),
    }
    totals = {"error": 0, "same": 0, "flagged": 0, "guess": 0}
    guesses = []
    for label, (full, parse, compare, errors) in samples.items():
        counts = {"error": 0, "same": 0, "flagged": 0, "guess": 0}
        for how, damaged in mangled(full, rng):
            verdict = judge(full, damaged, parse, compare, errors)
            counts[verdict] += 1
            if verdict == "guess":
                guesses.append("%s: %s" % (label, how))
        case.inject("%s, captured from host rbad (ESXi 8.0.1): %d damaged copies" % (label, sum(counts.values())))
        case.observe(
            "%s: %d specific errors, %d read as the whole answer (the damage hit nothing a decision uses), %d with "
            "the damaged part marked unknown (a VM by its fault, power state unknown; or the CPU's HV Support null), "
            "%d other answers"
            % (label.split(" (", maxsplit=1)[0], counts["error"], counts["same"], counts["flagged"], counts["guess"])
        )
        for key in totals:
            totals[key] += counts[key]
    case.observe("answers that differ from the truth without an error (a guess): %s" % (guesses[:5] or "none"))
    assert not guesses


SHIM = """#!/bin/sh
# The reliability suite's stand-in for a misbehaving vim-cmd (mode in /tmp/nestedvirt-garble).
echo "$*" >> /tmp/nestedvirt-vim-cmd.calls
case "$(cat /tmp/nestedvirt-garble 2>/dev/null):$1" in
truncate:vmsvc/getallvms) /bin/vim-cmd.real "$@" | head -c %d; exit 0;;
garbage:vmsvc/power.getstate) echo 'hostd: 0x7f3a: internal error (object busy)'; exit 0;;
fault:vmsvc/power.getstate) printf '(vim.fault.HostCommunication) {\\n   msg = "hostd went away"\\n}\\n'; exit 1;;
esac
exec /bin/vim-cmd.real "$@"
"""


@pytest.fixture
def garbled_vim_cmd(lab):
    """vim-cmd on host rbad wrapped by a script that damages its output on demand."""
    listing = lab.sh(HOST, "vim-cmd vmsvc/getallvms").stdout
    cut = listing.index(b"[datastore1] other") - 8  # in the middle of VM other's row
    lab.sh(
        HOST,
        "[ -e /bin/vim-cmd.real ] || mv /bin/vim-cmd /bin/vim-cmd.real; cat > /bin/vim-cmd; chmod 755 /bin/vim-cmd",
        stdin=(SHIM % cut).encode(),
    )

    def mode(name):
        lab.sh(HOST, "echo %s > /tmp/nestedvirt-garble; : > /tmp/nestedvirt-vim-cmd.calls" % name)

    yield mode
    lab.sh(HOST, "mv /bin/vim-cmd.real /bin/vim-cmd; rm -f /tmp/nestedvirt-garble /tmp/nestedvirt-vim-cmd.calls")


def power_calls(lab):
    calls = lab.sh(HOST, "cat /tmp/nestedvirt-vim-cmd.calls").stdout.decode().split("\n")
    return [c for c in calls if c.startswith("vmsvc/power.") and not c.startswith("vmsvc/power.getstate")]


@pytest.mark.case("G2", "vim-cmd answers cut short, garbled and with an unknown fault, end to end", promise="parse")
def test_role_on_garbled_host(lab, case, tmp_path, garbled_vim_cmd):
    path = vmx_path("victim")
    before = lab.read(HOST, path), lab.power(HOST, "victim")
    garbled_vim_cmd("truncate")
    case.inject("on host rbad, `vim-cmd vmsvc/getallvms` cut in the middle of a row (a wrapper around vim-cmd)")
    run = nesting_run(lab, tmp_path, HOST, ["victim"])
    sent = power_calls(lab)
    case.observe(
        "the role stopped at host_info (rc %d): %s; power operations sent: %s"
        % (run.rc, normalize(failure_message(run), lab), sent or "none")
    )
    results = {}
    for mode, text in (("garbage", "garbage instead of its answer"), ("fault", "an unknown fault block")):
        garbled_vim_cmd(mode)
        case.inject("`vim-cmd vmsvc/power.getstate` prints %s" % text)
        results[mode] = run_mode = lab.playbook(
            tmp_path,
            play(
                HOST,
                [
                    {
                        "name": "shutdown",
                        "nestedvirt.esxi.vm_power": {"name": "victim", "state": "shutdown", "force": True},
                    }
                ],
            ),
        )
        results[mode + "-sent"] = power_calls(lab)
        case.observe(
            "vm_power state=shutdown force=true failed (rc %d): %s; power operations sent: %s"
            % (run_mode.rc, normalize(run_mode["shutdown"].get("msg", ""), lab), results[mode + "-sent"] or "none")
        )
    after = lab.read(HOST, path), lab.power(HOST, "victim")
    case.observe("VM victim: .vmx %s, %s" % ("unchanged" if after[0] == before[0] else "CHANGED", after[1]))
    case.files_lost = int(after[0] != before[0])
    case.vms_left_down = int(after[1] != "poweredOn")
    assert run.rc != 0 and "cannot be read" in failure_message(run) and not sent
    assert "cannot read the power state of VM" in results["garbage"]["shutdown"]["msg"] and not results["garbage-sent"]
    assert "HostCommunication: hostd went away" in results["fault"]["shutdown"]["msg"] and not results["fault-sent"]
    assert after == before
