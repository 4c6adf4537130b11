# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmx
short_description: Edit VMware .vmx files and /etc/vmware/config losslessly over SSH
version_added: 1.0.0
description:
  - Sets or removes keys in a VMware C(key = "value") configuration file, such as a virtual
    machine's C(.vmx) file or an ESXi host's C(/etc/vmware/config), and leaves every other byte as
    it was (comments, blank lines, unquoted values, tabs, CRLF line ends, a UTF-8 byte order mark,
    a missing final newline, lines that fit no rule).
  - The file is read as ESXi reads it. Lines end at LF, CRLF or a lone CR (each line keeps its
    own). Only space and tab are blanks, so a value followed by a no-break space or a vertical tab
    holds that character. An unquoted value may contain C("); C(|XX) in a value stands for the byte
    0xXX and a C(|) not followed by two hex digits is kept as it is. Keys are matched
    case-insensitively for ASCII letters only and keep the spelling found in the file. Boolean
    values compare case-insensitively, so C("true") already satisfies C(TRUE).
  - A key present more than once is left on exactly one line, the first. ESXi reads the first
    definition and reports an error; when the copies disagree, which one was meant is unknown, so
    the key is never taken as already set. It is rewritten to the wanted value and the task
    reports a change (see RV(conflicts)). Disagreeing copies of keys the task does not touch are
    reported as a warning.
  - A file with a line that is neither C(name = value), blank nor a C(#) comment (a syntax error,
    for example C(x = a b) or an unclosed quote) is refused before anything is changed, with the
    line number, and the failed result carries C(reason=vmx_syntax_error). ESXi itself refuses to
    load such a file, so the VM would not start whatever this task wrote, and an edit could make
    the file look repaired when it is not; only its author can tell what the line should be.
  - A value or key containing a NUL character is refused (ESXi's strings end there).
  - Runs as an action plugin that sends only POSIX sh over the play's connection (BusyBox ash is
    enough), so the target needs no Python. One round trip reads the file, the edit is computed
    on the controller, one round trip writes it.
  - The write is atomic. A temporary file in the same directory, with the same mode and owner, is
    written and verified, then renamed over the original. If the file changed between the read and
    the write (another run changed it), nothing is written; the module reads the file again and
    retries, up to three times. A temporary file left by an interrupted run is removed by the next
    run. A dropped SSH connection does not stop the write (or the reload with O(vm)) half-way.
  - Writers of the same file take turns through a lock on the host, a directory named
    C(.<file name>.nestedvirt-lock) beside the file that records who holds it (controller host
    name and pid, the pid on the host, the time). A writer waits up to O(lock_timeout) seconds for
    it. A lock is never broken automatically; one left by a run that was killed (its process on
    the host is gone, or it is older than 15 minutes, or it has no owner information) fails the
    task with the exact C(rm -rf) command that removes it.
  - With O(path), edit a VM's C(.vmx) only while the VM is powered off. ESXi reverts edits made to
    a running VM when it powers off, and hostd must re-read the file (C(vim-cmd vmsvc/reload))
    afterwards. O(vm) does both checks itself.
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options:
  path:
    description:
      - Absolute path of the file on the target, for example
        C(/vmfs/volumes/datastore1/vm1/vm1.vmx) or C(/etc/vmware/config).
      - Exactly one of O(path), O(vm) and O(vms) is required.
    type: str
  vm:
    description:
      - A VM registered on the ESXi host, by exact name (a number that names no VM is taken as a
        vmid). The module finds its .vmx, refuses to edit it unless the VM is powered off (ESXi
        reverts edits to a running VM), and after a change runs C(vim-cmd vmsvc/reload) so hostd
        takes the new configuration.
      - The VM is found in the C(nestedvirt_esxi) facts of M(nestedvirt.esxi.host_info) when they
        are set (then read and write are the only round trips), else with one more round trip.
        Either way the host checks, in the same command, that the VM still has the vmx path it had
        when found, and the write checks again that the VM is off.
      - When O(settings) turn on C(vhv.enable) or C(vpmc.enable), the VM's virtual hardware must
        be version 9 or later; see O(upgrade_hardware).
    type: str
  upgrade_hardware:
    description:
      - With O(vm), upgrade the VM's virtual hardware to version 9 (C(vim-cmd vmsvc/upgrade)) when
        the settings need it. Without it, a VM below version 9 is an error that says so.
    type: bool
    default: false
  reload:
    description:
      - With O(vm), reload hostd's copy of the configuration (C(vim-cmd vmsvc/reload)) even when the
        file needs no change, for a VM whose hostd holds another value than its .vmx (an edit never
        reloaded, which hostd would write back at the VM's next power-off; the C(hostd_stale) keys
        of M(nestedvirt.esxi.host_info)). A write is always followed by a reload.
    type: bool
    default: false
  settings:
    description:
      - Keys to set, with their values. YAML booleans are written as C(TRUE) or C(FALSE), numbers
        as their text. A key already present is changed in place; a new key is appended at the end.
      - Values are written quoted and escaped as VMware does (C(") becomes C(|22), C(|) becomes
        C(|7C), control characters except tab become C(|XX)); every value reads back exactly.
      - A key may not be empty or contain whitespace or control characters, C(=), C(#) or C(").
    type: dict
    default: {}
  remove:
    description:
      - Keys to remove. Every line that assigns one of them is removed.
    type: list
    elements: str
    default: []
  backup:
    description:
      - Keep a copy of the file as it was, beside it, named C(<path>.<YYYYmmddTHHMMSS>.bak), when
        the file changes.
    type: bool
    default: false
  create:
    description:
      - Create the file when it does not exist (mode 0644), for example C(/etc/vmware/config) on a
        host that has none. Without it, a missing file is an error.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait, on the host, for another run that holds the file's lock. When it is still
        held after that, the task fails and names the holder; nothing is written.
    type: int
    default: 30
  vms:
    description:
      - A batch of powered-off VMs of the ESXi host, each edited as its own item says, in one round trip
        for all of them (one more to read the ones O(found) lacks); each .vmx written compare-and-swap
        against what was read, under its lock, then reloaded (C(vim-cmd vmsvc/reload)). One VM's failure
        is its entry of RV(vms); the others are written all the same.
      - Each item is an entry of a host plan (P(nestedvirt.esxi.host_plan#filter)) - C(handle) (or
        C(name)), C(vmx_settings), C(vmx_remove), C(reload) (reload even when the file is already right),
        C(upgrade_hardware).
      - Mutually exclusive with O(path) and O(vm); O(settings), O(remove), O(upgrade_hardware) and
        O(reload) then come from each item.
    type: list
    elements: dict
  found:
    description:
      - With O(vms), what the VMs' shutdown read once each was off (the RV(nestedvirt.esxi.vm_power#module:vms)
        of M(nestedvirt.esxi.vm_power) with O(nestedvirt.esxi.vm_power#module:read_vmx)), matched by vmid;
        those VMs need no read round trip.
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - nestedvirt.esxi.attributes.ssh
  - nestedvirt.esxi.attributes
attributes:
  check_mode:
    description: Reads the file and reports what would change; writes nothing.
    support: full
  diff_mode:
    description: Shows the file's text before and after.
    support: full
  platform:
    description: Any target with a POSIX shell, ESXi 5.0 to 9.0 included; also C(-c local).
    support: full
    platforms: posix
notes:
  - The target needs C(test), C(cat), C(cp), C(mv), C(rm), C(md5sum), C(mkdir), C(date) and
    C(sleep), as every ESXi release has.
  - Round trips with O(path) are one to read and one to write. With O(vm) the same, plus one to
    find the VM when no C(nestedvirt_esxi) facts are set, plus one to upgrade the hardware when
    needed.
  - With O(vms), one round trip writes every VM of the batch (a batch whose scripts exceed what one
    command can carry, about 20 VMs, takes one more per such share), plus one to read those
    O(found) lacks.
"""

EXAMPLES = r"""
- name: Expose hardware-assisted virtualization to a powered-off VM
  nestedvirt.esxi.vmx:
    path: /vmfs/volumes/datastore1/lab-vm-1/lab-vm-1.vmx
    settings:
      vhv.enable: true

- name: Allow nesting host-wide on ESXi 5.0
  nestedvirt.esxi.vmx:
    path: /etc/vmware/config
    create: true
    settings:
      vhv.allow: true

- name: Hide the hypervisor bit for a Hyper-V guest, keep a backup, drop an old key
  nestedvirt.esxi.vmx:
    path: /vmfs/volumes/datastore1/hyperv/hyperv.vmx
    settings:
      hypervisor.cpuid.v0: false
      vpmc.enable: true
    remove:
      - monitor.virtual_exec
    backup: true

- name: Enable nesting on a powered-off VM by name, upgrading old virtual hardware
  nestedvirt.esxi.vmx:
    vm: Lab VM 1
    settings:
      vhv.enable: true
    upgrade_hardware: true

- name: Try it on a plain file without ESXi
  nestedvirt.esxi.vmx:
    path: /tmp/test.vmx
    create: true
    settings:
      vhv.enable: true
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The file edited (with O(vm), the VM's .vmx).
  returned: always
  type: str
  sample: /vmfs/volumes/datastore1/lab-vm-1/lab-vm-1.vmx
key_values:
  description:
    - For each key in O(settings) and O(remove), its value before and after (null when absent).
      With check mode, the value it would have.
  returned: always
  type: dict
  sample: {"vhv.enable": {"before": "FALSE", "after": "TRUE"}}
duplicates_removed:
  description: Lines removed because they assigned a key that was also assigned earlier in the file.
  returned: always
  type: list
  elements: str
  sample: ['vhv.enable = "FALSE"']
vmid:
  description: The VM's id on the host.
  returned: when O(vm) is given
  type: str
  sample: "12"
reloaded:
  description: Whether C(vim-cmd vmsvc/reload) ran after the change.
  returned: when O(vm) is given
  type: bool
  sample: true
hardware_upgraded:
  description: The virtual hardware version before and after the upgrade (in check mode, the one it would get).
  returned: when O(upgrade_hardware) upgraded the VM
  type: dict
  sample: {"before": 8, "after": 9}
conflicts:
  description:
    - Keys the file defined more than once with values that disagree, as read before the edit, each
      with its definitions in file order (ESXi uses the first). Keys in O(settings) or O(remove) are
      left on one line (or none) by the task; the others stay as they are and are also warned about.
  returned: always
  type: dict
  sample: {"vhv.enable": [{"line": 3, "value": "TRUE"}, {"line": 9, "value": "FALSE"}]}
reason:
  description:
    - Why the task failed, as a word - for example C(vmx_syntax_error) (a line ESXi cannot read, see
      RV(syntax_errors)), C(vmx_not_text) (the file holds NUL bytes), C(changed_meanwhile) (another
      run changed the file, three times in a row), C(locked), C(vm_running), C(vm_moved),
      C(hardware_too_old), C(reload_failed). For a batch, the first failed VM's.
  returned: failure
  type: str
  sample: vmx_syntax_error
vms:
  description:
    - With O(vms), each VM's outcome in the order given - C(vmid), C(name), C(path), C(changed),
      RV(key_values), RV(duplicates_removed), RV(conflicts), C(reloaded), C(hardware_upgraded), and for
      a VM that failed C(failed), C(msg) and C(reason).
  returned: when O(vms) is given
  type: list
  elements: dict
  sample: [{"vmid": "12", "name": "Lab VM 1", "changed": true, "reloaded": true,
            "key_values": {"vhv.enable": {"before": null, "after": "TRUE"}}}]
syntax_errors:
  description: The lines ESXi cannot read, with their line numbers (from 1, as ESXi counts them).
  returned: when RV(reason) is C(vmx_syntax_error)
  type: list
  elements: dict
  sample: [{"line": 7, "text": "ethernet0.present = TRUE FALSE"}]
backup_file:
  description: Path of the backup copy.
  returned: when O(backup=true) and the file changed
  type: str
  sample: /vmfs/volumes/datastore1/lab-vm-1/lab-vm-1.vmx.20261120T231500.bak
"""
