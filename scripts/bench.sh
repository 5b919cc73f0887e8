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

cat "$BENCH_OUT"/*.md >BENCHMARKS.md
log "BENCHMARKS.md written ($(ls "$BENCH_OUT" | wc -l) parts)"
