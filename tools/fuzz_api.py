#!/usr/bin/env python3
"""Schemathesis against the API's OpenAPI document, over the local gateway (issue 6,
scenario 5): generated valid and invalid requests for every operation (its examples,
coverage, fuzzing and stateful phases), checked for no 5xx and for status code,
content type, headers and body schema conformance of the documented responses, and
that schema-violating requests are refused. Writes one reliability row (group 5).

    .venv/bin/python tools/fuzz_api.py --api "$API_URL" --token "$TOKEN" \
        --spec infra/openapi.yaml --max-examples 25 --report "$RELIABILITY_REPORT"

`--token` is a valid dev token of a seeded trader (`orders-admin seed`). Exits non-zero
when schemathesis reports a failure or an error, on any 5xx, or when the stack's logs
(`STACK_LOG_DIR`) gained a `panicked at` line. Schemathesis comes from requirements.txt
(`make venv`); the run is bounded by `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
]


def panics_so_far() -> int:
    """`panicked at` lines in the stack's *.log files (as e2e::report::panics_so_far)."""
    folder = os.environ.get("STACK_LOG_DIR")
    if not folder:
        return 0
    total = 0
    for path in glob.glob(os.path.join(folder, "*.log")):
        try:
            total += Path(path).read_text(errors="replace").count("panicked at")
        except OSError:
            continue
    return total


def schemathesis_binary() -> str:
    beside = Path(sys.executable).with_name("schemathesis")
    if beside.exists():
        return str(beside)
    sys.exit(f"fuzz_api: schemathesis is not installed beside {sys.executable}; run `make venv` (requirements.txt pins it)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--api", required=True, help="the API's base URL, e.g. http://127.0.0.1:3000/api/v1")
    p.add_argument("--token", required=True, help="a valid dev JWT of a seeded trader")
    p.add_argument("--spec", default="infra/openapi.yaml")
    p.add_argument("--max-examples", type=int, default=25, help="test cases per operation and phase")
    p.add_argument("--timeout", type=int, default=150, help="seconds before the run is stopped (a failure)")
    p.add_argument("--seed", type=int, help="schemathesis seed, to replay a run")
    p.add_argument("--report", default=os.environ.get("RELIABILITY_REPORT"), help="JSON-lines file the row is appended to")
    p.add_argument("--out", help="folder for schemathesis' log, HAR and JSON reports (default: $STACK_LOG_DIR/schemathesis)")
    return p.parse_args(argv)


def run_schemathesis(args: argparse.Namespace, out: Path) -> tuple[int, str]:
    split = urlsplit(args.api)
    origin = f"{split.scheme}://{split.netloc}"  # the spec's paths carry /api/v1
    cmd = [
        schemathesis_binary(), "run", str(Path(args.spec).resolve()),
        "--url", origin,
        "--header", f"Authorization: Bearer {args.token}",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(args.max_examples),
        # One worker: CPython 3.11 before 3.11.8 (gh-106905; this venv's 3.11.7 has it)
        # corrupts ast.parse's recursion counter when two threads parse at once, and
        # hypothesis parses (describing filter lambdas) in every schemathesis worker. With
        # two workers the run broke inside the tool with "SystemError: AST constructor
        # recursion depth mismatch" twice in a row on one CI run; with one it cannot.
        "--workers", "1",
        "--request-timeout", "35",  # the gateway gives a function 30 s
        "--report", "json,har",
        "--report-dir", str(out.resolve()),
        "--no-color",
    ]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    env = dict(os.environ, SCHEMATHESIS_TELEMETRY="false")
    try:
        # Run in `out`, where schemathesis keeps its cache (.schemathesis/), not in the repo.
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env, cwd=out)
    except subprocess.TimeoutExpired as e:
        text = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return 124, text + f"\nfuzz_api: schemathesis did not finish within {args.timeout} s\n"
    return done.returncode, done.stdout + done.stderr


def only(pattern: str) -> dict:
    found = sorted(glob.glob(pattern))
    if not found:
        return {}
    with open(found[-1], encoding="utf-8") as f:
        return json.load(f)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    panics_before = panics_so_far()
    logs = os.environ.get("STACK_LOG_DIR")
    default_out = os.path.join(logs, "schemathesis") if logs else tempfile.mkdtemp(prefix="fuzz-api-")
    out = Path(args.out or default_out)
    out.mkdir(parents=True, exist_ok=True)
    code, text = run_schemathesis(args, out)
    (out / "schemathesis.log").write_text(text)

    entries = only(str(out / "har-*.json")).get("log", {}).get("entries", [])
    statuses = collections.Counter(e.get("response", {}).get("status", 0) for e in entries)
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    report = only(str(out / "json-*.json"))
    failures = report.get("failures", [])
    errors = report.get("errors", [])
    generated = report.get("test_cases", {}).get("generated", 0)
    panics = max(0, panics_so_far() - panics_before)
    failed = [f"{f.get('code')} {f.get('title')} x{f.get('count')} on {', '.join(f.get('operations', []))}" for f in failures]

    row = {
        "group": 5,
        "scenario": "schemathesis against the OpenAPI document",
        "injected": f"generated valid and invalid requests, {args.max_examples} examples per operation and phase",
        "operations": len(entries),
        "lost_orders": 0,
        "duplicated_venue_orders": 0,
        "lost_events": 0,
        "wrong_balances": 0,
        "server_errors": server_errors,
        "panics": panics,
        "notes": (
            f"seed {args.seed}; {generated} test cases; answers by status: {dict(sorted(statuses.items()))}; "
            f"checks: {', '.join(CHECKS)}; failures: {len(failed)}; errors: {len(errors)}; exit {code}"
        ),
    }
    if args.report:
        with open(args.report, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    print(json.dumps(row, indent=2))
    problems = failed + [f"error: {e}" for e in errors]
    if code not in (0, 1) or not entries:
        problems.append(f"schemathesis exited {code} with {len(entries)} requests recorded")
    if server_errors or panics:
        problems.append(f"{server_errors} 5xx responses, {panics} panics in the stack's logs")
    if problems or code != 0:
        sys.stderr.write(text[-6000:])
        sys.stderr.write("\nfuzz_api: FAILED\n  " + "\n  ".join(problems or [f"schemathesis exited {code}"]) + "\n")
        sys.stderr.write(f"reports in {out}\n")
        return 1
    print(f"fuzz_api: {len(entries)} requests, no failure (reports in {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
