# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one table of what nesting means on ESXi: which switches exist, the .vmx keys each sets (the
SSH path), the ConfigSpec field each maps to (the API path), the hardware and release each needs.

host_info reads these keys, the plans (nesting_plan for SSH, vsphere_plan for the API) decide
from them, and the .vmx editor checks the hardware version by them: a new switch is one row here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

# ESXi 5.0 has only the host-wide switch; per-VM vhv.enable arrived with 5.1 and needs virtual
# hardware 9 or later (ESXi ignores it below).
PER_VM_NESTING_SINCE = (5, 1, 0)
MIN_HARDWARE_VERSION = 9
HOST_CONFIG_PATH = "/etc/vmware/config"
HOST_SWITCH = {"vhv.allow": "TRUE"}
# Virtualization-based security (and the virtual IOMMU it needs): ESXi 6.7 and virtual hardware 14.
VBS_MIN_RELEASE = (6, 7, 0)
VBS_MIN_HARDWARE = 14

# ``keys``: the .vmx keys and values that turn the switch on. ``api``: the VirtualMachineConfigSpec
# field, dotted when it lies in a nested object (``flags.vvtdEnabled``: vim.vm.FlagInfo); None: the
# API has none, SSH path only. ``min_hardware``: the virtual hardware version below which ESXi
# ignores the switch (None: any).
Switch = namedtuple("Switch", "option keys api min_hardware description")

SWITCHES = (
    Switch("nesting", {"vhv.enable": "TRUE"}, "nestedHVEnabled", MIN_HARDWARE_VERSION, "hardware virtualization"),
    Switch("vpmc", {"vpmc.enable": "TRUE"}, "vPMCEnabled", MIN_HARDWARE_VERSION, "virtual CPU performance counters"),
    Switch("hide_hypervisor", {"hypervisor.cpuid.v0": "FALSE"}, None, None, "hidden hypervisor CPUID bit (Hyper-V)"),
    Switch(
        "hardware_mmu",
        {"monitor.virtual_mmu": "hardware", "monitor.virtual_exec": "hardware"},
        None,
        None,
        "CPU/MMU virtualization forced to hardware",
    ),
    Switch("iommu", {"vvtd.enable": "TRUE"}, "flags.vvtdEnabled", VBS_MIN_HARDWARE, "virtual IOMMU (Intel VT-d)"),
    Switch("vbs", {"vbs.enable": "TRUE"}, "flags.vbsEnabled", VBS_MIN_HARDWARE, "virtualization-based security"),
    # The API has no field for it, and vhv.allowPassthru sent as extraConfig is not trusted (the
    # API drops vhv.enable that way): the API path refuses it.
    Switch(
        "passthrough",
        {"vhv.allowPassthru": "TRUE"},
        None,
        MIN_HARDWARE_VERSION,
        "nesting together with PCI passthrough",
    ),
)
BY_OPTION = dict((switch.option, switch) for switch in SWITCHES)
# The opt-in switches beside nesting itself, as the roles and modules name them.
EXTRAS = tuple(switch.option for switch in SWITCHES if switch.option != "nesting")

# Every .vmx key a switch sets, and the ones that do nothing below MIN_HARDWARE_VERSION.
SWITCH_KEYS = tuple(key for switch in SWITCHES for key in switch.keys)
NEEDS_HARDWARE = tuple(key for switch in SWITCHES if switch.min_hardware for key in switch.keys)
# hostd's copy of a switch (ConfigInfo, vSphere 5.1 and later; get.config prints a nested field by
# its last name) and the .vmx key it reflects.
HOSTD_FIELDS = dict((switch.api.rpartition(".")[2], key) for switch in SWITCHES if switch.api for key in switch.keys)
