# PeerLine: `make run` to try it, `make test` to test it, `make lint` to check style and types.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint flows-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/peerline db upgrade
	$(BIN)/peerline demo seed
	$(BIN)/peerline serve --demo

test: $(VENV)/.installed-test
	$(BIN)/pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check bot scheduler tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pip-audit --skip-editable --progress-spinner off || echo "pip-audit could not finish (it needs network)"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
