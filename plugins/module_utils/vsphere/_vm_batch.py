# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A batch of VMs through the vSphere API, as the SSH path does it on the host: each step reads
all of the batch's VMs in one round trip, sends its calls for every VM at once, and waits for all
of them with one property collector (WaitForUpdatesEx). Each VM's outcome has the shape the SSH
path's vm_power and vmx give, so the plan's outcome sums both paths alike.

Every step acts on handles from the host's plan (``vmid`` is the VM's moid, ``instance_uuid``,
``name``) and first checks that each moid is still that VM: a VM replaced or renamed since the
facts were read is left alone (``vm_moved``), one that is gone says so (``vm_gone``).

The restart marker (``_vmx_fields.MARKER_KEY``, an extraConfig key) is written before a running VM
is shut down and removed once it runs again; the host's facts report it, so a run killed between
the two is resumed by the next run. A VM that does not go down is never configured (the configure
step refuses a VM that is not off: ``vm_running``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nestedvirt.esxi.plugins.module_utils._errors import NestedvirtError
from ansible_collections.nestedvirt.esxi.plugins.module_utils._nesting_rules import MIN_HARDWARE_VERSION
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._args import prepare_connection
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._client import VsphereClient, config_spec
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._errors import (
    PowerStateError,
    RestrictedVersionError,
    ToolsUnavailableError,
    VsphereError,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._host_read import vm_paths
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._pyvmomi import HAS_PYVMOMI
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._vmx_fields import (
    MARKER_KEY,
    MARKER_VALUE,
    SwitchNotInApiError,
    marker_set,
    spec_fields,
    vmx_from_properties,
)

STATE_PATHS = [
    "name",
    "config.instanceUuid",
    "runtime.powerState",
    "guest.toolsRunningStatus",
    "guest.ipAddress",
    "config.extraConfig",
]


def _failed(result, reason, msg):
    result.update(failed=True, reason=reason, msg=msg)
    return result


def _identity_problem(handle, values):
    """(reason, message) when the moid no longer is the VM of the plan, else None."""
    if values is None:
        return "vm_gone", "the VM %r (moid %s) no longer exists" % (handle["name"], handle["vmid"])
    uuid = (values.get("config.instanceUuid") or "").lower()
    if handle.get("instance_uuid") and uuid and uuid != handle["instance_uuid"]:
        return "vm_moved", "moid %s is another VM now (instance UUID %s); nothing was done" % (handle["vmid"], uuid)
    if values.get("name") != handle["name"]:
        return "vm_moved", "the VM %r (moid %s) is named %r now; nothing was done" % (
            handle["name"],
            handle["vmid"],
            values.get("name"),
        )
    return None


def _read(client, handles, paths, step):
    return client.read_many([client.vm(handle["vmid"]) for handle in handles], paths, "reading the VMs to %s" % step)


def _reason(error, default=None):
    """The error's own reason (restricted_version, host_unavailable, not_found ...), or the step's
    ``default`` word where that says more than the API's generic api_error."""
    if default is None or isinstance(error, (RestrictedVersionError, ToolsUnavailableError)):
        return error.reason
    return error.reason if error.reason == "host_unavailable" else default


def _marker_tasks(client, moids, value, results, reason=None):
    """Start the reconfiguration that writes (``value``) or removes ("") each VM's restart marker."""
    spec = config_spec({}, {MARKER_KEY: value})
    action = ("writing" if value else "removing") + " the restart marker of moid %s"
    return _start_each(client, moids, lambda moid: client.vm(moid).ReconfigVM_Task(spec=spec), action, results, reason)


def _start_each(client, moids, start, action, results, reason):
    """Start one task per VM; a VM whose call is refused at once fails with its error."""
    started = {}
    for moid in moids:
        try:
            started[moid] = (client.start_task(action % moid, start, moid), action % moid)
        except VsphereError as error:
            _failed(results[moid], _reason(error, reason), str(error))
    return started


def _settle(client, started, results, reason, timeout):
    """Wait for the tasks; a VM whose task failed fails with its error. Returns the moids that succeeded."""
    done = []
    for moid, error in client.run_tasks(started, timeout).items():
        if error is None:
            done.append(moid)
        else:
            _failed(results[moid], _reason(error, reason), str(error))
    return done


def _power_states(client, handles, step):
    """The batch read before a power step: ``(results, states)``, each VM's outcome so far (its
    state found, its restart marker; failed when the moid is not that VM any more) and ``{moid:
    power state}`` of the VMs it may act on, in the order given."""
    found = _read(client, handles, STATE_PATHS, step)
    results, states = {}, {}
    for handle in handles:
        moid, values = handle["vmid"], found.get(handle["vmid"])
        result = results[moid] = dict(vmid=moid, name=handle["name"], operations=[], changed=False)
        problem = _identity_problem(handle, values)
        if problem:
            _failed(result, *problem)
            continue
        state = states[moid] = str(values.get("runtime.powerState"))
        result.update(
            power_state_before=state,
            power_state=state,
            restart_pending=marker_set(values),
            ip_address=values.get("guest.ipAddress"),
        )
    return results, states


def shutdown(client, handles, timeout, force=False, restart_marker=True, check_mode=False):
    """Power the batch's running VMs off, gracefully (ShutdownGuest), hard only with ``force``
    (Tools not running, or not off within ``timeout`` s). Returns each VM's outcome."""
    results, states = _power_states(client, handles, "shut down")
    running = []
    for moid, state in states.items():
        if state == "poweredOn":
            running.append(moid)
        elif state != "poweredOff":
            _failed(
                results[moid],
                "vm_suspended",
                "the VM is %s; it is not power-cycled (its memory state would be lost)" % state,
            )
    if check_mode:
        for moid in running:
            results[moid].update(
                power_state="poweredOff",
                operations=["shutdown"],
                changed=True,
                restart_pending=bool(restart_marker) or results[moid]["restart_pending"],
            )
        return [results[handle["vmid"]] for handle in handles]

    if restart_marker and running:
        started = _marker_tasks(client, running, MARKER_VALUE, results, "marker_unwritable")
        running = _settle(client, started, results, "marker_unwritable", timeout)
        for moid in running:
            results[moid]["restart_pending"] = True

    hard, asked = [], []
    for moid in running:
        results[moid]["operations"].append("shutdown")
        try:
            client.start_task("asking the guest of moid %s to shut down" % moid, client.vm(moid).ShutdownGuest)
        except ToolsUnavailableError as error:
            if force:
                hard.append(moid)
            else:
                _failed(
                    results[moid],
                    "tools_unavailable",
                    "%s Nothing was changed; set force to power it off hard." % error,
                )
        except PowerStateError:
            asked.append(moid)  # it went off meanwhile: the wait below sees it
        except VsphereError as error:
            _failed(results[moid], error.reason, str(error))
        else:
            asked.append(moid)
    states = client.wait_all(
        [client.vm(moid) for moid in asked], "runtime.powerState", lambda state: str(state) == "poweredOff", timeout
    )
    for moid in asked:
        if str(states.get(moid)) == "poweredOff":
            results[moid].update(power_state="poweredOff", changed=True)
        elif force:
            hard.append(moid)
        else:
            _failed(
                results[moid],
                "shutdown_timeout",
                "the guest did not shut down within %d s; nothing was changed (set force to power it off hard "
                "after the timeout, or raise the timeout)" % timeout,
            )
    if hard:
        for moid in hard:
            results[moid]["operations"].append("off")
        started = _start_each(
            client,
            hard,
            lambda moid: client.vm(moid).PowerOffVM_Task(),
            "powering moid %s off",
            results,
            "power_failed",
        )
        done = _settle(client, started, results, "power_failed", timeout)
        for moid in done:
            results[moid].update(power_state="poweredOff", changed=True)
    return [results[handle["vmid"]] for handle in handles]


def configure(client, entries, api_version, check_mode=False):
    """Set each powered-off VM's switches as its plan entry says (``vmx_settings``, ``vmx_remove``,
    ``upgrade_hardware``), all VMs' reconfigurations at once; read back what the host now holds.
    Returns each VM's outcome with ``key_values`` {key: {before, after}}."""
    handles = [entry["handle"] for entry in entries]
    paths = vm_paths(api_version)
    found = _read(client, handles, paths, "configure")
    results, specs, upgrades = {}, {}, []
    for entry in entries:
        handle = entry["handle"]
        moid, values = handle["vmid"], found.get(handle["vmid"])
        result = results[moid] = dict(
            vmid=moid,
            name=handle["name"],
            path=handle.get("datastore_path"),
            changed=False,
            key_values={},
            reloaded=False,
        )
        problem = _identity_problem(handle, values)
        if problem:
            _failed(result, *problem)
            continue
        # In check mode the shutdown before this step only said it would power the VM off.
        if str(values.get("runtime.powerState")) != "poweredOff" and not check_mode:
            _failed(
                result,
                "vm_running",
                "the VM is %s: its configuration is only changed while it is off" % values.get("runtime.powerState"),
            )
            continue
        try:
            fields, extra = spec_fields(entry.get("vmx_settings") or {}, entry.get("vmx_remove") or ())
        except SwitchNotInApiError as error:
            _failed(result, "switch_not_in_api", "%s has no field in the vSphere API; use the SSH path" % error)
            continue
        before = vmx_from_properties(values)
        wanted = dict(entry.get("vmx_settings") or {})
        for key in entry.get("vmx_remove") or ():
            wanted[key] = None if key in extra else "FALSE"  # an extraConfig key goes; a field turns false
        result["key_values"] = dict((key, {"before": before.get(key), "after": value}) for key, value in wanted.items())
        hardware = values.get("config.version") or ""
        if entry.get("upgrade_hardware"):
            target = "vmx-%02d" % MIN_HARDWARE_VERSION
            result["hardware_upgraded"] = {
                "before": int(hardware[4:]) if hardware[4:].isdigit() else None,
                "after": MIN_HARDWARE_VERSION,
            }
            upgrades.append((moid, target))
        if fields or extra or entry.get("upgrade_hardware"):
            specs[moid] = (fields, extra)
            result["changed"] = True
    if check_mode or not specs:
        return [results[entry["handle"]["vmid"]] for entry in entries]

    if upgrades:
        targets = dict(upgrades)
        started = _start_each(
            client,
            sorted(targets),
            lambda moid: client.vm(moid).UpgradeVM_Task(version=targets[moid]),
            "upgrading the virtual hardware of moid %s",
            results,
            None,
        )
        failed = set(targets) - set(_settle(client, started, results, None, 300))
        for moid in failed:
            specs.pop(moid, None)
    todo = sorted(moid for moid, (fields, extra) in specs.items() if fields or extra)
    started = _start_each(
        client,
        todo,
        lambda moid: client.vm(moid).ReconfigVM_Task(spec=config_spec(*specs[moid])),
        "reconfiguring moid %s",
        results,
        None,
    )
    _settle(client, started, results, None, 300)
    # What the host holds now, not what was sent (an extraConfig key the API drops shows here).
    now = client.read_many([client.vm(moid) for moid in todo], paths, "reading the VMs back")
    for moid in todo:
        result = results[moid]
        if result.get("failed"):
            continue
        after = vmx_from_properties(now.get(moid) or {})
        wrong = []
        for key, values in sorted(result["key_values"].items()):
            wanted, values["after"] = values["after"], after.get(key)
            if _off(wanted) != _off(values["after"]) or (
                not _off(wanted) and wanted.upper() != values["after"].upper()
            ):
                wrong.append("%s is %s, not %s" % (key, values["after"], wanted))
        if wrong:
            _failed(result, "not_applied", "the host did not take the change: %s" % "; ".join(wrong))
    return [results[entry["handle"]["vmid"]] for entry in entries]


def _off(value):
    """A switch that is unset reads as off, as ESXi reads it."""
    return value is None or str(value).upper() == "FALSE"


def boot(client, handles, timeout, check_mode=False):
    """Power the batch's VMs on where they are off, wait until each runs (and for VMware Tools, and
    an address, where its handle asks), then remove restart markers. Returns each VM's outcome."""
    results, states = _power_states(client, handles, "power on")
    off = []
    for moid, state in states.items():
        if state == "poweredOff":
            off.append(moid)
        elif state != "poweredOn":
            _failed(results[moid], "vm_suspended", "the VM is %s; it is left so" % state)
    if check_mode:
        for moid in off:
            results[moid].update(power_state="poweredOn", operations=["on"], changed=True)
        for result in results.values():
            if result.get("restart_pending") and not result.get("failed"):
                result.update(restart_pending=False, changed=True)
        return [results[handle["vmid"]] for handle in handles]

    for moid in off:
        results[moid]["operations"].append("on")
    started = _start_each(
        client, off, lambda moid: client.vm(moid).PowerOnVM_Task(), "powering moid %s on", results, "power_failed"
    )
    for moid in _settle(client, started, results, "power_failed", timeout):
        results[moid].update(power_state="poweredOn", changed=True)
    by_moid = dict((handle["vmid"], handle) for handle in handles)
    on = [moid for moid in off if results[moid]["power_state"] == "poweredOn"]
    tools = [moid for moid in on if by_moid[moid].get("wait_for_tools") or by_moid[moid].get("wait_for_ip")]
    running = client.wait_all(
        [client.vm(moid) for moid in tools],
        "guest.toolsRunningStatus",
        lambda status: str(status) == "guestToolsRunning",
        timeout,
    )
    for moid in tools:
        results[moid]["tools_running"] = str(running.get(moid)) == "guestToolsRunning"
    wants_ip = [moid for moid in tools if by_moid[moid].get("wait_for_ip")]
    addresses = client.wait_all([client.vm(moid) for moid in wants_ip], "guest.ipAddress", bool, timeout)
    for moid in wants_ip:
        results[moid]["ip_address"] = addresses.get(moid) or None
        if not addresses.get(moid):
            _failed(
                results[moid], "no_address", "the VM runs, but VMware Tools reported no address within %d s" % timeout
            )
    # Markers go once the VM runs (a VM that did not start keeps its marker: the next run tries again).
    marked = [
        moid
        for moid in results
        if results[moid].get("restart_pending") and results[moid].get("power_state") == "poweredOn"
    ]
    started = _marker_tasks(client, marked, "", results)
    for moid in _settle(client, started, results, None, timeout):
        results[moid].update(restart_pending=False, changed=True)
    return [results[handle["vmid"]] for handle in handles]


def batch_result(vms):
    """The module's result for a batch: failed (with the first failed VM's reason) when any VM failed."""
    failed = [vm for vm in vms if vm.get("failed")]
    result = dict(changed=any(vm.get("changed") for vm in vms), vms=vms)
    if failed:
        result.update(
            failed=True,
            reason=failed[0]["reason"],
            msg="; ".join("%s: %s" % (vm["name"], vm["msg"]) for vm in failed),
        )
    return result


class BatchError(NestedvirtError):
    """The step's request itself is wrong (no VMs given, a handle without a moid)."""

    reason = "bad_request"


def check_handles(handles):
    """Each handle names a VM by moid and name, once; raise BatchError otherwise."""
    seen = set()
    for handle in handles:
        if not isinstance(handle, dict) or not handle.get("vmid") or not handle.get("name"):
            raise BatchError(
                "each VM is a handle of the host's plan, with vmid (its moid) and name; got %r" % (handle,)
            )
        if handle["vmid"] in seen:
            raise BatchError("the VM with moid %s is given twice" % handle["vmid"])
        seen.add(handle["vmid"])


def run_batch(module, handles, step):
    """A batch module's whole run: check the handles, connect, ``step(client)`` (each VM's outcome),
    and end the task, failed (with the first failed VM's reason) when any VM failed."""
    try:
        check_handles(handles)
        with VsphereClient(**prepare_connection(module, HAS_PYVMOMI)) as client:
            vms = step(client)
    except NestedvirtError as error:
        module.fail_json(msg=str(error), **error.as_result())
    result = batch_result(vms)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)
