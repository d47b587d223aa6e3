# Coursegraph — the two commands are `make dev` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: dev test install lint format typecheck schema-check pytest schema clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Run the whole stack (embedded PostgreSQL unless DATABASE_URL is set); Ctrl-C stops it.
dev: install
	$(BIN)/coursegraph dev

## The whole test suite: lint, types, schema-registry checks, then pytest (real PostgreSQL).
test: install lint typecheck schema-check pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck:
	$(BIN)/mypy

## Exported SDL, composition, supergraph.graphql, API breaking changes, client operations.
schema-check:
	$(BIN)/coursegraph schema check

pytest:
	$(BIN)/pytest

## Regenerate subgraphs/<name>/schema.graphql and supergraph.graphql from the code.
schema: install
	$(BIN)/coursegraph schema export
	$(BIN)/coursegraph compose

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
