#!/usr/bin/env bash
# The issue 14 measuring run: venue calls a minute at 10 / 100 / 1,000 resting orders.
# Against a local stack whose simulator enforces Alpaca's limit and whose intake runs
# as deployed:
#   VENUE_RATE_LIMIT_PER_MIN=200 INTAKE_POLL_SECS=2 INTAKE_STATUS_EVERY=5 INTAKE_SCHEDULE_SECS=60 \
#     bash scripts/stack.sh /tmp/stack.env &
#   set -a; . /tmp/stack.env; set +a
#   bash scripts/venue_calls_run.sh 10 100 1000      # cumulative levels; MEASURE_SECS=120
# For each level it submits GTC limit buys far under the market (they rest) until that
# many rest, waits until the venue holds them all, then counts the venue calls of the
# next MEASURE_SECS from the simulator's recording (scripts/venue_calls.sh) and the
# orders stalled (reason set) or not working.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${API_URL:?source the stack env first}" "${SIMULATOR_URL:?}" "${STACK_LOG_DIR:?}"
recording="${SIM_RECORDING:-$STACK_LOG_DIR/venue-exchanges.jsonl}"
measure="${MEASURE_SECS:-120}"
per_trader=50
placed=0
traders=()
tokens=()
for level in "$@"; do
    while ((placed < level)); do
        trader="calls-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
        cargo run -q -p orders-admin -- seed --trader "$trader" --cash 100000 >/dev/null
        token="$(cargo run -q -p local-gateway -- token --trader "$trader" | tail -n 1)"
        n=$((level - placed < per_trader ? level - placed : per_trader))
        python3 - "$API_URL" "$token" "$n" <<'PY'
import json, sys, urllib.request, uuid
api, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = json.dumps({"symbol": "RESTM", "side": "buy", "type": "limit", "quantity": "1",
                   "limit_price": "10", "time_in_force": "gtc"}).encode()
for _ in range(n):
    req = urllib.request.Request(f"{api}/orders", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Idempotency-Key": str(uuid.uuid4())})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201, r.status
PY
        placed=$((placed + n))
        traders+=("$trader")
        tokens+=("$token")
    done
    echo "== $level resting orders submitted; waiting until the venue holds them all" >&2
    for _ in $(seq 1 600); do
        at_venue="$(python3 -c 'import json,sys,urllib.request; print(sum(1 for o in json.load(urllib.request.urlopen(sys.argv[1]+"/_sim/orders"))["orders"] if o["symbol"]=="RESTM" and o["status"] in ("new","accepted","pending_new")))' "$SIMULATOR_URL")"
        ((at_venue >= level)) && break
        sleep 1
    done
    echo "== $at_venue working at the venue; measuring ${measure}s" >&2
    sleep 61 # let the placements' minute pass
    from="$(wc -l <"$recording")"
    sleep "$measure"
    echo "== $level resting orders: venue calls a minute (simulator's rate window)"
    bash scripts/venue_calls.sh "$recording" --since-line "$from"
    python3 - "$API_URL" "${tokens[@]}" <<'PY'
import json, sys, urllib.request
api, tokens = sys.argv[1], sys.argv[2:]
stalled = working = other = 0
for t in tokens:
    after = None
    while True:
        url = f"{api}/orders?limit=100" + (f"&cursor={after}" if after else "")
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {t}"})) as r:
            page = json.load(r)
        for o in page["orders"]:
            if o.get("reason"):
                stalled += 1
            if o["status"] == "SUBMITTED":
                working += 1
            else:
                other += 1
        after = page.get("next_cursor")
        if not after:
            break
print(f"our orders: {working} working, {other} in another status, {stalled} with a reason (stalled)")
PY
done
