# One entry point for everything: `make test` and `make demo` do all set-up on a fresh Debian
# machine run as root (apt packages from apt-packages.txt, a venv from requirements.txt).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTION_ROOT := .tmp/collections
COLLECTION_DIR := $(COLLECTION_ROOT)/ansible_collections/nestedvirt/esxi
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTION_ROOT)
export ANSIBLE_NOCOLOR := 1

.PHONY: help deps venv collection test lint unit sanity ansible-lint package docs-lint docs ee lab-test integration reliability molecule matrix bench demo clean

help:
	@echo "make test   - set up (apt + venv) and run every check and test"
	@echo "make demo   - set up and run the enable-nesting playbook against the bundled lab"
	@echo "make bench  - set up and measure the playbook on the lab beside the alternatives (bench/results)"
	@echo "make docs   - build the docs site (HTML in .tmp/docsite/build/html) with antsibull-docs and Sphinx"
	@echo "make lint | unit | sanity | ansible-lint | package | docs-lint | ee | lab-test | integration | reliability | molecule - one part of 'make test'"
	@echo "make matrix - sanity, unit tests and the demo playbook on every ansible-core version the collection claims"

# Debian packages: install only what is missing, so a prepared machine pays nothing. The package
# lists are needed anyway: the lab downloads Debian's kernel package for its guests.
.cache/apt.stamp: apt-packages.txt
	@mkdir -p .cache
	@missing=$$(grep -vE '^\s*(#|$$)' apt-packages.txt | while read -r p; do \
	    dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q 'install ok installed' || echo "$$p"; done); \
	if [ -n "$$missing" ] || ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then \
	    apt-get update -qq; \
	fi; \
	if [ -n "$$missing" ]; then \
	    echo "apt: installing" $$missing; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

deps: .cache/apt.stamp venv

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(BIN)/activate

# The collection as Ansible sees it: ansible_collections/nestedvirt/esxi, made of the files git
# knows (tracked, or new and not ignored) so sanity and packaging see exactly what would be committed.
# The lab (tests/lab) is a test fixture, not part of the collection: it is not shipped (galaxy.yml
# build_ignore) nor sanity-tested; ruff and its own pytest suite check it.
collection: deps
	@rm -rf $(COLLECTION_DIR) && mkdir -p $(COLLECTION_DIR)
	@git ls-files -co --exclude-standard -z | grep -zv '^tests/lab/' | xargs -0 cp --parents -t $(COLLECTION_DIR)

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/antsibull-changelog lint

unit: deps
	$(BIN)/python -m pytest tests/unit

# ansible-test pins its own linters (pylint, yamllint, ...): they get a venv of their own so they
# never move the pins of the main one.
SANITY_VENV := $(CURDIR)/.cache/sanity-venv
$(SANITY_VENV)/bin/ansible-test: requirements.txt
	$(PYTHON) -m venv $(SANITY_VENV)
	$(SANITY_VENV)/bin/pip install -q --disable-pip-version-check $$(grep '^ansible-core==' requirements.txt)
	@touch $@

# ansible-test bootstraps pip in its venvs with a get-pip.py from a host we cannot reach; give it
# our offline stand-in under the name it looks for.
# The pip version is ansible-test's pin for the ansible-core in requirements.txt (2.19: pip 24.2).
GET_PIP_CACHE := $(HOME)/.ansible/test/cache/get_pip_24_2.py

sanity: collection $(SANITY_VENV)/bin/ansible-test
	@mkdir -p $(dir $(GET_PIP_CACHE)) && cp tools/get_pip_offline.py $(GET_PIP_CACHE)
	cd $(COLLECTION_DIR) && git init -q && git add -A && \
	    PATH=$(SANITY_VENV)/bin:$$PATH ansible-test sanity --requirements --python 3.11 --color no

ansible-lint: deps
	$(BIN)/ansible-lint --profile production

