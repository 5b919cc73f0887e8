#!/usr/bin/env python3
"""Renders the in-process hot path benchmarks (issue 7 parts 1 and 5) as Markdown.

    tools/bench_hot_path.py table --criterion DIR --out FILE --command CMD
    tools/bench_hot_path.py profile --recorded FILE --callgrind PATH=OUT:CALLS ...
                                    --criterion DIR --out FILE --command CMD

`table` reads every benchmark criterion saved under DIR (`<group>/<bench>/new/`:
benchmark.json for the id, estimates.json for the median, sample.json for the raw
samples) and writes one table row each, in the order they ran. criterion times
samples, not single calls: sample i runs iters[i] calls in times[i] ns, so its
per-call time is times[i] / iters[i]. The median is criterion's estimate (the
median of those per-call times); the p99 is their 99th percentile (nearest rank),
a tail of sample means, which understates the tail of single calls.

`profile` writes the profile fragment: the recorded before/after figures (a
Markdown file kept in the repository, measured once before and once after the
fix) followed by this run's live "after" figures: instructions per call from
callgrind output files (`summary:` line divided by CALLS) and the criterion
medians of the profiled paths.

Standard library only: runs with any python3.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

# What each benchmark measures, for the table (keyed by criterion's full id).
DESCRIPTIONS = {
    "validation/limit_buy": "parse + validate a limit buy body",
    "validation/market_sell": "parse + validate a market sell body",
    "validation/invalid_every_field": "parse + validate a body with every field wrong (6 messages)",
    "transition/status_table": "one lookup in the status transition table",
    "transition/order_apply_fill": "apply a partial fill to an order (new version, effect, fill)",
    "transition/plan_claim": "plan PENDING -> SUBMITTED: order + audit record (hash-chained)",
    "transition/plan_fill": "plan a fill: order, booking, P&L, audit record",
    "json/submit_body_in": "deserialize a submit body to JSON",
    "json/apigw_event_in": "deserialize the API Gateway v2 submit event to a request",
    "json/order_out": "serialize an order response",
    "json/status_event_out": "build + serialize an order status event",
    "submit/accept_201": "submit use case, in-memory ports, fresh key: 201 accept",
    "submit/replay_201": "submit use case, same key and body again: 201 replay",
    "submit/reject_422": "submit use case, fresh key, invalid body: 422 (audited, stored)",
    "submit/accept_201_unkeyed": "submit use case, no key, distinct orders 600 ms apart, issue 19's checks off: 201",
    "submit/accept_201_unkeyed_all_checks": "the same with every issue 19 check on (price band, quantity, "
    "restricted symbols, duplicate window, rolling-minute notional): 201",
    "submit/lambda_event_201": "whole submit handler: API Gateway event in, response out, 201",
    "cancel/pending_200": "cancel use case on a PENDING order: CANCELLED",
}


def fmt_ns(ns: float) -> str:
    """`812 ns`, `12.4 µs`, `3.1 ms`: three significant figures."""
    for unit, scale in (("ns", 1.0), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)):
        value = ns / scale
        if value < 1000 or unit == "s":
            return f"{value:.3g} {unit}"
    raise AssertionError("unreachable")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Bench:
    def __init__(self, new_dir: Path):
        meta = json.loads((new_dir / "benchmark.json").read_text())
        estimates = json.loads((new_dir / "estimates.json").read_text())
        sample = json.loads((new_dir / "sample.json").read_text())
        self.id: str = meta["full_id"]
        self.median_ns: float = estimates["median"]["point_estimate"]
        iters, times = sample["iters"], sample["times"]
        if not iters or len(iters) != len(times):
            raise ValueError(f"{new_dir}/sample.json: iters and times differ or are empty")
        self.per_call = [t / i for t, i in zip(times, iters)]
        self.p99_ns = percentile(self.per_call, 99)
        self.samples = len(iters)
        self.calls = int(sum(iters))
        self.ran_at = (new_dir / "sample.json").stat().st_mtime


def load(criterion_dir: Path) -> list[Bench]:
    found = sorted(
        (Bench(p.parent) for p in criterion_dir.glob("**/new/benchmark.json")),
        key=lambda b: b.ran_at,
    )
    if not found:
        raise SystemExit(f"bench_hot_path: no criterion results under {criterion_dir}")
    return found


def table(args: argparse.Namespace) -> str:
    benches = load(Path(args.criterion))
    lines = [
        "## Hot path in process (criterion)",
        "",
        f"Command: `{args.command}`. Release build, one thread, in-memory ports "
        "(`shared::adapters::memory`), no tracing subscriber; async handlers driven by "
        "`futures::executor::block_on`. Each submit iteration uses a fresh idempotency key "
        "and is asserted to be a real 201 accept (or 422 / replay where named).",
        "",
        "Median: criterion's estimate over its samples. p99: 99th percentile (nearest rank) of "
        "the per-call time of criterion's raw samples (`sample.json`: time / iters of each of "
        "the samples), so a tail of sample means, not of single calls.",
        "",
        "| benchmark | what it measures | median | p99 | samples | calls |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for b in benches:
        what = DESCRIPTIONS.get(b.id, "")
        lines.append(
            f"| `{b.id}` | {what} | {fmt_ns(b.median_ns)} | {fmt_ns(b.p99_ns)} | {b.samples} | {b.calls:,} |"
        )
    return "\n".join(lines) + "\n\n"


def callgrind_total(path: Path) -> int:
    """The `summary:` (or `totals:`) event count of a callgrind output file (Ir first)."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"bench_hot_path: {path} has no summary line; did callgrind finish?")


def profile(args: argparse.Namespace) -> str:
    recorded = Path(args.recorded).read_text().rstrip() + "\n"
    benches = {b.id: b for b in load(Path(args.criterion))}
    lines = [
        recorded,
        "### Live: this run (after the fix)",
        "",
        f"Command: `{args.command}`.",
        "",
        "| path | instructions per call (callgrind) | criterion median |",
        "|---|---:|---:|",
    ]
    for spec in args.callgrind:
        path, _, rest = spec.partition("=")
        out, _, calls = rest.rpartition(":")
        if not (path and out and calls.isdigit() and int(calls) > 0):
            raise SystemExit(f"bench_hot_path: --callgrind {spec!r} is not PATH=OUT:CALLS")
        per_call = callgrind_total(Path(out)) / int(calls)
        bench = benches.get(f"submit/{path}")
        median = fmt_ns(bench.median_ns) if bench else "not run"
        lines.append(f"| `submit/{path}` | {per_call:,.0f} | {median} |")
    return "\n".join(lines) + "\n\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table", help="the hot path table")
    t.add_argument("--criterion", required=True, help="criterion's output directory (CRITERION_HOME)")
    t.add_argument("--out", required=True, help="Markdown fragment to write")
    t.add_argument("--command", required=True, help="the command that produced the figures")
    p = sub.add_parser("profile", help="the profile before/after fragment")
    p.add_argument("--recorded", required=True, help="Markdown with the recorded before/after")
    p.add_argument("--callgrind", action="append", default=[], help="PATH=OUT:CALLS, repeatable")
    p.add_argument("--criterion", required=True, help="criterion's output directory (CRITERION_HOME)")
    p.add_argument("--out", required=True, help="Markdown fragment to write")
    p.add_argument("--command", required=True, help="the command that produced the live figures")
    args = parser.parse_args(argv)
    text = table(args) if args.cmd == "table" else profile(args)
    Path(args.out).write_text(text)
    print(f"bench_hot_path: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
