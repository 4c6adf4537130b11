# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lossless model of VMware's ``key = "value"`` files (.vmx, /etc/vmware/config).

Rendering a parsed document gives back the exact text it was parsed from; an edit changes only
the lines it must. The grammar follows VMware's dictll: ``<ws> name <ws> = <ws> "value" <ws>
#comment``, unquoted values are read too, lines that fit no rule are kept verbatim. Keys are
matched case-insensitively and keep the spelling found in the file. Values are stored escaped:
``"``, ``|``, DEL and control characters except tab become ``|XX`` (uppercase hex).

Text is a ``str``; callers decode bytes with ``surrogateescape`` so that any byte sequence,
valid UTF-8 or not, survives the round trip.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

BOM = "\ufeff"

# A line that assigns a key: leading blanks, the name, blanks, "=", and whatever follows.
_ASSIGNMENT = re.compile(r'^(?P<lead>[ \t]*)(?P<key>[^\s=#"]+)[ \t]*=[ \t]*(?P<rest>.*)$', re.S)
# What may follow "=": a quoted value (no '"' inside, '#' literal) or a bare token, then blanks
# and an optional comment.
_QUOTED = re.compile(r'^"(?P<value>[^"]*)"(?P<tail>[ \t]*(?:#.*)?)$', re.S)
_BARE = re.compile(r'^(?P<value>[^\s#"]*)(?P<tail>[ \t]*(?:#.*)?)$', re.S)
_INVALID_KEY = re.compile(r'[\s=#"]')
_ESCAPE_SEQUENCE = re.compile(r"\|([0-9A-Fa-f]{2})")
_BOOLEANS = ("true", "false")


class VmxError(ValueError):
    """Input the format cannot take (an invalid key, a value of the wrong type)."""


def escape_value(value):
    """Encode a value the way VMware writes it between the quotes."""
    out = []
    for char in value:
        code = ord(char)
        if char in '"|' or code == 0x7F or (code < 0x20 and char != "\t"):
            out.append("|%02X" % code)
        else:
            out.append(char)
    return "".join(out)


def unescape_value(raw):
    """Decode ``|XX`` sequences (either hex case); anything else, invalid sequences included, stays."""
    return _ESCAPE_SEQUENCE.sub(lambda match: chr(int(match.group(1), 16)), raw)


def check_key(key):
    """Raise VmxError unless ``key`` can stand as a name in the file."""
    if not isinstance(key, str) or not key:
        raise VmxError("invalid key %r: a key must be a non-empty string" % (key,))
    bad = _INVALID_KEY.search(key)
    if bad:
        raise VmxError(
            "invalid key %r: a key may not contain whitespace, '=', '#' or '\"' (found %r)" % (key, bad.group(0))
        )


def values_equal(current, wanted):
    """Booleans compare case-insensitively (VMware reads TRUE/true alike); other values exactly."""
    if current is None:
        return False
    if current.lower() in _BOOLEANS and wanted.lower() in _BOOLEANS:
        return current.lower() == wanted.lower()
    return current == wanted


class _Line:
    """One physical line: its text without the line ending, and the ending itself."""

    __slots__ = ("text", "ending", "key", "value", "value_span")

    def __init__(self, text, ending):
        self.text = text
        self.ending = ending
        self.key = None
        self.value = None
        self.value_span = None
        assignment = _ASSIGNMENT.match(text)
        if assignment is None:
            return
        self.key = assignment.group("key")
        start = assignment.start("rest")
        rest = assignment.group("rest")
        quoted = _QUOTED.match(rest)
        bare = None if quoted else _BARE.match(rest)
        if quoted:
            self.value = unescape_value(quoted.group("value"))
            self.value_span = (start, start + quoted.end("value") + 1)
        elif bare:
            self.value = unescape_value(bare.group("value"))
            self.value_span = (start, start + bare.end("value"))
        else:
            # An assignment VMware would read oddly (e.g. an unclosed quote): it still names the
            # key, so a set() must replace it rather than add a duplicate.
            self.value = rest.strip()
            self.value_span = (start, len(text))

    @property
    def folded_key(self):
        return self.key.lower() if self.key is not None else None

    def with_value(self, value):
        """The same line with only the value replaced (quoted, escaped)."""
        begin, end = self.value_span
        return _Line(self.text[:begin] + '"' + escape_value(value) + '"' + self.text[end:], self.ending)

    def render(self):
        return self.text + self.ending


def _split_lines(text):
    """Split on "\\n" only (not on the other characters str.splitlines() treats as breaks)."""
    lines = []
    for chunk in text.split("\n"):
        lines.append([chunk, "\n"])
    lines[-1][1] = ""
    if lines[-1][0] == "":
        lines.pop()
    result = []
    for chunk, ending in lines:
        if ending and chunk.endswith("\r"):
            chunk, ending = chunk[:-1], "\r\n"
        result.append(_Line(chunk, ending))
    return result


class Change:
    """What one set() or remove() did to one key."""

    __slots__ = ("key", "before", "after", "changed", "duplicates_removed")

    def __init__(self, key, before, after, changed, duplicates_removed=()):
        self.key = key
        self.before = before
        self.after = after
        self.changed = changed
        self.duplicates_removed = list(duplicates_removed)


class VmxDocument:
    """A parsed file. ``render()`` returns the text byte for byte until an edit is made."""

    def __init__(self, lines, bom=False):
        self._lines = lines
        self.bom = bom

    @classmethod
    def parse(cls, text):
        bom = text.startswith(BOM)
        return cls(_split_lines(text[len(BOM) :] if bom else text), bom)

    def render(self):
        return (BOM if self.bom else "") + "".join(line.render() for line in self._lines)

    @property
    def newline(self):
        """The file's line ending: that of its first terminated line, "\\n" for a new file."""
        for line in self._lines:
            if line.ending:
                return line.ending
        return "\n"

    def _positions(self, key):
        folded = key.lower()
        return [index for index, line in enumerate(self._lines) if line.folded_key == folded]

    def keys(self):
        """Each key once, in file order, with the spelling of its first occurrence."""
        seen = {}
        for line in self._lines:
            if line.key is not None and line.folded_key not in seen:
                seen[line.folded_key] = line.key
        return list(seen.values())

    def as_dict(self):
        """{key: value} with each key once (first spelling) and the value VMware would read."""
        return {key: self.get(key) for key in self.keys()}  # noqa: SIM118 - not a dict

    def get(self, key, default=None):
        """The decoded value; with duplicates, the last one (a later line overrides an earlier one)."""
        positions = self._positions(key)
        return self._lines[positions[-1]].value if positions else default

    def set(self, key, value):
        """Give ``key`` the value ``value``: in place if present, else appended at the end."""
        check_key(key)
        if not isinstance(value, str):
            raise VmxError("value for %r must be a string, got %s" % (key, type(value).__name__))
        positions = self._positions(key)
        before = self.get(key)
        if not positions:
            self._append(key, value)
            return Change(key, None, value, True)
        first, duplicates = positions[0], positions[1:]
        removed = [self._lines[index].text for index in duplicates]
        for index in reversed(duplicates):
            del self._lines[index]
        kept = self._lines[first].value
        if values_equal(kept, value):
            return Change(key, before, kept, bool(removed), removed)
        self._lines[first] = self._lines[first].with_value(value)
        return Change(key, before, value, True, removed)

    def remove(self, key):
        """Remove every line that assigns ``key``."""
        check_key(key)
        positions = self._positions(key)
        before = self.get(key)
        for index in reversed(positions):
            del self._lines[index]
        return Change(key, before, None, bool(positions))

    def _append(self, key, value):
        newline = self.newline
        if self._lines and not self._lines[-1].ending:
            # Terminate the last line first so it stays intact.
            self._lines[-1].ending = newline
        self._lines.append(_Line('%s = "%s"' % (key, escape_value(value)), newline))
