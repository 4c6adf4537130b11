# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for nestedvirt.esxi.vmx: edits the file over the play's own connection.

ESXi has no usable Python, so nothing is sent but BusyBox sh: one round trip reads the file,
the edit is computed here on the controller, one round trip replaces it atomically.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import secrets
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.nestedvirt.esxi.plugins.module_utils.remote_file import (
    RemoteFileError,
    parse_read,
    parse_write,
    read_command,
    write_command,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vmx_edit import (
    ARGUMENT_SPEC,
    check_path,
    normalize_request,
    plan_edit,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vmx_format import VmxError


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        path = args["path"]
        try:
            check_path(path)
            settings, remove = normalize_request(args["settings"], args["remove"])
            found = parse_read(path, **self._shell_run(read_command(path)))
            if not found.exists and not args["create"]:
                hint = "" if found.parent_exists else " (its directory does not exist either)"
                raise VmxError("%s does not exist%s; set create: true to create it" % (path, hint))
            if found.content is not None and "\x00" in found.content:
                raise VmxError("%s is not a text file (it contains NUL bytes); refusing to edit it" % path)
            plan = plan_edit(found.content, settings, remove)
            backup_file = None
            if plan.changed and not self._task.check_mode:
                if args["backup"] and found.exists:
                    backup_file = "%s.%s.bak" % (path, time.strftime("%Y%m%dT%H%M%S"))
                command, stdin = write_command(found, plan.after_text, secrets.token_hex(6), backup_file)
                parse_write(path, **self._shell_run(command, stdin))
        except (VmxError, RemoteFileError) as error:
            raise AnsibleActionFail(str(error)) from error

        result.update(
            changed=plan.changed,
            path=path,
            values=plan.values,
            duplicates_removed=plan.duplicates_removed,
        )
        if backup_file:
            result["backup_file"] = backup_file
        if self._task.diff and plan.changed:
            result["diff"] = dict(
                before_header=path,
                after_header=path,
                before=plan.before_text or "",
                after=plan.after_text,
            )
        return result

    def _shell_run(self, command, stdin=None):
        # sudoable=False: no become wrapper and no pty, so the bytes arrive exactly as sent.
        outcome = self._low_level_execute_command(command, sudoable=False, in_data=stdin)
        return dict(stdout=outcome["stdout"], rc=outcome["rc"], stderr=outcome["stderr"])
