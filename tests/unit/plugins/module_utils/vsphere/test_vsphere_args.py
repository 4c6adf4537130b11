"""The shared connection options: environment fallbacks, secrets, and the doc fragment that describes them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.nestedvirt.esxi.plugins.doc_fragments.vsphere import ModuleDocFragment
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._args import (
    CONNECTION_ARGUMENT_SPEC,
    argument_spec,
    connection_params,
)

ENVIRONMENT = ("VMWARE_HOST", "VMWARE_USER", "VMWARE_PASSWORD", "VMWARE_PORT", "VMWARE_VALIDATE_CERTS")


@pytest.fixture
def env(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def validate(params):
    return ArgumentSpecValidator(argument_spec(state=dict(type="str"))).validate(params)


def test_everything_from_the_environment(env):
    env.setenv("VMWARE_HOST", "esxi01")
    env.setenv("VMWARE_USER", "root")
    env.setenv("VMWARE_PASSWORD", "from-env")
    env.setenv("VMWARE_PORT", "8443")
    env.setenv("VMWARE_VALIDATE_CERTS", "no")
    result = validate({})
    assert result.error_messages == []
    assert connection_params(result.validated_parameters) == {
        "hostname": "esxi01",
        "username": "root",
        "password": "from-env",
        "port": 8443,
        "validate_certs": False,
        "ca_file": None,
    }
    assert "from-env" in result._no_log_values  # masked wherever it would be shown


def test_options_win_over_the_environment(env):
    env.setenv("VMWARE_HOST", "esxi01")
    env.setenv("VMWARE_PASSWORD", "from-env")
    result = validate({"hostname": "esxi02", "username": "root", "pwd": "given"})
    assert result.error_messages == []
    params = result.validated_parameters
    assert (params["hostname"], params["password"]) == ("esxi02", "given")
    assert "given" in result._no_log_values


def test_defaults_validate_certificates_on_443(env):
    params = validate({"hostname": "h", "username": "u", "password": "p"}).validated_parameters
    assert params["port"] == 443
    assert params["validate_certs"] is True
    assert params["ca_file"] is None


def test_missing_credentials_are_reported(env):
    assert validate({"hostname": "h"}).error_messages == ["missing required arguments: password, username"]


def test_module_options_may_not_shadow_connection_options():
    with pytest.raises(ValueError, match="port clash"):
        argument_spec(port=dict(type="str"))


def test_every_module_gets_its_own_copy():
    spec = argument_spec()
    spec["port"]["default"] = 1
    assert CONNECTION_ARGUMENT_SPEC["port"]["default"] == 443


def test_doc_fragment_describes_the_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(CONNECTION_ARGUMENT_SPEC)
    for name, option in CONNECTION_ARGUMENT_SPEC.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("required", False) == option.get("required", False), name
        assert doc.get("aliases", []) == option.get("aliases", []), name
        fallback = option.get("fallback")
        if fallback:
            assert "E(%s)" % fallback[1][0] in " ".join(doc["description"]), name
    assert CONNECTION_ARGUMENT_SPEC["password"]["no_log"] is True
