# Every target works on a fresh machine with Python >= 3.11 and npm: it makes .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps data train test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("digitnet needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

data: $(STAMP)
	$(BIN)/digitnet data fetch

# The tutorial's network and recipe: 18 epochs x 1,100 iterations, then test accuracy.
train: data
	$(BIN)/digitnet train

# Debian packages (npm, chromium, chromium-driver, dataset-fashion-mnist) when missing.
system-deps:
	bash scripts/system-deps.sh

test: system-deps data
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: data
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/accuracy.py

clean:
	rm -rf $(VENV) runs .pytest_cache
