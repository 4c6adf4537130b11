"""Action plugins run in this process, the way ansible's TaskExecutor runs them, with nothing spawned
but the host's shell.

``run_action`` builds the plugin (imported by its FQCN path) with a real Task, PlayContext,
DataLoader and Templar, and turns what ``run()`` raises into the task result as the executor does.
Its connection (``HostConnection``) stands in for the play's SSH connection: each command the plugin
sends runs for real under ``busybox sh`` with only BusyBox applets on PATH, as on ESXi, plus the
host's own commands from an ``EsxiHost``: ``vmware``, ``vim-cmd`` and ``esxcli`` as small scripts
that print the captured outputs in tests/unit/fixtures/esxi (loader.py) of one release, and keep a
VM's power state and a vSwitch's policy in files so that a change is seen by the next read. File
edits (vmx's ``path`` mode) act on real files in the test's temporary directory.
"""

import importlib
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins import loader as plugin_loader
from ansible.plugins.loader import shell_loader
from ansible.template import Templar

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import parse_getallvms
from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import ROOT as FIXTURES
from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import fixtures

# The summary layout of a release that has no captured get.summary: the nearest capture's (5.0's
# carries dynamicType lines and ", " line ends, 9.0's neither; 7.0 dropped dynamicType).
SUMMARY_LAYOUT = {"old": "5.0.0", "new": "9.0.0"}


