#!/usr/bin/env bash
# `make dev`: local stack in the foreground. Ctrl-C stops everything it started.
#
#   emulator  tools/emulator.py on 127.0.0.1 (port of $AWS_ENDPOINT_URL, default 4566)
#   resources tools/provision.py from infra/template.yaml, prefix orders-local -> .local/stack.env
#   seed      cargo run -p orders-admin -- seed --trader demo --cash 100000
#   simulator the exchange simulator on 127.0.0.1:$SIM_PORT (default 8900), orders kept in .local/simulator.json
#   functions cargo lambda watch on 127.0.0.1:$LAMBDA_PORT (default 9000), reloading on edit
#   gateway   tools/gateway on 127.0.0.1:$API_PORT (default 3000): http://127.0.0.1:3000/api/v1
#   mappings  tools/mapper: work queue -> execute, orders table stream -> publish (status events)
#   sample    a dev token for 'demo' and one order submitted through the API
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

API_PORT="${API_PORT:-3000}"
LAMBDA_PORT="${LAMBDA_PORT:-9000}"
SIM_PORT="${SIM_PORT:-8900}"
for p in "$API_PORT" "$LAMBDA_PORT" "$SIM_PORT"; do
    port_in_use "$p" && die "port $p on 127.0.0.1 is taken: free it, or set API_PORT / LAMBDA_PORT / SIM_PORT"
done
start_simulator "$SIM_PORT" --state .local/simulator.json --prices "$(reference_prices)"
write_functions_env "$ENV_FILE" .local/functions.env
export LOCAL_JWT_SECRET_FILE="${LOCAL_JWT_SECRET_FILE:-$ROOT/.local/jwt-secret}"
start_api .local/functions.env "$LAMBDA_PORT" "$API_PORT" reload
start_mappings "$LAMBDA_PORT"
API_URL="http://127.0.0.1:$API_PORT/api/v1"

log "sample order: POST $API_URL/orders as 'demo' (token from: make token TRADER=demo)"
TOKEN="$("$(cargo_target_dir)/debug/local-gateway" token --trader demo | tail -n 1)"
"$VENV_PY" - "$API_URL" "$TOKEN" <<'PY' || die "the sample order did not go through the API (see .local/logs/)"
import json, sys, urllib.request, urllib.error, uuid
url, token = sys.argv[1:]
body = {"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "10",
        "time_in_force": "day", "client_order_id": "dev-sample"}
req = urllib.request.Request(url + "/orders", data=json.dumps(body).encode(), method="POST", headers={
    "authorization": "Bearer " + token, "content-type": "application/json", "idempotency-key": str(uuid.uuid4())})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        print(f"  {r.status}: {r.read().decode()}", file=sys.stderr)
except urllib.error.HTTPError as e:
    print(f"  {e.code}: {e.read().decode()}", file=sys.stderr)
    sys.exit(1)
PY

log "running:"
for i in "${!BG_NAMES[@]}"; do
    log "  ${BG_NAMES[$i]} (pid ${BG_PIDS[$i]}, log $LOG_DIR/${BG_NAMES[$i]}.log)"
done
log "API: $API_URL    token: make token TRADER=<id>    funds: make seed TRADER=<id> CASH=<amount>"
log "web console: http://127.0.0.1:$API_PORT/ (sign in with a token from make token TRADER=<id>)"
log "emulator: $ENDPOINT    env: $ENV_FILE (source it: set -a; . $ENV_FILE; set +a)"
log "simulator: $SIMULATOR_URL    functions: $LAMBDA_URL    status events: make events"
log "Ctrl-C to stop"
wait_bg
