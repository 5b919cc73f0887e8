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

PORT="$(free_port)"
ENDPOINT="http://127.0.0.1:$PORT"
start_bg emulator "$VENV_PY" tools/emulator.py --host 127.0.0.1 --port "$PORT"
wait_for_emulator "$ENDPOINT" emulator 30

PREFIX="t$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
"$VENV_PY" tools/provision.py --endpoint "$ENDPOINT" --prefix "$PREFIX" \
    --template infra/template.yaml --env-out "$LOG_DIR/stack.env" ||
    die "provisioning infra/template.yaml into the test emulator failed (tools/provision.py)"
export_env_file "$LOG_DIR/stack.env"

# The functions under cargo lambda watch and the local gateway in front of them, for
# the end-to-end tests in tests/; every exchange is recorded for the OpenAPI check.
# The exchange simulator is the execute function's venue.
LAMBDA_PORT="$(free_port)"
API_PORT="$(free_port)"
SIM_PORT="$(free_port)"
export LOCAL_JWT_SECRET_FILE="$LOG_DIR/jwt-secret"
start_simulator "$SIM_PORT"
write_functions_env "$LOG_DIR/stack.env" "$LOG_DIR/functions.env"
start_api "$LOG_DIR/functions.env" "$LAMBDA_PORT" "$API_PORT" fixed --record "$LOG_DIR/exchanges.jsonl"
export API_URL="http://127.0.0.1:$API_PORT/api/v1"

# Phase 1, the API and the stores: no event source mappings yet, so orders stay as
# the API and the contract suite leave them (PENDING until someone else moves them).
log "phase 1: cargo test --workspace --locked -- --include-ignored --skip execution:: --skip faults:: (emulator $ENDPOINT, prefix $PREFIX, API $API_URL)"
status=0
cargo test --workspace --locked -- --include-ignored --skip execution:: --skip faults:: || status=$?
if ((status != 0)); then
    log "ERROR: cargo test failed (exit $status)"
    exit "$status"
fi

# Phase 2, execution: local-mappings feeds the work queue to execute and the orders
# table's stream to publish, as Lambda would. It reads the stream from LATEST, so the
# orders phase 1 left behind are not executed.
start_mappings "$LAMBDA_PORT" --from-latest
wait_for_log mappings "reading from LATEST" 60
log "phase 2: cargo test -p e2e --test execution --test faults -- --include-ignored (simulator $SIMULATOR_URL, functions $LAMBDA_URL)"
cargo test -p e2e --locked --test execution --test faults -- --include-ignored || status=$?
if ((status != 0)); then
    log "ERROR: cargo test (execution) failed (exit $status)"
    exit "$status"
fi

log "OpenAPI document against the recorded exchanges (tools/check_openapi.py)"
"$VENV_PY" tools/test_check_openapi.py || die "the OpenAPI checker's self-test failed"
"$VENV_PY" tools/check_openapi.py --spec infra/openapi.yaml --recording "$LOG_DIR/exchanges.jsonl" ||
    die "infra/openapi.yaml does not match the responses of the test run"
