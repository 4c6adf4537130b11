"""Property tests: the collection reads every .vmx as ESXi does, and what it writes reads back exactly.

ESXi's reading is the independent reference model in vmx_reference.py (bytes, one at a time). The
generated lines mix what tells readers apart: blanks ESXi does not take as blanks (\\v, \\f, NBSP,
U+2028), quotes in unquoted values, ``#``, valid, failed and NUL ``|`` escapes, raw NUL bytes,
bytes that are not UTF-8, LF / CRLF / lone CR line ends, names differing in ASCII or non-ASCII
case, and duplicates. Each generated line is one hypothesis draw (an integer spelled out as one
pick per piece, see _digits), so the key properties afford a few thousand examples each.
"""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vmx_reference import Reading, fold, same_value, split_lines, write_line

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import (
    VmxDocument,
    VmxError,
    fold_key,
)

# The unit run: a fixed, derandomized set of examples (the same every run, so a failure is always
# reproduced and no run is slower than another), sized so the suite stays under a minute. Each
# example is up to 8 lines, each line one draw spread over all five kinds of line (_line), so each
# kind is expected in about a fifth of the lines of the 600 examples. NESTEDVIRT_HYPOTHESIS=thorough runs
# the earlier random 3000 / 500 examples (a new sample each run) for a deeper look.
THOROUGH = os.environ.get("NESTEDVIRT_HYPOTHESIS") == "thorough"
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=not THOROUGH)
MANY = settings(max_examples=3000 if THOROUGH else 600, **_COMMON)
SOME = settings(max_examples=500 if THOROUGH else 200, **_COMMON)


def as_text(data):
    return data.decode("utf-8", "surrogateescape")


def as_bytes(text):
    return text.encode("utf-8", "surrogateescape")


# The pieces lines are made of. Lists are weighted by repetition: mostly what makes a valid
# pair (so that names meet and duplicates happen), often enough what does not. The first entry
# of each list is the simplest: examples shrink toward it.
BLANKS = [b"", b" ", b"\t", b"  ", b" \t "] * 4 + [
    # what ESXi does NOT take as blanks: \v, \f, NBSP (UTF-8, and as a lone byte), U+2028
    b"\x0b",
    b"\x0c",
    b"\xc2\xa0",
    b"\xe2\x80\xa8",
    b"\xa0",
    b" \x0b",
]
GOOD_BLANKS = [b"", b" ", b"\t", b" \t "]
NAMES = (
    # names that are the same for ESXi (ASCII case) or not (non-ASCII case), often, so they meet
    [b"a", b"vhv.enable", b"VHV.Enable", b"\xc3\x89", b"\xc3\xa9", b"x\xc3\x89", b"X\xc3\xa9"] * 3  # É, é
    + [b"A", b'q"n', b"n|22", b"k\xe9", b"\x0bvhv.enable", b"vhv.enable\xc2\xa0"]  # \xe9: not UTF-8
    + [b"k\x00z", b"a#b", b"a=b", b""]  # a NUL in the name; names cut short or missing
)
SAFE_VALUE_PARTS = [b"a", b"TRUE", b"true", b"FALSE", b"|22", b"|7c", b"|00", b"|E9", b"|C3|A9", b"||22"] + [
    b"|4|41",
    b"|z",
    b"|",
    b"|4",
    b"|\xc3\xa9",
    b"\xe9",
    b"\xc3\xa9",
    b"\x00",
    b"\x0b",
    b"\x0c",
    b"\xc2\xa0",
    b"#",
    b"=",
]
VALUE_PARTS = SAFE_VALUE_PARTS * 2 + [b"x y", b'"', b" ", b"\t"]
GOOD_TAILS = [b"", b" ", b" # c", b"#c", b'\t# "q" # |22']
TAILS = GOOD_TAILS * 3 + [b" x", b"\x0b", b"\x00 junk", b'"', b"\xc2\xa0"]
# An opening quote (or none) and a closing one (or none): unquoted, quoted, unclosed, stray quote.
QUOTES = [(b"", b""), (b'"', b'"')] * 3 + [(b'"', b""), (b"", b'"')]
GOOD_QUOTES = [(b"", b""), (b'"', b'"')]
EQUALS = [b"="] * 6 + [b"", b"=="]
OTHER_LINES = [b"", b"# comment", b'#x = "y"', b"junk", b"\x00x = y"]
SOUP = VALUE_PARTS + NAMES + BLANKS + [b"\r", b"\n"]
ENDINGS = [b"\n", b"\n", b"\r\n", b"\r"]


