# Coursegraph — the two commands are `make dev` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Installs follow uv.lock exactly. uv comes from PyPI into a virtualenv of its own (one per
# version): `uv sync` removes from the project's virtualenv whatever the lock does not name.
UV_VERSION := 0.13.9
UV := .tools/uv-$(UV_VERSION)/bin/uv

.PHONY: dev test unit install lock lint format typecheck schema-check pytest schema clean

$(UV):
	$(PYTHON) -m venv .tools/uv-$(UV_VERSION)
	.tools/uv-$(UV_VERSION)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# --locked: refuse a uv.lock that no longer matches pyproject.toml (then run `make lock`).
# No --compile-bytecode: compiling all ~10,000 files takes 15-30 s at every sync, more than
# the first start spends compiling the modules it imports (measured: docs/install.md).
$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --quiet --locked --extra dev --python $(PYTHON)
	@touch $(STAMP)

# The router's hot modules compiled with mypyc (router/native.py, MODULES): built again when
# one of them changes. Without a C compiler the build says so in one line and the router runs
# interpreted; a build that does not match its sources is never used (checked at import).
NATIVE_SOURCES := router/admission.py router/projection.py router/executor.py router/prepared.py router/http.py router/service.py router/direct.py router/native.py
NATIVE := router/native.json

$(NATIVE): $(NATIVE_SOURCES) $(STAMP)
	COURSEGRAPH_NO_COMPILED=1 $(BIN)/python -c 'import router.native as n; raise SystemExit(n.build())'

install: $(STAMP) $(NATIVE)

## Resolve pyproject.toml's ranges again into uv.lock (`make lock UPGRADE=1` takes the newest).
lock: $(UV)
	$(UV) lock $(if $(UPGRADE),--upgrade)

## Run the whole stack (embedded PostgreSQL unless DATABASE_URL is set); Ctrl-C stops it.
dev: install
	$(BIN)/coursegraph dev

## The whole test suite: lint, types, schema-registry checks, then pytest (real PostgreSQL).
test: install lint typecheck schema-check pytest

## Ruff, and the import contracts of pyproject.toml (kernel < router, subgraphs < launcher).
lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck:
	$(BIN)/mypy

## Exported SDL, composition, supergraph.graphql, API breaking changes, client operations.
schema-check:
	$(BIN)/coursegraph schema check

# pytest-xdist workers (`make test PYTEST_WORKERS=0`: one process). Each worker has its own
# database and servers; whole files go to one worker, so a module's servers start once.
# Measured on 2 cores: docs/testing.md.
PYTEST_WORKERS ?= 2

pytest:
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

## The fast tier alone: pure unit tests (tests/unit/), no database or server, in seconds.
unit: install
	$(BIN)/pytest -m unit tests/unit

## Regenerate subgraphs/<name>/schema.graphql and supergraph.graphql from the code.
schema: install
	$(BIN)/coursegraph schema export
	$(BIN)/coursegraph compose

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache build router/native.json router/*.so
