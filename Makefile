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
# AWS SAM CLI in its own venv: it pins a different boto3 than moto.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.requirements.stamp
SAM := SAM_CLI_TELEMETRY=0 $(CURDIR)/$(SAM_VENV)/bin/sam
# The Lambda functions: one crate (and one binary of the same name) per directory.
FUNCTIONS := $(sort $(notdir $(wildcard functions/*)))
# samconfig.toml environment for `make deploy` (default | prod).
ENV ?= default
PORT ?= 4566

.PHONY: help venv sam-venv dev emulator test fmt-check check-layers clippy lint-infra build deploy fmt token seed events watch reliability bench charts verify-audit

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

venv: $(VENV_STAMP) ## Python venv for the emulator tools (.venv/, re-installed when requirements.txt changes)
	@:

$(VENV_STAMP): requirements.txt
	@test -n "$(PYTHON)" || { echo "make venv: python3.11 (or python3) not found" >&2; exit 1; }
	@$(VENV)/bin/python -c '' 2>/dev/null || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv --clear $(VENV); }
	@echo "installing requirements.txt into $(VENV)"
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

sam-venv: $(SAM_STAMP) ## AWS SAM CLI venv (.venv-sam/, re-installed when requirements-sam.txt changes)
	@:

$(SAM_STAMP): requirements-sam.txt
	@test -n "$(PYTHON)" || { echo "make sam-venv: python3.11 (or python3) not found" >&2; exit 1; }
	@$(SAM_VENV)/bin/python -c '' 2>/dev/null || { echo "creating $(SAM_VENV) with $(PYTHON)"; $(PYTHON) -m venv --clear $(SAM_VENV); }
	@echo "installing requirements-sam.txt into $(SAM_VENV)"
	@$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

dev: ## local stack in the foreground: emulator, resources, demo trader (Ctrl-C stops it)
	@bash scripts/dev.sh

emulator: venv ## only the emulator, in the foreground (PORT=4566)
	@$(VENV)/bin/python tools/emulator.py --host 127.0.0.1 --port $(PORT)

test: fmt-check check-layers clippy lint-infra ## everything CI runs: fmt, layers, clippy, cfn-lint, emulator self-check, cargo tests incl. emulator ones
	@bash scripts/test.sh

reliability: venv ## every reliability and security scenario, the 5-minute soak included; writes RELIABILITY.md
	@bash scripts/reliability.sh

bench: venv ## every benchmark on a fresh local stack; writes BENCHMARKS.md (slow: release builds)
	@bash scripts/bench.sh

charts: ## redraw bench-charts/*.svg from BENCHMARKS.md (make bench does it after a run)
	@python3 tools/bench_charts.py

verify-audit: ## check every order, audit chain and account of the running local stack (make dev); exit 1 naming each finding
	@test -f .local/stack.env || { echo "make verify-audit: .local/stack.env not found; start the stack with make dev first" >&2; exit 1; }
	@set -a; . .local/stack.env; set +a; cargo run -q -p orders-admin -- verify-audit --all

fmt-check: ## cargo fmt --check
	cargo fmt --all -- --check

check-layers: ## layers: use cases import no shared::http, adapters no shared::app, domain and ports nothing outer; files over 400 lines say why
	@test -n "$(PYTHON)" || { echo "make check-layers: python3.11 (or python3) not found" >&2; exit 1; }
	@$(PYTHON) tools/check_layers.py --self-test
	@$(PYTHON) tools/check_layers.py

clippy: ## cargo clippy, warnings are errors
	cargo clippy --workspace --all-targets --locked -- -D warnings

lint-infra: venv sam-venv ## offline: cfn-lint, sam validate --lint, IAM policies vs infra/permissions.yaml and the code, tools/test_template.py
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(SAM) validate --lint --template-file infra/template.yaml --region us-east-1
	$(VENV)/bin/python tools/test_iam.py
	$(VENV)/bin/python tools/test_template.py

build: venv ## cargo lambda build --release --arm64 of every function, then each bootstrap's size (slow)
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 $(addprefix --package ,$(FUNCTIONS))
	@target="$$(cargo metadata --format-version 1 --no-deps --offline | $(VENV)/bin/python -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"; \
	status=0; echo "make build: stripped bootstrap binaries in $$target/lambda/"; \
	for fn in $(FUNCTIONS); do \
	    f="$$target/lambda/$$fn/bootstrap"; \
	    if [[ ! -f "$$f" ]]; then echo "make build: $$f is missing" >&2; status=1; continue; fi; \
	    machine="$$(od -An -tx1 -j18 -N2 "$$f" | tr -d ' \n')"; \
	    if [[ "$$machine" == b700 ]]; then arch=arm64; else arch="NOT-arm64(e_machine=$$machine)"; status=1; fi; \
	    size="$$(stat -c %s "$$f")"; \
	    printf '  %-8s %-6s %10s bytes %6s MiB\n' "$$fn" "$$arch" "$$size" "$$(awk -v s="$$size" 'BEGIN { printf "%.1f", s / 1048576 }')"; \
	done; exit $$status

deploy: venv sam-venv ## sam build && sam deploy, then the web console to its bucket (samconfig.toml environment ENV=default|prod; needs AWS credentials)
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(SAM) build --config-env $(ENV)
	$(SAM) deploy --config-env $(ENV)
	$(VENV)/bin/python tools/deploy_console.py --config-env $(ENV)

token: ## a dev JWT for TRADER (make token TRADER=alice); the token alone on the last line
	@test -n "$(TRADER)" || { echo "usage: make token TRADER=<id>" >&2; exit 2; }
	@LOCAL_JWT_SECRET_FILE="$${LOCAL_JWT_SECRET_FILE:-$(CURDIR)/.local/jwt-secret}" cargo run -q -p local-gateway -- token --trader "$(TRADER)"

seed: ## open or fund TRADER's account in the running local stack (make seed TRADER=alice CASH=50000)
	@test -n "$(TRADER)" -a -n "$(CASH)" || { echo "usage: make seed TRADER=<id> CASH=<amount>" >&2; exit 2; }
	@test -f .local/stack.env || { echo "make seed: .local/stack.env not found; start the stack with make dev first" >&2; exit 1; }
	@set -a; . .local/stack.env; set +a; cargo run -q -p orders-admin -- seed --trader "$(TRADER)" --cash "$(CASH)"

events: venv ## tail the running stack's status events, one line each (Ctrl-C stops)
	@test -f .local/stack.env || { echo "make events: .local/stack.env not found; start the stack with make dev first" >&2; exit 1; }
	@$(VENV)/bin/python tools/events_tail.py --env .local/stack.env

watch: ## print TRADER's live order stream from the running stack (make watch TRADER=alice [CURSOR=...]; Ctrl-C stops)
	@test -n "$(TRADER)" || { echo "usage: make watch TRADER=<id> [CURSOR=<cursor>]" >&2; exit 2; }
	@LOCAL_JWT_SECRET_FILE="$${LOCAL_JWT_SECRET_FILE:-$(CURDIR)/.local/jwt-secret}" cargo run -q -p local-gateway -- \
		watch --trader "$(TRADER)" --url "ws://127.0.0.1:$${API_PORT:-3000}/live" $(if $(CURSOR),--cursor "$(CURSOR)")

fmt: ## cargo fmt
	cargo fmt --all
