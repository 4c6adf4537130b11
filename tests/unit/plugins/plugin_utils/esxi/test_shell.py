"""One quoting function builds every command: hostile text goes through `busybox sh` literally."""

import subprocess

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote

CANARY = "canary-file"
HOSTILE = st.one_of(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
    st.lists(
        st.sampled_from(
            [
                "$(touch %s)" % CANARY,
                "`touch %s`" % CANARY,
                "; touch %s;" % CANARY,
                "| touch %s" % CANARY,
                "'",
                '"',
                "\\",
                "\n",
                "$HOME",
                "${x:-y}",
                "*",
                "?",
                "~",
                "&",
                "ü",
                'Lab "VM" 1',
                " ",
                "\t",
                "!",
                "#",
            ]
        ),
        max_size=12,
    ).map("".join),
)


@settings(max_examples=150, deadline=None)
@given(HOSTILE)
@example("0\n")
def test_hostile_text_is_one_literal_word_under_busybox_sh(busybox_bin, tmp_path_factory, text):
    work = tmp_path_factory.mktemp("quote")
    command = "cd %s && printf '%%s' %s > out" % (quote(str(work)), quote(text))
    done = subprocess.run(
        [str(busybox_bin / "sh"), "-c", command], capture_output=True, env={"PATH": str(busybox_bin)}, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (work / "out").read_bytes() == text.encode("utf-8", "surrogateescape")
    assert not (work / CANARY).exists()


def test_safe_words_stay_bare_and_nul_is_refused():
    assert quote("vmsvc/getallvms") == "vmsvc/getallvms"
    assert quote("") == "''"
    assert quote("0\n") == "'0\n'"  # a safe word with a final newline is not safe
    with pytest.raises(ValueError):
        quote("a\x00b")
    with pytest.raises(TypeError):
        quote(12)