def _digits(number, *choices):
    """Spell ``number`` out as one pick from each list (a mixed-radix number).

    One hypothesis draw then stands for a whole line, which keeps thousands of examples fast, and
    shrinking the number toward 0 shrinks every pick toward the first (simplest) entry.
    """
    picked = []
    for options in choices:
        number, digit = divmod(number, len(options))
        picked.append(options[digit])
    return picked


# How many pieces a value has, or "word": a whole boolean (so that TRUE and true meet).
VALUE_SHAPES = [1, "word", 0, 2, 3, 4, "word", 1]
WORDS = [b"TRUE", b"true", b"FALSE", b"false", b"True", b"1"]


def _pair(number, blanks, equals, quotes, parts, tails):
    lead, name, before, equal, after, (opening, closing), shape, word, *value, tail = _digits(
        number, blanks, NAMES, blanks, equals, blanks, quotes, VALUE_SHAPES, WORDS, parts, parts, parts, parts, tails
    )
    value = word if shape == "word" else b"".join(value[:shape])
    return lead + name + before + equal + after + opening + value + closing + tail


def _line(number):
    """A line and its ending: a pair ESXi reads (but for a NUL or a bad name), any pair-like line,
    a blank line or comment or junk, or a soup of pieces (which may hold line ends itself)."""
    number, kind = divmod(number, 5)
    number, ending = divmod(number, len(ENDINGS))
    if kind in (0, 1):
        line = _pair(number, GOOD_BLANKS, [b"="], GOOD_QUOTES, SAFE_VALUE_PARTS, GOOD_TAILS)
    elif kind == 2:
        line = _pair(number, BLANKS, EQUALS, QUOTES, VALUE_PARTS, TAILS)
    elif kind == 3:
        line = b"".join(_digits(number, BLANKS, OTHER_LINES))
    else:
        count, *pieces = _digits(number, range(7), *[SOUP] * 6)
        line = b"".join(pieces[:count])
    return line, ENDINGS[ending]


LINES = st.integers(0, 2**96).map(_line)


def _file(parts):
    lines, bom, unterminated = parts
    data = b"".join(line + ending for line, ending in lines)
    if lines and unterminated:
        data = data[: -len(lines[-1][1])]  # no final line end
    return (b"\xef\xbb\xbf" if bom else b"") + data


FILES = st.tuples(st.lists(LINES, max_size=8), st.booleans(), st.booleans()).map(_file)


def collection_reading(data):
    """What the collection reads, in the reference model's terms (bytes, folded names)."""
    document = VmxDocument.parse(as_text(data))
    reading = {}
    for key in document.keys():
        folded = as_bytes(fold_key(key))
        assert folded not in reading, "keys() names %r twice" % key
        reading[folded] = (
            as_bytes(key),
            as_bytes(document.get(key)),
            [number for number, _value in document.definitions(key)],
            document.ambiguous(key),
        )
    errors = [(number, as_bytes(text)) for number, text in document.syntax_errors()]
    return reading, errors


def reference_reading(data):
    model = Reading(data)
    reading = {
        folded: (found[0][1], found[0][2], [number for number, _name, _value in found], model.ambiguous(found[0][1]))
        for folded, found in model.definitions.items()
    }
    return reading, model.syntax_errors


def assert_reads_as_esxi(data):
    assert collection_reading(data) == reference_reading(data)
    assert as_bytes(VmxDocument.parse(as_text(data)).render()) == data


@MANY
@given(FILES)
def test_files_read_as_esxi_reads_them(data):
    """Every key's first value, where it is defined, ambiguity, and the syntax errors with their lines."""
    assert_reads_as_esxi(data)


@SOME
@given(LINES)
def test_single_lines_read_as_esxi_reads_them(line_and_ending):
    line, ending = line_and_ending
    assert_reads_as_esxi(line)
    assert_reads_as_esxi(line + ending)


@SOME
@given(st.binary(max_size=64))
def test_any_bytes_read_as_esxi_reads_them(data):
    assert_reads_as_esxi(data)


# Values: any text, text from any bytes, and mixes of the characters that need care.
WRITTEN_VALUES = st.one_of(
    st.text(),
    st.binary().map(as_text),
    st.lists(
        st.sampled_from(
            ['"', "|", "|22", "||", "\x7f", "\n", "\r", "\t", "\x00", "é", "\udce9", "\udcc3", "\udca9"]
            + [" ", "#", "TRUE", "a", "\x0b", "\xa0", "\u2028", "\U0001f642"]
        ),
        max_size=8,
    ).map("".join),
)
WRITTEN_KEYS = st.one_of(
    st.sampled_from(["vhv.enable", "VHV.Enable", "a", "A", "É", "é", "new.key", as_text(b"k\xe9")]),
    st.text(
        st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc", "Cf"), exclude_characters='=#"'),
        min_size=1,
        max_size=12,
    ),
)


