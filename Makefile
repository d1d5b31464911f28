# PeerLine: `make run` to try it, `make test` to test it, `make lint` to check style and types.
# `make run PORT=8000` serves on another port; `make demo-reset` puts the demo back as seeded;
# `make clean` removes the database and caches but keeps .venv (`make distclean` removes it too).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# Test processes: one per core, at most 4 (each starts its own Prism, Chromium and PostgreSQL
# template). TEST_WORKERS=0 runs the suite in this one process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: run test lint flows-check demo-reset clean distclean

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
	$(BIN)/peerline serve --check-port --host $(HOST) --port $(PORT)
	$(BIN)/peerline db upgrade
	$(BIN)/peerline demo seed
	$(BIN)/peerline serve --demo --host $(HOST) --port $(PORT)

demo-reset: $(VENV)/.installed
	$(BIN)/peerline db upgrade
	$(BIN)/peerline demo reset

test: $(VENV)/.installed-test
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope

lint: $(VENV)/.installed-test
	$(BIN)/ruff check bot scheduler tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pip-audit --skip-editable --progress-spinner off || echo "pip-audit could not finish (it needs network)"

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
