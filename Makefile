# Coursegraph — the two commands are `make dev` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: dev test install lint format typecheck pytest schema clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Run the whole stack (embedded PostgreSQL unless DATABASE_URL is set); Ctrl-C stops it.
dev: install
	$(BIN)/coursegraph dev

## The whole test suite: lint, types, then pytest against real PostgreSQL.
test: install lint typecheck pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest

## Regenerate subgraphs/<name>/schema.graphql from the code.
schema: install
	$(BIN)/coursegraph schema export

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
