"""The lossless .vmx model: examples from esxi-facts.md ("The .vmx format") and properties."""

from functools import partial

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vmx_format import (
    VmxDocument,
    VmxError,
    check_key,
    escape_value,
    unescape_value,
    values_equal,
)

SAMPLE = '\ufeffVHV.Enable = "false"\r\n# comment\r\ndisplayName = "a |22quoted|22 name"\r\n'

# Any text, including bytes that are not UTF-8 (decoded with surrogateescape as the action does).
any_text = st.one_of(
    st.text(),
    st.binary().map(partial(bytes.decode, encoding="utf-8", errors="surrogateescape")),
    st.lists(
        st.sampled_from(
            ['a = "b"', "A=b", '\tkey\t=\t"v"\t# c', "# note", "", "junk line", 'k = "unclosed', "x = y z", "\ufeff"]
        )
    ).map("\r\n".join),
)
keys = st.text(
    st.characters(blacklist_characters=' \t\n\r\x0b\x0c=#"', blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")),
    min_size=1,
)
values = st.text()


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
        ('name = ""', "name", ""),
        ("name =", "name", ""),
        ('ethernet0.pciSlotNumber = "33"', "ethernet0.pcislotnumber", "33"),
        ('annotation = "line one|0Aline two"', "annotation", "line one\nline two"),
        ('x = "|7c|7C|zz|4"', "x", "|||zz|4"),
    ],
)
def test_reads_values_as_dictll_does(line, key, value):
    assert VmxDocument.parse(line + "\n").get(key) == value


@pytest.mark.parametrize("line", ["# just a comment", "", "   ", "no equals sign here", '"quoted" = x', "=value"])
def test_lines_that_fit_no_rule_are_not_keys(line):
    document = VmxDocument.parse(line)
    assert document.keys() == []
    assert document.render() == line


def test_a_line_with_an_odd_value_still_names_its_key_so_set_never_duplicates():
    document = VmxDocument.parse('vhv.enable = "TRUE\nother = 1\n')
    document.set("vhv.enable", "TRUE")
    assert document.render() == 'vhv.enable = "TRUE"\nother = 1\n'


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


def test_duplicates_collapse_to_the_first_line_and_are_reported():
    document = VmxDocument.parse('vhv.enable = "FALSE"\nx = "1"\nVHV.enable = "TRUE"\nvhv.ENABLE = "FALSE"\n')
    assert document.get("vhv.enable") == "FALSE"  # the last line wins, as when VMware reads it
    change = document.set("vhv.enable", "TRUE")
    assert change.changed
    assert change.duplicates_removed == ['VHV.enable = "TRUE"', 'vhv.ENABLE = "FALSE"']
    assert document.render() == 'vhv.enable = "TRUE"\nx = "1"\n'


def test_duplicates_already_holding_the_value_still_collapse_and_count_as_a_change():
    document = VmxDocument.parse('a = "TRUE"\na = "true"\n')
    change = document.set("a", "TRUE")
    assert change.changed and change.before == "true" and change.after == "TRUE"
    assert document.render() == 'a = "TRUE"\n'


def test_remove_takes_every_line_of_the_key():
    document = VmxDocument.parse('a = "1"\nb = "2"\nA = "3"\n')
    change = document.remove("a")
    assert change.changed and change.before == "3"
    assert document.render() == 'b = "2"\n'
    assert not document.remove("a").changed


def test_set_keeps_comment_and_spacing_of_the_line():
    document = VmxDocument.parse("\tvhv.enable\t=  FALSE   # set by hand\n")
    document.set("vhv.enable", "TRUE")
    assert document.render() == '\tvhv.enable\t=  "TRUE"   # set by hand\n'


@pytest.mark.parametrize("key", ["", "a b", "a=b", "a#b", 'a"b', "a\tb", "a\nb"])
def test_invalid_keys_are_refused(key):
    with pytest.raises(VmxError, match="invalid key"):
        check_key(key)
    with pytest.raises(VmxError):
        VmxDocument.parse("").set(key, "x")


def test_escaping_follows_vmware():
    assert escape_value('a "b" |c|\n\x7f\x01\tü') == "a |22b|22 |7Cc|7C|0A|7F|01\tü"
    assert unescape_value("|22|7c|0A|zz|") == '"|\n|zz|'


def test_values_equal():
    assert values_equal("true", "TRUE") and values_equal("False", "false")
    assert not values_equal("TRUE", "FALSE") and not values_equal(None, "TRUE") and not values_equal("1", "TRUE")


@given(any_text)
def test_parse_render_is_byte_identical(text):
    assert VmxDocument.parse(text).render() == text


@given(values)
def test_escapes_round_trip(value):
    escaped = escape_value(value)
    assert '"' not in escaped and "\n" not in escaped
    assert unescape_value(escaped) == value


@given(any_text, keys, values)
def test_set_then_get_returns_the_value_and_a_second_set_changes_nothing(text, key, value):
    document = VmxDocument.parse(text)
    document.set(key, value)
    assert values_equal(document.get(key), value) or document.get(key) == value
    once = document.render()
    assert VmxDocument.parse(once).get(key) == document.get(key)
    again = VmxDocument.parse(once)
    change = again.set(key, value)
    assert not change.changed
    assert again.render() == once


@given(st.lists(st.sampled_from(['a = "1"', "# c", "", "b=2", '\tc = "x y" # z', "junk"]), max_size=8), keys, values)
def test_only_the_target_line_differs(lines, key, value):
    text = "\n".join(lines) + "\n"
    document = VmxDocument.parse(text)
    assume(len([k for k in document.keys() if k.lower() == key.lower()]) <= 1)
    had_key = document.get(key) is not None
    document.set(key, value)
    before, after = text.split("\n")[:-1], document.render().split("\n")[:-1]
    if had_key:
        assert len(before) == len(after)
        assert sum(1 for old, new in zip(before, after, strict=True) if old != new) <= 1
    else:
        assert after[:-1] == before
        assert after[-1] == '%s = "%s"' % (key, escape_value(value))
