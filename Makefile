# One entry point for everything: `make test` and `make demo` do all set-up on a fresh Debian
# machine run as root (apt packages from apt-packages.txt, a venv from requirements.txt).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COLLECTION_ROOT := .tmp/collections
COLLECTION_DIR := $(COLLECTION_ROOT)/ansible_collections/nestedvirt/esxi
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTION_ROOT)

.PHONY: help deps venv collection test lint unit sanity ansible-lint package lab-test demo clean

help:
	@echo "make test   - set up (apt + venv) and run every check and test"
	@echo "make demo   - set up and run the enable-nesting playbook against the bundled lab"
	@echo "make lint | unit | sanity | ansible-lint | package | lab-test - one part of 'make test'"

# Debian packages: install only what is missing, so a prepared machine pays nothing.
.cache/apt.stamp: apt-packages.txt
	@mkdir -p .cache
	@missing=$$(grep -vE '^\s*(#|$$)' apt-packages.txt | while read -r p; do \
	    dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q 'install ok installed' || echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
	    echo "apt: installing" $$missing; \
	    apt-get update -qq; \
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
collection: deps
	@rm -rf $(COLLECTION_DIR) && mkdir -p $(COLLECTION_DIR)
	@git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t $(COLLECTION_DIR)

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: deps
	$(BIN)/python -m pytest tests/unit

sanity: collection
	cd $(COLLECTION_DIR) && git init -q && git add -A && \
	    $(BIN)/ansible-test sanity --venv --python 3.11 --color no

ansible-lint: deps
	$(BIN)/ansible-lint --profile production

package: collection
	@rm -rf .tmp/package && mkdir -p .tmp/package/collections
	cd $(COLLECTION_DIR) && $(CURDIR)/$(BIN)/ansible-galaxy collection build --force --output-path $(CURDIR)/.tmp/package
	$(BIN)/ansible-galaxy collection install --force -p .tmp/package/collections .tmp/package/nestedvirt-esxi-*.tar.gz
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.tmp/package/collections $(BIN)/ansible-doc nestedvirt.esxi.vmx > .tmp/package/vmx.doc
	@grep -q 'nestedvirt.esxi.vmx' .tmp/package/vmx.doc && grep -q 'EXAMPLES' .tmp/package/vmx.doc && grep -q 'RETURN VALUES' .tmp/package/vmx.doc
	@echo "package: built, installed, ansible-doc complete"

lab-test: deps
	$(BIN)/python -m pytest tests/lab/tests

test: lint unit sanity ansible-lint package lab-test

clean:
	rm -rf .tmp .pytest_cache .ruff_cache
