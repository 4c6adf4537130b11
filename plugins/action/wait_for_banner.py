# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for nestedvirt.esxi.wait_for_banner: a TCP connect from the controller process
itself (a module such as wait_for costs a second of Python start-up per host for the same look)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible.plugins.action import ActionBase

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils._banner import ARGUMENT_SPEC, look

# Between two looks at a port that did not answer yet.
NAP = 0.5


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        pattern = re.compile(args["search"])
        started = time.monotonic()
        deadline = started + max(args["timeout"], 0)
        while True:
            banner = look(args["host"], args["port"], pattern)
            if banner is not None or time.monotonic() + NAP > deadline:
                break
            time.sleep(NAP)
        result.update(
            changed=False, answered=banner is not None, banner=banner, elapsed=round(time.monotonic() - started, 1)
        )
        if banner is None and args["required"]:
            result.update(
                failed=True,
                reason="no_banner",
                msg="%s:%d gave no banner matching %r within %d s"
                % (args["host"], args["port"], args["search"], args["timeout"]),
            )
        return result
