#!/usr/bin/env bash
# `make dev`: local stack in the foreground. Ctrl-C stops everything it started.
#
#   emulator  tools/emulator.py on 127.0.0.1 (port of $AWS_ENDPOINT_URL, default 4566)
#   resources tools/provision.py from infra/template.yaml, prefix orders-local -> .local/stack.env
#   seed      cargo run -p orders-admin -- seed --trader demo --cash 100000
#
# Logs: .local/logs/NAME.log. To run one more process, add one line after the seed:
#   start_bg NAME command args...
# (it gets the stack env exported, logs to .local/logs/NAME.log, and is stopped on exit).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PREFIX=orders-local
ENV_FILE=.local/stack.env
TEMPLATE=infra/template.yaml

ensure_venv

PORT="$(local_port_of "${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}")"
ENDPOINT="http://127.0.0.1:$PORT"
if emulator_answers "$ENDPOINT"; then
    die "an emulator already answers at $ENDPOINT/moto-api/ (another 'make dev' or 'make emulator'?): stop it, or pick another port with AWS_ENDPOINT_URL=http://127.0.0.1:PORT"
fi
if port_in_use "$PORT"; then
    die "port $PORT on 127.0.0.1 is taken by another program: free it, or pick another port with AWS_ENDPOINT_URL=http://127.0.0.1:PORT"
fi

trap stop_all EXIT
trap 'log "interrupted: stopping"; exit 130' INT
trap 'log "terminated: stopping"; exit 143' TERM

mkdir -p .local/logs

start_bg emulator "$VENV_PY" tools/emulator.py --host 127.0.0.1 --port "$PORT"
wait_for_emulator "$ENDPOINT" emulator 30

"$VENV_PY" tools/provision.py --endpoint "$ENDPOINT" --prefix "$PREFIX" --template "$TEMPLATE" --env-out "$ENV_FILE" ||
    die "provisioning $TEMPLATE into the emulator at $ENDPOINT failed (tools/provision.py)"
export_env_file "$ENV_FILE"

if cargo_has_package orders-admin; then
    log "seeding trader 'demo' (cargo run -p orders-admin)"
    cargo run -q -p orders-admin -- seed --trader demo --cash 100000 ||
        die "seeding the demo trader failed (cargo run -q -p orders-admin -- seed --trader demo --cash 100000)"
else
    warn "no Cargo package 'orders-admin' (yet): demo trader not seeded"
fi

# More background processes go here, one line each, e.g.:
#   start_bg api cargo lambda watch --invoke-address 127.0.0.1 --invoke-port 9000

log "running:"
for i in "${!BG_NAMES[@]}"; do
    log "  ${BG_NAMES[$i]} (pid ${BG_PIDS[$i]}, log $LOG_DIR/${BG_NAMES[$i]}.log)"
done
log "endpoint: $ENDPOINT    env: $ENV_FILE (source it: set -a; . $ENV_FILE; set +a)"
log "Ctrl-C to stop"
wait_bg
