"""Reading the power script's answer (vim-cmd formats from esxi-facts.md); the script itself runs on the lab."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._script import host_script
from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vm_power import (
    PowerError,
    interpret_power,
    power_lines,
)


def power_command(vmid, state, **options):
    """One VM's power script, as a batch of one sends it."""
    return host_script(*power_lines(vmid, state, **options))


ON = "Retrieved runtime info\nPowered on"
OFF = "Retrieved runtime info\nPowered off"
TOOLS = (
    '(vim.fault.ToolsUnavailable) {\n   faultCause = (vmodl.MethodFault) null,\n   msg = "Cannot complete operation '
    'because VMware Tools is not running in this virtual machine.",\n}'
)


NOT_FOUND = '(vim.fault.NotFound) {\n   msg = "Unable to find a VM corresponding to "7""\n}'


def run(*parts):
    return "\n".join(parts) + "\n"


def test_shutdown_done():
    out = run("@@nestedvirt before", ON, "@@nestedvirt op shutdown", "", "@@nestedvirt after", OFF, "@@nestedvirt end")
    result = interpret_power(out, "7", "shutdown", 60, False)
    assert result == {
        "vmid": "7",
        "power_state_before": "poweredOn",
        "power_state": "poweredOff",
        "changed": True,
        "operations": ["shutdown"],
        "restart_pending": False,
        "reloaded": False,
    }


def test_a_power_on_that_found_the_restart_marker_reports_its_reload():
    out = run(
        "@@nestedvirt before", OFF, "@@nestedvirt restart_found", "@@nestedvirt reload", "@@nestedvirt op on", "",
        "@@nestedvirt after", ON, "@@nestedvirt end",
    )  # fmt: skip
    result = interpret_power(out, "7", "poweredon", 60, False)
    assert result["reloaded"] is True and result["restart_pending"] is False and result["changed"] is True


def test_the_power_on_script_reloads_only_where_the_marker_is():
    script = power_command("7", "poweredon", vmx_path="/vmfs/volumes/ds/vm/vm.vmx", wait_for_ip=False)
    reload_line = next(line for line in script.split("\n") if "vmsvc/reload" in line)
    assert '[ -e "$m" ]' in reload_line
    assert script.index("vmsvc/reload") < script.index("vmsvc/power.on")


def test_already_there_is_no_change():
    out = run("@@nestedvirt before", OFF, "@@nestedvirt after", OFF, "@@nestedvirt end")
    assert interpret_power(out, "7", "poweredoff", 60, False)["changed"] is False


def test_no_tools_without_force_says_how_to_proceed():
    out = run(
        "@@nestedvirt before", ON, "@@nestedvirt op shutdown", TOOLS, "@@nestedvirt after", ON, "@@nestedvirt end"
    )
    with pytest.raises(PowerError, match="refused a graceful shutdown .*ToolsUnavailable.*force: true") as caught:
        interpret_power(out, "7", "shutdown", 60, False)
    assert caught.value.outcome["changed"] is True


def test_timeout_without_force():
    out = run(
        "@@nestedvirt before",
        ON,
        "@@nestedvirt op shutdown",
        "",
        "@@nestedvirt timeout",
        "@@nestedvirt after",
        ON,
        "@@nestedvirt end",
    )
    with pytest.raises(PowerError, match="did not shut down within 60 s; it is still poweredOn. Set force"):
        interpret_power(out, "7", "shutdown", 60, False)


def test_timeout_with_force_ends_off():
    out = run(
        "@@nestedvirt before",
        ON,
        "@@nestedvirt op shutdown",
        "",
        "@@nestedvirt timeout",
        "@@nestedvirt op off",
        "Powering off VM:",
        "@@nestedvirt after",
        OFF,
        "@@nestedvirt end",
    )
    assert interpret_power(out, "7", "shutdown", 60, True)["operations"] == ["shutdown", "off"]


def test_vanished_vm_and_cut_answers():
    with pytest.raises(PowerError, match="does not exist"):
        interpret_power(
            run("@@nestedvirt before", NOT_FOUND, "@@nestedvirt after", NOT_FOUND, "@@nestedvirt end"),
            "7",
            "poweredon",
            60,
            False,
        )
    with pytest.raises(PowerError, match="cut short"):
        interpret_power(run("@@nestedvirt before", ON), "7", "poweredoff", 60, False)


def test_identity_mismatch_stops_everything():
    out = run("@@nestedvirt identity", '      vmPathName = "[ds] other/other.vmx",', "@@nestedvirt end")
    with pytest.raises(PowerError, match="not where it was"):
        interpret_power(out, "7", "poweredoff", 60, False)


