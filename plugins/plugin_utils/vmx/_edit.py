# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vmx module's request and plan: validate what the user asked, compute the new text.

Pure logic, shared by the docs stub (plugins/modules/vmx.py, for its argument spec) and the
action plugin that does the work. A file ESXi cannot read (a syntax error) is refused before any
edit; keys whose copies disagree are reported and, when the request touches them, left on one line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import (
    VmxDocument,
    VmxError,
    check_key,
    escape_value,
    fold_key,
)

ARGUMENT_SPEC = dict(
    path=dict(type="str"),
    vm=dict(type="str"),
    upgrade_hardware=dict(type="bool", default=False),
    reload=dict(type="bool", default=False),
    settings=dict(type="dict", default={}),
    remove=dict(type="list", elements="str", default=[]),
    backup=dict(type="bool", default=False),
    create=dict(type="bool", default=False),
    lock_timeout=dict(type="int", default=30),
    # A batch of powered-off VMs of the host: the plan's entries (handle, vmx_settings, vmx_remove,
    # reload, upgrade_hardware) and what their shutdown read (vm_power read_vmx: its vms).
    vms=dict(type="list", elements="dict"),
    found=dict(type="list", elements="dict", default=[]),
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
        try:  # a NUL, or a value that would not read back, is refused before the file is read
            escape_value(value)
        except VmxError as error:
            raise VmxError("value for %r: %s" % (key, error)) from None
        return value
    raise VmxError("value for %r must be a string, number or boolean, got %s" % (key, type(value).__name__))


def normalize_request(settings, remove):
    """Validate keys and values; return (settings as str -> str, remove as list)."""
    normalized = {}
    seen = {}
    for key, value in (settings or {}).items():
        check_key(key)
        folded = fold_key(key)
        if folded in seen:
            raise VmxError(
                "settings name %r twice (%r and %r; keys are case-insensitive)" % (folded, seen[folded], key)
            )
        seen[folded] = key
        normalized[key] = setting_value(key, value)
    for key in remove or []:
        check_key(key)
        if fold_key(key) in seen:
            raise VmxError("%r is both in settings and in remove" % key)
    return normalized, list(remove or [])


class EditPlan:
    """The outcome of applying a request to a file's text."""

    __slots__ = ("before_text", "after_text", "values", "duplicates_removed", "conflicts")

    def __init__(self, before_text, after_text, values, duplicates_removed, conflicts=None):
        self.before_text = before_text
        self.after_text = after_text
        self.values = values
        self.duplicates_removed = duplicates_removed
        # {key: [{"line": n, "value": v}]}: keys the file (as read) defined more than once with
        # values that disagree.
        self.conflicts = conflicts or {}

    @property
    def changed(self):
        return self.before_text != self.after_text


def check_readable(document, path="the file"):
    """Refuse a file ESXi would not load: a line that is not a pair, a blank line or a comment.

    ESXi stops at such a line and refuses the whole file, so the VM would not start whatever this
    edit did; editing it anyway could look like a fix. The user must repair the line (which the
    module cannot guess), so there is no option to go on.
    """
    errors = document.syntax_errors()
    if errors:
        number, text = errors[0]
        more = " (and %d more)" % (len(errors) - 1) if len(errors) > 1 else ""
        raise VmxError(
            "%s line %d: syntax error, ESXi refuses to load this file: %r%s. Nothing was changed; fix the line "
            "first (a line must be name = value, blank, or a # comment)" % (path, number, text[:200], more),
            reason="vmx_syntax_error",
            syntax_errors=[{"line": n, "text": t[:200]} for n, t in errors],
        )


def plan_edit(text, settings, remove, path="the file"):
    """Apply normalized settings and removals to ``text`` (None for a file that does not exist yet)."""
    document = VmxDocument.parse(text or "")
    check_readable(document, path)
    conflicts = {
        key: [{"line": number, "value": value} for number, value in found]
        for key, found in document.conflicts().items()
    }
    values = {}
    duplicates = []
    for key, value in settings.items():
        change = document.set(key, value)
        values[key] = {"before": change.before, "after": change.after}
        duplicates.extend(change.duplicates_removed)
    for key in remove:
        change = document.remove(key)
        values[key] = {"before": change.before, "after": None}
    return EditPlan(text, document.render(), values, duplicates, conflicts)
