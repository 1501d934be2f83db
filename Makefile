# Tandem developer tasks. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv demo test lint fmt bench clean

help: ## Show the targets and what they do
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  (PYTHON=$(PYTHON) picks the interpreter for the virtualenv)"

venv: $(STAMP) ## Create .venv with the pinned dependencies and Tandem installed in it

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: venv ## Run Tandem with a generated demo company at http://127.0.0.1:8000/
	$(BIN)/tandem serve --demo

test: venv ## Lint, check that migrations match the models, run the test suite
	$(BIN)/ruff check .
	DJANGO_SETTINGS_MODULE=tandem.settings $(BIN)/python -m django makemigrations --check --dry-run
	$(BIN)/pytest

lint: venv ## Check code style and formatting (no changes)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv ## Format the code and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv ## Run the benchmarks; results go to bench/results/
	$(BIN)/python bench/run.py

clean: ## Remove caches and build output (keeps .venv and the var/ data)
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
