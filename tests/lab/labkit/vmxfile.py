"""The lab's own minimal .vmx reader and writer (VMware's dictll rules, see esxi-facts.md).

Deliberately independent of the collection's parser: the lab must not share the bugs of the
code it tests. Lines are kept as they are; only the entries the lab changes are rewritten.

    line   := <ws> name <ws> = <ws> value <ws> [#comment]
    value  := "quoted, no double quote inside"  |  unquoted-token
Escapes in values: ``|XX`` (hex, either case) for ``"``, ``|``, 0x7F and control characters
except tab. Invalid escapes are kept literally. A UTF-8 BOM and CRLF line ends are tolerated.
"""

from __future__ import annotations

import re

_LINE = re.compile(
    r'^[ \t]*(?P<name>[^\s=#"]+)[ \t]*=[ \t]*'
    r'(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s#"]*))[ \t]*(?:#.*)?$'
)
_ESCAPE = re.compile(r"\|([0-9A-Fa-f]{2})")

TRUE_WORDS = ("true", "yes", "1")


def unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def escape(value: str) -> str:
    out = []
    for ch in value:
        o = ord(ch)
        if ch in '"|' or o == 0x7F or (o < 0x20 and ch != "\t"):
            out.append("|%02X" % o)
        else:
            out.append(ch)
    return "".join(out)


def as_bool(value: str | None) -> bool:
    return value is not None and value.strip().lower() in TRUE_WORDS


class Vmx:
    """An ordered .vmx: lines kept verbatim, keys looked up case-insensitively.

    `lines` is a tuple, replaced (never changed in place) by the writers, so the entries parsed
    on the first read stay valid until the next write: hostd reads every VM's keys for each
    listing, and the vSphere simulator asks for one every 0.2 s.
    """

    def __init__(self, lines: list[str] | None = None) -> None:
        self.lines = lines or []

    @property
    def lines(self) -> tuple[str, ...]:
        return self._lines

    @lines.setter
    def lines(self, lines) -> None:
        self._lines = tuple(lines)
        self._parsed: tuple[list[tuple[str, str]], dict[str, str]] | None = None

    # --- reading -------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | str) -> "Vmx":
        if isinstance(data, bytes):
            data = data.decode("utf-8", errors="surrogateescape")
        if data.startswith("\ufeff"):
            data = data[1:]
        return cls([line.rstrip("\r") for line in data.split("\n")][: -1 if data.endswith("\n") else None])

    @staticmethod
    def _entry(line: str) -> tuple[str, str] | None:
        m = _LINE.match(line)
        if not m:
            return None
        raw = m.group("quoted") if m.group("quoted") is not None else m.group("bare")
        return m.group("name"), unescape(raw)

    def _parse(self) -> tuple[list[tuple[str, str]], dict[str, str]]:
        parsed = self._parsed
        if parsed is None:
            seen: dict[str, int] = {}
            out: list[tuple[str, str]] = []
            for line in self._lines:
                e = self._entry(line)
                if e is None:
                    continue
                k = e[0].lower()
                if k in seen:
                    out[seen[k]] = e
                else:
                    seen[k] = len(out)
                    out.append(e)
            parsed = self._parsed = (out, {k.lower(): v for k, v in out})  # one assignment: thread-safe
        return parsed

    def items(self) -> list[tuple[str, str]]:
        """(name, value) in file order; a later duplicate overrides an earlier one."""
        return list(self._parse()[0])

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._parse()[1].get(name.lower(), default)

    def get_bool(self, name: str) -> bool:
        return as_bool(self.get(name))

    def get_int(self, name: str, default: int) -> int:
        try:
            return int(str(self.get(name, "")).strip())
        except ValueError:
            return default

    # --- writing -------------------------------------------------------------------------

    def set(self, name: str, value: str) -> None:
        """Set one key, keeping its spelling and position; duplicates collapse to one line."""
        want = name.lower()
        found = False
        kept = []
        for line in self.lines:
            e = self._entry(line)
            if e is not None and e[0].lower() == want:
                if found:
                    continue
                kept.append(f'{e[0]} = "{escape(value)}"')
                found = True
            else:
                kept.append(line)
        if not found:
            kept.append(f'{name} = "{escape(value)}"')
        self.lines = kept

    def remove(self, name: str) -> None:
        want = name.lower()
        self.lines = [ln for ln in self.lines if (e := self._entry(ln)) is None or e[0].lower() != want]

    def render(self) -> bytes:
        text = "".join(line + "\n" for line in self.lines)
        return text.encode("utf-8", errors="surrogateescape")


def new_vmx(entries: list[tuple[str, str]]) -> Vmx:
    """A file as VMware writes it: .encoding first, then `name = "value"` lines."""
    vmx = Vmx(['.encoding = "UTF-8"'])
    for name, value in entries:
        vmx.set(name, value)
    return vmx
