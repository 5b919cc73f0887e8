# shellcheck shell=bash
# Helpers shared by scripts/dev.sh and scripts/test.sh. Source it; do not run it.
# Long because: every local stack (make dev, make test, reliability, bench) is started by
# these same helpers, so the stacks cannot drift apart; each function is one concern.
#
#   start_bg NAME CMD...   run CMD in the background in its own process group, output to
#                          $LOG_DIR/NAME.log; stop_all (run by the EXIT trap) stops it.
#   wait_bg                block until a signal arrives or a background process exits
#                          (then fail naming it and showing its log).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_PY="$ROOT/.venv/bin/python"
LOG_DIR="${LOG_DIR:-$ROOT/.local/logs}"

BG_NAMES=()
BG_PIDS=()

log() { printf '%s %s\n' "[$(basename "$0" .sh)]" "$*" >&2; }
warn() { log "WARNING: $*"; }
die() {
    log "ERROR: $*"
    exit 1
}

ensure_venv() {
    make -C "$ROOT" --no-print-directory venv >&2 || die "make venv failed (Python venv for the emulator tools)"
}

# A port on 127.0.0.1 that nothing listens on now.
free_port() {
    "$VENV_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Port of an http://HOST:PORT URL whose host is this machine; dies otherwise.
local_port_of() {
    local url="$1" re='^http://(127\.0\.0\.1|localhost)(:([0-9]+))?/?$'
    [[ "$url" =~ $re ]] || die "AWS_ENDPOINT_URL=$url: the local emulator needs http://127.0.0.1:PORT"
    echo "${BASH_REMATCH[3]:-80}"
}

# True if something answers GET URL/moto-api/ (an emulator is up there).
emulator_answers() {
    "$VENV_PY" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1].rstrip("/") + "/moto-api/", timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
    "$VENV_PY" - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}

show_log() {
    local name="$1" file="$LOG_DIR/$1.log"
    [[ -s "$file" ]] || return 0
    log "---- last lines of $file ----"
    tail -n "${2:-60}" "$file" >&2 || true
    log "---- end of $name log ----"
}

start_bg() {
    local name="$1"
    shift
    mkdir -p "$LOG_DIR"
    # setsid: own process group (pgid = pid), so stop_all can end the whole tree and a
    # Ctrl-C on the terminal reaches only this script, which then stops everything in order.
    setsid "$@" </dev/null >"$LOG_DIR/$name.log" 2>&1 &
    BG_NAMES+=("$name")
    BG_PIDS+=("$!")
    log "started $name (pid $!, log $LOG_DIR/$name.log)"
}

pid_of() {
    local i
    for i in "${!BG_NAMES[@]}"; do
        [[ "${BG_NAMES[$i]}" == "$1" ]] && echo "${BG_PIDS[$i]}" && return 0
    done
    return 1
}

# Poll CMD... every 0.2 s until it succeeds; fail, showing NAME's log, if NAME's
# process exits first or TIMEOUT seconds pass. WHAT completes "NAME ... WHAT".
#   wait_until NAME TIMEOUT WHAT CMD...
wait_until() {
    local name="$1" timeout="$2" what="$3" pid deadline
    shift 3
    pid="$(pid_of "$name")"
    deadline=$((SECONDS + timeout))
    until "$@"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log "$name"
            die "$name exited before it could $what"
        fi
        if ((SECONDS >= deadline)); then
            show_log "$name"
            die "$name did not $what within ${timeout}s"
        fi
        sleep 0.2
    done
}

# Wait until the emulator at URL answers, or fail showing its log.
wait_for_emulator() {
    wait_until "$2" "${3:-30}" "answer at $1/moto-api/" emulator_answers "$1"
    log "$2 is up at $1"
}

