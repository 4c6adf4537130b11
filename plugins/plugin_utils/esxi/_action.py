# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base of the action plugins that act on an ESXi host over the play's own connection.

ESXi has no usable Python on most releases, so these plugins run on the controller and send
plain sh, as ``raw`` does: the inventory's SSH settings (keys, jump hosts, ControlPersist) apply
and nothing is installed on the host.

A dropped connection is not the end of a task: every command these plugins send can be sent
again (reads; power commands that read the state first; writes that find their own content in
place, take back their own lock and still reload), so after a drop the command is sent again on
a new connection, a bounded number of times within a bounded time (RECONNECT_DELAYS). Only a
host that stays unreachable fails the task, and then the restart marker lets the next run finish.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import threading
import time

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._inventory import (
    parse_vm_listing,
    vm_listing_command,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.plan._vm_select import VmSelectionError, select_vm

SSH_HINT = (
    " -- if SSH (the TSM-SSH service) is off on the ESXi host, turn it on through the vSphere API with "
    "nestedvirt.esxi.ssh_service, or at the console (DCUI: Troubleshooting Options > Enable SSH)"
)

# A command that waits on the host longer than this shows progress this often (run_sh).
PROGRESS_EVERY = 30
PROGRESS_MARK = ": nestedvirt-progress"
# Seconds before each new try after a dropped connection: five more tries within 30 s.
RECONNECT_DELAYS = (1, 2, 4, 8, 15)
# A first try that fails so was never connected (SSH off, a wrong key or name): no new tries.
NOT_A_DROP = (
    "Connection refused",
    "Permission denied",
    "Host key verification failed",
    "Could not resolve hostname",
    "No route to host",
)


class EsxiShellAction(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True
    _supports_check_mode = True
    _supports_async = False

    reconnects = 0  # new connections this task needed after drops (reported by the plugins)
    # The plugin's options, checked before act() runs.
    argument_spec = {}
    mutually_exclusive = ()
    required_one_of = ()

    def run(self, tmp=None, task_vars=None):
        result = super(EsxiShellAction, self).run(tmp, task_vars)
        args = self.validate_argument_spec(
            argument_spec=self.argument_spec,
            mutually_exclusive=list(self.mutually_exclusive),
            required_one_of=list(self.required_one_of),
        )[1]
        try:
            return self.act(result, task_vars or {}, args)
        except NestedvirtError as error:
            # The one place an error of the collection becomes a failed task: its message, its
            # ``reason`` and details, beside what the task already knows.
            # from None: ansible-core would append the cause's message to ours, saying it twice.
            raise AnsibleActionFail(str(error), result=dict(result, **error.as_result())) from None

    def act(self, result, task_vars, args):
        """The plugin's work with its checked ``args``: fills in and returns ``result``; raises
        NestedvirtError to fail."""
        raise NotImplementedError

    def run_sh(self, command, stdin=None, progress=None):
        """Run one command on the host: one round trip (more after a dropped connection).
        Returns dict(rc, stdout, stderr).

        ``progress``: ``(poll_command, describe)`` for a command that waits on the host (a batch's
        shutdowns or boots). While it runs past PROGRESS_EVERY seconds, the poll is sent every
        PROGRESS_EVERY seconds on a round trip of its own (its text starts with PROGRESS_MARK, so
        counts can leave it out) and ``describe(its stdout)`` is shown: a long wait is never silent.
        A poll that fails only says so; it never changes the command's outcome."""
        if progress is None:
            return self._send(command, stdin)
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(done, progress), daemon=True)
        watcher.start()
        try:
            return self._send(command, stdin)
        finally:
            done.set()
            watcher.join(PROGRESS_EVERY)

    def _watch(self, done, progress):
        started = time.monotonic()
        poll, describe = progress
        while not done.wait(PROGRESS_EVERY):
            try:
                _rc, stdout, _stderr = self._connection.exec_command(PROGRESS_MARK + "\n" + poll, sudoable=False)
                what = describe(to_text(stdout, errors="surrogate_or_replace"))
            except Exception as error:  # noqa: BLE001 - progress is best effort, the command decides
                what = "still waiting (the progress poll failed: %s)" % str(error).splitlines()[0][:100]
            if not done.is_set():
                self._display.display(
                    "%s: %s, after %d s" % (self._play_context.remote_addr, what, time.monotonic() - started)
                )

    def _send(self, command, stdin=None):
        waited, error = 0, None
        for delay in (0,) + RECONNECT_DELAYS:
            if delay:
                self._display.warning(
                    "the connection to %s dropped (%s); sending the command again in %d s"
                    % (self._play_context.remote_addr, error.message.splitlines()[0][:200], delay)
                )
                time.sleep(delay)
                waited += delay
                self._reconnect()
            try:
                # sudoable=False: no become wrapper and no pty, so bytes arrive exactly as sent.
                outcome = self._low_level_execute_command(command, sudoable=False, in_data=stdin)
                return dict(rc=outcome["rc"], stdout=outcome["stdout"], stderr=outcome["stderr"])
            except AnsibleConnectionFailure as failure:
                if error is None and any(text in failure.message for text in NOT_A_DROP):
                    raise AnsibleConnectionFailure(failure.message + SSH_HINT) from None
                error = failure
        # from None: the hint is added to the message, not shown as a second, repeated error
        raise AnsibleConnectionFailure(
            "%s (sent %d times within %d s)%s" % (error.message, len(RECONNECT_DELAYS) + 1, waited, SSH_HINT)
        ) from None

    def _reconnect(self):
        """Drop what is left of the old connection (a dead ControlPersist master) before a new try."""
        self.reconnects += 1
        # A connection already gone may fail to reset; the next try decides.
        with contextlib.suppress(Exception):
            self._connection.reset()

    def host_facts(self, task_vars):
        """Facts of the host this task talks to, as nestedvirt.esxi.host_info left them (or None)."""
        host = self._task.delegate_to or task_vars.get("inventory_hostname")
        hostvars = task_vars.get("hostvars", {})
        facts = hostvars.get(host, {}).get("nestedvirt_esxi") if host in hostvars else None
        return facts or None

    @staticmethod
    def vm_failure(error, entry):
        """One VM's failure inside a batch, as that VM's entry of the result."""
        return dict(entry, failed=True, msg=str(error), **error.as_result())

    def resolve_handles(self, task_vars, handles):
        """The handles of a batch, each with a vmid: the plan's handles pass as they are; a VM named
        only is looked up once for the whole batch (facts, else one getallvms round trip)."""
        named = [handle for handle in handles if not handle.get("vmid")]
        if not named:
            return [dict(handle) for handle in handles]
        facts = self.host_facts(task_vars)
        vms = facts.get("vms", []) if facts else None
        if vms is None or any(handle["name"] not in set(vm["name"] for vm in vms) for handle in named):
            vms = parse_vm_listing(self.run_sh(vm_listing_command())["stdout"])
        resolved = []
        for handle in handles:
            if handle.get("vmid"):
                resolved.append(dict(handle))
                continue
            vm = select_vm(vms, name=handle.get("name"))
            resolved.append(dict(handle, vmid=vm["vmid"], datastore_path=vm["datastore_path"], vmx_path=vm["vmx_path"]))
        return resolved

    def find_vm(self, task_vars, name=None, vmid=None):
        """The VM (vmid, name, datastore_path, vmx_path, ...): from host_info facts when they know
        it, else from one getallvms round trip. Callers re-check its identity on the host."""
        facts = self.host_facts(task_vars)
        if facts:
            try:
                return select_vm(facts.get("vms", []), name=name, vmid=vmid)
            except VmSelectionError:
                pass  # the facts may be older than the VM: ask the host
        return select_vm(parse_vm_listing(self.run_sh(vm_listing_command())["stdout"]), name=name, vmid=vmid)
