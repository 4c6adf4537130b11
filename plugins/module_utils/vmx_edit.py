# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vmx module's request and plan: validate what the user asked, compute the new text.

Pure logic, shared by the docs stub (plugins/modules/vmx.py, for its argument spec) and the
action plugin that does the work.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vmx_format import VmxDocument, VmxError, check_key

ARGUMENT_SPEC = dict(
    path=dict(type="str"),
    vm=dict(type="str"),
    upgrade_hardware=dict(type="bool", default=False),
    settings=dict(type="dict", default={}),
    remove=dict(type="list", elements="str", default=[]),
    backup=dict(type="bool", default=False),
    create=dict(type="bool", default=False),
    lock_timeout=dict(type="int", default=30),
)


def check_path(path):
    """A remote path must be absolute and name a file (the controller cannot expand it)."""
    if not path or not path.startswith("/"):
        raise VmxError("path must be absolute (it is a path on the host), got %r" % (path,))
    if "\x00" in path:
        raise VmxError("path contains a NUL byte")
    if path.endswith("/") or posixpath.basename(path) in (".", ".."):
        raise VmxError("path must name a file, got %r" % (path,))


def setting_value(key, value):
    """YAML booleans become TRUE/FALSE as VMware writes them; numbers become their text."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise VmxError("value for %r must be a string, number or boolean, got %s" % (key, type(value).__name__))


def normalize_request(settings, remove):
    """Validate keys and values; return (settings as str -> str, remove as list)."""
    normalized = {}
    seen = {}
    for key, value in (settings or {}).items():
        check_key(key)
        folded = key.lower()
        if folded in seen:
            raise VmxError(
                "settings name %r twice (%r and %r; keys are case-insensitive)" % (folded, seen[folded], key)
            )
        seen[folded] = key
        normalized[key] = setting_value(key, value)
    for key in remove or []:
        check_key(key)
        if key.lower() in seen:
            raise VmxError("%r is both in settings and in remove" % key)
    return normalized, list(remove or [])


class EditPlan:
    """The outcome of applying a request to a file's text."""

    __slots__ = ("before_text", "after_text", "values", "duplicates_removed")

    def __init__(self, before_text, after_text, values, duplicates_removed):
        self.before_text = before_text
        self.after_text = after_text
        self.values = values
        self.duplicates_removed = duplicates_removed

    @property
    def changed(self):
        return self.before_text != self.after_text


def plan_edit(text, settings, remove):
    """Apply normalized settings and removals to ``text`` (None for a file that does not exist yet)."""
    document = VmxDocument.parse(text or "")
    values = {}
    duplicates = []
    for key, value in settings.items():
        change = document.set(key, value)
        values[key] = {"before": change.before, "after": change.after}
        duplicates.extend(change.duplicates_removed)
    for key in remove:
        change = document.remove(key)
        values[key] = {"before": change.before, "after": None}
    return EditPlan(text, document.render(), values, duplicates)