# Stop every background process group, newest first; SIGKILL what is left after 10 s.
stop_all() {
    local i pid name waited
    for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
        pid="${BG_PIDS[$i]}"
        name="${BG_NAMES[$i]}"
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        waited=0
        while kill -0 -- "-$pid" 2>/dev/null && ((waited < 100)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 -- "-$pid" 2>/dev/null; then
            warn "$name (pid $pid) ignored SIGTERM for 10 s: killing it"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
        log "stopped $name"
    done
    BG_PIDS=()
    BG_NAMES=()
}

# Block until a trapped signal arrives (the trap exits) or a background process exits (fail).
wait_bg() {
    local done_pid="" status=0 name
    wait -n -p done_pid "${BG_PIDS[@]}" || status=$?
    [[ -n "$done_pid" ]] || return "$status"
    name="$(for i in "${!BG_PIDS[@]}"; do [[ "${BG_PIDS[$i]}" == "$done_pid" ]] && echo "${BG_NAMES[$i]}"; done)"
    show_log "$name"
    die "$name (pid $done_pid) exited with status $status"
}

# Export every KEY=value of an env file written by tools/provision.py.
export_env_file() {
    [[ -f "$1" ]] || die "env file $1 not found"
    set -a
    # shellcheck disable=SC1090
    . "$1"
    set +a
}

# True if the Cargo workspace has a package named $1 (false if the workspace does not load).
cargo_has_package() {
    [[ -f "$ROOT/Cargo.toml" ]] || return 1
    cargo metadata --format-version 1 --no-deps --offline --manifest-path "$ROOT/Cargo.toml" 2>/dev/null |
        "$VENV_PY" -c 'import json, sys; sys.exit(0 if any(p["name"] == sys.argv[1] for p in json.load(sys.stdin)["packages"]) else 1)' "$1"
}

# Cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config).
cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps --offline --manifest-path "$ROOT/Cargo.toml" |
        "$VENV_PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# Prices that value market and stop orders (submit) and start the simulator's market.
reference_prices() {
    echo "${REFERENCE_PRICES:-AAPL=190.12,MSFT=410.50,GOOG=175.25,AMZN=185.40,TSLA=250.00}"
}

# The local venue's request limit a minute per API key: the simulator answers 429 past
# it and the functions' venue budget (VENUE_RATE_LIMIT_PER_MIN) paces to it, so the
# two always agree. Alpaca's is 200; the local stacks default to 6000 so that the
# test suites, which run many traders at once, are not paced to one desk's key
# (VENUE_RATE_LIMIT_PER_MIN=200 make dev runs at Alpaca's).
venue_rate_limit() {
    echo "${VENUE_RATE_LIMIT_PER_MIN:-6000}"
}

# Empties the work queue at $WORK_QUEUE_URL (SQS PurgeQueue): make test's phase 1 runs
# without event source mappings, and the fast path queues each order it accepts; the
# orders it leaves are not meant to execute once phase 2 starts the mappings (as the
# stream mapping starts from LATEST for the same reason).
purge_work_queue() {
    "$VENV_PY" - <<'PY'
import os

import boto3

sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
url = os.environ["WORK_QUEUE_URL"]
left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
sqs.purge_queue(QueueUrl=url)
print(f"work queue purged ({left['Attributes']['ApproximateNumberOfMessages']} message(s) left by phase 1)")
PY
}

# Creates (or updates) the secret NAME holding the venue keys in the emulator at
# $AWS_ENDPOINT_URL, as `aws secretsmanager create-secret` would; prints its ARN.
#   put_venue_secret NAME KEY_ID SECRET_KEY
put_venue_secret() {
    "$VENV_PY" - "$@" <<'PY'
import json, os, sys

import boto3

name, key_id, secret_key = sys.argv[1:4]
sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
value = json.dumps({"key_id": key_id, "secret_key": secret_key})
try:
    arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
except sm.exceptions.ResourceExistsException:
    arn = sm.put_secret_value(SecretId=name, SecretString=value)["ARN"]
print(arn)
PY
}

# The functions' environment: the stack's resources plus pricing and log format.
write_functions_env() {
    local stack_env="$1" out="$2"
    {
        cat "$stack_env"
        echo "REFERENCE_PRICES=\"$(reference_prices)\""
        echo "MARKET_COLLAR=${MARKET_COLLAR:-0.05}"
        echo "LOG_FORMAT=${LOG_FORMAT:-text}"
        # The archive function's bucket (its own variable in the template).
        echo "AUDIT_ARCHIVE_BUCKET=$AUDIT_ARCHIVE_BUCKET_NAME"
        # The venue of execute and intake (the exchange simulator locally).
        # cargo-lambda's env-file parser needs values with '=' or ',' quoted.
        [[ -z "${VENUE_BASE_URL:-}" ]] || echo "VENUE_BASE_URL=\"$VENUE_BASE_URL\""
        # Market and stop orders are priced at submit from the latest trade (issue 14):
        # the simulator serves Alpaca's market data on the venue's address; each answer
        # is kept MARKET_DATA_CACHE_MS (1 s) per warm instance. Submit signs with the
        # venue secret below.
        local market_data="${MARKET_DATA_URL:-${VENUE_BASE_URL:-}}"
        [[ -z "$market_data" ]] || echo "MARKET_DATA_URL=\"$market_data\""
        echo "MARKET_DATA_CACHE_MS=${MARKET_DATA_CACHE_MS:-1000}"
        # The venue's keys as a deployed stack keeps them: a Secrets Manager secret (in
        # the emulator) that execute and intake read at start, again after
        # VENUE_SECRET_REFRESH_SECS and after a 401; only its ARN is in their environment.
        local arn
        arn="$(put_venue_secret "${ORDERS_TABLE%-OrdersTable}/venue" "${VENUE_API_KEY_ID:-local}" \
            "${VENUE_API_SECRET_KEY:-local}")" || die "could not put the venue secret into the emulator"
        echo "VENUE_SECRET_ARN=\"$arn\""
        # The venue intake: a pass over the venue's executions every second, and its
        # reconciliation sweep on every pass (production: every 2 s and every fifth).
        echo "INTAKE_POLL_SECS=${INTAKE_POLL_SECS:-1}"
        echo "INTAKE_STATUS_EVERY=${INTAKE_STATUS_EVERY:-1}"
        # The venue budget paces to the limit the simulator enforces (one knob).
        echo "VENUE_RATE_LIMIT_PER_MIN=$(venue_rate_limit)"
        # execute's retry backoff starts at 200 ms (production: 2 s), so a message's
        # retry budget (MAX_RECEIVES=8) is spent in 25-40 s, not in minutes: the
        # outage tests watch an order stall and get dead-lettered.
        echo "RETRY_BACKOFF_BASE_MS=${RETRY_BACKOFF_BASE_MS:-200}"
        # Live updates (issue 18): the local gateway serves the WebSocket API, its
        # @connections endpoint and the dev secret as a JWKS; the authorizer takes HS256.
        local live="http://127.0.0.1:${LIVE_API_PORT:-${API_PORT:-3000}}"
        echo "CONNECTIONS_TABLE=$CONNECTIONS_TABLE_NAME"
        echo "LIVE_API_ID=local"
        echo "LIVE_CONNECTIONS_URL=$live"
        echo "JWKS_URL=$live/.well-known/jwks.json"
        echo "JWT_ISSUER=${LOCAL_JWT_ISSUER:-orders-local}"
        echo "JWT_AUDIENCE=${LOCAL_JWT_AUDIENCE:-orders-api}"
        echo "TRADER_SCOPE=orders/trade"
        echo "JWT_ALGORITHMS=HS256"
        # Bounds on every AWS SDK call (shared/src/adapters/aws/mod.rs); unset = defaults.
        local var
        for var in AWS_CONNECT_TIMEOUT_MS AWS_ATTEMPT_TIMEOUT_MS AWS_OPERATION_TIMEOUT_MS; do
            [[ -z "${!var:-}" ]] || echo "$var=${!var}"
        done
    } >"$out"
}

# The exchange simulator on 127.0.0.1:PORT (the venue of the execute function); extra
# flags (e.g. --state FILE) follow. Sets and exports SIMULATOR_URL and VENUE_BASE_URL.
#   start_simulator PORT [simulator flags...]
# Every /v2 exchange is recorded as JSON lines to $SIM_RECORDING (default
# $LOG_DIR/venue-exchanges.jsonl), which tools/check_alpaca.py checks against Alpaca's
# document. Its per-key rate limit is venue_rate_limit's, the one the functions'
# venue budget paces to; its market data's own limit is MARKET_DATA_RATE_LIMIT_PER_MIN
# (default 6000 here: the suites price many market orders a minute; Alpaca's Basic
# plan allows 200, and submit holds off after a 429, on the static prices meanwhile).
start_simulator() {
    local port="$1" target
    shift
    log "building the exchange simulator (cargo build -p venue-simulator)"
    cargo build -q -p venue-simulator || die "cargo build -p venue-simulator failed"
    target="$(cargo_target_dir)"
    export SIM_RECORDING="${SIM_RECORDING:-$LOG_DIR/venue-exchanges.jsonl}"
    start_bg simulator "$target/debug/venue-simulator" --listen "127.0.0.1:$port" \
        --rate-limit-per-min "$(venue_rate_limit)" \
        --market-data-rate-limit-per-min "${MARKET_DATA_RATE_LIMIT_PER_MIN:-6000}" "$@"
    export SIMULATOR_URL="http://127.0.0.1:$port"
    export VENUE_BASE_URL="$SIMULATOR_URL"
    wait_for_http "$SIMULATOR_URL/_sim/health" simulator 30
}

# Lambda's event source mappings, locally (tools/mapper): the work queue -> execute,
# the orders table's stream -> publish and the fan-out, the audit table's stream -> archive,
# invoking through cargo lambda watch on LAMBDA_PORT; and the template's schedules: the
# venue intake (one run of INTAKE_SCHEDULE_SECS, default 10, after another) and the
# archive's daily digest (every ARCHIVE_SCHEDULE_SECS, default 3600: a digest is
# written once per day, so the runs after the first are no-ops) and the fan-out's sweep
# of expired connections (every LIVE_SWEEP_SCHEDULE_SECS, default 60); a schedule is paused
# while $LOG_DIR/schedules/<name>.paused exists. Reads WORK_QUEUE_URL,
# ORDERS_TABLE_STREAM_ARN and the AWS_* variables from the (exported) stack env.
# Starts the functions first, so that their first compile does not hold up the
# first batch.
#   start_mappings LAMBDA_PORT [local-mappings flags...]
start_mappings() {
    local lambda_port="$1" target fn
    shift
    for fn in execute publish fanout archive; do
        log "starting function $fn under cargo lambda watch (the first start compiles it)"
        invoke_direct "http://127.0.0.1:$lambda_port" "$fn" '{"Records":[]}' | grep -q '"batchItemFailures"' ||
            die "function $fn did not answer an empty batch (see $LOG_DIR/functions.log)"
    done
    log "starting function intake under cargo lambda watch (the first start compiles it)"
    invoke_direct "http://127.0.0.1:$lambda_port" intake '{"run_secs":0}' | grep -q '"passes"' ||
        die "function intake did not answer a run of no passes (see $LOG_DIR/functions.log)"
    log "building the local event source mappings (cargo build -p local-mappings)"
    cargo build -q -p local-mappings || die "cargo build -p local-mappings failed"
    target="$(cargo_target_dir)"
    export LAMBDA_URL="http://127.0.0.1:$lambda_port"
    # The mappings' settings (retry bounds, on-failure destination, MaximumConcurrency)
    # come from the template; discarded stream batches go to PUBLISH_FAILURE_QUEUE_URL
    # (publish) and FANOUT_FAILURE_QUEUE_URL (the fan-out).
    start_bg mappings "$target/debug/local-mappings" --lambda-url "$LAMBDA_URL" \
        --pollers "${FUNCTION_CONCURRENCY:-2}" --template "$ROOT/infra/template.yaml" \
        --schedule "intake=${INTAKE_SCHEDULE_SECS:-10}" --schedule "archive=${ARCHIVE_SCHEDULE_SECS:-3600}" \
        --schedule "fanout=${LIVE_SWEEP_SCHEDULE_SECS:-60}" \
        --schedule-pause-dir "$LOG_DIR/schedules" "$@"
}

# POST a Lambda event straight to the invoke API (no gateway); prints the reply.
invoke_direct() {
    local lambda_url="$1" function="$2" event="$3"
    "$VENV_PY" - "$lambda_url" "$function" "$event" <<'PY'
import sys, urllib.request
url, fn, event = sys.argv[1:]
req = urllib.request.Request(f"{url}/2015-03-31/functions/{fn}/invocations", data=event.encode(), method="POST")
with urllib.request.urlopen(req, timeout=600) as r:
    print(r.read().decode())
PY
}

# Start each HTTP function once (cargo lambda watch builds and starts a function on
# its first invocation): an event without claims, which every function refuses
# with a 401 before touching anything.
warm_functions() {
    local lambda_url="$1" fn event
    for fn in query submit cancel; do
        event='{"version":"2.0","routeKey":"GET /api/v1/warmup","rawPath":"/api/v1/warmup","rawQueryString":"","headers":{},"requestContext":{"http":{"method":"GET","path":"/api/v1/warmup","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"warmup"},"requestId":"warmup","routeKey":"GET /api/v1/warmup","stage":"$default","time":"01/Jan/2026:00:00:00 +0000","timeEpoch":0,"accountId":"123456789012","apiId":"local","domainName":"127.0.0.1","domainPrefix":"local"},"isBase64Encoded":false}'
        log "starting function $fn under cargo lambda watch (the first start compiles it)"
        invoke_direct "$lambda_url" "$fn" "$event" | grep -q '"statusCode":401' ||
            die "function $fn did not answer its warm-up invocation with 401 (see $LOG_DIR/functions.log)"
    done
}

# True once GET URL answers 200.
http_ok() {
    "$VENV_PY" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

wait_for_http() {
    wait_until "$2" "${3:-60}" "answer at $1" http_ok "$1"
    log "$2 is up at $1"
}

wait_for_port() {
    wait_until "$2" "${3:-60}" "listen on 127.0.0.1:$1" port_in_use "$1"
}

# Functions under cargo lambda watch on LAMBDA_PORT, and the local API gateway on
# API_PORT in front of them. Extra gateway flags (e.g. --record FILE) follow.
#   start_api ENV_FILE LAMBDA_PORT API_PORT WATCH_MODE [gateway flags...]
# WATCH_MODE: "reload" (make dev: rebuild on edit) or "fixed" (tests: --ignore-changes).
# No --timeout: with it, cargo-lambda 1.9.2 answers an instance's /next long poll
# without a request id once it has been idle that long, and lambda_runtime panics.
# FUNCTION_CONCURRENCY instances per function (default 2); the gateway keeps at most
# that many invocations in flight per function (a larger burst stalls the watch).
start_api() {
    local env_file="$1" lambda_port="$2" api_port="$3" mode="$4" target
    shift 4
    local watch_flags=(--invoke-address 127.0.0.1 --invoke-port "$lambda_port" --env-file "$env_file"
        --concurrency "${FUNCTION_CONCURRENCY:-2}")
    [[ "$mode" == fixed ]] && watch_flags+=(--ignore-changes)
    log "building the local gateway (cargo build -p local-gateway)"
    cargo build -q -p local-gateway || die "cargo build -p local-gateway failed"
    target="$(cargo_target_dir)"
    PATH="$ROOT/.venv/bin:$PATH" start_bg functions cargo lambda watch "${watch_flags[@]}"
    start_bg gateway "$target/debug/local-gateway" serve --template "$ROOT/infra/template.yaml" \
        --listen "127.0.0.1:$api_port" --lambda-url "http://127.0.0.1:$lambda_port" \
        --per-function "${FUNCTION_CONCURRENCY:-2}" "$@"
    wait_for_port "$lambda_port" functions 60
    warm_functions "http://127.0.0.1:$lambda_port"
    wait_for_http "http://127.0.0.1:$api_port/api/v1/health" gateway 60
}

# Wait until NAME's log contains TEXT, or fail showing the log.
#   wait_for_log NAME TEXT [TIMEOUT]
wait_for_log() {
    wait_until "$1" "${3:-60}" "log \"$2\"" grep -qsF "$2" "$LOG_DIR/$1.log"
}

# The whole local stack on free ports, for scripts/test.sh, reliability.sh and
# bench.sh: a fresh emulator provisioned from infra/template.yaml, the exchange
# simulator, the functions under cargo lambda watch and the local gateway recording
# every exchange to $LOG_DIR/exchanges.jsonl. Exports the stack env plus API_URL,
# LOCAL_JWT_SECRET_FILE, SIMULATOR_URL, LAMBDA_PORT, EMULATOR_PID (for outage
# scenarios: SIGSTOP/SIGCONT) and STACK_LOG_DIR (the logs, for panic counts).
# The event source mappings are separate: start_mappings "$LAMBDA_PORT" [flags].
start_test_stack() {
    local port endpoint prefix api_port sim_port
    port="$(free_port)"
    endpoint="http://127.0.0.1:$port"
    start_bg emulator "$VENV_PY" tools/emulator.py --host 127.0.0.1 --port "$port"
    wait_for_emulator "$endpoint" emulator 30
    EMULATOR_PID="$(pid_of emulator)"
    export EMULATOR_PID

    prefix="t$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
    "$VENV_PY" tools/provision.py --endpoint "$endpoint" --prefix "$prefix" \
        --template infra/template.yaml --env-out "$LOG_DIR/stack.env" ||
        die "provisioning infra/template.yaml into the test emulator failed (tools/provision.py)"
    export_env_file "$LOG_DIR/stack.env"
    log "stack: emulator $endpoint, prefix $prefix"

    LAMBDA_PORT="$(free_port)"
    api_port="$(free_port)"
    sim_port="$(free_port)"
    export LAMBDA_PORT
    # A poison stream record is given up after 8 retries (~20 s of the mapper's backoff),
    # not the template's 100, so the poison-record test ends in seconds; a fault that
    # lasts a few seconds (tests/tests/faults.rs, outages.rs) still loses nothing.
    export MAPPING_STREAM_MAX_RETRIES="${MAPPING_STREAM_MAX_RETRIES:-8}"
    export LOCAL_JWT_SECRET_FILE="$LOG_DIR/jwt-secret"
    export STACK_LOG_DIR="$LOG_DIR"
    start_simulator "$sim_port"
    export LIVE_API_PORT="$api_port"
    write_functions_env "$LOG_DIR/stack.env" "$LOG_DIR/functions.env"
    start_api "$LOG_DIR/functions.env" "$LAMBDA_PORT" "$api_port" fixed --record "$LOG_DIR/exchanges.jsonl"
    export API_URL="http://127.0.0.1:$api_port/api/v1"
    export LAMBDA_URL="http://127.0.0.1:$LAMBDA_PORT"
}

# schemathesis against infra/openapi.yaml over the stack's gateway, as a freshly
# seeded trader; appends a group-5 row to $RELIABILITY_REPORT.
#   fuzz_api MAX_EXAMPLES TIMEOUT_SECS
# Schemathesis runs on a fixed seed, so a run can be replayed; FUZZ_SEED=<n> picks
# another, FUZZ_SEED=random a fresh one. The seed is printed either way.
FUZZ_SEED_DEFAULT=20261127
fuzz_api() {
    local trader token seed="${FUZZ_SEED:-$FUZZ_SEED_DEFAULT}"
    if [[ "$seed" == random ]]; then
        seed="$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')"
    fi
    [[ "$seed" =~ ^[0-9]+$ ]] || { log "ERROR: FUZZ_SEED must be a number or 'random', not '$seed'"; return 1; }
    log "schemathesis seed $seed (replay with FUZZ_SEED=$seed; explore with FUZZ_SEED=random)"
    trader="fuzz-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
    cargo run -q --locked -p orders-admin -- seed --trader "$trader" --cash 100000 >/dev/null || return 1
    token="$(cargo run -q --locked -p local-gateway -- token --trader "$trader" | tail -n 1)" || return 1
    "$VENV_PY" tools/fuzz_api.py --api "$API_URL" --token "$token" --spec infra/openapi.yaml \
        --max-examples "$1" --timeout "$2" --seed "$seed" --report "$RELIABILITY_REPORT"
}
