# redhorn — the commands. `make help` lists them.
#
# Every Python package comes from uv.lock, installed exactly (`uv sync --locked`): a dependency
# released yesterday changes nothing until `make lock` takes it on purpose. uv itself is
# bootstrapped at the version the lock holds (a test keeps the two equal), into .tools/.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES_TEST := unixodbc libsqliteodbc chromium libatomic1 curl redis-server nginx mono-devel
APT_PACKAGES_BENCH := unixodbc libsqliteodbc wrk
# A strict CSDL consumer for the OData tests (npm, pinned): converts $metadata to OpenAPI or complains.
ODATA_OPENAPI_VERSION := 0.29.0
ODATA_OPENAPI := $(TOOLS)/node_modules/.odata-openapi-$(ODATA_OPENAPI_VERSION)
# The whole suite's limit; each test has its own (pytest-timeout, in pyproject.toml).
SESSION_TIMEOUT_SECONDS ?= 2400
# Processes the suite runs in; each takes whole test files, in their order (`--dist loadfile`).
TEST_WORKERS ?= 2

export UV_PYTHON_DOWNLOADS := never
# Trust the machine's certificate store (a company's TLS-inspecting proxy lives there), not uv's own.
export UV_SYSTEM_CERTS := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)
SYNC := $(UV) sync --locked --python $(PYTHON) --extra odbc

.PHONY: help install run demo test check lint lock dist bench clean system-test system-bench dictionary

help: ## show this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3-venv)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q "uv==$(UV_VERSION)"

# Each target installs what it needs and leaves what another installed (--inexact), except the
# test environment, which is exactly the lock's runtime, odbc and test packages.
$(VENV)/.synced-run: uv.lock pyproject.toml | $(UV)
	$(SYNC) --inexact --no-default-groups
	@touch $@

$(VENV)/.synced-test: uv.lock pyproject.toml | $(UV)
	$(SYNC) --no-default-groups --group test
	@touch $@ $(VENV)/.synced-run

$(VENV)/.synced-bench: uv.lock pyproject.toml | $(UV)
	$(SYNC) --inexact --no-default-groups --group bench
	@touch $@ $(VENV)/.synced-run

install: $(VENV)/.synced-run ## create .venv and install redhorn from the lock

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
	@# Node and npm for odata-openapi: Debian's nodejs and npm, unless a node that brings its own npm is there.
	@command -v npm >/dev/null 2>&1 || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q nodejs npm)

system-bench:
	@missing=""; for p in $(APT_PACKAGES_BENCH); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; fi

VISMA_MODEL ?= ../shared/visma-model
dictionary: $(VENV)/.synced-run ## regenerate metadata/visma-model.json from the shared model and metadata/curated.json
	$(BIN)/python -m redhorn.tools.model_import --model $(VISMA_MODEL) --curated metadata/curated.json --out metadata/visma-model.json

lock: | $(UV) ## re-resolve uv.lock after a change to pyproject.toml; UPGRADE=1 takes every newer release
	$(UV) lock $(if $(UPGRADE),--upgrade)

check: $(VENV)/.synced-test ## the lock matches pyproject.toml; lint, type-check and the layer contracts, changing nothing
	$(UV) lock --check
	$(BIN)/ruff check redhorn tests bench app.py
	$(BIN)/ruff format --check redhorn tests bench app.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

lint: $(VENV)/.synced-test ## fix what ruff can fix, format
	$(BIN)/ruff check --fix redhorn tests bench app.py
	$(BIN)/ruff format redhorn tests bench app.py

# Installed from its lock file (tests/odata_service/npm), as the Python packages are from uv.lock.
$(ODATA_OPENAPI): tests/odata_service/npm/package.json tests/odata_service/npm/package-lock.json | system-test
	mkdir -p $(TOOLS)
	cp tests/odata_service/npm/package.json tests/odata_service/npm/package-lock.json $(TOOLS)/
	npm ci --prefix $(TOOLS) --no-audit --no-fund
	@touch $@

test: system-test $(VENV)/.synced-test $(ODATA_OPENAPI) check ## install what the tests need and run the whole suite
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --cov --cov-report=term --durations=15 \
		--session-timeout=$(SESSION_TIMEOUT_SECONDS)

dist: $(VENV)/.synced-test ## build the sdist, the wheel and the locked requirements (with hashes) into dist/
	$(UV) build --no-build-isolation --python $(BIN)/python --sdist --wheel --out-dir dist
	$(UV) export --locked --no-default-groups --extra odbc --no-emit-project --format requirements.txt \
		--output-file dist/requirements.txt

bench: system-bench $(VENV)/.synced-bench ## benchmarks against the peers, on the full demo
	$(BIN)/redhorn demo --if-missing
	$(BIN)/redhorn dev-cert --if-missing
	$(BIN)/python -m bench

clean: ## remove the virtualenvs, caches, builds and the demo data
	rm -rf $(VENV) $(TOOLS) dist build data .pytest_cache .mypy_cache .ruff_cache .coverage
