# README's two commands: `make run` (demo service on SQLite) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DB ?= var/demo.db
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test demo-data bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

## Set up, build the demo store from the project's own sample data, and serve on http://$(HOST):$(PORT)
run: $(VENV)/.installed
	TERMMAP_DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/termmap demo
	TERMMAP_DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/termmap serve --host $(HOST) --port $(PORT)

## Set up with dev extras and run the whole test suite (SQLite and PostgreSQL)
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile

## Regenerate demo/ from scripts/make_demo_data.py
demo-data: $(VENV)/.installed
	$(BIN)/python scripts/make_demo_data.py --out demo

## Load benchmarks at release size (see benchmarks/README.md)
bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.load --scale 1.0 --backend both

clean:
	rm -rf $(VENV) var .pytest_cache
