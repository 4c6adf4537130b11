"""Output samples from shared/reference/esxi-facts.md, copied byte for byte.

The lab must print these literally. When the facts file is beside the repository
(../shared/reference/esxi-facts.md, as on the developers' machines), test_units checks that every
sample here still appears in it verbatim, so the two cannot drift apart silently.
"""

from pathlib import Path

FACTS_FILE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "esxi-facts.md"

VMWARE_V_55 = "VMware ESXi 5.5.0 build-1331820\n"
VMWARE_L_70 = "VMware ESXi 7.0 Update 3\n"
VMWARE_LV_67 = "VMware ESXi 6.7.0 build-15820472\nVMware ESXi 6.7.0 Update 3\n"
ESXCLI_VERSION_801 = """\
   Product: VMware ESXi
   Version: 8.0.1
   Build: Releasebuild-21495797
   Update: 1
   Patch: 0
"""
GETALLVMS_HEADER = "Vmid   Name          File              Guest OS       Version   Annotation\n"
GETALLVMS_ROW_X8 = "1      x8     [pve-esx] x8/x8.vmx   centos9_64Guest   vmx-20\n"
GETSTATE_ON = "Retrieved runtime info\nPowered on\n"
NOT_FOUND_67 = """\
(vim.fault.NotFound) {
   faultCause = (vmodl.MethodFault) null,
   faultMessage = <unset>,
   msg = "Unable to find a VM corresponding to "2""
}
"""
ANNOTATION_CONTINUATION = "Host IP: 192.168.0.148\nProject: Test2.0\n"
SKIPPING_INVALID = "Skipping invalid VM '16'"
DATASTORE_WITH_SPACES = "[datastore1 (4)] sap-router/win2k8x64.vmx"
NAME_WITH_PARENTHESES = "vm-ark-mcnc-9 (nonpersistent: vmwarewinxp-base234-v12)"
STRING_ORDER = [112, 128, 144, 80, 96]
INVALID_POWER_STATE_MSG = 'msg = "The attempted operation cannot be performed in the current state (Powered On)."'
TOOLS_UNAVAILABLE = "Cannot complete operation because VMware Tools is not running in this virtual machine"
SECURITY_GET = """\
   Allow Promiscuous: false
   Allow MAC Address Change: false
   Allow Forged Transmits: false
"""

# Samples that appear in esxi-facts.md exactly as written here (indented blocks are de-indented).
VERBATIM = [
    VMWARE_V_55,
    VMWARE_L_70,
    VMWARE_LV_67,
    ESXCLI_VERSION_801,
    GETALLVMS_HEADER,
    GETALLVMS_ROW_X8,
    GETSTATE_ON,
    NOT_FOUND_67,
    ANNOTATION_CONTINUATION,
    SKIPPING_INVALID,
    DATASTORE_WITH_SPACES,
    NAME_WITH_PARENTHESES,
    INVALID_POWER_STATE_MSG,
    TOOLS_UNAVAILABLE,
    SECURITY_GET,
]


def facts_text_blocks() -> str | None:
    """The facts file with its 4- and 8-space code indents removed, or None if absent."""
    if not FACTS_FILE.is_file():
        return None
    out = []
    for line in FACTS_FILE.read_text().splitlines():
        for indent in ("        ", "    "):
            if line.startswith(indent):
                line = line[len(indent) :]
                break
        out.append(line.removeprefix("$ "))
    return "\n".join(out) + "\n"