class HostConnection:
    """The play's connection as an action plugin sees it: ``exec_command`` runs the command under
    ``busybox sh`` (as the ESXi login shell runs what ssh sends) and records it in ``sent``."""

    transport = "nestedvirt_unit"
    allow_executable = False  # the plugin's text reaches the shell exactly as sent, as with ssh
    become = None

    def __init__(self, busybox_bin, path=(), cwd=None):
        self._shell = shell_loader.get("sh")
        self.busybox_bin = Path(busybox_bin)
        self.path = ":".join([str(item) for item in path] + [str(busybox_bin)])
        self.cwd = cwd
        self.sent = []
        self.resets = 0

    def get_option(self, name):
        raise KeyError(name)

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self.sent.append(cmd)
        done = subprocess.run(
            [str(self.busybox_bin / "sh"), "-c", cmd],
            input=in_data,
            capture_output=True,
            env={"PATH": self.path, "LC_ALL": "C"},
            cwd=self.cwd,
            check=False,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr

    def reset(self):
        self.resets += 1


def _fixture_path(release, *names):
    """The file of the first of ``names`` that ``release`` has: the exact name, else one of its
    cases (``<name>-<case>``), for a case-less command."""
    for name in names:
        found = [n for r, n, _t in fixtures(name) if r == release]
        for candidate in sorted(found, key=lambda n: (n != name, n.endswith("-capture"), n)):
            return FIXTURES / release / (candidate + ".txt")
    return None


VIM_CMD = r"""#!{bin}/sh
# vim-cmd of an ESXi {release} host: captured answers; power states in $s/vm/<vmid>/power.
s={state}
echo "$*" >> "$s/calls"
id=$2
case "$1" in
  vmsvc/getallvms) cat "$s/getallvms"; exit 0;;
esac
if [ ! -f "$s/vm/$id/power" ]; then cat "$s/notfound"; exit 1; fi
p=$(cat "$s/vm/$id/power")
case "$1" in
  vmsvc/get.summary) sed "s/powerState = \"[A-Za-z]*\"/powerState = \"$p\"/" "$s/vm/$id/summary";;
  vmsvc/get.config) cat "$s/config";;
  vmsvc/get.guest) cat "$s/guest";;
  vmsvc/power.getstate)
    echo "Retrieved runtime info"
    if [ "$p" = poweredOn ]; then echo "Powered on"; else echo "Powered off"; fi;;
  vmsvc/power.on)
    if [ "$p" = poweredOn ]; then cat "$s/on-invalidstate"; exit 1; fi
    echo "Powering on VM:"; echo poweredOn > "$s/vm/$id/power";;
  vmsvc/power.off)
    echo "Powering off VM:"; echo poweredOff > "$s/vm/$id/power";;
  vmsvc/power.shutdown) echo poweredOff > "$s/vm/$id/power";;
  vmsvc/reload) ;;
  *) echo "unknown command $1" >&2; exit 1;;
esac
"""

ESXCLI = r"""#!{bin}/sh
# esxcli of an ESXi {release} host: the vSwitch security policy in $s/policy, in the captured layout.
s={state}
echo "$*" >> "$s/calls"
case "$*" in
  "network vswitch standard policy security get -v "*) cat "$s/policy";;
  "network vswitch standard policy security set -v "*)
    shift 6; shift 2
    for flag in "$@"; do
      case "$flag" in
        --allow-promiscuous=*) label="Allow Promiscuous";;
        --allow-mac-change=*) label="Allow MAC Address Change";;
        --allow-forged-transmits=*) label="Allow Forged Transmits";;
        *) echo "Error: Invalid option $flag"; exit 1;;
      esac
      sed -i "s/^\(   $label: \).*/\1${{flag#*=}}/" "$s/policy"
    done;;
  *) echo "Error: Unknown command or namespace $*"; exit 1;;
esac
"""


class EsxiHost:
    """A fake ESXi host of ``release``: its VMs are the rows of that release's captured getallvms,
    all powered off unless said; ``calls`` lists the vim-cmd and esxcli calls made."""

    def __init__(self, root, busybox_bin, release, listing="vim-cmd-vmsvc-getallvms", powered_on=()):
        self.release = release
        self.bin = root / "bin"
        self.state = root / "state"
        self.bin.mkdir(parents=True)
        (self.state / "vm").mkdir(parents=True)
        listing = _fixture_path(release, listing)
        (self.state / "getallvms").write_bytes(listing.read_bytes())
        self.vms, _invalid = parse_getallvms(listing.read_bytes().decode("utf-8", "surrogateescape"))
        era = "old" if release < "7" else "new"
        layout = _fixture_path(SUMMARY_LAYOUT[era], "vim-cmd-vmsvc-get.summary").read_text()
        for vm in self.vms:
            folder = self.state / "vm" / vm["vmid"]
            folder.mkdir()
            summary = _replace_value(layout, "name", vm["name"])
            summary = _replace_value(summary, "vmPathName", vm["datastore_path"])
            summary = re.sub(r"'vim\.VirtualMachine:\d+'", "'vim.VirtualMachine:%s'" % vm["vmid"], summary, count=1)
            (folder / "summary").write_text(summary)
            (folder / "power").write_text("poweredOn\n" if vm["name"] in powered_on else "poweredOff\n")
        copies = {
            "notfound": ("vim-cmd-vmsvc-power.getstate-notfound",),
            "on-invalidstate": ("vim-cmd-vmsvc-power.on-invalidstate",),
            "guest": ("vim-cmd-vmsvc-get.guest",),
            "config": ("vim-cmd-vmsvc-get.config",),
            "policy": ("esxcli-network-vswitch-standard-policy-security-get",),
        }
        for name, wanted in copies.items():
            found = _fixture_path(release, *wanted) or _nearest(wanted)
            (self.state / name).write_bytes(found.read_bytes())
        version = _fixture_path(release, "vmware-lv")
        self._command("vmware", "#!%s/sh\ncat %s\n" % (busybox_bin, shlex.quote(str(version))))
        values = dict(bin=busybox_bin, release=release, state=shlex.quote(str(self.state)))
        self._command("vim-cmd", VIM_CMD.format(**values))
        self._command("esxcli", ESXCLI.format(**values))

    def _command(self, name, text):
        (self.bin / name).write_text(text)
        (self.bin / name).chmod(0o755)

    @property
    def calls(self):
        path = self.state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def power(self, vmid):
        return (self.state / "vm" / str(vmid) / "power").read_text().strip()

    def policy(self):
        return (self.state / "policy").read_text()


def _replace_value(text, key, value):
    """``key = "old",`` -> ``key = "value",`` on the first line that sets ``key``."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.lstrip().startswith(key + " = "):
            head, tail = line.split('"', 1)[0], line.rsplit('"', 1)[1]
            lines[index] = '%s"%s"%s' % (head, value, tail)
            break
    return "\n".join(lines)


def _nearest(names):
    """A capture of ``names`` from any release (the newest), where this release has none."""
    for name in names:
        found = fixtures(name)
        exact = [(release, n) for release, n, _t in found if n == name]
        if exact:
            release, name = exact[-1]
            return FIXTURES / release / (name + ".txt")
    raise LookupError("no fixture %s" % (names,))


@pytest.fixture
def esxi_host(tmp_path, busybox_bin):
    """``esxi_host(release, **options)``: an EsxiHost under the test's temporary directory."""
    made = []

    def make(release, **options):
        host = EsxiHost(tmp_path / ("host%d" % len(made)), busybox_bin, release, **options)
        made.append(host)
        return host

    return make


@pytest.fixture
def run_action(busybox_bin, tmp_path):
    """``run_action(name, args, host=None, check=False, diff=False, task_vars=None)``: the task
    result of nestedvirt.esxi.<name>, the plugin's display warnings in ``result["warnings"]`` and
    its connection in ``run_action.connection`` (what was sent)."""

    def run(name, args, host=None, check=False, diff=False, task_vars=None):
        task = Task()
        task.action = "nestedvirt.esxi.%s" % name
        task.args = dict(args)
        task.check_mode = check
        task.diff = diff
        play_context = PlayContext()
        play_context.remote_addr = "esxi01"
        connection = HostConnection(busybox_bin, [host.bin] if host else [], cwd=tmp_path)
        loader = DataLoader()
        plugin = importlib.import_module("ansible_collections.nestedvirt.esxi.plugins.action.%s" % name)
        action = plugin.ActionModule(
            task=task,
            connection=connection,
            play_context=play_context,
            loader=loader,
            templar=Templar(loader=loader),
            shared_loader_obj=plugin_loader,
        )
        warnings = []
        action._display = _Display(warnings)
        run.connection = connection
        variables = {"inventory_hostname": "esxi01", "hostvars": {}}
        variables.update(task_vars or {})
        try:
            result = action.run(task_vars=variables)
        except Exception as error:  # noqa: BLE001 - as TaskExecutor._execute: the error becomes the result
            result = _failed_result(error)
        result = dict(result)
        result["warnings"] = warnings + list(result.get("warnings", []))
        return result

    return run


class _Display:
    """The plugin's ``_display``: warnings kept for the test, the rest dropped."""

    def __init__(self, warnings):
        self.warning = warnings.append

    def display(self, *args, **kwargs):
        pass

    def vvv(self, *args, **kwargs):
        pass

    def vvvv(self, *args, **kwargs):
        pass

    def debug(self, *args, **kwargs):
        pass


def _failed_result(error):
    """What the executor makes of an exception out of ``run()``: the result an AnsibleAction error
    carries (with failed and msg), else failed with the error's message."""
    try:  # ansible-core 2.21 and later: the executor's unified task result
        from ansible._internal._task import UnifiedTaskResult
    except ImportError:
        UnifiedTaskResult = None
    if UnifiedTaskResult is not None:
        # pylint: disable-next=protected-access
        utr = UnifiedTaskResult._create_from_exception(error, accept_result_contribution=True, source_is_module=False)
        return utr.as_result_dict()
    try:  # ansible-core 2.19 and 2.20
        from ansible._internal._errors._error_utils import result_dict_from_exception
    except ImportError:  # 2.16-2.18: TaskExecutor._execute returns the action error's own result
        from ansible.errors import AnsibleActionFail, AnsibleActionSkip

        if isinstance(error, (AnsibleActionFail, AnsibleActionSkip)):
            return error.result
        return {"failed": True, "msg": str(error)}

    return result_dict_from_exception(error, accept_result_contribution=True)
