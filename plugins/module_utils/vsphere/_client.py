# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client over pyvmomi for what the collection asks of the vSphere API.

Every call goes through ``VsphereClient._calling``, which turns whatever pyvmomi or the network
raises into one of the ``VsphereError`` classes (_errors.py, ``translate_error``); modules catch
those and only those, and are the only place that calls fail_json. Waiting (tasks, power states)
uses the property collector's WaitForUpdatesEx with a deadline, never a sleep loop.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import math
import ssl
import time
from contextlib import contextmanager, suppress

from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._errors import (
    AmbiguousError,
    CertificateError,
    ConnectError,
    NotFoundError,
    VsphereError,
    WaitTimeoutError,
    translate_error,
)
from ansible_collections.nestedvirt.esxi.plugins.module_utils.vsphere._pyvmomi import (
    Disconnect,
    HTTPException,
    SmartConnect,
    vim,
    vmodl,
)

# A single SOAP request that takes longer than this is hung, not slow (waits are sliced below it).
HTTP_TIMEOUT = 120
# Longest single WaitForUpdatesEx; a longer wait is several of them against one deadline.
WAIT_SLICE = 60
TASK_TIMEOUT = 300


def ssl_context(validate_certs=True, ca_file=None):
    """The TLS context for the connection: the system store, or ``ca_file``, or no checks at all."""
    if not validate_certs:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise CertificateError("ca_file %s cannot be used as a PEM bundle: %s" % (ca_file, error)) from error


