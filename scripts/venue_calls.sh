#!/usr/bin/env bash
# Venue calls a minute, from the exchange simulator's recording of every /v2 exchange
# (SIM_RECORDING, JSON lines; the local stacks write $LOG_DIR/venue-exchanges.jsonl):
#   bash scripts/venue_calls.sh [RECORDING] [--since-line N [--until-line M]]
# Prints, per minute of the simulator's rate window (the X-RateLimit-Reset each answer
# carries, so the simulator's rate limit must be on: VENUE_RATE_LIMIT_PER_MIN), the
# calls by route and the 429s; then the busiest minute. The issue 14 must-show: flat
# (<= 60 a minute) whatever the number of resting orders, and zero 429s.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
recording="${1:-${SIM_RECORDING:-$ROOT/.local/logs/venue-exchanges.jsonl}}"
since=0
until=0
[[ "${2:-}" == --since-line ]] && since="${3:?--since-line N}"
[[ "${4:-}" == --until-line ]] && until="${5:?--until-line M}"
[[ -f "$recording" ]] || { echo "venue_calls: no recording at $recording (set SIM_RECORDING)" >&2; exit 2; }
python3 - "$recording" "$since" "$until" <<'PY'
import collections, json, sys, time

path, since, until = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
minutes = collections.OrderedDict()
unwindowed = 0
with open(path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        if until and n > until:
            break
        if n <= since or not line.strip():
            continue
        x = json.loads(line)
        reset = (x.get("headers") or {}).get("x-ratelimit-reset")
        if reset is None:
            unwindowed += 1
            continue
        m = minutes.setdefault(int(reset), collections.Counter())
        m["calls"] += 1
        m[x.get("route") or "(no route)"] += 1
        if x.get("status") == 429:
            m["429"] += 1
if not minutes:
    print(f"venue_calls: no exchange carries X-RateLimit-Reset ({unwindowed} without): is the rate limit on?")
    sys.exit(2)
print(f"{'minute (UTC)':<14}{'calls':>7}{'429s':>6}  by route")
for reset, c in minutes.items():
    start = time.strftime("%H:%M", time.gmtime(reset - 60))
    routes = ", ".join(f"{r} {k}" for r, k in sorted(c.items()) if r not in ("calls", "429"))
    print(f"{start:<14}{c['calls']:>7}{c['429']:>6}  {routes}")
busiest = max(c["calls"] for c in minutes.values())
refused = sum(c["429"] for c in minutes.values())
print(f"busiest minute: {busiest} calls; 429s in all: {refused}")
PY