def test_power_on_reports_the_address():
    guest = '(vim.vm.GuestInfo) {\n   toolsRunningStatus = "guestToolsRunning",\n   ipAddress = "10.0.0.9",\n}'
    out = run(
        "@@nestedvirt before",
        OFF,
        "@@nestedvirt op on",
        "Powering on VM:",
        "@@nestedvirt guest",
        guest,
        "@@nestedvirt after",
        ON,
        "@@nestedvirt end",
    )
    result = interpret_power(out, "7", "poweredon", 60, False)
    assert result["ip_address"] == "10.0.0.9" and result["tools_running"] is True


def test_command_quotes_the_vmid_and_path():
    command = power_command("7; reboot", "poweredoff", expect_path="[ds] a'b/a.vmx")
    assert "id='7; reboot'" in command
    assert "exp='vmPathName = \"[ds] a'\"'\"'b/a.vmx\"'" in command


def test_restart_marker_left_by_the_shutdown_is_reported():
    out = run("@@nestedvirt before", ON, "@@nestedvirt op shutdown", "", "@@nestedvirt after", OFF)
    out += run("@@nestedvirt restart_pending", "@@nestedvirt end")
    result = interpret_power(out, "7", "shutdown", 60, False)
    assert result["restart_pending"] is True and result["changed"] is True


def test_removing_a_stale_restart_marker_is_a_change():
    out = run("@@nestedvirt restart_found", "@@nestedvirt before", ON, "@@nestedvirt after", ON, "@@nestedvirt end")
    result = interpret_power(out, "7", "poweredon", 60, False)
    assert result["operations"] == [] and result["changed"] is True and result["restart_pending"] is False


def test_kept_restart_marker_is_no_change():
    out = run("@@nestedvirt restart_found", "@@nestedvirt before", OFF, "@@nestedvirt after", OFF)
    out += run("@@nestedvirt restart_pending", "@@nestedvirt end")
    result = interpret_power(out, "7", "shutdown", 60, False)
    assert result["changed"] is False and result["restart_pending"] is True


def test_unwritable_restart_marker_keeps_the_vm_on():
    error = "/bin/sh: can't create /vmfs/volumes/ds/vm/nestedvirt-power-on-pending: No space left on device"
    out = run("@@nestedvirt before", ON, "@@nestedvirt marker_failed", error, "@@nestedvirt after", ON)
    out += run("@@nestedvirt end")
    with pytest.raises(PowerError, match="was not powered off.*No space left on device") as caught:
        interpret_power(out, "7", "shutdown", 60, False)
    assert caught.value.outcome["operations"] == [] and caught.value.outcome["power_state"] == "poweredOn"


def test_restart_marker_is_written_before_any_power_operation():
    command = power_command("7", "shutdown", vmx_path="/vmfs/volumes/ds/vm/vm.vmx", restart_marker=True)
    assert "m=/vmfs/volumes/ds/vm/nestedvirt-power-on-pending" in command
    assert command.index('> "$m"') < command.index("vim_cmd vmsvc/power.shutdown")
    plain = power_command("7", "shutdown", vmx_path="/vmfs/volumes/ds/vm/vm.vmx")
    assert '> "$m"' not in plain and 'rm -f "$m"' in plain


def test_progress_names_the_vms_a_batch_still_waits_for(busybox_sh):
    from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.esxi._vm_power import (
        describe_progress,
        progress_command,
    )

    names = {"1": "vm a", "2": "vm (b)", "3": "c"}
    command = progress_command(names, "shutdown")
    assert "vmsvc/power.getstate" in command and "'vm a'" not in command  # vmids only
    answer = "1 Powered off\n2 Powered on\n3 Powered on\n"
    assert describe_progress(answer, names, "shutdown") == "2 of 3 VMs still shutting down: c, vm (b)"
    booting = '1    toolsRunningStatus = "guestToolsRunning",\n2    toolsRunningStatus = "guestToolsNotRunning",\n3\n'
    assert describe_progress(booting, names, "poweredon") == "2 of 3 VMs still booting (no VMware Tools yet): c, vm (b)"
    assert describe_progress("1 Powered off\n", {"1": "a"}, "shutdown").startswith("every VM of the batch is off")
    done = busybox_sh(progress_command({"7": "x"}, "poweredon"))
    assert done.stdout.decode().startswith("7 ")  # no vim-cmd here: the VM's line is still there
