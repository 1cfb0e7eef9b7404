# Vigil — the two commands the README starts with: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV   ?= .venv
PIP    := $(VENV)/bin/pip
VIGIL  := $(VENV)/bin/vigil
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-unit bench stack-up stack-down clean help
.DEFAULT_GOAL := help

help:
	@echo "make demo   install, start the local stack, train a model, run the job with simulated sensors"
	@echo "make test   install and run the whole suite (unit, MiniCluster and end-to-end on the real stack)"
	@echo "make test-unit | bench | stack-up | stack-down | clean"

# One venv for everything: PyFlink, onnxruntime and torch resolve together through constraints.txt.
$(STAMP): pyproject.toml constraints.txt deploy/install-system-deps.sh
	bash deploy/install-system-deps.sh
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel setuptools
	$(PIP) install -q -c constraints.txt -e '.[train,sidecar,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VIGIL) demo

# The JVM operators' unit tests (Flink's operator test harnesses) first, then the whole Python
# suite. pytest exit code 5 means "no tests collected": that is a failure here, never a pass.
test: install
	mvn -B -q -f jobs/jvm/pom.xml verify
	@set +e; $(VENV)/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-unit: install
	mvn -B -q -f jobs/jvm/pom.xml verify
	$(VENV)/bin/python -m pytest -m "not e2e" $(PYTEST_ARGS)

bench: install
	$(VIGIL) bench job
	$(VIGIL) bench sidecar

stack-up: install
	$(VIGIL) stack up

stack-down:
	$(VIGIL) stack down

clean:
	rm -rf .pytest_cache test-artifacts
