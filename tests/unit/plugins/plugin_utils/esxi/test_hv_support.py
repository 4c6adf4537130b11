"""`esxcli hardware cpu global get` (plugin_utils/esxi/_hv_support.py): captured outputs, and the
shapes real hosts vary in (leading blanks, CRLF from a pty, fields newer builds add)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._hv_support import (
    HV_USABLE,
    hv_support_meaning,
    parse_hv_support,
)
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._output import EsxiOutputError
from ansible_collections.nestedvirt.esxi.tests.unit.fixtures.loader import fixtures

CAPTURES = fixtures("esxcli-hardware-cpu-global-get")


def test_there_are_captures():
    assert len(CAPTURES) >= 3


@pytest.mark.parametrize("release, name, text", CAPTURES, ids=[c[0] + "/" + c[1] for c in CAPTURES])
def test_captures_read(release, name, text):
    expected = 1 if name.endswith("-no-nesting") else HV_USABLE
    assert parse_hv_support(text) == expected


FIELDS = st.sampled_from(
    ["CPU Packages: 2", "CPU Cores: 8", "Hyperthreading Active: true", "Reliable Memory: false", ""]
)


@given(
    before=st.lists(FIELDS, max_size=6),
    after=st.lists(FIELDS, max_size=3),
    value=st.integers(min_value=0, max_value=3),
    indent=st.sampled_from(["", "   ", "\t"]),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_the_value_is_read_whatever_surrounds_it(before, after, value, indent, newline):
    lines = [indent + f for f in before] + ["%sHV Support: %d" % (indent, value)] + [indent + f for f in after]
    assert parse_hv_support(newline.join(lines) + newline) == value


@pytest.mark.parametrize(
    "text",
    ["", "CPU Packages: 1\n", "HV Support: 3\nHV Support: 0\n", "HV Support: yes\n", "HV Support: 3x\n"],
)
def test_missing_doubled_or_odd_values_are_refused_not_read_as_no(text):
    with pytest.raises(EsxiOutputError) as err:
        parse_hv_support(text)
    assert err.value.reason == "unreadable_output"


def test_meanings():
    assert hv_support_meaning(3) == "VT-x/AMD-V enabled and usable"
    assert hv_support_meaning(2) == "VT-x/AMD-V available but disabled in the BIOS"
    assert hv_support_meaning(7) == "unknown HV Support value 7"
