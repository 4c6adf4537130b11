# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes every module documents; a module gives each one's support and may say more.
    # List it after the .ssh or .api section: what is named first wins.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode, reporting what would change and changing nothing.
  diff_mode:
    description: Returns the state before and after when run with C(--diff).
  platform:
    description: The targets the module acts on.
"""

    # Modules that only read.
    READ_ONLY = r"""
attributes:
  check_mode:
    description: Only reads; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
"""

    # Modules whose work is done on the controller by the action plugin of the same name, over the
    # play's own connection (SSH to the ESXi host): the host needs no Python.
    SSH = r"""
attributes:
  action:
    description: Runs as an action plugin on the controller, sending plain C(sh) over the play's connection.
    support: full
  platform:
    description: ESXi 5.0 to 9.0 over SSH (BusyBox C(sh); no Python needed on the host).
    support: full
    platforms: posix
"""

    # Modules that speak to the vSphere API from where the task runs (usually localhost).
    API = r"""
attributes:
  action:
    description: Runs as a module where the task runs (usually the controller, with C(delegate_to=localhost)).
    support: none
  action_group:
    description: Use C(group/nestedvirt.esxi.vsphere) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - nestedvirt.esxi.vsphere
  platform:
    description: The vSphere API of an ESXi host (5.0 to 9.0) or a vCenter Server.
    support: full
    platforms: vsphere
"""
