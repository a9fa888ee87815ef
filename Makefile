# Two commands: `make demo` sets everything up and runs the built-in job; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint

$(BIN)/seglab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $(BIN)/seglab

install: $(BIN)/seglab

demo: install
	$(BIN)/seglab demo

test: install
	$(BIN)/python -m pytest tests

lint: install
	$(BIN)/ruff check seglab tests benchmarks tools