def writable(value):
    """What the collection may write: no NUL, and bytes that decode back to the same text."""
    try:
        return "\x00" not in value and as_text(as_bytes(value)) == value
    except UnicodeEncodeError:
        return False


@MANY
@given(WRITTEN_KEYS, WRITTEN_VALUES)
def test_every_value_written_reads_back_exactly(key, value):
    document = VmxDocument.parse("")
    if not writable(value):
        try:
            document.set(key, value)
        except VmxError:
            assert document.render() == ""
            return
        raise AssertionError("%r was written although it cannot read back" % (value,))
    document.set(key, value)
    data = as_bytes(document.render())
    # Written as VMware writes it ...
    assert data == write_line(as_bytes(key), as_bytes(value))
    # ... and read back exactly, by ESXi's rules and by the collection.
    model = Reading(data)
    assert model.value(as_bytes(key)) == as_bytes(value) and not model.syntax_errors
    again = VmxDocument.parse(as_text(data))
    assert again.get(key) == value and again.holds(key, value) and again.syntax_errors() == []


SET_KEYS = st.sampled_from(["vhv.enable", "VHV.ENABLE", "a", "A", "É", "é", "x" + "\u00c9", "new.key"])
SET_VALUES = st.one_of(
    st.sampled_from(["TRUE", "true", "FALSE", "a", 'v"w', "|22", "é", "\udce9", ""]), WRITTEN_VALUES.filter(writable)
)


@MANY
@given(FILES, SET_KEYS, SET_VALUES)
def test_set_changes_only_the_lines_of_its_key(data, key, value):
    name, wanted = as_bytes(key), as_bytes(value)
    before = Reading(data)
    defining = before.lines_defining(name)
    settled = bool(defining) and all(same_value(found[2], wanted) for found in before.definitions[fold(name)])
    document = VmxDocument.parse(as_text(data))
    change = document.set(key, value)
    after_data = as_bytes(document.render())
    after = Reading(after_data)

    # ESXi now reads one definition: the wanted value, or the first one if all already agreed with
    # it (TRUE for true). The same lines as before are syntax errors.
    assert after.lines_defining(name) == [defining[0] if defining else len(split_lines(after_data))]
    assert after.value(name) == (before.value(name) if settled else wanted)
    assert [text for _n, text in after.syntax_errors] == [text for _n, text in before.syntax_errors]
    # Changed exactly when the bytes changed; a file whose copies disagreed always is.
    assert change.changed == (after_data != data)
    assert change.changed == (not settled or len(defining) > 1)

    bom = b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b""
    assert after_data.startswith(bom)
    old, new = split_lines(data[len(bom) :]), split_lines(after_data[len(bom) :])
    if not defining:
        # Appended as VMware writes it, with the file's line end; the old last line only gains a
        # line end if it had none.
        newline = next((ending for _text, ending in old if ending), b"\n")
        assert new[:-1] == [(text, ending or newline) for text, ending in old]
        assert new[-1] == (write_line(name, wanted)[:-1], newline)
        return
    # The key's first line stays where it was with its own line end; its other lines are gone.
    assert_only_these_lines_changed(old, new, gone=defining[1:], rewritten=defining[0])


@SOME
@given(FILES, SET_KEYS)
def test_remove_takes_only_the_lines_of_its_key(data, key):
    name = as_bytes(key)
    before = Reading(data)
    document = VmxDocument.parse(as_text(data))
    change = document.remove(key)
    after_data = as_bytes(document.render())
    after = Reading(after_data)
    assert after.value(name) is None and change.changed == bool(before.lines_defining(name))
    assert change.before == (None if before.value(name) is None else as_text(before.value(name)))
    bom = b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b""
    old, new = split_lines(data[len(bom) :]), split_lines(after_data[len(bom) :])
    assert_only_these_lines_changed(old, new, gone=before.lines_defining(name))


def assert_only_these_lines_changed(old, new, gone, rewritten=None):
    """Every line but those (numbered from 1) is byte for byte the same, in the same order.

    One exception keeps lines apart: a lone CR that now meets the LF of an empty line (they would
    merge into one CRLF line end) becomes CRLF. They were not neighbours before: CR then LF is
    always one CRLF.
    """
    kept = [line for number, line in enumerate(old, 1) if number not in gone]
    assert len(new) == len(kept)
    for number, (old_line, new_line) in enumerate(zip(kept, new, strict=True), 1):
        ending = old_line[1]
        if ending == b"\r" and number < len(kept) and kept[number] == (b"", b"\n"):
            ending = b"\r\n"
        if number == rewritten:
            assert new_line[1] == ending
        else:
            assert new_line == (old_line[0], ending)
