#!/usr/bin/env bash
# The test stack of make test, in the foreground, for running one test file or tool
# against it by hand:
#   bash scripts/stack.sh ENV_OUT [--no-mappings]
# writes every variable the tests read to ENV_OUT once the stack is up, then runs
# until stopped (SIGTERM/SIGINT). In another shell:
#   set -a; . ENV_OUT; set +a; cargo test -p e2e --test faults -- --include-ignored
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

env_out="${1:?usage: scripts/stack.sh ENV_OUT [--no-mappings]}"
mappings=1
[[ "${2:-}" == --no-mappings ]] && mappings=0

ensure_venv
LOG_DIR="$(mktemp -d -t orders-stack.XXXXXX)"
# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
    local status=$?
    stop_all
    rm -f "$env_out"
    log "logs kept in $LOG_DIR"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_test_stack
if ((mappings)); then
    start_mappings "$LAMBDA_PORT" --from-latest
    wait_for_log mappings "reading from LATEST" 60
fi
{
    cat "$LOG_DIR/stack.env"
    for v in API_URL LOCAL_JWT_SECRET_FILE SIMULATOR_URL VENUE_BASE_URL LAMBDA_PORT LAMBDA_URL EMULATOR_PID STACK_LOG_DIR; do
        [[ -n "${!v:-}" ]] && printf '%s=%q\n' "$v" "${!v}"
    done
} >"$env_out.tmp"
mv "$env_out.tmp" "$env_out"
log "stack up; its environment is in $env_out (logs in $LOG_DIR)"
wait_bg
