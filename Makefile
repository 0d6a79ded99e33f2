# nlpops — the two commands a new user runs: `make demo` and `make test`.
# Each creates .venv if missing and installs the pinned dependencies it needs (constraints.txt).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
CONSTRAINTS := constraints.txt

.PHONY: help demo test lint check-docs install install-dev mutation clean

help:
	@echo "make demo   train, evaluate, register, promote and serve the banking77 demo model"
	@echo "make test   lint + the whole test suite (installs .[dev] into $(VENV))"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24"

# The slim base install: what `nlpops demo` and serving a TF-IDF/ONNX bundle need.
$(VENV)/.installed-base: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	@touch $@

# Everything the tests exercise. torch is installed first and pinned: an unpinned torch pulls a CUDA build.
$(VENV)/.installed-dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install -q -c $(CONSTRAINTS) "torch==2.13.0"
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev]"
	@touch $@ $(VENV)/.installed-base

install: $(VENV)/.installed-base
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed-base
	$(BIN)/nlpops demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/python -m pytest

# Mutation testing of the modules listed under [tool.mutmut] in pyproject.toml; `mutmut results` lists survivors.
mutation: $(VENV)/.installed-dev
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev,mutation]"
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/mutmut run --max-children 2

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist mutants
