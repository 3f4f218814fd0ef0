# Two commands do everything on a fresh machine with only the package registries:
#   make demo   installs into .venv (if needed) and materialises LAIONet on the bundled sample
#   make test   installs into .venv (if needed) and runs the test suite (.ci/run calls this)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DAGSTER_DISABLE_TELEMETRY := 1

.PHONY: setup demo test lint docs bench ui lock clean

setup: $(VENV)/.installed /usr/share/wordnet/data.noun /usr/lib/x86_64-linux-gnu/libGL.so.1 /usr/bin/redis-server

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==0.9.30
	$(UV) pip install --python $(PY) --quiet -r requirements.lock
	$(UV) pip install --python $(PY) --quiet --no-deps -e .
	touch $@

# WordNet 3.0 from Debian; laionet_assets lays it out for nltk on first use.
/usr/share/wordnet/data.noun:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wordnet-base wordnet-sense-index

# OpenCV (pulled in by rapidocr for the OCR filter) loads libGL and glib at import.
/usr/lib/x86_64-linux-gnu/libGL.so.1:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libgl1 libglib2.0-0

# Redis for the Celery broker (deploy/celery/). Not started as a service (RUNLEVEL=1): the Celery
# test starts its own on 127.0.0.1 and a free port, under `timeout`.
/usr/bin/redis-server:
	$(SUDO) apt-get update -qq
	RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server  # not started as a service

# Debian's Chromium for the browser test of the Dagster UI (driven by playwright; never
# `playwright install`, which downloads a browser of its own).
/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

demo: setup
	$(VENV)/bin/laionet demo

# The suite builds the manual strictly too (laionet_assets_tests/test_docs.py).
test: setup /usr/bin/chromium lint
	$(PY) -m pytest -q --durations=25

# The manual (docs/, MkDocs Material) on http://127.0.0.1:8000, rebuilt on every change.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve -a 127.0.0.1:8000

# ruff (configured in pyproject.toml): pyflakes, pycodestyle, import order, line length 110.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) -m benchmarks.run_all

ui: setup
	$(VENV)/bin/laionet ui

# Re-pin the full dependency tree after changing pyproject.toml.
lock:
	$(UV) pip compile pyproject.toml --extra dev --extra cluster --extra nvimgcodec --python-version 3.11 --python-platform x86_64-manylinux_2_28 -o requirements.lock

clean:
	rm -rf $(VENV) site data/assets data/dagster data/lancedb data/reports data/releases.json data/registry data/checkpoints