class VsphereClient:
    """One logged-in session; use as a context manager so the session is always logged out."""

    def __init__(self, hostname, username, password, port=443, validate_certs=True, ca_file=None):
        self.endpoint = "%s:%s" % (hostname, port)
        self._login = dict(host=hostname, port=port, user=username, pwd=password)
        self._context = ssl_context(validate_certs, ca_file)
        self._si = None
        self._content = None

    # -- session -------------------------------------------------------------------------------

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc_info):
        self.close()

    @contextmanager
    def _calling(self, action):
        try:
            yield
        except VsphereError:
            raise
        except Exception as error:  # everything pyvmomi and the network raise becomes a typed error
            raise translate_error(error, action, self.endpoint, HTTP_TIMEOUT) from error

    def connect(self):
        with self._calling("connecting"):
            try:
                self._si = SmartConnect(sslContext=self._context, httpConnectionTimeout=HTTP_TIMEOUT, **self._login)
            except (vmodl.MethodFault, OSError, HTTPException):
                raise
            except Exception as error:
                # SmartConnect says "<host>:<port> is down or is not a VIM server" as a bare Exception.
                raise ConnectError("%s: %s" % (self.endpoint, error)) from error
            self._content = self._si.RetrieveContent()
        return self

    def close(self):
        if self._si is not None:
            with suppress(Exception):  # logging out of a session that is already gone is fine
                Disconnect(self._si)
            self._si = None

    @property
    def is_vcenter(self):
        return self._content.about.apiType == "VirtualCenter"

    @property
    def api_version(self):
        return self._content.about.apiVersion

    # -- reading -------------------------------------------------------------------------------

    def _retrieve(self, specs):
        collector = self._content.propertyCollector
        result = collector.RetrievePropertiesEx(specs, vmodl.query.PropertyCollector.RetrieveOptions())
        objects = []
        while result is not None:
            objects.extend(result.objects)
            result = collector.ContinueRetrievePropertiesEx(result.token) if result.token else None
        return [(item.obj, dict((prop.name, prop.val) for prop in item.propSet or [])) for item in objects]

    def properties(self, obj, paths):
        """The values of ``paths`` of one object in one round trip (an unset property is absent)."""
        query = vmodl.query.PropertyCollector
        spec = query.FilterSpec(
            objectSet=[query.ObjectSpec(obj=obj, skip=False)],
            propSet=[query.PropertySpec(type=type(obj), pathSet=list(paths))],
        )
        with self._calling("reading %s" % ", ".join(paths)):
            found = self._retrieve([spec])
        if not found:
            raise NotFoundError("%s: %s no longer exists" % (self.endpoint, obj))
        return found[0][1]

    def read_many(self, objects, paths, action):
        """``{moid: values of paths}`` of objects of one type, in one round trip. An object that no
        longer exists is absent (the API fails the whole read for it: it is left out and read again)."""
        query = vmodl.query.PropertyCollector
        objects = list(objects)
        while objects:
            spec = query.FilterSpec(
                objectSet=[query.ObjectSpec(obj=obj, skip=False) for obj in objects],
                propSet=[query.PropertySpec(type=type(objects[0]), pathSet=list(paths))],
            )
            try:
                with self._calling(action):
                    return dict((_moid(obj), values) for obj, values in self._retrieve([spec]))
            except NotFoundError as error:
                gone = _moid(getattr(error.__cause__, "obj", None))
                if gone is None or gone not in [_moid(obj) for obj in objects]:
                    raise
                objects = [obj for obj in objects if _moid(obj) != gone]
        return {}

    def retrieve(self, specs, action):
        """Every object the filter specs reach with its values: one round trip (paged)."""
        with self._calling(action):
            return self._retrieve(specs)

    def _inventory(self, vimtype, paths):
        """Every object of a type with the values of ``paths``, in one round trip."""
        query = vmodl.query.PropertyCollector
        view = self._content.viewManager.CreateContainerView(self._content.rootFolder, [vimtype], True)
        try:
            spec = query.FilterSpec(
                objectSet=[
                    query.ObjectSpec(
                        obj=view,
                        skip=True,
                        selectSet=[query.TraversalSpec(name="view", path="view", skip=False, type=type(view))],
                    )
                ],
                propSet=[query.PropertySpec(type=vimtype, pathSet=list(paths))],
            )
            return self._retrieve([spec])
        finally:
            view.Destroy()

    def find_host(self, esxi_hostname=None):
        """The ESXi host to act on: the only one when connected to ESXi, else the one named.

        On a vCenter the host is looked up by its DNS name first (one search, no listing); only
        a name that is not a DNS name (an address, another spelling) lists the hosts."""
        if self.is_vcenter and esxi_hostname:
            with self._calling("looking host %s up" % esxi_hostname):
                found = self._content.searchIndex.FindByDnsName(dnsName=esxi_hostname, vmSearch=False)
            if found is not None:
                return found, esxi_hostname
        with self._calling("listing hosts"):
            hosts = self._inventory(vim.HostSystem, ["name"])
        if not self.is_vcenter:
            if len(hosts) != 1:
                raise VsphereError("%s: an ESXi host should show one host, found %d" % (self.endpoint, len(hosts)))
            return hosts[0][0], hosts[0][1].get("name")
        if not esxi_hostname:
            raise VsphereError(
                "%s is vCenter: set esxi_hostname to the ESXi host to act on (one of: %s)"
                % (self.endpoint, _some(sorted(p.get("name", "") for _obj, p in hosts)))
            )
        matches = [(obj, p.get("name")) for obj, p in hosts if (p.get("name") or "").lower() == esxi_hostname.lower()]
        if not matches:
            raise NotFoundError(
                "%s: no ESXi host named %r (hosts: %s)"
                % (self.endpoint, esxi_hostname, _some(sorted(p.get("name", "") for _obj, p in hosts)))
            )
        if len(matches) > 1:
            raise AmbiguousError("%s: %d hosts are named %r" % (self.endpoint, len(matches), esxi_hostname))
        return matches[0]

    def find_vm(self, name=None, moid=None, host=None):
        """The VM named ``name`` (exactly one) or with managed object id ``moid``, on ``host`` if given."""
        if moid:
            vm = self.vm(moid)
            try:
                found = self.properties(vm, ["name", "runtime.host"])
            except NotFoundError:
                raise NotFoundError("%s: no VM with moid %r" % (self.endpoint, moid)) from None
            if host is not None and _moid(found.get("runtime.host")) != _moid(host):
                raise NotFoundError("%s: the VM with moid %r is not on the host named" % (self.endpoint, moid))
            return vm
        with self._calling("listing VMs"):
            vms = self._inventory(vim.VirtualMachine, ["name", "runtime.host", "config.files.vmPathName"])
        if host is not None:
            vms = [(obj, p) for obj, p in vms if _moid(p.get("runtime.host")) == _moid(host)]
        matches = [(obj, p) for obj, p in vms if p.get("name") == name]
        if not matches:
            near = difflib.get_close_matches(name, sorted(set(p.get("name", "") for _obj, p in vms)), n=3, cutoff=0.6)
            hint = " (did you mean %s?)" % " or ".join(repr(n) for n in near) if near else ""
            raise NotFoundError("%s: no VM named %r%s" % (self.endpoint, name, hint))
        if len(matches) > 1:
            raise AmbiguousError(
                "%s: %d VMs are named %r: %s; select one with moid"
                % (
                    self.endpoint,
                    len(matches),
                    name,
                    ", ".join(
                        "moid %s (%s)" % (_moid(obj), p.get("config.files.vmPathName") or "?") for obj, p in matches
                    ),
                )
            )
        return matches[0][0]

    def vm(self, moid):
        """The VirtualMachine with this managed object id, without a round trip."""
        return vim.VirtualMachine(moid, self._si._stub)

    def host(self, moid):
        """The HostSystem with this managed object id (ESXi's own is ``ha-host``), without a round trip."""
        return vim.HostSystem(moid, self._si._stub)

    @property
    def content(self):
        return self._content

    # -- services ------------------------------------------------------------------------------

    def _service_system(self, host):
        return self.properties(host, ["configManager.serviceSystem"])["configManager.serviceSystem"]

    def service(self, host, key):
        """``{"running": bool, "policy": str}`` of the host service ``key`` (e.g. TSM-SSH)."""
        services = self.properties(self._service_system(host), ["serviceInfo"])["serviceInfo"].service
        for service in services or []:
            if service.key == key:
                return dict(running=bool(service.running), policy=service.policy)
        raise NotFoundError("%s: the host has no service %s" % (self.endpoint, key))

    def start_service(self, host, key):
        system = self._service_system(host)
        with self._calling("starting service %s" % key):
            system.StartService(id=key)

    def stop_service(self, host, key):
        system = self._service_system(host)
        with self._calling("stopping service %s" % key):
            system.StopService(id=key)

    def set_service_policy(self, host, key, policy):
        system = self._service_system(host)
        with self._calling("setting the policy of service %s to %s" % (key, policy)):
            system.UpdateServicePolicy(id=key, policy=policy)

    # -- virtual machines ----------------------------------------------------------------------

    def reconfigure(self, vm, action, **spec):
        """Apply a ConfigSpec made of ``spec`` (e.g. nestedHVEnabled=True; a ``flags.`` field goes
        into the spec's vim.vm.FlagInfo) and wait for the task."""
        with self._calling(action):
            task = vm.ReconfigVM_Task(spec=config_spec(spec))
        self.wait_task(task, action)

    def shutdown_guest(self, vm, action):
        """Ask the guest OS to shut down (through VMware Tools); returns at once."""
        with self._calling(action):
            vm.ShutdownGuest()

    def power_off(self, vm, action):
        with self._calling(action):
            task = vm.PowerOffVM_Task()
        self.wait_task(task, action)

    def power_on(self, vm, action):
        with self._calling(action):
            task = vm.PowerOnVM_Task()
        self.wait_task(task, action)

    # -- waiting -------------------------------------------------------------------------------

    def wait_for(self, obj, path, done, timeout):
        """Wait until ``done(value of path)``; return the value, or raise WaitTimeoutError.

        A private property collector is used, so nothing else in the session is disturbed; each
        WaitForUpdatesEx returns as soon as the value changes.
        """
        value = self.wait_all([obj], path, done, timeout).get(_moid(obj))
        if not done(value):
            raise WaitTimeoutError("%s: %s did not change as expected within %d s" % (obj, path, timeout))
        return value

    def wait_all(self, objects, path, done, timeout):
        """Wait until ``done(value of path)`` holds for every object, all watched by one property
        collector; return ``{moid: last value}`` at that point or at the deadline (the caller tells
        which objects are not done). Each WaitForUpdatesEx returns as soon as any value changes."""
        query = vmodl.query.PropertyCollector
        objects = list(objects)
        values = {}
        if not objects:
            return values
        deadline = time.monotonic() + timeout
        with self._calling("waiting for %s" % path):
            collector = self._content.propertyCollector.CreatePropertyCollector()
            try:
                collector.CreateFilter(
                    query.FilterSpec(
                        objectSet=[query.ObjectSpec(obj=obj, skip=False) for obj in objects],
                        propSet=[query.PropertySpec(type=type(objects[0]), pathSet=[path])],
                    ),
                    partialUpdates=False,
                )
                version = ""
                while True:
                    if len(values) == len(objects) and all(done(value) for value in values.values()):
                        return values
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return values
                    update = collector.WaitForUpdatesEx(
                        version, query.WaitOptions(maxWaitSeconds=min(WAIT_SLICE, max(1, int(math.ceil(remaining)))))
                    )
                    if update is None:
                        continue
                    version = update.version
                    for moid, value in _changes_by_object(update, path):
                        values[moid] = value
            finally:
                collector.DestroyPropertyCollector()

    def run_tasks(self, started, timeout=TASK_TIMEOUT):
        """Wait for tasks started at once (``{key: (task, action)}``) in one wait; return ``{key:
        None}`` for those that succeeded and ``{key: VsphereError}`` for the others."""
        tasks = dict((_moid(task), key) for key, (task, _action) in started.items())
        infos = self.wait_all(
            [task for task, _action in started.values()],
            "info",
            lambda info: str(info.state) in ("success", "error"),
            timeout,
        )
        outcome = {}
        for moid, key in tasks.items():
            task, action = started[key]
            info = infos.get(moid)
            if info is None or str(info.state) not in ("success", "error"):
                outcome[key] = WaitTimeoutError(
                    "%s did not finish within %d s (task %s may still be running)" % (action, timeout, moid)
                )
            elif str(info.state) == "error":
                outcome[key] = translate_error(info.error, action, self.endpoint)
            else:
                outcome[key] = None
        return outcome

    def start_task(self, action, call, *args, **kwargs):
        """Start one task (``call`` is the bound method); a refusal raises the typed error."""
        with self._calling(action):
            return call(*args, **kwargs)

    def wait_task(self, task, action, timeout=TASK_TIMEOUT):
        """Wait for a task to end; raise the typed error of its fault if it failed."""
        try:
            self.wait_for(task, "info.state", lambda state: state in ("success", "error"), timeout)
        except WaitTimeoutError:
            raise WaitTimeoutError(
                "%s did not finish within %d s (task %s may still be running on the host)"
                % (action, timeout, _moid(task))
            ) from None
        info = self.properties(task, ["info"])["info"]
        if info.state == "error":
            raise translate_error(info.error, action, self.endpoint)

    def wait_power_state(self, vm, state, timeout):
        """Wait until the VM's runtime.powerState is ``state``; raise WaitTimeoutError if it is not in time."""
        return self.wait_for(vm, "runtime.powerState", lambda value: value == state, timeout)


def config_spec(fields, extra_config=None):
    """A vim.vm.ConfigSpec of ``fields`` (a ``flags.`` field goes into its vim.vm.FlagInfo) and
    ``extra_config`` ({key: value}; an empty value removes the key)."""
    flags = dict((key[len("flags.") :], value) for key, value in fields.items() if key.startswith("flags."))
    plain = dict((key, value) for key, value in fields.items() if not key.startswith("flags."))
    if flags:
        plain["flags"] = vim.vm.FlagInfo(**flags)
    if extra_config:
        plain["extraConfig"] = [
            vim.option.OptionValue(key=key, value=value) for key, value in sorted(extra_config.items())
        ]
    return vim.vm.ConfigSpec(**plain)


def _changes_by_object(update, path):
    for filter_set in update.filterSet or []:
        for object_set in filter_set.objectSet or []:
            for change in object_set.changeSet or []:
                if change.name == path and change.op == "assign":
                    yield _moid(object_set.obj), change.val


def _moid(obj):
    return getattr(obj, "_moId", None)


def _some(names, limit=10):
    shown = ", ".join(names[:limit]) or "none"
    return shown + (", ..." if len(names) > limit else "")
