# redhorn — the commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES_TEST := unixodbc libsqliteodbc chromium curl
APT_PACKAGES_BENCH := wrk

.PHONY: help install run demo test check lint bench clean system-test system-bench

help: ## show this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test,odbc]"
	@touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[bench]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed ## create .venv and install redhorn

run: install ## build the demo and a dev certificate if missing, serve https://127.0.0.1:8443
	$(BIN)/redhorn demo --if-missing
	$(BIN)/redhorn dev-cert --if-missing
	$(BIN)/redhorn licence demo --if-missing
	$(BIN)/redhorn serve --show-login

demo: install ## (re)build the demo databases in data/
	$(BIN)/redhorn demo

system-test:
	@missing=""; for p in $(APT_PACKAGES_TEST); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; fi

system-bench:
	@missing=""; for p in $(APT_PACKAGES_BENCH); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; fi

check: $(VENV)/.installed-test ## lint and type-check without changing anything
	$(BIN)/ruff check redhorn tests bench app.py
	$(BIN)/ruff format --check redhorn tests bench app.py
	$(BIN)/mypy

lint: $(VENV)/.installed-test ## fix what ruff can fix, format
	$(BIN)/ruff check --fix redhorn tests bench app.py
	$(BIN)/ruff format redhorn tests bench app.py

test: system-test $(VENV)/.installed-test check ## install what the tests need and run the whole suite
	$(BIN)/pytest --cov --cov-report=term

bench: system-bench $(VENV)/.installed-bench ## benchmarks against the peers, on the full demo
	$(BIN)/redhorn demo --if-missing
	$(BIN)/redhorn dev-cert --if-missing
	$(BIN)/python -m bench

clean: ## remove the virtualenv, caches and the demo data
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .coverage
