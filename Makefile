# Plinth — the two commands: `make up` (run the platform) and `make test` (run every check).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
DATA_DIR ?= .plinth
PYTEST_ARGS ?=

.PHONY: install up down test lint typecheck layers unit bench clean

$(BIN)/plinth: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(BIN)/plinth

install: $(BIN)/plinth ## create .venv and install Plinth with its test tools

up: install ## start the control plane on 127.0.0.1:$(PORT) with the demo organisation
	$(BIN)/plinth up --port $(PORT) --data-dir $(DATA_DIR)

down: install ## stop the workloads and the PostgreSQL server the local provider started
	$(BIN)/plinth down --data-dir $(DATA_DIR)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

layers: install
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

test: lint typecheck layers unit ## everything CI runs: ruff, mypy --strict, import-linter, pytest + coverage

bench: install ## run the benchmarks
	$(BIN)/python benchmarks/plan.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage
