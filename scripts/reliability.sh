#!/usr/bin/env bash
# `make reliability` (issue 6): every reliability and security scenario against a fresh
# local stack, the 5-minute soak included, then RELIABILITY.md from their rows. The
# fast subset (all but the soak) also runs in make test. Exit status: 0 only if every
# scenario ran and every count of lost/duplicated/wrong things is 0.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
LOG_DIR="$(mktemp -d -t orders-reliability.XXXXXX)"
# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
    local status=$?
    if ((status != 0)); then
        show_log functions 100
        show_log mappings 60
    fi
    stop_all
    if ((status == 0)); then rm -rf "$LOG_DIR"; else log "logs kept in $LOG_DIR"; fi
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_test_stack
export RELIABILITY_REPORT="$LOG_DIR/reliability.jsonl"
start_mappings "$LAMBDA_PORT" --from-latest
wait_for_log mappings "reading from LATEST" 60

status=0
log "scenarios 1-7: cargo test -p e2e --test reliability --test hostile_input -- --include-ignored"
cargo test -p e2e --locked --test reliability --test hostile_input -- --include-ignored || status=$?

log "rendering RELIABILITY.md"
"$VENV_PY" tools/reliability_report.py --rows "$RELIABILITY_REPORT" --out RELIABILITY.md \
    --command "make reliability" --require 1,2,3,4,5,6,7,8 || status=$?
exit "$status"
