# Plinth — the two commands: `make up` (run the platform) and `make test` (run every check).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
DATA_DIR ?= .plinth
# Three workers: most tests wait on real processes, so two cores keep three busy.
PYTEST_WORKERS ?= 3
PYTEST_ARGS ?=

# focus-validator (FOCUS 1.2 conformance of our exports) needs Python >= 3.12 and its own venv.
FOCUS_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12))

.PHONY: install up down test lint typecheck layers unit bench bench-llm bench-replicas bench-vm clean focus-validator

$(BIN)/plinth: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,serving]'
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

.venv-focus/bin/focus-validator:
	@test -n "$(FOCUS_PYTHON)" || { echo "focus-validator needs python3.12 (set FOCUS_PYTHON)"; exit 1; }
	$(FOCUS_PYTHON) -m venv .venv-focus
	.venv-focus/bin/pip install --quiet focus-validator==2.2.1 pyarrow==21.0.0

focus-validator: .venv-focus/bin/focus-validator

unit: install focus-validator
	$(BIN)/pytest -n $(PYTEST_WORKERS) --cov --cov-report=term $(PYTEST_ARGS)

test: lint typecheck layers unit ## everything CI runs: ruff, mypy --strict, import-linter, pytest + coverage

bench: install ## run the benchmarks
	$(BIN)/python benchmarks/plan.py
	$(BIN)/python benchmarks/metering.py
	$(BIN)/python benchmarks/authz.py
	$(BIN)/python benchmarks/mcp_gateway.py
	$(BIN)/python benchmarks/scheduler.py
	$(BIN)/python benchmarks/screens_quality.py
	$(BIN)/python benchmarks/portal.py

bench-llm: install ## the AI gateway against the LiteLLM proxy (installs LiteLLM into .cache/litellm-venv)
	bash benchmarks/litellm/setup.sh
	$(BIN)/python benchmarks/llm_gateway.py

bench-replicas: install ## one vs two replicas on PostgreSQL (needs wrk and PLINTH_BENCH_PG_URL)
	$(BIN)/python benchmarks/replicas.py

bench-vm: install ## vm boot time under KVM and TCG, and how many small VMs fit (needs QEMU)
	scripts/build-test-guest.sh .cache/guest
	$(BIN)/python benchmarks/vm.py

clean:
	rm -rf $(VENV) .venv-focus .mypy_cache .ruff_cache .pytest_cache .coverage
