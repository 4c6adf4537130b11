# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lossless model of VMware's ``name = "value"`` files (.vmx, /etc/vmware/config), read as ESXi reads them.

Rendering a parsed document gives back the exact text it was parsed from; an edit changes only
the lines it must, and each line keeps its own line ending.

How ESXi reads such a file (VMware's dictionary reader, the one open-vm-tools publishes):

- A line ends at ``\\n``, ``\\r\\n`` or a lone ``\\r``. A UTF-8 byte order mark is skipped at the
  very start only. The reader works on bytes and stops at a NUL byte (C strings), so whatever
  follows a NUL on a line is invisible to it.
- Only space and tab are blanks. A pair is: blanks, a name (one or more bytes other than blank,
  ``=`` and ``#``), blanks, ``=``, blanks, a value, blanks, optionally a ``#`` comment.
- A value starting with ``"`` is quoted: it runs to the next ``"`` (``#`` is literal inside) and
  must be closed. Any other value is the run of bytes up to the next blank or ``#``, and may hold
  ``"``. Nothing but blanks and a comment may follow the value; an empty value is allowed.
- A line that is not a pair, not blank and not a comment is a syntax error: ESXi stops reading
  and refuses the file (see ``syntax_errors()``).
- In the value, ``|`` and two hex digits (either case) stand for that one BYTE. A ``|`` not
  followed by two hex digits stays, and so does the byte that broke the sequence (it does not
  start a new one): ``||22`` reads ``||22``. The decoded bytes end at the first NUL, so ``|00``
  cuts the value short.
- Names compare case-insensitively for ASCII letters only (``É`` and ``é`` differ).
- A name defined twice is an error for ESXi, which keeps the FIRST definition. ``get()`` returns
  that one; ``ambiguous()`` and ``holds()`` tell when the copies disagree, so a caller never takes
  a conflicting file as already set. ``set()`` leaves one line with the wanted value.

Writing follows VMware too: ``name = "value"`` and a line end; ``"``, ``|``, DEL and every control
character except tab are written ``|XX`` (uppercase hex); other bytes as they are.

Text is a ``str``; callers decode the file's bytes with UTF-8 and ``surrogateescape`` (and encode
it back the same way), so every byte sequence survives, and a byte that is not UTF-8 shows as a
surrogate U+DC80..U+DCFF. Values are ``str`` of that same kind: ``|E9`` alone reads ``"\\udce9"``,
``|C3|A9`` reads ``"é"``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import unicodedata

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError

BOM = "\ufeff"

# Written as explicit classes of space and tab: "\s" would also take \v, \f, NBSP, U+2028...,
# which ESXi reads as part of a name or value.
_PAIR = re.compile(
    r"[ \t]*(?P<name>[^ \t#=]+)[ \t]*=[ \t]*"
    r'(?P<value>"(?P<quoted>[^"]*)"|[^ \t#"][^ \t#]*|)'
    r"[ \t]*(?:#.*)?",
    re.S,
)
_BLANK_OR_COMMENT = re.compile(r"[ \t]*(?:#.*)?", re.S)
_LINE_END = re.compile(r"\r\n|\r|\n")
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_ASCII_FOLD = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
_BOOLEANS = ("true", "false")
# Bytes VMware writes as |XX: '"', '|', DEL and the control characters except tab.
_TO_ESCAPE = frozenset([0x22, 0x7C, 0x7F] + [code for code in range(0x20) if code != 0x09])


class VmxError(NestedvirtError, ValueError):
    """Input the format cannot take (an invalid key or value), or a file the module will not edit.

    ``reason`` is a short machine-readable word for the failed task's result (``vmx_syntax_error``
    ...), ``details`` extra result fields (the offending lines ...).
    """

    reason = "invalid_vmx"


def fold_key(name):
    """The form names are compared in: ASCII letters lowercased, every other character as it is."""
    return name.translate(_ASCII_FOLD)


def _to_bytes(text, what="text"):
    """The bytes a ``str`` stands for (UTF-8, surrogates U+DC80..U+DCFF as the raw bytes)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as error:
        raise VmxError(
            "the %s holds %r at offset %d, a lone surrogate that no file byte decodes to"
            % (what, error.object[error.start], error.start)
        ) from None


def _to_text(data):
    return data.decode("utf-8", "surrogateescape")


def escape_value(value):
    """Encode a value the way VMware writes it between the quotes; refuse what cannot read back."""
    data = _to_bytes(value, "value")
    if _to_text(data) != value:
        # e.g. "\udcc3\udca9": written as the bytes C3 A9, it would read back as "é".
        raise VmxError("value %r does not read back as itself (its surrogates form UTF-8)" % (value,))
    if b"\x00" in data:
        # ESXi's strings end at NUL: the value would be cut short there.
        raise VmxError("value %r contains a NUL character, which ESXi cannot read" % (value,))
    out = bytearray()
    for byte in data:
        if byte in _TO_ESCAPE:
            out += b"|%02X" % byte
        else:
            out.append(byte)
    return _to_text(bytes(out))


def unescape_value(raw):
    """Decode a value as ESXi does: ``|XX`` is one byte, a failed ``|`` stays, a NUL ends the value."""
    data = _to_bytes(raw, "value")
    out = bytearray()
    index = 0
    while index < len(data):
        if data[index] != 0x7C:  # "|"
            out.append(data[index])
            index += 1
            continue
        pair = data[index + 1 : index + 3]
        if len(pair) == 2 and pair[0] in _HEX_DIGITS and pair[1] in _HEX_DIGITS:
            out.append(int(pair, 16))
            index += 3
        else:
            # The "|", the hex digit it may have and the byte that broke the sequence are all
            # taken literally: that byte is not looked at as the start of a new escape.
            kept = 2 if len(pair) < 2 or pair[0] not in _HEX_DIGITS else 3
            out += data[index : index + kept]
            index += kept
    return _to_text(bytes(out).split(b"\x00", 1)[0])


def check_key(key):
    """Raise VmxError unless ``key`` can be written as a name that reads back as itself.

    ESXi ends a name at a blank, ``=``, ``#``, a NUL or the line end. The collection also refuses
    ``"``, every other control or blank character (NBSP, \\v ...) and invisible format characters
    (U+FEFF would even be taken for a byte order mark at the start of a file): ESXi would take them
    as part of the name, which is never what a user means.
    """
    if not isinstance(key, str) or not key:
        raise VmxError("invalid key %r: a key must be a non-empty string" % (key,))
    for char in key:
        if char in '=#"' or char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            raise VmxError(
                "invalid key %r: a key may not contain blanks, control or format characters, '=', '#' or '\"' "
                "(found %r)" % (key, char)
            )
    if _to_text(_to_bytes(key, "key")) != key:
        raise VmxError("invalid key %r: it does not read back as itself (its surrogates form UTF-8)" % (key,))


def _canonical(value):
    """Values that compare equal map to the same form: booleans ignore case, others are exact."""
    folded = fold_key(value)
    return folded if folded in _BOOLEANS else value


def values_equal(current, wanted):
    """Booleans compare case-insensitively (VMware reads TRUE/true alike); other values exactly."""
    if current is None:
        return False
    return _canonical(current) == _canonical(wanted)


class _Line:
    """One physical line: its text without the line ending, the ending, and how ESXi reads it.

    ``kind`` is ``pair``, ``blank`` (blank or comment) or ``error`` (a syntax error).
    """

    __slots__ = ("text", "ending", "kind", "key", "value", "value_span")

    def __init__(self, text, ending):
        self.text = text
        self.ending = ending
        self.key = self.value = self.value_span = None
        # ESXi reads the line as a C string: a NUL byte ends it.
        visible = text.split("\x00", 1)[0]
        pair = _PAIR.fullmatch(visible)
        if pair is None:
            self.kind = "blank" if _BLANK_OR_COMMENT.fullmatch(visible) else "error"
            return
        self.kind = "pair"
        self.key = pair.group("name")
        quoted = pair.group("quoted")
        self.value = unescape_value(quoted if quoted is not None else pair.group("value"))
        # Where a new value goes: over the old one and its quotes (an empty one: after "=" and blanks).
        self.value_span = pair.span("value")

    @property
    def folded_key(self):
        return fold_key(self.key) if self.key is not None else None

    def with_value(self, value):
        """The same line with only the value replaced (quoted, escaped)."""
        begin, end = self.value_span
        return _Line(self.text[:begin] + '"' + escape_value(value) + '"' + self.text[end:], self.ending)

    def render(self):
        return self.text + self.ending


def _split_lines(text):
    """Split where ESXi ends lines (\\n, \\r\\n, lone \\r), keeping each line's own ending."""
    lines = []
    start = 0
    for end in _LINE_END.finditer(text):
        lines.append(_Line(text[start : end.start()], end.group()))
        start = end.end()
    if start < len(text):
        lines.append(_Line(text[start:], ""))
    return lines


class Change:
    """What one set() or remove() did to one key.

    ``before`` is the value ESXi read (the first definition); ``conflict`` says the file's
    definitions of the key disagreed.
    """

    __slots__ = ("key", "before", "after", "changed", "duplicates_removed", "conflict")

    def __init__(self, key, before, after, changed, duplicates_removed=(), conflict=False):
        self.key = key
        self.before = before
        self.after = after
        self.changed = changed
        self.duplicates_removed = list(duplicates_removed)
        self.conflict = conflict


class VmxDocument:
    """A parsed file. ``render()`` returns the text byte for byte until an edit is made."""

    def __init__(self, lines, bom=False):
        self._lines = lines
        self.bom = bom

    @classmethod
    def parse(cls, text):
        # Refuse up front a str that no bytes decode to: values are decoded through bytes.
        _to_bytes(text)
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
        folded = fold_key(key)
        return [index for index, line in enumerate(self._lines) if line.folded_key == folded]

    def syntax_errors(self):
        """[(line number, text)] of the lines ESXi cannot read; it refuses the file at the first.

        Line numbers count from 1 as ESXi counts them (after a byte order mark; a lone \\r ends a
        line). The other lines are still read here, each on its own, so that get() and edits keep
        working; the vmx module refuses such a file before any edit.
        """
        return [(number, line.text) for number, line in enumerate(self._lines, 1) if line.kind == "error"]

    def keys(self):
        """Each key once, in file order, with the spelling of its first occurrence."""
        seen = {}
        for line in self._lines:
            if line.key is not None and line.folded_key not in seen:
                seen[line.folded_key] = line.key
        return list(seen.values())

    def as_dict(self):
        """{key: value} with each key once (first spelling) and the value ESXi reads (the first)."""
        return {key: self.get(key) for key in self.keys()}  # noqa: SIM118 - not a dict

    def definitions(self, key):
        """[(line number, value)] of every line that defines ``key``, in file order."""
        return [(index + 1, self._lines[index].value) for index in self._positions(key)]

    def get(self, key, default=None):
        """The value ESXi reads: that of the FIRST definition. See ambiguous() for disagreeing copies."""
        positions = self._positions(key)
        return self._lines[positions[0]].value if positions else default

    def ambiguous(self, key):
        """Whether ``key`` is defined more than once with values that disagree (see values_equal).

        ESXi takes the first and reports an error; which one the file's author meant is unknown,
        so such a key is never "already set" (see holds()).
        """
        return len(set(_canonical(value) for _number, value in self.definitions(key))) > 1

    def conflicts(self):
        """{key: [(line number, value)]} for every ambiguous key (first spelling), in file order."""
        return {key: self.definitions(key) for key in self.keys() if self.ambiguous(key)}

    def holds(self, key, value):
        """Whether the file settles ``key`` at ``value``: defined, and every definition equal to it."""
        found = self.definitions(key)
        return bool(found) and all(values_equal(current, value) for _number, current in found)

    def set(self, key, value):
        """Give ``key`` the value ``value``: in place if present, else appended at the end.

        The key is left on one line, its first. Copies that agreed with the wanted value are just
        dropped; when the copies disagreed (ambiguous) the first line is rewritten to the wanted
        value even if it already held it, and the change is reported.
        """
        check_key(key)
        if not isinstance(value, str):
            raise VmxError("value for %r must be a string, got %s" % (key, type(value).__name__))
        escape_value(value)  # refuse what cannot be written before anything changes
        positions = self._positions(key)
        if not positions:
            self._append(key, value)
            return Change(key, None, value, True)
        before, conflict, settled = self.get(key), self.ambiguous(key), self.holds(key, value)
        first, duplicates = positions[0], positions[1:]
        removed = [self._lines[index].text for index in duplicates]
        self._delete(duplicates)
        if settled:
            return Change(key, before, before, bool(removed), removed)
        self._lines[first] = self._lines[first].with_value(value)
        return Change(key, before, value, True, removed, conflict)

    def remove(self, key):
        """Remove every line that defines ``key``."""
        check_key(key)
        positions = self._positions(key)
        before, conflict = self.get(key), self.ambiguous(key)
        self._delete(positions)
        return Change(key, before, None, bool(positions), conflict=conflict)

    def _delete(self, positions):
        """Delete the lines at ``positions`` and keep every other line as ESXi splits it.

        A line ending in a lone CR followed, once lines between are gone, by an empty LF line would
        merge with it into one CRLF line end; that CR becomes CRLF so both lines stay (same texts).
        """
        for index in reversed(positions):
            del self._lines[index]
            if 0 < index < len(self._lines):
                before, after = self._lines[index - 1], self._lines[index]
                if before.ending == "\r" and after.text == "" and after.ending == "\n":
                    before.ending = "\r\n"

    def _append(self, key, value):
        newline = self.newline
        if self._lines and not self._lines[-1].ending:
            # Terminate the last line first so it stays intact.
            self._lines[-1].ending = newline
        self._lines.append(_Line('%s = "%s"' % (key, escape_value(value)), newline))
