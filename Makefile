# Two commands: `make demo` sets everything up and runs the built-in job; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint

# seglab and what it needs at run time: all that `make demo` installs. pip byte-compiles torch one
# file after another (~20 s of CPU); compileall does the same work on every core. Its exit status is
# ignored as pip ignores it: a few files in torch's test helpers are written for newer Pythons.
$(BIN)/seglab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "pip>=21.3"
	$(BIN)/pip install -q --no-compile torch==2.13.0 -e .
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true
	touch $(BIN)/seglab

# The test extras on top (what `make test` and `make lint` need; the demo does not wait for them).
$(VENV)/.test-extras: $(BIN)/seglab pyproject.toml
	$(BIN)/pip install -q -e ".[test]"
	touch $(VENV)/.test-extras

install: $(VENV)/.test-extras

demo: $(BIN)/seglab
	$(BIN)/seglab demo

test: install
	$(BIN)/python -m pytest tests

lint: install
	$(BIN)/ruff check seglab tests benchmarks tools
