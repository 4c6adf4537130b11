"""A small reference model of how ESXi reads and writes a .vmx, for the property tests.

Written from the rules (esxi-facts.md, "How ESXi reads a .vmx", checked against VMware's reader in
open-vm-tools: lib/misc/vmstdio.c for line ends, lib/dict/dictll.c for a line, lib/misc/escape.c for
``|XX``, the dictionary layer for duplicates and syntax errors). It shares no code with the
collection and works another way: on bytes, one byte at a time, as the C reader does, where the
collection uses regular expressions on decoded text.

The rules, in short:

1. The file is bytes. A UTF-8 byte order mark at the very start is skipped.
2. A line ends at LF, at CR LF, or at a CR not followed by LF (the end of the data ends the last
   line; nothing after a final line end is a line).
3. A line is read as a C string: it ends at its first NUL byte.
4. Blanks are space and tab only. A name is one or more bytes that are neither blank, ``=`` nor
   ``#``. Pair: blanks, name, blanks, ``=``, blanks, value, blanks, then the end or ``#`` comment.
5. A value starting with ``"`` runs to the next ``"`` (which must exist); otherwise it is the bytes
   up to the next blank or ``#`` (possibly none).
6. A line that is no pair is fine when, after blanks, it is empty or starts with ``#``; otherwise it
   is a syntax error (ESXi stops at the first and refuses the file).
7. Value decoding: ``|`` + two hex digits is that byte; after a ``|`` that starts no escape, the
   byte that broke it is literal too (it cannot start an escape itself). The result ends at NUL.
8. Names match with ASCII letters folded; the first definition counts; copies are ambiguous when
   their values differ, ``true``/``false`` compared without case.
9. Writing: ``name = "value"`` and LF, with ``"``, ``|``, DEL and control bytes except tab written
   as ``|`` + two uppercase hex digits.
"""

SPACE, TAB, LF, CR, NUL = 0x20, 0x09, 0x0A, 0x0D, 0x00
QUOTE, HASH, EQUAL, PIPE = 0x22, 0x23, 0x3D, 0x7C
UTF8_BOM = b"\xef\xbb\xbf"
UPPER_HEX = b"0123456789ABCDEF"


def split_lines(data):
    """[(line bytes, ending bytes)] as ESXi's line reader cuts them (rule 2), BOM not removed."""
    lines = []
    current = bytearray()
    position = 0
    while position < len(data):
        byte = data[position]
        if byte == LF:
            lines.append((bytes(current), b"\n"))
            current = bytearray()
            position += 1
        elif byte == CR:
            if position + 1 < len(data) and data[position + 1] == LF:
                lines.append((bytes(current), b"\r\n"))
                position += 2
            else:
                lines.append((bytes(current), b"\r"))
                position += 1
            current = bytearray()
        else:
            current.append(byte)
            position += 1
    if current:
        lines.append((bytes(current), b""))
    return lines


def is_hex(byte):
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x46 or 0x61 <= byte <= 0x66


def hex_value(byte):
    if byte <= 0x39:
        return byte - 0x30
    return (byte | 0x20) - 0x61 + 10


def decode_value(raw):
    """Rule 7, as a three-state machine over the bytes."""
    out = bytearray()
    state = "plain"
    pending = bytearray()  # the bytes of an escape being read: "|" and maybe one digit
    for byte in raw:
        if state == "plain":
            if byte == PIPE:
                pending = bytearray([byte])
                state = "pipe"
            else:
                out.append(byte)
        elif state == "pipe":
            pending.append(byte)
            state = "digit" if is_hex(byte) else "plain"
            if state == "plain":
                out += pending
        else:  # "digit": "|" and one hex digit read
            if is_hex(byte):
                out.append(hex_value(pending[1]) * 16 + hex_value(byte))
            else:
                out += pending
                out.append(byte)
            state = "plain"
    if state != "plain":
        out += pending
    end = out.find(b"\x00")
    return bytes(out if end < 0 else out[:end])


def read_line(line):
    """("pair", name, value) | ("blank",) | ("error",) for one line's bytes (rules 3 to 6)."""
    end = line.find(b"\x00")
    if end >= 0:
        line = line[:end]

    def skip_blanks(at):
        while at < len(line) and line[at] in (SPACE, TAB):
            at += 1
        return at

    def at(index):
        return line[index] if index < len(line) else None

    position = skip_blanks(0)
    name_start = position
    while at(position) is not None and at(position) not in (SPACE, TAB, EQUAL, HASH):
        position += 1
    name = line[name_start:position]
    position = skip_blanks(position)
    if name and at(position) == EQUAL:
        position = skip_blanks(position + 1)
        if at(position) == QUOTE:
            closing = line.find(b'"', position + 1)
            if closing >= 0:
                value = line[position + 1 : closing]
                rest = skip_blanks(closing + 1)
                if at(rest) in (None, HASH):
                    return ("pair", name, decode_value(value))
        else:
            value_start = position
            while at(position) is not None and at(position) not in (SPACE, TAB, HASH):
                position += 1
            value = line[value_start:position]
            rest = skip_blanks(position)
            if at(rest) in (None, HASH):
                return ("pair", name, decode_value(value))
    first = skip_blanks(0)
    return ("blank",) if at(first) in (None, HASH) else ("error",)


def fold(name):
    return bytes(byte + 32 if 0x41 <= byte <= 0x5A else byte for byte in name)


def same_value(left, right):
    lowered = (fold(left), fold(right))
    if lowered[0] in (b"true", b"false") and lowered[1] in (b"true", b"false"):
        return lowered[0] == lowered[1]
    return left == right


class Reading:
    """What ESXi makes of a file: every definition per folded name, and the syntax errors."""

    def __init__(self, data):
        if data.startswith(UTF8_BOM):
            data = data[len(UTF8_BOM) :]
        self.lines = split_lines(data)
        self.definitions = {}  # folded name -> [(line number, name, value)]
        self.syntax_errors = []  # [(line number, line bytes)]
        for number, (line, _ending) in enumerate(self.lines, 1):
            kind = read_line(line)
            if kind[0] == "pair":
                self.definitions.setdefault(fold(kind[1]), []).append((number, kind[1], kind[2]))
            elif kind[0] == "error":
                self.syntax_errors.append((number, line))

    def value(self, name):
        found = self.definitions.get(fold(name))
        return found[0][2] if found else None

    def ambiguous(self, name):
        found = self.definitions.get(fold(name), [])
        return any(not same_value(found[0][2], other[2]) for other in found[1:])

    def lines_defining(self, name):
        return [number for number, _name, _value in self.definitions.get(fold(name), [])]


def write_line(name, value):
    """The line VMware writes for a pair (rule 9), both bytes."""
    escaped = bytearray()
    for byte in value:
        if byte in (QUOTE, PIPE, 0x7F) or (byte < 0x20 and byte != TAB):
            escaped += bytes([PIPE, UPPER_HEX[byte >> 4], UPPER_HEX[byte & 15]])
        else:
            escaped.append(byte)
    return name + b' = "' + bytes(escaped) + b'"\n'