package: collection
	@rm -rf .tmp/package && mkdir -p .tmp/package/collections
	cd $(COLLECTION_DIR) && $(BIN)/ansible-galaxy collection build --force --output-path $(CURDIR)/.tmp/package
	$(BIN)/ansible-galaxy collection install --force -p .tmp/package/collections .tmp/package/nestedvirt-esxi-*.tar.gz
	for m in $$(ls plugins/modules/*.py | xargs -n1 basename | sed 's/[.]py$$//'); do \
	    ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.tmp/package/collections $(BIN)/ansible-doc nestedvirt.esxi.$$m > .tmp/package/$$m.doc && \
	    grep -q "nestedvirt.esxi.$$m" .tmp/package/$$m.doc && grep -q 'EXAMPLES' .tmp/package/$$m.doc && \
	    grep -q 'RETURN VALUES' .tmp/package/$$m.doc || { echo "package: ansible-doc nestedvirt.esxi.$$m incomplete"; exit 1; }; \
	done
	for r in $$(ls roles); do \
	    ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.tmp/package/collections $(BIN)/ansible-doc -t role nestedvirt.esxi.$$r \
	        > .tmp/package/role-$$r.doc && grep -q -E 'ENTRY POINT: [*]?main' .tmp/package/role-$$r.doc \
	        || { echo "package: ansible-doc -t role nestedvirt.esxi.$$r incomplete"; exit 1; }; \
	done
	@echo "package: built, installed, ansible-doc complete for every module and role"
	tar -tzf .tmp/package/nestedvirt-esxi-*.tar.gz > .tmp/package/contents.txt
	for f in LICENSE meta/execution-environment.yml meta/ee-requirements.txt meta/ee-bindep.txt; do \
	    grep -qx "$$f" .tmp/package/contents.txt || { echo "package: the tarball lacks $$f"; exit 1; }; \
	done
	@echo "package: the tarball holds LICENSE and what an execution environment needs (meta/ee-*)"

# The execution environment: ansible-builder (its own venv, pinned in tools/requirements-builder.txt)
# turns the example definition, with the tarball `make package` built, into a build context; no
# image is built (that needs podman or docker). Then what ansible-builder's introspection reads from
# the installed collection (its meta/execution-environment.yml): pyvmomi and the OpenSSH client.
BUILDER_VENV := $(CURDIR)/.cache/builder-venv
EE_EXAMPLE := examples/execution-environment
$(BUILDER_VENV)/bin/ansible-builder: tools/requirements-builder.txt
	$(PYTHON) -m venv $(BUILDER_VENV)
	$(BUILDER_VENV)/bin/pip install -q --disable-pip-version-check -r tools/requirements-builder.txt
	@touch $@

ee: package $(BUILDER_VENV)/bin/ansible-builder
	@rm -rf .tmp/ee && mkdir -p .tmp/ee/definition
	cp $(EE_EXAMPLE)/execution-environment.yml $(EE_EXAMPLE)/requirements.yml .tmp/ee/definition/
	cp .tmp/package/nestedvirt-esxi-*.tar.gz .tmp/ee/definition/nestedvirt-esxi.tar.gz
	$(BUILDER_VENV)/bin/ansible-builder create -f .tmp/ee/definition/execution-environment.yml \
	    -c .tmp/ee/context --output-filename Containerfile -v 1
	grep -qx 'ARG EE_BASE_IMAGE="docker.io/redhat/ubi9:latest"' .tmp/ee/context/Containerfile
	grep -qx 'COPY _build /build' .tmp/ee/context/Containerfile
	grep -q 'ansible-galaxy collection install .*-r requirements.yml' .tmp/ee/context/Containerfile
	grep -q 'introspect.py introspect' .tmp/ee/context/Containerfile
	cmp .tmp/ee/context/_build/requirements.yml $(EE_EXAMPLE)/requirements.yml
	cmp .tmp/ee/context/_build/collections/nestedvirt-esxi.tar.gz .tmp/ee/definition/nestedvirt-esxi.tar.gz
	cd .tmp/ee/context/_build && ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.tmp/ee/galaxy \
	    $(BIN)/ansible-galaxy collection install -r requirements.yml -p $(CURDIR)/.tmp/ee/galaxy
	test -f .tmp/ee/galaxy/ansible_collections/nestedvirt/esxi/meta/ee-requirements.txt
	$(BUILDER_VENV)/bin/ansible-builder introspect --sanitize .tmp/ee/galaxy > .tmp/ee/introspect.txt
	grep -q 'pyvmomi>=8.0.1.0,<10  # from collection nestedvirt.esxi' .tmp/ee/introspect.txt
	grep -q 'openssh-client \[platform:dpkg\]  # from collection nestedvirt.esxi' .tmp/ee/introspect.txt
	grep -q 'openssh-clients \[platform:rpm\]  # from collection nestedvirt.esxi' .tmp/ee/introspect.txt
	@echo "ee: build context in .tmp/ee/context; the collection brings pyvmomi and the OpenSSH client"

# The docs site, built the way docs.ansible.com builds collections (antsibull-docs + Sphinx): the
# plugin and role pages from their own documentation, the guides from docs/docsite/rst. The toolchain
# has a venv of its own, so it never moves the pins of the main one.
DOCS_VENV := $(CURDIR)/.cache/docs-venv
DOCSITE := $(CURDIR)/.tmp/docsite
$(DOCS_VENV)/bin/antsibull-docs: tools/requirements-docs.txt
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/pip install -q --disable-pip-version-check -r tools/requirements-docs.txt
	@touch $@

# Plugin and role docs (schema, markup, references) and the guides (extra-docs.yml, links.yml, rst).
docs-lint: collection $(DOCS_VENV)/bin/antsibull-docs
	cd $(COLLECTION_DIR) && PATH=$(DOCS_VENV)/bin:$$PATH antsibull-docs lint-collection-docs --plugin-docs .

# sphinx-init writes the site's skeleton (conf.py with the Ansible theme); `antsibull-docs collection`
# the rst of every plugin, role and guide; sphinx-build the HTML. Warnings are errors (-W). The
# build needs no network: tools/docsite_offline.py drops intersphinx (docs.ansible.com) and lets
# only references to docs.ansible.com's pages go unresolved.
docs: collection $(DOCS_VENV)/bin/antsibull-docs
	@rm -rf $(DOCSITE) && mkdir -p $(DOCSITE)
	PATH=$(DOCS_VENV)/bin:$$PATH antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error \
	    --lenient --dest-dir $(DOCSITE) --title 'nestedvirt.esxi' --project 'nestedvirt.esxi' nestedvirt.esxi
	cat tools/docsite_offline.py >> $(DOCSITE)/conf.py
	PATH=$(DOCS_VENV)/bin:$$PATH antsibull-docs collection --use-current --squash-hierarchy --fail-on-error \
	    --dest-dir $(DOCSITE)/rst nestedvirt.esxi
	PATH=$(DOCS_VENV)/bin:$$PATH sphinx-build -M html $(DOCSITE)/rst $(DOCSITE)/build -c $(DOCSITE) -W --keep-going -q
	@echo "docs: $(DOCSITE)/build/html/index.html"

lab-test: deps
	$(BIN)/python -m pytest tests/lab/tests

# The modules through real ansible-playbook runs against labs the tests start themselves.
integration: deps
	$(BIN)/python -m pytest tests/integration

# The reliability and security suite on the lab (faults, hostile input, concurrency, secrets); it
# rewrites docs/reliability.md, its report.
reliability: deps
	$(BIN)/python -m pytest tests/reliability

# Molecule scenarios (extensions/molecule): each starts its own lab (create), runs the playbook
# twice (converge, idempotence), verifies inside the guests and stops the lab (destroy).
molecule: collection
	$(BIN)/molecule test --all

# The ansible-core versions meta/runtime.yml admits that this machine's Pythons run, each in a venv
# of its own (tools/matrix/ansible-core-<version>.txt): its ansible-test sanity, the unit tests and
# the playbook on the demo lab (tools/matrix/run). MATRIX_VERSIONS picks some, e.g. "2.16 2.19".
# Part of `make test` (its time: README, "Tested ansible-core versions").
MATRIX_VERSIONS ?=
matrix: collection package
	tools/matrix/run $(MATRIX_VERSIONS)

test: lint unit sanity ansible-lint package ee docs-lint docs lab-test integration reliability molecule matrix

# Benchmarks (not part of test): bench/run measures the playbook on the lab beside the peers, in one
# run, and writes bench/results/latest.json and latest.md.
bench: package
	bench/run

# The main job against the bundled lab (demo/run says what it shows), with the collection as
# built and installed by `make package`.
demo: package
	demo/run

clean:
	rm -rf .tmp .pytest_cache .ruff_cache
