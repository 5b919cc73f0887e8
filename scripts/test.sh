#!/usr/bin/env bash
# `make test` (after fmt-check, clippy, lint-infra): emulator self-check, then the Rust
# tests, #[ignore]d emulator tests included, against a fresh emulator provisioned from
# infra/template.yaml. Exit status = the tests' status.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv

log "emulator self-check (tools/test_emulator.py)"
"$VENV_PY" tools/test_emulator.py || die "emulator self-check failed (tools/test_emulator.py)"

# Chromium and its WebDriver from the OS's packages, installed only when missing (CI runs
# as root on a fresh Debian machine); never a browser download at test time.
ensure_browser() {
    command -v chromium >/dev/null && command -v chromedriver >/dev/null && return 0
    command -v apt-get >/dev/null || die "chromium and chromedriver are missing and there is no apt-get: install them"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    log "installing chromium and chromium-driver (apt-get)"
    "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
        --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null ||
        die "apt-get install chromium chromium-driver failed"
}

LOG_DIR="$(mktemp -d -t orders-test.XXXXXX)"
# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
    local status=$?
    if ((status != 0)); then
        show_log emulator 100
    show_log functions 100
    show_log gateway 60
    show_log simulator 40
    show_log mappings 60
    fi
    stop_all
    rm -rf "$LOG_DIR"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_test_stack
# Rows of the reliability scenarios of this run (the fast subset of make reliability).
export RELIABILITY_REPORT="$LOG_DIR/reliability.jsonl"

# Phase 1, the API and the stores: no event source mappings yet, so orders stay as
# the API and the contract suite leave them (PENDING until someone else moves them).
log "phase 1: cargo test --workspace --locked -- --include-ignored --skip execution:: --skip faults:: --skip reliability:: --skip outages:: --skip poison_record:: --skip live:: (API $API_URL)"
status=0
cargo test --workspace --locked -- --include-ignored --skip execution:: --skip faults:: --skip reliability:: --skip outages:: --skip poison_record:: --skip live:: || status=$?
if ((status != 0)); then
    log "ERROR: cargo test failed (exit $status)"
    exit "$status"
fi

log "phase 1b: schemathesis against infra/openapi.yaml over the gateway (tools/fuzz_api.py)"
fuzz_api 25 150 || die "schemathesis found a failure (tools/fuzz_api.py; reports in $LOG_DIR/schemathesis)"

# Phase 2, execution: local-mappings feeds the work queue to execute and the orders
# table's stream to publish, as Lambda would. It reads the stream from LATEST and the
# work queue is emptied first (the fast path queued phase 1's orders), so the orders
# phase 1 left behind are not executed.
purge_work_queue || die "could not empty the work queue before phase 2"
start_mappings "$LAMBDA_PORT" --from-latest
wait_for_log mappings "reading from LATEST" 60
# The audit integrity scenario runs `orders-admin verify-audit --all` as a process.
cargo build -q --locked -p orders-admin || die "cargo build -p orders-admin failed"
log "phase 2: cargo test -p e2e --test execution --test faults --test reliability --test outages --test poison_record --test live -- --include-ignored (simulator $SIMULATOR_URL, functions $LAMBDA_URL)"
cargo test -p e2e --locked --test execution --test faults --test reliability --test outages --test poison_record --test live -- --include-ignored || status=$?
if ((status != 0)); then
    log "ERROR: cargo test (execution) failed (exit $status)"
    exit "$status"
fi

# Phase 3, the web console in headless Chromium (the OS's packages) against this stack:
# its API requests land in the same recording, checked against infra/openapi.yaml below.
"$VENV_PY" tools/test_deploy_console.py --endpoint "$AWS_ENDPOINT_URL" --bucket "$CONSOLE_BUCKET_NAME" ||
    die "make deploy's console upload self-check failed (tools/test_deploy_console.py)"
ensure_browser
log "phase 3: the web console in a browser (tools/console_test.py; screenshots in docs/)"
"$VENV_PY" tools/console_test.py --api "$API_URL" --screenshots "$ROOT/docs" ||
    die "the web console's browser test failed (tools/console_test.py)"

log "OpenAPI document against the recorded exchanges (tools/check_openapi.py)"
"$VENV_PY" tools/test_check_openapi.py || die "the OpenAPI checker's self-test failed"
"$VENV_PY" tools/test_bench_charts.py || die "the benchmark charts' self-test failed"
"$VENV_PY" tools/test_reliability_report.py || die "the reliability report's self-test failed"
"$VENV_PY" tools/check_openapi.py --spec infra/openapi.yaml --recording "$LOG_DIR/exchanges.jsonl" ||
    die "infra/openapi.yaml does not match the responses of the test run"
log "the live stream's messages and the bus events of this run against infra/asyncapi.yaml (tools/check_asyncapi.py)"
"$VENV_PY" tools/test_check_asyncapi.py || die "the AsyncAPI checker's self-test failed"
"$VENV_PY" tools/check_asyncapi.py --spec infra/asyncapi.yaml --recording "$LOG_DIR/live-messages.jsonl" --require-all ||
    die "infra/asyncapi.yaml does not match the live messages of the test run"
"$VENV_PY" tools/check_asyncapi.py --spec infra/asyncapi.yaml --recording "$LOG_DIR/bus-events.jsonl" ||
    die "infra/asyncapi.yaml does not match the bus events of the test run (tests/tests/reliability/reconciled.rs)"
log "the exchange simulator's answers against Alpaca's Trading and Market Data API documents (tools/check_alpaca.py)"
"$VENV_PY" tools/test_check_alpaca.py || die "the Alpaca checker's self-test failed"
"$VENV_PY" tools/check_alpaca.py --spec tools/simulator/spec/trading-api.json \
    --spec tools/simulator/spec/market-data-api.json --recording "$SIM_RECORDING" ||
    die "the simulator answered otherwise than Alpaca's document during the test run"

log "reliability scenarios of this run (the fast subset of make reliability)"
"$VENV_PY" tools/reliability_report.py --rows "$RELIABILITY_REPORT" --command "make test" --require 1,2,3,4,5,6,7 ||
    die "a reliability scenario failed or did not run (rows above)"
