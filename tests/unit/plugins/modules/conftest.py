"""Run a module of the collection in this process, as ansible-core's own unit tests do: the
arguments given through ``ansible.module_utils.basic._ANSIBLE_ARGS``, ``main()`` called, its
``SystemExit`` caught and the JSON it printed read back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import json
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.parameters import PASS_VARS

# ansible-core 2.19 and later: a module's serialization profile and the controller flag; 2.16-2.18
# have neither (2.18's module_utils._internal exists without them).
HAS_PROFILES = hasattr(basic, "_ANSIBLE_PROFILE")
_internal = importlib.import_module("ansible.module_utils._internal") if HAS_PROFILES else None


@pytest.fixture
def run_module(monkeypatch, capsys):
    def run(module, args, env=None):
        for name in list(os.environ):
            if name.startswith("VMWARE_"):
                monkeypatch.delenv(name)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        # From ansible-core 2.21 a module reports its `invocation` only when the controller asks
        # (ANSIBLE_INJECT_INVOCATION); older releases always do, and refuse the key.
        module_args = dict(args)
        if "inject_invocation" in PASS_VARS:
            module_args["_ansible_inject_invocation"] = True
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": module_args}).encode())
        if HAS_PROFILES:
            monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
            # As on a target: warnings go into the result, not to the controller's display (the flag
            # is set once any controller code, e.g. the action plugins' tests, was imported).
            monkeypatch.setattr(_internal, "is_controller", False)
        main = importlib.import_module("ansible_collections.nestedvirt.esxi.plugins.modules.%s" % module).main
        capsys.readouterr()  # only what the module prints
        with pytest.raises(SystemExit) as stopped:
            main()
        out, err = capsys.readouterr()
        result = json.loads(out)
        # ansible-core 2.19 sends each warning as a summary of its event; the controller shows its msg.
        warnings = result.get("warnings", [])
        result["warnings"] = [item["event"]["msg"] if isinstance(item, dict) else item for item in warnings]
        result["output"] = out + err  # all the module showed, to look for secrets in
        assert bool(stopped.value.code) == bool(result.get("failed")), "exit status and result disagree"
        return result

    return run
