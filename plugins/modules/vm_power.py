# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vm_power
short_description: Power an ESXi VM off, shut it down gracefully or power it on, over SSH
version_added: 1.0.0
description:
  - Brings a VM registered on an ESXi host to a power state with C(vim-cmd), in one SSH round
    trip per operation, the waiting included. The host itself waits for the shutdown to finish or
    for VMware Tools to report an address, in short naps, instead of the controller polling.
  - A VM already in the wanted state gets no power command and the task reports no change.
  - Returns the state before and after, so a play can put the VM back as it found it.
  - A power-on that fails reports ESXi's own messages (for example C(This host does not support
    AMD-V.)); a power-on that reports a failure is followed by reading the state again, since
    ESXi can report a failure while the VM did power on. A vim-cmd call that fails in a way that
    passes (hostd's login failing, a vim-cmd crash, C(Connect to localhost failed)) is made once
    more on the host, in the same round trip.
  - Runs as an action plugin sending only BusyBox sh; works on free-license hosts.
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options:
  name:
    description:
      - Exact name of the VM as the host lists it. None or several matches is an error that lists
        the candidates.
      - Found in the C(nestedvirt_esxi) facts of M(nestedvirt.esxi.host_info) when they are set,
        else with one more round trip. Either way the host checks, in the same command as the
        power operation, that the VM still has the vmx path it had when found.
      - Mutually exclusive with O(vmid) and O(vms).
    type: str
  vmid:
    description:
      - The VM's id on the host (C(vim-cmd vmsvc/getallvms)). Mutually exclusive with O(name) and O(vms).
    type: str
  vms:
    description:
      - A batch of VMs of the host, brought to O(state) in one round trip, every VM at once (the host
        waits for each in parallel, so the batch takes as long as its slowest VM). Each VM's outcome is
        its own entry of RV(vms); the task fails when one VM failed, after the others went through.
      - Each item is a handle of a host plan (P(nestedvirt.esxi.host_plan#filter)), used as it is
        (C(vmid), C(name), C(datastore_path), C(vmx_path); C(wait_for_ip) and C(wait_for_tools)
        override O(wait_for_ip) for that VM), or C({name}), looked up once for the whole batch.
      - A wait longer than 30 s shows, every 30 s, which VMs are still shutting down or booting (a short
        poll of its own).
      - Mutually exclusive with O(name) and O(vmid).
    type: list
    elements: dict
  state:
    description:
      - V(poweredoff) powers the VM off hard.
      - V(shutdown) asks the guest to shut down through VMware Tools and waits up to O(timeout)
        seconds. Without running Tools, or at the timeout, the task fails, unless O(force) allows
        a hard power-off.
      - V(poweredon) powers the VM on and, with O(wait_for_ip), waits until Tools run and report
        an address.
    type: str
    required: true
    choices: [poweredoff, shutdown, poweredon]
  timeout:
    description: Seconds to wait for the shutdown, or for Tools and an address after power-on.
    type: int
    default: 300
  force:
    description:
      - With O(state=shutdown), power the VM off hard when the graceful shutdown is refused (no
        Tools) or does not finish within O(timeout).
    type: bool
    default: false
  wait_for_ip:
    description: With O(state=poweredon), wait for VMware Tools to run and report an address.
    type: bool
    default: true
  restart_marker:
    description:
      - With O(state=shutdown) or O(state=poweredoff), write the file C(nestedvirt-power-on-pending)
        beside the VM's .vmx before powering it off, in the same command. It records that this run
        took the VM down and means to power it on again, so that a run interrupted before its
        power-on can be resumed. M(nestedvirt.esxi.host_info) reports the file as
        C(restart_pending) and the P(nestedvirt.esxi.enable_nesting#role) role powers such a VM on.
      - When the file cannot be written (a full or read-only datastore) the VM is not powered off
        and the task fails saying why.
      - A power-on (O(state=poweredon)) that finds the file first reloads the VM
        (C(vim-cmd vmsvc/reload)), as the interrupted run may have written the .vmx without reloading
        it, and the VM then starts with hostd and the file agreeing.
      - Whatever this option says, a VM that ends powered on never keeps the file, and a VM that
        ends powered off keeps it only when asked here (or after a power-on that failed). Delete
        the file by hand to keep such a VM off.
    type: bool
    default: false
  read_vmx:
    description:
      - With O(state=shutdown) or O(state=poweredoff), also read each VM's .vmx once the VM is off, in
        the same round trip, and return it (C(vmx) of each item of RV(vms)) for the edit that follows
        (M(nestedvirt.esxi.vmx) takes it as O(nestedvirt.esxi.vmx#module:found)). Read only then, since
        hostd writes its copy of the configuration back at power-off.
    type: bool
    default: false
extends_documentation_fragment:
  - nestedvirt.esxi.attributes.ssh
  - nestedvirt.esxi.attributes
attributes:
  check_mode:
    description: Reads the power state and reports whether a power operation would be sent.
    support: full
  diff_mode:
    description: No diff; RV(power_state_before) and RV(power_state) tell the change.
    support: none
"""

EXAMPLES = r"""
- name: Shut a VM down, powering it off hard if the guest does not stop within 2 minutes
  nestedvirt.esxi.vm_power:
    name: Lab VM 1
    state: shutdown
    timeout: 120
    force: true
  register: stopped

- name: Shut two VMs down at once, in one round trip
  nestedvirt.esxi.vm_power:
    vms:
      - name: Lab VM 1
      - name: Lab VM 2
    state: shutdown
    restart_marker: true

- name: Power it on again only if it was on, and wait for its address
  nestedvirt.esxi.vm_power:
    vmid: "{{ stopped.vmid }}"
    state: poweredon
  when: stopped.power_state_before == 'poweredOn'
"""

RETURN = r"""
vmid:
  description: The VM's id on the host.
  returned: success
  type: str
  sample: "12"
power_state_before:
  description: The state found, as vim-cmd reports it.
  returned: success
  type: str
  sample: poweredOn
power_state:
  description: The state at the end (in check mode, the state it would have).
  returned: success
  type: str
  sample: poweredOff
operations:
  description: The power commands sent, in order (C(shutdown), C(off), C(on)); empty when none was needed.
  returned: success
  type: list
  elements: str
  sample: [shutdown]
tools_running:
  description: Whether VMware Tools run, after a power-on with O(wait_for_ip).
  returned: when O(state=poweredon) and O(wait_for_ip)
  type: bool
  sample: true
restart_pending:
  description: Whether the restart marker (see O(restart_marker)) is beside the .vmx at the end.
  returned: success, except in check mode
  type: bool
  sample: false
reloaded:
  description: Whether the VM was reloaded before its power-on because the restart marker was there.
  returned: success, except in check mode
  type: bool
  sample: false
ip_address:
  description: The guest's address as Tools report it.
  returned: when O(state=poweredon) and O(wait_for_ip)
  type: str
  sample: 10.0.0.5
vms:
  description:
    - With O(vms), each VM's outcome, in the order given, with the fields above, its C(name), and for a
      VM that failed C(failed), C(msg) and C(reason) (C(tools_unavailable), C(shutdown_timeout),
      C(marker_unwritable), C(vm_gone), C(vm_moved), C(no_answer), C(no_address), C(power_failed) ...).
    - With O(read_vmx), C(vmx) (C(path), C(md5), C(content)) for each VM that ended off.
  returned: when O(vms) is given
  type: list
  elements: dict
  sample: [{"vmid": "12", "name": "Lab VM 1", "power_state_before": "poweredOn", "power_state": "poweredOff",
            "operations": ["shutdown"], "changed": true}]
reason:
  description: Why the task failed, as a word (for a batch, the first failed VM's).
  returned: failure
  type: str
  sample: tools_unavailable
"""
