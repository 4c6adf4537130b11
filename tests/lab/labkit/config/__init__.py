"""CONFIG.yml schema, defaults and loopback address allocation (release facts: labkit.releases).

A config is normalised once by ``esxilab up`` into plain dataclasses; the fully resolved form
(addresses, vmids, datastore UUIDs filled in) is written to STATE/config.json and read back by
labd through the same ``load`` path, so both see exactly one schema.

By job: schema.py (the dataclasses of a resolved config, the lab's paths and ports), normalise.py
(CONFIG.yml checked, defaults and addresses filled in; `load`), vcls.py (a clustered host's vCLS
system VMs). This package exports every public name of the three, so the lab writes
`cfgmod.<name>` wherever a name lives.
"""

from .normalise import *  # noqa: F403 - the package is the one face of its three modules
from .schema import *  # noqa: F403
from .vcls import *  # noqa: F403
