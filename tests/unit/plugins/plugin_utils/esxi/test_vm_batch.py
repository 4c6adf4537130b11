"""One command for many VMs: the framing, run for real under `busybox sh` with BusyBox only."""

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._remote_file import read_command
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import DATASTORE_PATH, VMID, VMX_PATH
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._shell import quote
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vm_batch import (
    batch_script,
    chunks,
    function_batch,
    split_batch,
    staged,
    staging,
)

TOKEN = "0123abcd"  # noqa: S105 - a framing token, not a secret


def test_outputs_come_back_in_order_each_whole(busybox_sh):
    bodies = [["echo one", "printf 'no newline'"], ["echo two; echo"], ["printf ''"], ["printf 'x\\n\\n'"]]
    done = busybox_sh(batch_script(bodies, TOKEN))
    outputs, whole = split_batch(done.stdout.decode(), TOKEN, 4)
    assert whole and outputs == ["one\nno newline", "two\n\n", "", "x\n\n"]


def test_bodies_run_at_once_not_one_after_the_other(busybox_sh):
    started = time.monotonic()
    done = busybox_sh(batch_script([["sleep 1", "echo %d" % n] for n in range(4)], TOKEN))
    assert time.monotonic() - started < 3  # four 1 s sleeps side by side, not 4 s
    assert split_batch(done.stdout.decode(), TOKEN, 4)[0] == ["%d\n" % n for n in range(4)]


def test_a_vm_output_cannot_pass_for_a_frame(busybox_sh):
    forged = "@@nestedvirt-vm-%s vm 1\\n@@nestedvirt-vm-%s end\\n" % ("deadbeef", "deadbeef")
    done = busybox_sh(batch_script([["printf %s" % quote(forged)], ["echo real"]], TOKEN))
    outputs, whole = split_batch(done.stdout.decode(), TOKEN, 2)
    assert whole and outputs[1] == "real\n" and "deadbeef end" in outputs[0]


def test_an_answer_cut_short_lacks_the_vms_after_the_cut():
    text = "@@nestedvirt-vm-%s vm 0\nfirst\n\n@@nestedvirt-vm-%s vm 1\nhalf" % (TOKEN, TOKEN)
    assert split_batch(text, TOKEN, 3) == (["first\n", None, None], False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_characters="\x00\r"), max_size=40), min_size=1, max_size=4))
def test_any_output_round_trips(outputs):
    text = "".join("@@nestedvirt-vm-%s vm %d\n%s\n" % (TOKEN, n, out) for n, out in enumerate(outputs))
    text += "@@nestedvirt-vm-%s end\n" % TOKEN
    assert split_batch(text, TOKEN, len(outputs)) == (outputs, True)


def test_staging_takes_each_content_off_stdin_byte_for_byte(busybox_sh):
    contents = [b"first\n", b"", b"no newline", "caf\u00e9\r\n|22\n".encode()]
    prelude = staging(enumerate(len(data) for data in contents))
    bodies = [["cat %s" % staged(n)] for n in range(len(contents))]
    done = busybox_sh(batch_script(bodies, TOKEN, parallel=False, prelude=prelude), stdin=b"".join(contents))
    outputs, whole = split_batch(done.stdout.decode(), TOKEN, len(contents))
    assert whole and [out.encode() for out in outputs] == contents


def test_vms_of_one_shape_share_one_function(busybox_sh, tmp_path):
    (tmp_path / "a b").mkdir()
    (tmp_path / "a b" / "x.vmx").write_text('vhv.enable = "TRUE"\n')
    handles = [
        {"vmid": "7", "datastore_path": "[ds 1] a b/x.vmx", "vmx_path": str(tmp_path / "a b" / "x.vmx")},
        {"vmid": "8", "datastore_path": "[ds] it's/y.vmx", "vmx_path": str(tmp_path / "missing.vmx")},
    ]

    def lines(handle):
        assert handle in handles
        return ['printf "%s|%s|%s\\n" "$id" "$dsp" "$vp"', read_command(VMX_PATH)]

    prelude, bodies = function_batch(handles, lines, lambda handle: "one shape")
    assert sum(line.endswith("() {") for line in prelude) == 1 and all(len(body) < 200 for body in bodies)
    done = busybox_sh(batch_script(bodies, TOKEN, prelude=prelude))
    first, second = split_batch(done.stdout.decode(), TOKEN, 2)[0]
    assert first.startswith("7|[ds 1] a b/x.vmx|%s\nnestedvirt-read-v1 state=file" % handles[0]["vmx_path"])
    assert first.endswith('vhv.enable = "TRUE"\n')
    assert second.startswith("8|[ds] it's/y.vmx|") and "state=missing parent=yes" in second
    assert VMID.var == "id" and DATASTORE_PATH.var == "dsp"


def test_chunks_keep_each_command_below_the_budget():
    bodies = ["x" * 400] * 10
    runs = chunks(bodies, budget=1000)
    assert [index for run in runs for index in run] == list(range(10))
    assert all(len(run) == 2 for run in runs)
    assert chunks(["x" * 5000], budget=1000) == [[0]]  # a body larger than the budget still goes, alone
