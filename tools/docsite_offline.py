# Appended to the conf.py that `antsibull-docs sphinx-init` writes (make docs): the build runs
# offline, so intersphinx cannot fetch docs.ansible.com's inventories. Without them, references
# to docs.ansible.com's own pages (common_return_values, ansible.builtin modules, ...) cannot
# resolve; only those are let through. A broken reference inside this collection's pages still
# fails the build (sphinx-build -W).

intersphinx_mapping = {}
nitpicky = True
nitpick_ignore_regex = [(r"(std:)?ref", r"(?!ansible_collections\.nestedvirt\.esxi\.).*")]
