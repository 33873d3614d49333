# Every target works on a fresh machine with Python >= 3.11 and npm: it makes .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

READER_VENV := .venv-reader
READER_STAMP := $(READER_VENV)/.installed

.PHONY: install system-deps data train model lint test test-reader test-fast bench bench-startup bench-accuracy bench-handwriting clean

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

# The reading model shipped in src/digitnet/default_model: the `read` recipe (seed 0), its
# detector and calibration, the LiteRT files reading runs and a card with every file's SHA-256
# (measured: training 438 s alone on 2 AMD EPYC cores, 617-940 s on a slower AMD EPYC, alone or
# sharing them with tests, 1,526 s on an older machine sharing its 2 cores with another training;
# detector 213 s, 411 s on the slower one, 447 s there for the twice-as-wide one shipped now;
# 840 s + 835 s on 2 cores whose host took half their time; 577 s + 546 s on 2 idle AMD EPYC
# cores (the last build kept that detector: 515 s + 39 s);
# resumable via runs/default-model).
model: system-deps data
	mkdir -p runs
	$(BIN)/python scripts/make_model.py > runs/default-model.card.json

# Debian packages (npm, chromium, chromium-driver, dataset-fashion-mnist, handwriting fonts) when missing.
system-deps:
	bash scripts/system-deps.sh

# ruff (settings in pyproject.toml): lint and formatting, checked before the tests run.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

test: system-deps data lint test-reader
	$(BIN)/python -m pytest -q

# The reader alone: the plain install (`pip install .`, no extras: no TensorFlow) in a venv of its
# own, running the tests marked `reader`; a training dependency that slips into the reading path
# fails here. Its dependencies are installed when pyproject.toml changes (a minute or two), this
# checkout (with its package data: the shipped model) on every run (seconds).
test-reader: $(READER_STAMP)
	$(READER_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	$(READER_VENV)/bin/python -m pytest -q -m reader -p no:cacheprovider tests/test_reader.py tests/test_held.py

$(READER_STAMP): pyproject.toml
	rm -rf $(READER_VENV)
	$(PYTHON) -m venv $(READER_VENV)
	$(READER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(READER_VENV)/bin/python -m pip install --quiet . 'pytest>=8'
	touch $(READER_STAMP)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# Speed (about 20 minutes on 2 cores); JSON lands in benchmarks/results/.
bench: data
	mkdir -p benchmarks/results
	$(BIN)/python benchmarks/train_speed.py > benchmarks/results/train_speed.json
	$(BIN)/python benchmarks/time_to_accuracy.py > benchmarks/results/time_to_accuracy.json
	$(BIN)/python benchmarks/inference_speed.py > benchmarks/results/inference_speed.json

# Accuracy of every recipe (hours: 10 strong members, 3 seeds of the tutorial, 3 with augmentation).
bench-accuracy: data
	mkdir -p benchmarks/results
	$(BIN)/python benchmarks/accuracy.py --out runs/accuracy > benchmarks/results/accuracy.json

# Reading handwriting (README table): the tutorial's network (trained once into runs/tutorial-seed0)
# against the shipped reading model, on held-out fonts, photos, held-out non-digits, held-out
# synthetic writers form by form (and against pen width and stretch); fine-tuning.
bench-handwriting: system-deps data
	test -f runs/tutorial-seed0/model.keras || $(BIN)/digitnet train --out runs/tutorial-seed0
	mkdir -p benchmarks/results
	$(BIN)/python benchmarks/handwriting.py --tutorial runs/tutorial-seed0 \
		--plot benchmarks/results/selective_accuracy.png --forms-plot benchmarks/results/writers.png \
		--table benchmarks/results/handwriting.md > benchmarks/results/handwriting.json

# Cold start of the reader (predict one image, predict 1,000, serve ready, peak memory) beside a
# bare Python importing numpy, PIL and ai_edge_litert and beside onnxruntime reading one image with
# the shipped network exported to ONNX (a few minutes).
# Measured on the plain install (the reader venv of `make test-reader`).
bench-startup: $(STAMP) $(READER_STAMP)
	$(READER_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	mkdir -p runs && rm -f runs/default.onnx
	$(BIN)/digitnet export default --format onnx --out runs/default.onnx
	$(READER_VENV)/bin/python benchmarks/startup.py --onnx runs/default.onnx --onnx-python $(BIN)/python \
		> docs/measurements/startup.json

clean:
	rm -rf $(VENV) $(READER_VENV) runs .pytest_cache
