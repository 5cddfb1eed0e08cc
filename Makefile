# blofin-stack: `make demo` and `make test` set everything up on a fresh machine (Python >= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Real 1m candles and funding rates the demo imports (override: make demo DEMO_DATA=/path/to/folder)
DEMO_DATA ?= ../shared/data/binance-usdm-1m
DEMO_FUNDING ?= ../shared/data/binance-usdm-funding-8h.csv.gz

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: import the real data and run the daily cycle (strategy, ml, report); prints the report path and top 5
demo: $(STAMP)
	$(BIN)/blofin data import $(DEMO_DATA) $(wildcard $(DEMO_FUNDING))
	$(BIN)/blofin pipeline run --mode all

## test: the whole test suite
test: $(STAMP)
	$(BIN)/pytest

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy src

## bench: the benchmarks (prints figures and ratios against peers)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_backtest.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_ml.py
	$(BIN)/python benchmarks/bench_live.py

clean:
	rm -rf $(VENV) build *.egg-info
