# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base of every error the collection raises: a message for people, a ``reason`` word for
playbooks (``restricted_version``, ``locked``, ``changed_meanwhile``, ``vm_gone`` ...) and optional
``details`` (extra result fields). Each plugin kind turns it into a failed result in one place
(plugin_utils/esxi/_action.py for the SSH actions, the module's main() for the API modules), so
roles decide on ``reason``, never on the wording of a message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class NestedvirtError(Exception):
    """An error with a machine-readable ``reason`` (a class default, or given per error)."""

    reason = "error"

    def __init__(self, message, reason=None, **details):
        super(NestedvirtError, self).__init__(message)
        if reason is not None:
            self.reason = reason
        self.details = details

    def as_result(self):
        """The fields a failed task reports beside ``msg``."""
        return dict(self.details, reason=self.reason)
