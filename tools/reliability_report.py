#!/usr/bin/env python3
"""Renders the reliability rows (JSON lines, one per scenario; see tests/src/report.rs)
as RELIABILITY.md, and fails if any count is not 0 or a required scenario group has
no row.

    reliability_report.py --rows FILE [--out RELIABILITY.md] [--require 1,2,...]
        [--command "make reliability"]

Without --out the table goes to stdout (make test prints its fast subset that way).
"""

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jsonl import json_lines  # noqa: E402

GROUPS = {
    1: "Crash points",
    2: "Duplicates",
    3: "Races",
    4: "Dependency outages",
    5: "Hostile input",
    6: "Auth attacks",
    7: "Audit integrity",
    8: "Soak",
}
COUNTS = [
    ("lost_orders", "lost orders"),
    ("duplicated_venue_orders", "dup. venue orders"),
    ("lost_events", "lost events"),
    ("wrong_balances", "wrong balances"),
    ("server_errors", "5xx"),
    ("panics", "panics"),
]


def load(path):
    rows = []
    for n, line in json_lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}:{n}: not JSON: {e}")
        missing = [k for k in ["group", "scenario", "injected", "operations", *[c for c, _ in COUNTS]] if k not in row]
        if missing:
            raise SystemExit(f"{path}:{n}: row without {', '.join(missing)}")
        rows.append(row)
    return rows


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def machine():
    cpus = os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kib = int(f.readline().split()[1])
            mem = f", {kib / 1048576:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.machine()}, {cpus} cores{mem}, {platform.system()} {platform.release()}"


def render(rows, command):
    rows = sorted(rows, key=lambda r: (r["group"], r["scenario"]))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Reliability and security report",
        "",
        f"Written by `{command}` on {now}, on {machine()}. Do not edit: run the command.",
        "",
        "Each row is one scenario run against the local stack (emulator, exchange simulator,",
        "functions under `cargo lambda watch`, local gateway and event source mappings) or,",
        "for hostile input, against the parsing layer in process. Every count but",
        "*operations* must be 0; the run fails otherwise.",
        "",
        "| # | scenario | injected | operations | " + " | ".join(h for _, h in COUNTS) + " | notes |",
        "|---|---|---|---:|" + "---:|" * len(COUNTS) + "---|",
    ]
    for r in rows:
        counts = " | ".join(str(r[c]) for c, _ in COUNTS)
        group = f"{r['group']}. {GROUPS.get(r['group'], '?')}"
        out.append(f"| {group} | {cell(r['scenario'])} | {cell(r['injected'])} | {r['operations']} | {counts} | {cell(r.get('notes', ''))} |")
    total_ops = sum(r["operations"] for r in rows)
    totals = " | ".join(str(sum(r[c] for r in rows)) for c, _ in COUNTS)
    out.append(f"| | **total** ({len(rows)} scenarios) | | {total_ops} | {totals} | |")
    out.append("")
    return "\n".join(out)


# A section of the report that is kept as it is when the file is rewritten: figures of
# runs longer than `make reliability` makes (one per heading starting with this).
KEPT = "## Written by hand"


def kept_sections(previous):
    """The hand-written sections of the file as it was, from the first such heading on."""
    at = previous.find("\n" + KEPT)
    return previous[at + 1 :] if at >= 0 else ""


def with_kept(text, previous):
    """The rendered report followed by `previous`'s hand-written sections."""
    kept = kept_sections(previous)
    return text if not kept else text.rstrip("\n") + "\n\n" + kept


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", required=True)
    ap.add_argument("--out")
    ap.add_argument("--require", default="", help="comma-separated groups that must have a row")
    ap.add_argument("--command", default="make reliability")
    args = ap.parse_args()

    rows = load(args.rows) if os.path.exists(args.rows) else []
    text = render(rows, args.command)
    if args.out:
        if os.path.exists(args.out):
            with open(args.out, encoding="utf-8") as f:
                text = with_kept(text, f.read())
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"reliability: {len(rows)} scenarios written to {args.out}")
    else:
        print(text)

    problems = []
    for g in [int(x) for x in args.require.split(",") if x.strip()]:
        if not any(r["group"] == g for r in rows):
            problems.append(f"no row for scenario group {g} ({GROUPS.get(g, '?')})")
    for r in rows:
        bad = [f"{h} {r[c]}" for c, h in COUNTS if r[c] != 0]
        if bad:
            problems.append(f"{r['scenario']}: {', '.join(bad)}")
    for p in problems:
        print(f"reliability: FAIL: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
