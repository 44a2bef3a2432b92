# The two commands of the Quick start: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,lint]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/accelml demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check accelml tests bench
	$(BIN)/mypy --follow-imports=silent accelml/core
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/foundation.py --budget 60 --out bench/results

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo_model
