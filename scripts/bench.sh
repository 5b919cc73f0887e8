#!/usr/bin/env bash
# `make bench` (issue 7): every benchmark against a fresh local stack, then
# BENCHMARKS.md from the parts' Markdown fragments ($BENCH_OUT/NN-*.md, in order).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
LOG_DIR="$(mktemp -d -t orders-bench.XXXXXX)"
export BENCH_OUT="$LOG_DIR/bench"
mkdir -p "$BENCH_OUT"
# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
    local status=$?
    stop_all
    if ((status == 0)); then rm -rf "$LOG_DIR"; else log "logs kept in $LOG_DIR"; fi
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

{
    echo "# Benchmarks"
    echo
    echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'), on $(uname -m), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr). Do not edit: run the command."
    echo "Figures are medians (p50) and p99 of one run on a shared machine; ratios compare figures of the same run."
    echo
} >"$BENCH_OUT/00-header.md"

# --- hot path (criterion) ---
# Issue 7 parts 1 and 5, in process (no stack): criterion over validation, the state
# machine, JSON and the submit/cancel handlers on in-memory ports, then callgrind on
# the submit paths (fixed call counts, so instruction counts repeat on a busy machine).
# shared keeps its symbols in this build (the release profile strips them) for callgrind.
HOT_ARGS=(-p shared --bench hot_path --locked
    --config 'profile.bench.package.shared.debug="line-tables-only"'
    --config 'profile.bench.package.shared.strip=false')
HOT_CRITERION="$LOG_DIR/criterion"
HOT_CMD="cargo bench -p shared --bench hot_path -- --warm-up-time 1 --measurement-time 3"
log "hot path: building and running criterion (${HOT_CMD})"
CRITERION_HOME="$HOT_CRITERION" cargo bench "${HOT_ARGS[@]}" -- --warm-up-time 1 --measurement-time 3 \
    >"$LOG_DIR/hot-path.log" 2>&1 || { tail -n 40 "$LOG_DIR/hot-path.log" >&2; die "hot path benchmarks failed"; }
"$VENV_PY" tools/bench_hot_path.py table --criterion "$HOT_CRITERION" --out "$BENCH_OUT/10-hot-path.md" \
    --command "$HOT_CMD"
if command -v valgrind >/dev/null; then
    HOT_BIN="$(cargo bench "${HOT_ARGS[@]}" --no-run --message-format=json 2>/dev/null |
        "$VENV_PY" -c 'import json, sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')"
    HOT_CALLS=500
    HOT_PROFILES=()
    for path in accept_201 lambda_event_201; do
        log "hot path: callgrind on submit/$path ($HOT_CALLS calls)"
        HOT_PATH_CALLGRIND="$path:$HOT_CALLS" valgrind --tool=callgrind --toggle-collect='*profiled_calls*' \
            --callgrind-out-file="$LOG_DIR/callgrind.$path.out" "$HOT_BIN" >>"$LOG_DIR/hot-path.log" 2>&1 ||
            { tail -n 20 "$LOG_DIR/hot-path.log" >&2; die "callgrind on submit/$path failed"; }
        HOT_PROFILES+=(--callgrind "$path=$LOG_DIR/callgrind.$path.out:$HOT_CALLS")
    done
    "$VENV_PY" tools/bench_hot_path.py profile --recorded shared/benches/hot_path/PROFILE.md "${HOT_PROFILES[@]}" \
        --criterion "$HOT_CRITERION" --out "$BENCH_OUT/15-profile.md" \
        --command "HOT_PATH_CALLGRIND=<path>:$HOT_CALLS valgrind --tool=callgrind --toggle-collect='*profiled_calls*' <hot_path bench binary>"
else
    warn "valgrind not installed: the profile section has the recorded figures only"
    { cat shared/benches/hot_path/PROFILE.md; echo; } >"$BENCH_OUT/15-profile.md"
fi
# --- end hot path ---

# The local stack, without the event source mappings first: the AWS call counts drive
# each step themselves and need orders to stay where they leave them.
start_test_stack

