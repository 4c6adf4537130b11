# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for nestedvirt.esxi.vswitch_security: read (one round trip), set only if needed (one more)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._action import EsxiShellAction
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vswitch_policy import (
    ARGUMENT_SPEC,
    FIELDS,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    PolicyError,
    get_command,
    parse_policy,
    set_command,
)


class ActionModule(EsxiShellAction):
    argument_spec = ARGUMENT_SPEC
    mutually_exclusive = MUTUALLY_EXCLUSIVE
    required_one_of = REQUIRED_ONE_OF

    def act(self, result, task_vars, args):
        where = dict(vswitch=args["vswitch"], portgroup=args["portgroup"])
        what = "port group %r" % args["portgroup"] if args["portgroup"] else "vSwitch %r" % args["vswitch"]
        wanted = {name: args[name] for name in FIELDS if args[name] is not None}
        before = parse_policy(self.run_sh(get_command(**where))["stdout"], what)
        changes = {name: value for name, value in wanted.items() if before[name] != value}
        after = dict(before, **changes)
        if changes and not self._task.check_mode:
            after = parse_policy(self.run_sh(set_command(changes, **where))["stdout"], what)
            if any(after[name] != value for name, value in wanted.items()):
                raise PolicyError("%s still shows %s after the change" % (what, after))
        result.update(changed=bool(changes), before=before, after=after)
        if self._task.diff and changes:
            result["diff"] = dict(before=before, after=after)
        return result
