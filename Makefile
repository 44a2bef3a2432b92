# The two commands of the Quick start: `make demo` and `make test`. Both create .venv first.
# PyTorch (image models) is pinned here only: the CPU build of torch 2.13.0; the package itself
# asks for torch>=2.3 in its [vision] extra.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORE := $(VENV)/.installed-core
DEV := $(VENV)/.installed-dev
TORCH := torch==2.13.0

.PHONY: install demo test lint bench bench-vision clean

$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(CORE)

$(DEV): $(CORE)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[test,lint,nn,vision,text,recsys,timeseries,explain,export,serve,distributed]" $(TORCH)
	touch $(DEV)

install: $(DEV)

demo: $(CORE)
	$(BIN)/accelml demo

test: $(DEV)
	$(BIN)/python -m pytest -q

lint: $(DEV)
	$(BIN)/ruff check accelml tests bench
	$(BIN)/mypy --follow-imports=silent accelml/core
	$(BIN)/lint-imports

bench: $(DEV)
	$(BIN)/python bench/foundation.py --budget 60 --out bench/results

bench-vision: $(DEV)
	$(BIN)/python bench/vision.py --budget 300 --out bench/results

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo_model
