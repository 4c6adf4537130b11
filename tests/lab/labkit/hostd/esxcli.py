"""The commands a host answers besides vim-cmd: `esxcli` (system version, CPU, vSwitch
security policy) and `df`. A mixin of labkit.hostd.server.Hostd (it needs self.cfg, self.version, self.lock,
self.rt, self.vswitch, self.portgroups).
"""

from __future__ import annotations

import os

from .. import formats as fmt


class HostCommands:
    def esxcli(self, args: list[str]) -> tuple[int, str]:
        words = [a for a in args if not a.startswith("-")]
        if words[:3] == ["system", "version", "get"] and len(args) == 3:
            h = self.cfg
            return 0, fmt.esxcli_version(h.version, h.build, h.update, h.patch, h.maintenance, h.esxcli_indent)
        if args == ["hardware", "cpu", "global", "get"]:
            h = self.cfg
            return 0, fmt.esxcli_cpu_global(h.version, h.nested_hv_supported, h.esxcli_indent)
        if args[:5] == ["network", "vswitch", "standard", "policy", "security"] and len(args) > 5:
            return self._security(args[5], args[6:], portgroup=False)
        if args[:6] == ["network", "vswitch", "standard", "portgroup", "policy", "security"] and len(args) > 6:
            return self._security(args[6], args[7:], portgroup=True)
        if not args:
            return 1, "Usage: esxcli [options] {namespace}+ {cmd} [cmd options]\n"
        return 1, f"Error: Unknown command or namespace {' '.join(words)}\n"

    def _security(self, verb: str, opts: list[str], portgroup: bool) -> tuple[int, str]:
        target_opt = ("-p", "--portgroup-name") if portgroup else ("-v", "--vswitch-name")
        values: dict[str, str] = {}
        flags = {
            "--allow-promiscuous": "promiscuous",
            "--allow-mac-change": "mac_change",
            "--allow-forged-transmits": "forged",
        }
        if not portgroup:
            flags.update({"-p": "promiscuous", "-m": "mac_change", "-f": "forged"})
        use_vswitch = False
        i = 0
        while i < len(opts):
            o = opts[i]
            name, eq, val = o.partition("=")
            if name in target_opt:
                if not eq:
                    i += 1
                    val = opts[i] if i < len(opts) else ""
                values["target"] = val
            elif name in flags:
                if not eq:
                    i += 1
                    val = opts[i] if i < len(opts) else ""
                if val.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    return 1, f"Error: Invalid value for {name}: {val}\n"
                values[flags[name]] = val.lower() in ("true", "1", "yes")
            elif name in ("-u", "--use-vswitch") and portgroup:
                use_vswitch = True
            else:
                return 1, f"Error: Invalid option {o}\n"
            i += 1
        target = values.pop("target", None)
        if target is None:
            return 1, f"Error: Missing required parameter {target_opt[0]}|{target_opt[1]}\n"
        with self.lock:
            if portgroup:
                if target not in self.portgroups:
                    return 1, f"Error: Unable to find portgroup {target}\n"
                base = self.vswitch["vSwitch0"]
                own = self.portgroups[target]
                if verb == "get":
                    eff = {**base, **(own or {})}
                    return 0, fmt.esxcli_security(eff, True, {k: True for k in (own or {})}, self.cfg.esxcli_indent)
                if verb == "set":
                    self.portgroups[target] = None if use_vswitch else {**(own or {}), **values}
                    return 0, ""
            else:
                if target not in self.vswitch:
                    return 1, f"Error: Unable to find vswitch {target}\n"
                if verb == "get":
                    return 0, fmt.esxcli_security(self.vswitch[target], indent=self.cfg.esxcli_indent)
                if verb == "set":
                    self.vswitch[target].update(values)
                    return 0, ""
        return 1, f"Error: Unknown command or namespace {verb}\n"

    def df(self, args: list[str]) -> tuple[int, str, str]:
        """ESXi's df: -h only. On 6.5 it is a Python script (optparse's errors), else not."""
        human = False
        for a in args:
            if a == "-h":
                human = True
            elif a.startswith("-"):
                bad = next((c for c in a[1:] if c != "h"), a[1:2])
                if self.version[:2] == (6, 5):
                    return 2, "", f"Usage: df [options]\n\ndf: error: no such option: -{bad}\n"
                return 1, "", f"df: invalid option -- '{bad}'\nUsage: df [-h]\n"
        fs = "VMFS-5" if self.version < (6, 5, 0) else "VMFS-6"

        def size(n: int) -> str:
            if not human:
                return str(n)
            for unit in ("", "K", "M", "G", "T"):
                if n < 1024 or unit == "T":
                    return f"{n:.1f}{unit}" if unit else str(n)
                n /= 1024
            return str(n)

        head = ("Filesystem", "Size" if human else "Bytes", "Used", "Available", "Use%", "Mounted on")
        rows = []
        for ds in self.cfg.datastores:
            st = os.statvfs(self.rt.root / "vmfs" / "volumes" / ds.uuid)
            total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
            used = total - st.f_bfree * st.f_frsize
            pct = (used * 100 + total - 1) // total if total else 0
            rows.append((fs, size(total), size(used), size(free), f"{pct}%", f"/vmfs/volumes/{ds.name}"))
        w = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
        lines = [
            f"{r[0]:<{w[0]}} {r[1]:>{w[1]}} {r[2]:>{w[2]}} {r[3]:>{w[3]}} {r[4]:>{w[4]}} {r[5]}" for r in [head, *rows]
        ]
        return 0, "\n".join(lines) + "\n", ""