# --- calls and cold start ---
# Issue 7 parts 3 and 4 (tools/bench, orders-bench). Release builds of the five
# functions for arm64 (deployed) and x86-64 (run here), each into its own lambda dir
# (slow when the cache is cold), their stripped bootstrap sizes; then the AWS calls
# per order lifecycle (SDK interceptor, real handlers in process on private copies of
# the tables and queue) and the cold start / peak RSS of the x86-64 binaries under a
# local Lambda runtime API. Generous SDK timeouts: a busy machine's emulator is slow,
# and these figures count calls, not latency. CALLS_ORDERS, COLDSTART_SPAWNS and
# COLDSTART_INVOCATIONS override the sizes.
CALLS_TARGET="$(cargo_target_dir)"
CALLS_SIZES="$LOG_DIR/bootstrap-sizes.txt"
CALLS_FUNCTIONS=(submit cancel query execute publish)
: >"$CALLS_SIZES"
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || warn "rustup target add aarch64-unknown-linux-gnu failed"
for arch in arm64 x86-64; do
    log "calls: cargo lambda build --release --$arch (log $LOG_DIR/lambda-build-$arch.log)"
    PATH="$ROOT/.venv/bin:$PATH" cargo lambda build --release "--$arch" --locked \
        "${CALLS_FUNCTIONS[@]/#/--package=}" --lambda-dir "$CALLS_TARGET/lambda-$arch" \
        >"$LOG_DIR/lambda-build-$arch.log" 2>&1 ||
        { tail -n 40 "$LOG_DIR/lambda-build-$arch.log" >&2; die "cargo lambda build --release --$arch failed"; }
    for fn in "${CALLS_FUNCTIONS[@]}"; do
        echo "$arch $fn $(stat -c %s "$CALLS_TARGET/lambda-$arch/$fn/bootstrap")" >>"$CALLS_SIZES"
    done
done
export AWS_ATTEMPT_TIMEOUT_MS=15000 AWS_OPERATION_TIMEOUT_MS=60000
log "calls: orders-bench calls (log $LOG_DIR/calls.log)"
cargo run -q -p bench --locked -- calls --orders "${CALLS_ORDERS:-20}" --out "$BENCH_OUT/30-aws-calls.md" \
    >"$LOG_DIR/calls.log" 2>&1 || { tail -n 40 "$LOG_DIR/calls.log" >&2; die "AWS calls benchmark failed (orders-bench calls)"; }
log "cold start: orders-bench coldstart (log $LOG_DIR/coldstart.log)"
REFERENCE_PRICES="$(reference_prices)" cargo run -q -p bench --locked -- coldstart \
    --functions "$CALLS_TARGET/lambda-x86-64" --sizes "$CALLS_SIZES" --spawns "${COLDSTART_SPAWNS:-20}" \
    --invocations "${COLDSTART_INVOCATIONS:-2000}" --out "$BENCH_OUT/40-cold-start.md" >"$LOG_DIR/coldstart.log" 2>&1 ||
    { tail -n 40 "$LOG_DIR/coldstart.log" >&2; die "cold start benchmark failed (orders-bench coldstart)"; }
unset AWS_ATTEMPT_TIMEOUT_MS AWS_OPERATION_TIMEOUT_MS
# --- end calls and cold start ---

start_mappings "$LAMBDA_PORT" --from-latest
wait_for_log mappings "reading from LATEST" 60

# --- load ---
# Issue 7 part 2 (tools/loadgen): traders over HTTP at 1, 10 and 100 concurrent, each
# level followed by our submit/cancel use cases in process and the bare-SDK floor at
# the same concurrency against this stack's emulator. LOAD_TRADERS, LOAD_ORDERS and
# LOAD_FLOOR_ORDERS (one value per level) override the levels.
LOAD_ARGS=(--traders "${LOAD_TRADERS:-1,10,100}" --orders "${LOAD_ORDERS:-200,1000,10000}"
    --floor-orders "${LOAD_FLOOR_ORDERS:-200,500,1000}")
log "load: orders-load run ${LOAD_ARGS[*]} (log $LOG_DIR/load.log)"
REFERENCE_PRICES="$(reference_prices)" cargo run -q -p loadgen --locked -- run "${LOAD_ARGS[@]}" \
    --out "$BENCH_OUT/20-load.md" --json "$LOG_DIR/load.json" >"$LOG_DIR/load.log" 2>&1 ||
    { tail -n 40 "$LOG_DIR/load.log" >&2; die "load benchmark failed (orders-load run)"; }
# --- end load ---

# The recorded profile of the load path (issue 7 part 5), after the live figures.
{ cat tools/loadgen/PROFILE.md; echo; } >"$BENCH_OUT/25-load-profile.md"
# The recorded venue calls a minute at 10 / 100 / 1,000 resting orders (issue 14:
# scripts/venue_calls_run.sh against a stack at Alpaca's limit, too slow for make bench).
{ cat tools/bench/VENUE_CALLS.md; echo; } >"$BENCH_OUT/35-venue-calls.md"

cat "$BENCH_OUT"/*.md >BENCHMARKS.md
log "BENCHMARKS.md written ($(ls "$BENCH_OUT" | wc -l) parts)"
"$VENV_PY" tools/bench_charts.py --benchmarks BENCHMARKS.md --out bench-charts ||
    die "drawing the charts of BENCHMARKS.md failed (tools/bench_charts.py)"
