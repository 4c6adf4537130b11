"""The esxilab command line: its subcommands, their options and help."""

from __future__ import annotations

import argparse
import sys

from .. import config as cfgmod
from .common import CliError
from .down import cmd_down
from .running import cmd_fault, cmd_log, cmd_ssh, cmd_status
from .up import cmd_up

FAULT_HELP = """knobs (also settable under `faults:` / per VM in CONFIG.yml):
  drop_ssh PATTERN [--at start|end] [--delay S] [--times N]   drop SSH sessions whose command matches
  ignore_shutdown VM on|off        the guest ignores power.shutdown
  shutdown_delay VM SECONDS        the guest acts on power.shutdown after SECONDS
  datastore_full DATASTORE on|off  writes to the datastore fail with ENOSPC
  datastore_readonly DATASTORE on|off  the datastore is mounted read-only (EROFS)
  vanish VM AFTER                  the VM is unregistered after AFTER more SSH commands
  power_on_fails VM|all [TIMES]    power.on fails: GenericVmConfigFault (no AMD-V, VHV disabled)
  power_on_misreports VM|all [TIMES]  power.on powers the VM on but prints `Power on failed`
  vim_cmd_transient KIND [TIMES] [PATTERN]  vim-cmd fails once (TIMES) as a transient failure does:
                                   ssl, reset, localhost, bad_alloc, mo_not_found
  clear                            remove every fault
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="esxilab", description="The ESXi lab (tests/lab/README.md).")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build and start a lab; returns when it is ready")
    up.add_argument("--config", required=True)
    up.add_argument("--dir", required=True)
    up.add_argument(
        "--free-nets", action="store_true", help="use free 127.0.X.0/24 nets if the config's (or the default) are taken"
    )
    up.set_defaults(func=cmd_up)
    st = sub.add_parser("status", help="hosts, SSH, VMs and faults of a running lab")
    st.add_argument("--dir", required=True)
    st.set_defaults(func=cmd_status)
    lg = sub.add_parser("log", help="every SSH command each host ran, with its time")
    lg.add_argument("--dir", required=True)
    lg.add_argument("--host")
    g = lg.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="the raw JSON lines")
    g.add_argument("--count", action="store_true", help="commands per host")
    lg.set_defaults(func=cmd_log)
    ft = sub.add_parser(
        "fault",
        help="inject a fault at run time",
        epilog=FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ft.add_argument("--dir", required=True)
    ft.add_argument("--host", required=True)
    ft.add_argument("--at", choices=("start", "end"), default="start", help="drop_ssh: before or after the command")
    ft.add_argument("--delay", type=float, default=0.0, help="drop_ssh: seconds before the drop")
    ft.add_argument("--times", type=int, default=1, help="drop_ssh: how many commands (0: all)")
    ft.add_argument("knob")
    ft.add_argument("args", nargs="*")
    ft.set_defaults(func=cmd_fault)
    sh = sub.add_parser("ssh", help="ssh to an ESXi host or a guest of the lab")
    sh.add_argument("--dir", required=True)
    sh.add_argument("name")
    sh.add_argument("command", nargs=argparse.REMAINDER)
    sh.set_defaults(func=cmd_ssh)
    dn = sub.add_parser("down", help="stop everything and verify nothing is left")
    dn.add_argument("--dir", required=True)
    dn.set_defaults(func=cmd_down)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, cfgmod.ConfigError) as e:
        print(f"esxilab: {e}", file=sys.stderr)
        return 2
