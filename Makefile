# Two commands do everything on a fresh machine:
#   make run   — set up, then run the main job on the built-in national scenario
#   make test  — set up, then run the linters, the type checker, the wheel smoke test and the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup system run test lint typecheck wheel clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	touch $@

setup: $(BIN)/.installed

# Debian packages the integration tests use (Slurm, MUNGE, PostgreSQL); a no-op when present.
system:
	scripts/setup-system.sh

run: setup
	$(BIN)/suanli validate
	$(BIN)/suanli simulate

lint: setup
	$(BIN)/ruff check src tests benchmarks devtools scripts
	$(BIN)/ruff format --check src tests benchmarks devtools scripts
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy src devtools

# Build the wheel, install it in a fresh environment outside the checkout and run it.
wheel: setup
	$(BIN)/python scripts/wheel_smoke.py

test: system lint typecheck wheel
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) out test-output
