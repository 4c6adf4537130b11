"""The reliability suite's lab: which hosts and VMs each case uses, and the hostile names.

Every case has VMs of its own, so cases cannot disturb each other; `bystander` VMs are never
targeted and must come out of every case untouched. Canary files live under /tmp, on the
controller and inside each simulated host: a hostile name or value that ran as a command would
leave one there.
"""

CANARY_DIR = "/tmp"
CANARY_PREFIX = "nvc-"


def canary(tag):
    return "%s/%s%s" % (CANARY_DIR, CANARY_PREFIX, tag)


# Quotes, $(), backticks, ;, |, &&, a redirection, unicode; its default path on the datastore
# (<name>/<name>.vmx, '/' as %2f) holds all of it too.
HOSTILE_NAME = 'q\'uote "dq" $(touch %s) `touch %s`; touch %s | touch %s && touch %s > %s ünï 🙂' % (
    canary("d"),
    canary("b"),
    canary("s"),
    canary("p"),
    canary("a"),
    canary("r"),
)
NEWLINE_NAME = "line one\nline two $(touch %s)" % canary("newline")
_LONG_UNIT = "ü$(touch %s);`x`|" % canary("long")
LONG_NAME = (_LONG_UNIT * (4096 // len(_LONG_UNIT.encode()) + 1)).encode()[:4096].decode("utf-8", "ignore")
LONG_NAME = LONG_NAME + "x" * (4096 - len(LONG_NAME.encode()))
JINJA_NAME = "{{ lookup('pipe', 'touch %s') }}" % canary("jinja")
JINJA_ANNOTATION = "{{ lookup('pipe', 'touch %s') }}\n{%% if true %%}{{ 7 * 7 }}{%% endif %%}" % canary(
    "jinja-annotation"
)
# An annotation whose second line looks exactly like a getallvms row that gives the name of the
# host's real VM `bystander` to this VM's .vmx, under a vmid that does not exist.
SPOOF_ANNOTATION = "looks harmless\n%d      bystander   [datastore1] spoofer/spoofer.vmx   otherLinux64Guest   vmx-15"
SPOOF_VMID = 77

HOSTILE_VALUES = {
    "nestedvirt.hostile": 'q\'uote "dq" $(touch %s) `touch %s`; | && > ünïcødé 🙂 \\ tab\there'
    % (canary("value-dollar"), canary("value-backtick")),
    "nestedvirt.newline": "line one\nline two\r\n$(touch %s)" % canary("value-newline"),
    "nestedvirt.long": ("|22 $(touch %s) " % canary("value-long")) * 120,
}


def _vm(name, power="off", **extra):
    return dict({"name": name, "guest": "none", "power": power}, **extra)


# Dropped SSH connections (test_dropped.py). One host per way a drop comes (before the command
# runs, or after it ran and before its answer) and per size of the run (one VM, or a batch of two
# VMs of the host changed in one run), so that one run of the playbook tries a command of the
# cycle four ways at once. Each host has a VM (or two) per command of the cycle, all powered on,
# hardware 14; the cases of a command ask for the other nesting state than its VMs start with.
DROP_POINTS = {"shutdown": False, "rename": True, "reload": False, "power-on": True, "lock": False}
DROP_ATS = ("start", "end")
DROP_SIZES = (1, 2)


def drop_host(at, size):
    return "rdrop-%s-%d" % (at, size)


def drop_vm_names(point, at, size):
    return ["%s-%s" % (point, at)] if size == 1 else ["%s-%s-%d" % (point, at, n) for n in range(1, size + 1)]


def _drop_host(at, size):
    vms = [_vm("bystander", "on")]
    for point, nested in DROP_POINTS.items():
        extra = {"vmx": {"vhv.enable": "TRUE"}} if nested else {}
        vms += [_vm(name, "on", hardware_version=14, **extra) for name in drop_vm_names(point, at, size)]
    if (at, size) == ("start", 1):
        # The stale-hostd case: .vmx files edited behind hostd's back (no reload).
        vms += [_vm("stale-off", "off", hardware_version=14), _vm("stale-on", "off", hardware_version=14)]
    return {"name": drop_host(at, size), "version": "6.7.0", "ssh": True, "vms": vms}


# Issue 18's own lab: one 6.7 host, two VMs (guest-less here), hardware 14.
ISSUE_HOST = "chaos67"
ISSUE_VMS = ["chaos (a)", "chaos b"]


# Batches (test_batches.py): one host whose VMs of a case are all changed in one batch, nesting off
# at the start; each case has VMs of its own, on and off, some on datastores a case fills up or
# makes read-only.
BATCH_HOST = "rbatch"
BATCH_CASES = {
    # case: [(VM, power, datastore)]
    "write-fails": [
        ("wf-1", "on", "datastore1"),
        ("wf-2", "on", "datastore1"),
        ("wf-off", "off", "datastore1"),
        ("wf-ro", "on", "ro-store"),
    ],
    "fills-up": [("fu-1", "on", "fill-store"), ("fu-2", "on", "fill-store"), ("fu-3", "on", "fill-store")]
    + [("fu-off", "off", "fill-store")],
    "drop-write": [("dw-%d" % n, "on", "datastore1") for n in (1, 2, 3)],
    "drop-power-on": [("dp-%d" % n, "on", "datastore1") for n in (1, 2, 3)],
    "killed": [("k-%d" % n, "on", "datastore1") for n in (1, 2, 3)] + [("k-off", "off", "datastore1")],
    "stubborn": [("st-%d" % n, "on", "datastore1") for n in (1, 2, 3)],
    "limit": [("lim-%d" % n, "on", "datastore1") for n in (1, 2, 3, 4, 5)],
}


def _batch_host():
    vms = [_vm("bystander", "on")]
    vms += [_vm(name, power, datastore=store) for members in BATCH_CASES.values() for name, power, store in members]
    stores = [{"name": name, "size_mb": 8} for name in ("ro-store", "fill-store")]
    return {"name": BATCH_HOST, "version": "8.0.1", "ssh": True, "datastores": ["datastore1", *stores], "vms": vms}


LAB_CONFIG = {
    "lab": {"ready_timeout": 180},
    "hosts": [
        {
            "name": "r67",
            "version": "6.7.0",
            "ssh": True,
            "datastores": ["datastore1", {"name": "small", "size_mb": 8}],
            "vms": [
                _vm("bystander", "on"),
                _vm("drop-start"),
                _vm("drop-end"),
                _vm("crash-vm"),
                _vm("full-vm", "on", datastore="small"),
                _vm("readonly-vm", "on", datastore="small"),
                _vm("fills-up-vm", "on", datastore="small"),
                _vm("stubborn", "on", ignore_shutdown=True),
                _vm("stubborn-forced", "on", ignore_shutdown=True),
                _vm("no-tools", "on", tools=False),
                _vm("vanish-early", "on"),
                _vm("vanish-late", "on"),
                _vm("moved"),
                _vm("shared"),
                _vm("slow-lock"),
                _vm("stale-lock"),
                _vm("values-vm"),
                _vm(HOSTILE_NAME, "on"),
                _vm(NEWLINE_NAME, "on", path="newline/newline.vmx"),
                _vm(LONG_NAME, "on", path="long/long.vmx"),
                _vm(JINJA_NAME, "on", path="jinja/jinja.vmx", annotation=JINJA_ANNOTATION),
                _vm("spoofer", "off", annotation=SPOOF_ANNOTATION % SPOOF_VMID),
                _vm("kill-facts", "on"),
                _vm("kill-shutdown", "on"),
                _vm("kill-write", "on"),
                {"name": "kill-guest", "guest": "linux", "power": "on"},
            ],
        },
        {
            "name": "r50",
            "version": "5.0.0",
            "ssh": True,
            "vms": [_vm("vm50", "on", hardware_version=8)],
        },
        {
            # Its vmx and vim-cmd answer are garbled on purpose by the malformed-output cases,
            # through a wrapper script around vim-cmd: like an admin's own wrapper on a real 8.0
            # host, that runs only with execInstalledOnly turned off.
            "name": "rbad",
            "version": "8.0.1",
            "ssh": True,
            "exec_installed_only": False,
            "vms": [_vm("victim", "on"), _vm("other", "on")],
        },
        {
            "name": "rapi",
            "version": "8.0.1",
            "ssh": False,
            "api": True,
            "license": "licensed",
            "vms": [_vm("api-vm", "on"), _vm("ssh-vm", "on"), _vm("kill-api-down", "on"), _vm("kill-api-set", "on")],
        },
        *[_drop_host(at, size) for at in DROP_ATS for size in DROP_SIZES],
        {
            "name": ISSUE_HOST,
            "version": "6.7.0",
            "ssh": True,
            "vms": [_vm(name, "on", hardware_version=14) for name in ISSUE_VMS],
        },
        _batch_host(),
    ],
}
