"""The lossless .vmx model: one test per rule of how ESXi reads a .vmx (esxi-facts.md, "How ESXi
reads a .vmx", with its examples), editing, writing. The generated cases against a reference model
of ESXi's reader are in test_vmx_reading.py."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.vmx._format import (
    VmxDocument,
    VmxError,
    check_key,
    escape_value,
    fold_key,
    unescape_value,
    values_equal,
)

SAMPLE = '\ufeffVHV.Enable = "false"\r\n# comment\r\ndisplayName = "a |22quoted|22 name"\r\n'


def read(line, key):
    return VmxDocument.parse(line + "\n").get(key)


def test_sample_from_the_issue_changes_exactly_one_line():
    document = VmxDocument.parse(SAMPLE)
    assert document.get("vhv.enable") == "false"
    assert document.get("displayname") == 'a "quoted" name'
    change = document.set("vhv.enable", "TRUE")
    assert change.changed and change.before == "false" and change.after == "TRUE"
    assert document.render() == '\ufeffVHV.Enable = "TRUE"\r\n# comment\r\ndisplayName = "a |22quoted|22 name"\r\n'


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ('name = "value"', "name", "value"),
        ("  name=value", "name", "value"),
        ('name = "a # not a comment" # comment', "name", "a # not a comment"),
        ("name = bare # comment", "name", "bare"),
        ("name = bare#comment", "name", "bare"),
        ('name = ""', "name", ""),
        ("name =", "name", ""),
        ("name = # only a comment", "name", ""),
        ('ethernet0.pciSlotNumber = "33"', "ethernet0.pcislotnumber", "33"),
        ('annotation = "line one|0Aline two"', "annotation", "line one\nline two"),
        ('x = "|7c|7C|zz|"', "x", "|||zz|"),
        # a name may hold '"' (only blanks, '=' and '#' end it)
        ('"quoted" = x', '"quoted"', "x"),
    ],
)
def test_reads_values_as_esxi_does(line, key, value):
    assert read(line, key) == value


@pytest.mark.parametrize("line", ["# just a comment", "", "   ", "\t# indented comment", " \t "])
def test_blank_lines_and_comments_are_neither_keys_nor_errors(line):
    document = VmxDocument.parse(line)
    assert document.keys() == [] and document.syntax_errors() == []
    assert document.render() == line


# --- line ends ---------------------------------------------------------------------------------


def test_a_line_ends_at_lf_crlf_or_a_lone_cr_and_keeps_its_own_ending():
    text = 'a = "1"\rb = "2"\r\nc = "3"\nd = "4"\r\r\ne = "5"'
    document = VmxDocument.parse(text)
    assert document.as_dict() == {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}
    document.set("c", "x")
    document.set("f", "6")
    # the file's line end is its first line's (a lone CR here); every other ending stays
    assert document.render() == 'a = "1"\rb = "2"\r\nc = "x"\nd = "4"\r\r\ne = "5"\rf = "6"\r'


def test_a_cr_inside_a_quoted_value_ends_the_line_so_the_quote_is_unclosed():
    document = VmxDocument.parse('a = "x\ry"\n')
    assert document.get("a") is None
    assert document.syntax_errors() == [(1, 'a = "x'), (2, 'y"')]


# --- blanks: space and tab only -----------------------------------------------------------------


@pytest.mark.parametrize("odd", ["\xa0", "\x0b", "\x0c", "\u2028", "\u3000", "\x85"])
def test_only_space_and_tab_are_blanks(odd):
    # "vhv.enable = TRUE\xc2\xa0" is not TRUE for ESXi: the NBSP belongs to the value
    value = read("vhv.enable = TRUE" + odd, "vhv.enable")
    assert value == "TRUE" + odd and not values_equal(value, "TRUE")
    # before the name it belongs to the name
    document = VmxDocument.parse(odd + "vhv.enable = TRUE\n")
    assert document.get("vhv.enable") is None and document.keys() == [odd + "vhv.enable"]
    # inside a quoted value it is just a character; after the quote it is a syntax error
    assert read('x = "a%sb"' % odd, "x") == "a%sb" % odd
    assert VmxDocument.parse('x = "a"%s\n' % odd).syntax_errors() == [(1, 'x = "a"%s' % odd)]


def test_blank_set_stays_ascii_with_not_utf8_bytes():
    # a lone byte A0 (NBSP in Latin-1) read with surrogateescape is not a blank either
    assert read("x = TRUE" + b"\xa0".decode("utf-8", "surrogateescape"), "x") == "TRUE\udca0"


# --- unquoted and quoted values ------------------------------------------------------------------


def test_an_unquoted_value_may_hold_a_quote():
    assert read('x = v"w # c', "x") == 'v"w'
    assert read('x = v"', "x") == 'v"'


@pytest.mark.parametrize(
    "line",
    [
        "x = a\tb",  # a blank inside an unquoted value
        "x = a b",
        'x = "a"b',  # something after the closing quote
        'x = "a" b',
        'x = "unclosed',
        'x = "a""b"',
        "no equals sign here",
        "=value",  # no name
        "x == y",  # the second "=" is not a value
    ],
)
def test_lines_esxi_cannot_read_are_syntax_errors_with_their_line_number(line):
    document = VmxDocument.parse('a = "1"\n\n%s\nb = "2"\n' % line)
    assert document.syntax_errors() == [(3, line)]
    assert document.keys() == ["a", "b"]


def test_line_numbers_count_after_the_byte_order_mark_and_keep_counting_across_errors():
    document = VmxDocument.parse("\ufeffjunk\r\na = 1\rmore junk\n")
    assert document.syntax_errors() == [(1, "junk"), (3, "more junk")]
    assert document.definitions("a") == [(2, "1")]


# --- |XX escapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("|E9", "\udce9"),  # the byte E9, not U+00E9: alone it is not UTF-8
        ("|e9", "\udce9"),
        ("|C3|A9", "é"),  # the bytes C3 A9: UTF-8 for é
        ("|c3|a9", "é"),
        ("é", "é"),
        ("|C3é", "\udcc3é"),
        ("||22", "||22"),  # the "|" after a failed "|" starts no escape
        ("|4|41", "|4|41"),  # nor the byte after "|" and one digit
        ("|4|", "|4|"),
        ("|zz|22", '|zz"'),
        ("|", "|"),
        ("|4", "|4"),
        ("a|", "a|"),
        ("|7C22", "|22"),  # decoded once: "|7C" is "|", the rest literal
    ],
)
def test_escapes_decode_to_bytes_and_a_failed_escape_stays(raw, value):
    assert unescape_value(raw) == value
    assert read('x = "%s"' % raw, "x") == value


def test_escaped_nul_cuts_the_value_short():
    assert read('x = "ab|00cd"', "x") == "ab"
    assert read("x = |00", "x") == ""


def test_a_raw_nul_ends_the_line_for_esxi():
    # ESXi reads each line as a C string: nothing after a NUL is seen
    assert read('x = "b"\x00 junk "', "x") == "b"
    assert read("x = b\x00c", "x") == "b"
    document = VmxDocument.parse('x = "b\x00c"\n')  # the closing quote is past the NUL
    assert document.syntax_errors() == [(1, 'x = "b\x00c"')]


def test_a_nul_in_a_name_is_a_syntax_error():
    document = VmxDocument.parse("ab\x00c = d\n")
    assert document.keys() == [] and document.syntax_errors() == [(1, "ab\x00c = d")]


# --- names ------------------------------------------------------------------------------------------


def test_names_fold_ascii_letters_only():
    document = VmxDocument.parse('VHV.Enable = "TRUE"\nÉ = "1"\né = "2"\n')
    assert document.get("vhv.enable") == "TRUE" and document.get("VHV.ENABLE") == "TRUE"
    assert document.get("É") == "1" and document.get("é") == "2"
    assert document.keys() == ["VHV.Enable", "É", "é"]
    assert not document.ambiguous("é")
    assert fold_key("AbÉ") == "abÉ"
    # KELVIN SIGN lowercases to an ASCII k with str.lower(): not for ESXi
    assert VmxDocument.parse("\u212a = 1\n").get("k") is None


# --- duplicates -------------------------------------------------------------------------------------


def test_the_first_definition_is_what_esxi_reads():
    document = VmxDocument.parse('vhv.enable = "FALSE"\nx = "1"\nVHV.enable = "TRUE"\n')
    assert document.get("vhv.enable") == "FALSE"
    assert document.definitions("vhv.enable") == [(1, "FALSE"), (3, "TRUE")]
    assert document.as_dict() == {"vhv.enable": "FALSE", "x": "1"}


def test_disagreeing_duplicates_are_ambiguous_and_never_settled():
    document = VmxDocument.parse('vhv.enable = "TRUE"\nvhv.enable = "FALSE"\nb = "1"\nb = "1"\n')
    assert document.ambiguous("vhv.enable") and not document.holds("vhv.enable", "TRUE")
    assert not document.ambiguous("b") and document.holds("b", "1")
    assert document.conflicts() == {"vhv.enable": [(1, "TRUE"), (2, "FALSE")]}


def test_duplicates_agreeing_as_booleans_are_not_ambiguous():
    document = VmxDocument.parse('a = "TRUE"\nA = true\n')
    assert not document.ambiguous("a") and document.holds("a", "True") and document.conflicts() == {}


def test_set_rewrites_disagreeing_duplicates_even_when_the_first_holds_the_value():
    document = VmxDocument.parse('vhv.enable = "TRUE" # mine\nx = "1"\nVHV.enable = "FALSE"\n')
    change = document.set("vhv.enable", "TRUE")
    assert change.changed and change.conflict
    assert change.before == "TRUE" and change.after == "TRUE"
    assert change.duplicates_removed == ['VHV.enable = "FALSE"']
    assert document.render() == 'vhv.enable = "TRUE" # mine\nx = "1"\n'
    assert not document.ambiguous("vhv.enable")


def test_set_rewrites_the_first_line_to_the_wanted_value_when_copies_disagree():
    document = VmxDocument.parse('vhv.enable = true\nx = "1"\nVHV.enable = "FALSE"\nvhv.ENABLE = "TRUE"\n')
    change = document.set("vhv.enable", "TRUE")
    assert change.changed and change.conflict and change.before == "true" and change.after == "TRUE"
    assert change.duplicates_removed == ['VHV.enable = "FALSE"', 'vhv.ENABLE = "TRUE"']
    assert document.render() == 'vhv.enable = "TRUE"\nx = "1"\n'


def test_agreeing_duplicates_collapse_to_the_first_line_and_count_as_a_change():
    document = VmxDocument.parse('a = "TRUE"\na = "true"\n')
    change = document.set("a", "TRUE")
    assert change.changed and not change.conflict and change.before == "TRUE" and change.after == "TRUE"
    assert document.render() == 'a = "TRUE"\n'


def test_removing_a_line_never_merges_a_lone_cr_with_the_next_empty_lines_lf():
    # without care, "b\r" + "\n" would become one CRLF line end and the empty line would vanish
    document = VmxDocument.parse('a = "1"\nb = "2"\ra = "3"\n\nc = "4"\n')
    document.set("a", "5")
    assert document.render() == 'a = "5"\nb = "2"\r\n\nc = "4"\n'
    document = VmxDocument.parse('b = "2"\ra = "3"\n\n')
    document.remove("a")
    assert document.render() == 'b = "2"\r\n\n'


def test_remove_takes_every_line_of_the_key():
    document = VmxDocument.parse('a = "1"\nb = "2"\nA = "3"\n')
    change = document.remove("a")
    assert change.changed and change.before == "1" and change.conflict
    assert document.render() == 'b = "2"\n'
    assert not document.remove("a").changed


# --- editing ---------------------------------------------------------------------------------------


def test_a_syntax_error_line_is_left_alone_by_set():
    # ESXi reads no key on a broken line; the vmx module refuses such a file before editing
    document = VmxDocument.parse('vhv.enable = "TRUE\nother = 1\n')
    assert document.get("vhv.enable") is None and document.syntax_errors() == [(1, 'vhv.enable = "TRUE')]
    document.set("vhv.enable", "TRUE")
    assert document.render() == 'vhv.enable = "TRUE\nother = 1\nvhv.enable = "TRUE"\n'


def test_new_key_is_appended_with_the_files_line_ending_and_the_last_line_kept_intact():
    document = VmxDocument.parse('a = "1"\r\nb = "2"')
    document.set("vhv.enable", "TRUE")
    assert document.render() == 'a = "1"\r\nb = "2"\r\nvhv.enable = "TRUE"\r\n'


def test_empty_file_gets_lf_lines():
    document = VmxDocument.parse("")
    document.set("vhv.allow", "TRUE")
    assert document.render() == 'vhv.allow = "TRUE"\n'


def test_boolean_spelled_otherwise_is_no_change():
    document = VmxDocument.parse('vhv.enable = "true"\n')
    change = document.set("VHV.ENABLE", "TRUE")
    assert not change.changed
    assert document.render() == 'vhv.enable = "true"\n'


def test_set_keeps_comment_and_spacing_of_the_line():
    document = VmxDocument.parse("\tvhv.enable\t=  FALSE   # set by hand\n")
    document.set("vhv.enable", "TRUE")
    assert document.render() == '\tvhv.enable\t=  "TRUE"   # set by hand\n'


@pytest.mark.parametrize(
    ("line", "after"),
    [
        ("a =", 'a ="x"'),
        ("a = # c", 'a = "x"# c'),
        ('a = v"w#c', 'a = "x"#c'),
        ('a = "b"\x00junk', 'a = "x"\x00junk'),
    ],
)
def test_set_replaces_only_the_value(line, after):
    document = VmxDocument.parse(line + "\n")
    document.set("a", "x")
    assert document.render() == after + "\n"


# --- writing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "a b", "a=b", "a#b", 'a"b', "a\tb", "a\nb", "a\rb", "a\x00b", "a\xa0b", "a\x0bb", "\ufeffa", "a\u2028"],
)
def test_invalid_keys_are_refused(key):
    with pytest.raises(VmxError, match="invalid key"):
        check_key(key)
    with pytest.raises(VmxError):
        VmxDocument.parse("").set(key, "x")


def test_escaping_follows_vmware():
    assert escape_value('a "b" |c|\n\r\x7f\x01\x1f\tü') == "a |22b|22 |7Cc|7C|0A|0D|7F|01|1F\tü"
    assert unescape_value("|22|7c|0A|zz|") == '"|\n|zz|'


def test_bytes_that_are_not_utf8_are_written_back_as_the_bytes():
    document = VmxDocument.parse("")
    document.set("a", "caf\udce9")
    assert document.render().encode("utf-8", "surrogateescape") == b'a = "caf\xe9"\n'


@pytest.mark.parametrize("value", ["a\x00b", "\x00", "\udcc3\udca9", "\ud800"])
def test_values_that_would_not_read_back_are_refused(value):
    # NUL: ESXi's strings end there; "\udcc3\udca9" would be written as C3 A9 and read back as "é"
    document = VmxDocument.parse('a = "1"\n')
    with pytest.raises(VmxError):
        document.set("a", value)
    assert document.render() == 'a = "1"\n'


def test_values_equal():
    assert values_equal("true", "TRUE") and values_equal("False", "false")
    assert not values_equal("TRUE", "FALSE") and not values_equal(None, "TRUE") and not values_equal("1", "TRUE")
    assert not values_equal("TRUE\xa0", "TRUE")


def test_text_no_bytes_decode_to_is_refused():
    with pytest.raises(VmxError, match="surrogate"):
        VmxDocument.parse('a = "\ud800"\n')


writable_values = st.one_of(st.text(), st.binary().map(lambda data: data.decode("utf-8", "surrogateescape"))).filter(
    lambda value: "\x00" not in value
)


@given(writable_values)
def test_escapes_round_trip(value):
    escaped = escape_value(value)
    assert '"' not in escaped and "\n" not in escaped and "\r" not in escaped
    assert unescape_value(escaped) == value


@given(st.sampled_from(['a = "1"\n', "", 'VHV.enable = "FALSE"\r\nx = 1', "junk\r"]), writable_values)
def test_set_then_get_returns_the_value_and_a_second_set_changes_nothing(text, value):
    document = VmxDocument.parse(text)
    document.set("vhv.enable", value)
    # exactly the value, or the file's own spelling of the same boolean (FALSE for false)
    assert document.get("vhv.enable") == value or values_equal(document.get("vhv.enable"), value)
    once = document.render()
    again = VmxDocument.parse(once)
    assert again.get("vhv.enable") == document.get("vhv.enable")
    assert not again.set("vhv.enable", value).changed
    assert again.render() == once
