# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: keep every task's result, by task name, in the JSON file named by KEEP_RESULTS_FILE."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "keep_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.kept = {}

    def _keep(self, result, failed=False):
        data = getattr(result, "result", None)
        if data is None:  # ansible-core before 2.19
            data = result._result
        data = dict(data)
        if failed:
            data["failed"] = True
        self.kept[result._task.get_name()] = data

    def v2_runner_on_ok(self, result):
        self._keep(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._keep(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._keep(result)

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["KEEP_RESULTS_FILE"], "w") as stream:
            json.dump(self.kept, stream, default=str)
