"""vim-cmd's vmodl pretty printer and the vim faults it prints (and the transient failures).

Its printing rules (indent, field line ends, `<unset>`, per release) are in the package's
docstring (labkit/formats/__init__.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import releases
from ..releases import VmodlStyle

# --- vmodl pretty printer ---------------------------------------------------------------------


@dataclasses.dataclass
class Obj:
    type: str
    fields: list[tuple[str, Any]]


@dataclasses.dataclass
class Arr:
    type: str
    items: list[Any]


@dataclasses.dataclass
class Null:
    type: str


@dataclasses.dataclass
class Ref:
    text: str  # printed as 'text'


UNSET = None


@dataclasses.dataclass(frozen=True)
class Dialect:
    """How one host prints: its release and the host options that change vim-cmd/esxcli text."""

    version: tuple[int, int, int]
    line_end: str = "auto"  # labkit.releases.LINE_ENDS

    def style(self, kind: str) -> VmodlStyle:
        return releases.vmodl_style(self.version, kind, self.line_end)


def dialect(d: Dialect | tuple[int, int, int]) -> Dialect:
    return d if isinstance(d, Dialect) else Dialect(tuple(d))


def _value(v: Any, level: int, style: VmodlStyle) -> str:
    ind = "   " * level
    if v is None:
        return "<unset>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, Ref):
        return f"'{v.text}'"
    if isinstance(v, Null):
        return f"({v.type}) null"
    if isinstance(v, Obj):
        fields = list(v.fields)
        if style.dynamic_type:
            fields.insert(0, ("dynamicType", None))
        lines = [f"{ind}   {k} = {_value(x, level + 1, style)}" for k, x in fields]
        return f"({v.type}) {{\n" + _join(lines, style) + f"\n{ind}}}"
    if isinstance(v, Arr):
        if not v.items:
            return f"({v.type}) []"
        lines = [f"{ind}   {_value(x, level + 1, style)}" for x in v.items]
        return f"({v.type}) [\n" + _join(lines, style) + f"\n{ind}]"
    raise TypeError(f"cannot print {v!r}")


def _join(lines: list[str], style: VmodlStyle) -> str:
    return (style.end + "\n").join(lines) + style.last


def vmodl(obj: Obj, d, kind: str = "data") -> str:
    return _value(obj, 0, dialect(d).style(kind)) + "\n"


def fault(kind: str, msg: str, d, extra: list[tuple[str, Any]] = (), prefix: str = "") -> str:
    """A fault block as vim-cmd prints it, e.g. kind='vim.fault.NotFound'; `prefix` starts its first
    line (9.0: `Power on failed: (vim.fault.X) {`)."""
    fields = [("faultCause", Null("vmodl.MethodFault")), ("faultMessage", UNSET), *extra, ("msg", msg)]
    return prefix + vmodl(Obj(kind, fields), d, "fault")


def not_found(vmid: str, d) -> str:
    return fault("vim.fault.NotFound", f'Unable to find a VM corresponding to "{vmid}"', d)


POWER_TEXT = {"poweredOn": "Powered on", "poweredOff": "Powered off", "suspended": "Suspended"}
POWER_TEXT_MSG = {"poweredOn": "Powered On", "poweredOff": "Powered Off", "suspended": "Suspended"}


def invalid_power_state(requested: str, existing: str, d, prefix: str = "") -> str:
    msg = f"The attempted operation cannot be performed in the current state ({POWER_TEXT_MSG[existing]})."
    return fault(
        "vim.fault.InvalidPowerState",
        msg,
        d,
        [("requestedState", requested), ("existingState", existing)],
        prefix,
    )


def tools_unavailable(d) -> str:
    return fault(
        "vim.fault.ToolsUnavailable",
        "Cannot complete operation because VMware Tools is not running in this virtual machine.",
        d,
    )


# The messages of a power-on inside a nested ESXi whose own VM lacks VHV (esxi-facts, 9.0): each
# message ends with a newline, so its closing quote stands alone on the next line.
NO_VHV_MESSAGES = [
    ("msg.hvuser.NoSVM", "This host does not support AMD-V.\n"),
    (
        "msg.cpuid.legacyCPU.noVHV",
        "This host appears to be running in a virtual machine with VHV disabled. Ensure that VHV is"
        " enabled in the virtual machine configuration file.\n",
    ),
]


def generic_vm_config_fault(messages: list[tuple[str, str]], d, prefix: str = "") -> str:
    localizable = [
        Obj("vmodl.LocalizableMessage", [("key", key), ("arg", UNSET), ("message", text)]) for key, text in messages
    ]
    first = messages[0][1]
    fields = [
        ("faultCause", Null("vmodl.MethodFault")),
        ("faultMessage", Arr("vmodl.LocalizableMessage", localizable)),
        ("reason", first),
        ("msg", first),
    ]
    return prefix + vmodl(Obj("vim.fault.GenericVmConfigFault", fields), d, "fault")


def managed_object_not_found(vmid: str, d) -> str:
    obj = f"vim.VirtualMachine:{vmid}"
    return fault(
        "vmodl.fault.ManagedObjectNotFound",
        f"The object '{obj}' has already been deleted or has not been completely created",
        d,
        [("obj", Ref(obj))],
    )


# Transient vim-cmd failures (esxi-facts: Apache VCL retries them once): (exit status, stdout,
# stderr). The SSL and crash texts complete the facts' `...` as the captures in tests/unit/fixtures
# show them; "Aborted" is what the shell reports for the crashed vim-cmd (SIGABRT: 128 + 6).
TRANSIENT = {
    "ssl": (
        1,
        "",
        "Failed to login: SSL Exception: error:140000DB:SSL routines:SSL_R_SHORT_READ: The connection"
        " was closed by the remote end during handshake.\n",
    ),
    "reset": (1, "", "Failed to login: Connection reset by peer\n"),
    "localhost": (1, "", "Connect to localhost failed: Connection failure\n"),
    "bad_alloc": (
        134,
        "",
        "terminate called after throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc\nAborted\n",
    ),
}
