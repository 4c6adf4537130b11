# -*- coding: utf-8 -*-
# Copyright: nestedvirt.esxi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: wait_for_banner
short_description: Wait, from the controller, until a TCP port greets with a banner (an SSH server that answers)
version_added: 1.0.0
description:
  - Connects from the controller process itself to O(host):O(port) and reads what the server says
    first, again every half second until it matches O(search) or O(timeout) seconds have passed.
  - A banner, not just an open port, since a port forward (or a booting guest) accepts
    connections before its server answers.
  - What the roles use to see whether an ESXi host's SSH answers and when a guest's SSH is up. It
    runs in the controller's process, so it costs no module start-up (M(ansible.builtin.wait_for)
    delegated to localhost costs about a second per host for the same look).
author:
  - nestedvirt.esxi maintainers (@nestedvirt)
options:
  host:
    description: The name or address to connect to.
    type: str
    required: true
  port:
    description: The TCP port.
    type: int
    default: 22
  search:
    description: A regular expression the banner must match.
    type: str
    default: "^SSH-"
  timeout:
    description: Seconds to keep looking; V(0) looks once.
    type: int
    default: 60
  required:
    description: Fail when no matching banner came within O(timeout); with V(false), only report it in RV(answered).
    type: bool
    default: true
extends_documentation_fragment:
  - nestedvirt.esxi.attributes.read_only
  - nestedvirt.esxi.attributes
attributes:
  action:
    description: Runs as an action plugin inside the controller's own process.
    support: full
  platform:
    description: Runs on the controller; probes any TCP service's banner.
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Does the ESXi host's SSH answer now?
  nestedvirt.esxi.wait_for_banner:
    host: "{{ ansible_host }}"
    timeout: 0
    required: false
  register: ssh_probe

- name: Wait up to 5 minutes for a guest's SSH server
  nestedvirt.esxi.wait_for_banner:
    host: 192.0.2.50
    timeout: 300
"""

RETURN = r"""
answered:
  description: Whether a banner matching O(search) came.
  returned: always
  type: bool
  sample: true
banner:
  description: The banner, when one matched.
  returned: always
  type: str
  sample: SSH-2.0-OpenSSH_9.2
elapsed:
  description: Seconds spent looking.
  returned: always
  type: float
  sample: 0.0
"""
