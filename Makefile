# Developer entry points. Logic lives in scripts/ and tools/; recipes stay short.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

ifndef PYTHON
PYTHON := $(shell command -v python3.11 || command -v python3)
endif
VENV := .venv
VENV_STAMP := $(VENV)/.requirements.stamp
PORT ?= 4566

.PHONY: help venv dev emulator test fmt-check clippy lint-infra fmt token seed

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

venv: $(VENV_STAMP) ## Python venv for the emulator tools (.venv/, re-installed when requirements.txt changes)
	@:

$(VENV_STAMP): requirements.txt
	@test -n "$(PYTHON)" || { echo "make venv: python3.11 (or python3) not found" >&2; exit 1; }
	@$(VENV)/bin/python -c '' 2>/dev/null || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv --clear $(VENV); }
	@echo "installing requirements.txt into $(VENV)"
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

dev: ## local stack in the foreground: emulator, resources, demo trader (Ctrl-C stops it)
	@bash scripts/dev.sh

emulator: venv ## only the emulator, in the foreground (PORT=4566)
	@$(VENV)/bin/python tools/emulator.py --host 127.0.0.1 --port $(PORT)

test: fmt-check clippy lint-infra ## everything CI runs: fmt, clippy, cfn-lint, emulator self-check, cargo tests incl. emulator ones
	@bash scripts/test.sh

fmt-check: ## cargo fmt --check
	cargo fmt --all -- --check

clippy: ## cargo clippy, warnings are errors
	cargo clippy --workspace --all-targets --locked -- -D warnings

lint-infra: venv ## cfn-lint infra/template.yaml
	$(VENV)/bin/cfn-lint infra/template.yaml

token: ## a dev JWT for TRADER (make token TRADER=alice); the token alone on the last line
	@test -n "$(TRADER)" || { echo "usage: make token TRADER=<id>" >&2; exit 2; }
	@LOCAL_JWT_SECRET_FILE="$${LOCAL_JWT_SECRET_FILE:-$(CURDIR)/.local/jwt-secret}" cargo run -q -p local-gateway -- token --trader "$(TRADER)"

seed: ## open or fund TRADER's account in the running local stack (make seed TRADER=alice CASH=50000)
	@test -n "$(TRADER)" -a -n "$(CASH)" || { echo "usage: make seed TRADER=<id> CASH=<amount>" >&2; exit 2; }
	@test -f .local/stack.env || { echo "make seed: .local/stack.env not found; start the stack with make dev first" >&2; exit 1; }
	@set -a; . .local/stack.env; set +a; cargo run -q -p orders-admin -- seed --trader "$(TRADER)" --cash "$(CASH)"

fmt: ## cargo fmt
	cargo fmt --all
