"""The exact text of `vmware`, `esxcli` and `vim-cmd` output, per ESXi version.

Everything shown in shared/reference/esxi-facts.md is reproduced byte for byte; where the facts
show only part of an output (the long vmodl dumps), the rest follows vim-cmd's printing rules:

    (type) {            objects; 3 spaces of indent per level; `name = value,` per field
    (type) [ ... ]      arrays; `(type) []` when empty
    "text"              strings printed verbatim (no escaping: `"... "2""`, a newline stays one)
    <unset>             unset values; `(type) null` for unset objects
How field lines end (`,` or `, `; 5.0 also after the last field) and whether objects start with
`dynamicType = <unset>,` (5.x) depends on the release: labkit.releases.vmodl_style.

Split by program: vmodl.py (the printer, vim faults, transient failures), vimcmd.py (vim-cmd's
outputs), vmware_esxcli.py (vmware, esxcli, the login banner); this package exports every public
name of the three, so the lab writes `fmt.<name>` wherever a name lives. Pure functions only:
hostd passes plain values in and sends the text back. Where a function takes `d`, that is a
`Dialect` (a host's release plus its printing options) or a bare version tuple.
"""

from .vimcmd import *  # noqa: F403 - the package is the one face of its three modules
from .vmodl import *  # noqa: F403
from .vmware_esxcli import *  # noqa: F403
