# Masterpiece: `make demo` and `make test` work on a fresh clone (Python 3.10+ with venv).
VENV ?= .venv
PYTHON ?= python3
# the web app, its browser test driver, video, the service, Ray and the test tools (dev brings
# torch and onnx); `pip install masterpiece` alone is the library and CLI, without torch
EXTRAS ?= dev,app,browser,video,serve,ray
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench bench-cold evaluate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; a looser requirement would pull CUDA packages
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@mkdir -p out
	MASTERPIECE_OFFLINE=1 $(VENV)/bin/masterpiece colorize examples/astronaut_bw.jpg -o out/astronaut_colorized.jpg --overwrite
	@echo "Result: $(CURDIR)/out/astronaut_colorized.jpg"

test: $(STAMP)
	$(PY) -m pytest -q

# speed and memory against the baselines (several minutes; needs the dev extras): benchmarks/results/*.json, BENCHMARKS.md
bench: $(STAMP)
	$(PY) benchmarks/run.py

# the cold start alone (seconds): `masterpiece colorize small.png`, warm and with an empty cache and HOME
bench-cold: $(STAMP)
	$(PY) benchmarks/run.py --only cold_start

# the bundled model's quality on both validation sets with the gray baseline (MODEL_CARD.md): reports/<set>/
DATA ?= ../shared/data
evaluate: $(STAMP)
	MASTERPIECE_PRECISION=fp32 $(VENV)/bin/masterpiece evaluate --model compact --data $(DATA)/val_people --out reports/val_people --overwrite
	MASTERPIECE_PRECISION=fp32 $(VENV)/bin/masterpiece evaluate --model compact --data $(DATA)/val --out reports/val --overwrite

clean:
	rm -rf $(VENV) out .pytest_cache
