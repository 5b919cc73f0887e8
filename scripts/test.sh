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

log "cargo test --workspace --locked -- --include-ignored (emulator $ENDPOINT, prefix $PREFIX)"
status=0
cargo test --workspace --locked -- --include-ignored || status=$?
if ((status != 0)); then
    log "ERROR: cargo test failed (exit $status)"
fi
exit "$status"
