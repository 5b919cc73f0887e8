#!/usr/bin/env bash
# The issue 14 must-show at the simulator with Alpaca's limit on: ORDERS resting GTC
# limit orders (default 1,000) held for HOLD_SECS (default 600) while prices move and
# some fill. Against a local stack whose simulator enforces 200 requests a minute:
#   VENUE_RATE_LIMIT_PER_MIN=200 INTAKE_POLL_SECS=2 INTAKE_STATUS_EVERY=5 INTAKE_SCHEDULE_SECS=60 \
#     bash scripts/stack.sh /tmp/stack.env &
#   set -a; . /tmp/stack.env; set +a
#   bash scripts/resting_session_run.sh            # ORDERS=50 HOLD_SECS=60 for a quick look
# Buys and sells across SYMBOLS (default RSTA,RSTB,RSTC,RSTD), limits 0.10 to
# MAX_OFFSET (6.00) either side of 100.00, 1 to 10 shares, submitted over HTTP by
# traders of 50 orders each. The simulator's own price path is frozen (tick_ms) while
# the orders are placed (placements beyond the venue budget are deferred by execute,
# so 1,000 take several minutes); once the venue holds them all, the hold starts: every
# STEP_SECS a random walk (SEED; steps of SIGMA, kept within BAND of 100.00) moves each
# symbol through POST /_sim/prices, and crossed orders fill, some in parts
# (partial_fill_rate PARTIAL_RATE). After the hold the prices stop and the intake has
# up to SETTLE_SECS to book the last fills. Then it prints and checks:
#   - venue calls per minute over the hold, by route, and 429s (scripts/venue_calls.sh
#     over the hold's lines of the simulator's recording): each minute <= 60, no 429;
#   - our orders stalled (a reason set) or in an unexpected status, and messages added
#     to the work dead-letter queue: 0;
#   - every order against the venue's (/_sim/orders): status, filled quantity, notional
#     (sum of qty x price) and the fills themselves (execution id, qty, price, time);
#     every venue execution booked exactly once: 0 mismatches.
# Exits 1 if any check fails (or nothing filled: the run proved nothing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${API_URL:?source the stack env first}" "${SIMULATOR_URL:?}" "${STACK_LOG_DIR:?}"
: "${WORK_DEAD_LETTER_QUEUE_URL:?}" "${AWS_ENDPOINT_URL:?}"
export SIM_RECORDING="${SIM_RECORDING:-$STACK_LOG_DIR/venue-exchanges.jsonl}"
export ORDERS="${ORDERS:-1000}" HOLD_SECS="${HOLD_SECS:-600}" SETTLE_SECS="${SETTLE_SECS:-60}"
export STEP_SECS="${STEP_SECS:-3}" SIGMA="${SIGMA:-0.10}" BAND="${BAND:-1.00}" MAX_OFFSET="${MAX_OFFSET:-6.00}"
export PARTIAL_RATE="${PARTIAL_RATE:-0.5}" SEED="${SEED:-14}" SYMBOLS="${SYMBOLS:-RSTA,RSTB,RSTC,RSTD}"
export PLACE_WAIT_SECS="${PLACE_WAIT_SECS:-1800}"
py="$ROOT/.venv/bin/python"
[[ -x "$py" ]] || py=python3
per_trader=50
traders="$(mktemp -t resting-traders.XXXXXX)"
trap 'rm -f "$traders"' EXIT
positions=()
IFS=, read -r -a symbols <<<"$SYMBOLS"
for s in "${symbols[@]}"; do positions+=(--position "$s=10000@100"); done
echo "== seeding $(((ORDERS + per_trader - 1) / per_trader)) traders" >&2
for ((n = 0; n < ORDERS; n += per_trader)); do
    trader="resting-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
    cargo run -q -p orders-admin -- seed --trader "$trader" --cash 1000000 "${positions[@]}" >/dev/null
    token="$(cargo run -q -p local-gateway -- token --trader "$trader" | tail -n 1)"
    echo "$trader $token $((ORDERS - n < per_trader ? ORDERS - n : per_trader))" >>"$traders"
done
"$py" - "$traders" <<'PY'
import collections, concurrent.futures, datetime, json, os, random, subprocess, sys, time, urllib.error, urllib.request, uuid
from decimal import Decimal

api, sim = os.environ["API_URL"], os.environ["SIMULATOR_URL"]
recording = os.environ["SIM_RECORDING"]
n_orders, hold, settle = int(os.environ["ORDERS"]), int(os.environ["HOLD_SECS"]), int(os.environ["SETTLE_SECS"])
step, sigma, band = float(os.environ["STEP_SECS"]), float(os.environ["SIGMA"]), Decimal(os.environ["BAND"])
max_offset = int(Decimal(os.environ["MAX_OFFSET"]) * 100)
symbols = os.environ["SYMBOLS"].split(",")
rng = random.Random(int(os.environ["SEED"]))
START = Decimal("100.00")
CENT = Decimal("0.01")
traders = [line.split() for line in open(sys.argv[1], encoding="utf-8") if line.strip()]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", file=sys.stderr, flush=True)


def call(method, url, body=None, token=None, key=None, tries=10):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(tries):
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            if e.code in (429, 502, 503, 504) and attempt + 1 < tries:
                time.sleep(1 + attempt)
                continue
            raise SystemExit(f"{method} {url}: {e.code} {e.read()[:300]!r}")
        except (urllib.error.URLError, TimeoutError) as e:
            if attempt + 1 < tries:
                time.sleep(1 + attempt)
                continue
            raise SystemExit(f"{method} {url}: {e}")


def recording_lines():
    with open(recording, "rb") as f:
        return sum(1 for _ in f)


def venue_orders(ids):
    return {o["client_order_id"]: o for o in call("GET", f"{sim}/_sim/orders")[1]["orders"] if o["client_order_id"] in ids}


def sim_prices(prices):
    call("POST", f"{sim}/_sim/prices", {s: str(p) for s, p in prices.items()})


# The simulator's own walk stands still; our walk alone moves the prices.
knobs_before = call("GET", f"{sim}/_sim/config")[1]
call("POST", f"{sim}/_sim/config", {"tick_ms": 86_400_000, "partial_fill_rate": float(os.environ["PARTIAL_RATE"])})
prices = {s: START for s in symbols}
sim_prices(prices)

# Place: each trader's orders, traders four at a time.
plan = []
for trader, token, n in traders:
    for _ in range(int(n)):
        side = rng.choice(["buy", "sell"])
        offset = Decimal(rng.randint(10, max_offset)) * CENT
        limit = START - offset if side == "buy" else START + offset
        plan.append((trader, token, rng.choice(symbols), side, rng.randint(1, 10), limit))


def submit(p):
    trader, token, symbol, side, qty, limit = p
    body = {"symbol": symbol, "side": side, "type": "limit", "quantity": str(qty), "limit_price": str(limit),
            "time_in_force": "gtc"}
    status, order = call("POST", f"{api}/orders", body, token=token, key=str(uuid.uuid4()))
    assert status == 201, (status, order)
    return order["order_id"]


log(f"submitting {len(plan)} resting GTC limit orders ({len(traders)} traders)")
t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    ids = list(pool.map(submit, plan))
owner = {i: (p[0], p[1]) for i, p in zip(ids, plan)}
idset = set(ids)
log(f"submitted in {time.monotonic() - t0:.0f} s; waiting until the venue holds them all")
deadline = time.monotonic() + int(os.environ["PLACE_WAIT_SECS"])
last_note = 0.0
while True:
    held = venue_orders(idset)
    working = sum(1 for o in held.values() if o["status"] in ("new", "accepted", "pending_new"))
    if working >= len(ids):
        break
    if time.monotonic() > deadline:
        raise SystemExit(f"only {working} of {len(ids)} held at the venue after {os.environ['PLACE_WAIT_SECS']} s")
    if time.monotonic() - last_note > 30:
        log(f"{working} of {len(ids)} working at the venue")
        last_note = time.monotonic()
    time.sleep(5)
log(f"all {working} working at the venue {time.monotonic() - t0:.0f} s after the first submit; hold {hold} s")

# Hold: a random walk every `step` seconds, kept within the band.
hold_from = recording_lines()
hold_start = time.monotonic()
lo, hi = START - band, START + band
seen = {s: [START, START] for s in symbols}
moves = 0
next_note = hold_start + 60
while time.monotonic() - hold_start < hold:
    time.sleep(step)
    for s in symbols:
        p = prices[s] + (Decimal(str(rng.gauss(0, sigma))).quantize(CENT))
        while p < lo or p > hi:
            p = 2 * lo - p if p < lo else 2 * hi - p
        prices[s] = p
        seen[s] = [min(seen[s][0], p), max(seen[s][1], p)]
    sim_prices(prices)
    moves += 1
    if time.monotonic() >= next_note:
        held = venue_orders(idset)
        filled = sum(1 for o in held.values() if o["fills"])
        log(f"{time.monotonic() - hold_start:.0f} s held: {filled} orders traded at the venue; prices "
            + ", ".join(f"{s} {p}" for s, p in prices.items()))
        next_note += 60
hold_to = recording_lines()
log(f"hold over after {moves} price moves; settling up to {settle} s")


def our_orders(token):
    out, cursor = [], None
    while True:
        url = f"{api}/orders?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = call("GET", url, token=token)[1]
        out += page["orders"]
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def all_ours():
    out = {}
    for _, token, _ in traders:
        for o in our_orders(token):
            if o["order_id"] in idset:
                out[o["order_id"]] = o
    return out


settle_start = time.monotonic()
while True:
    venue, ours = venue_orders(idset), all_ours()
    behind = [i for i in ids if Decimal(ours[i]["filled_quantity"]) != Decimal(venue[i]["filled_qty"] or "0")]
    if not behind or time.monotonic() - settle_start > settle:
        break
    time.sleep(2)
log(f"settled after {time.monotonic() - settle_start:.0f} s ({len(behind)} orders' filled quantity still behind)")


def fills_of(i):
    _, token = owner[i]
    return i, call("GET", f"{api}/orders/{i}/fills", token=token)[1]["fills"]


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    booked = dict(pool.map(fills_of, ids))


def ms(text):
    return round(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


STATUS = {"new": "SUBMITTED", "accepted": "SUBMITTED", "pending_new": "SUBMITTED",
          "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED"}
mismatched = wrong_status = unbooked = twice = foreign = 0
traded = parts = partial_now = 0
qty_total = notional_total = Decimal(0)
booked_ids = collections.Counter()
examples = []
for i in ids:
    v, o = venue[i], ours[i]
    vf = sorted((f["execution_id"], Decimal(f["qty"]), Decimal(f["price"]), ms(f["at"])) for f in v["fills"])
    of = sorted((f["execution_id"].split("::", 1)[-1], Decimal(f["quantity"]), Decimal(f["price"]), ms(f["executed_at"]))
                for f in booked[i])
    booked_ids.update(e for e, *_ in of)
    v_qty, o_qty = sum((q for _, q, _, _ in vf), Decimal(0)), sum((q for _, q, _, _ in of), Decimal(0))
    v_notional = sum((q * p for _, q, p, _ in vf), Decimal(0))
    o_notional = sum((q * p for _, q, p, _ in of), Decimal(0))
    same = (vf == of and v_qty == o_qty == Decimal(o["filled_quantity"]) == Decimal(v["filled_qty"] or "0")
            and v_notional == o_notional)
    if not same:
        mismatched += 1
        if len(examples) < 5:
            examples.append(f"order {i}: ours qty {o['filled_quantity']} fills {of}; venue qty {v['filled_qty']} executions {vf}")
    if STATUS.get(v["status"]) != o["status"]:
        wrong_status += 1
        if len(examples) < 5:
            examples.append(f"order {i}: ours {o['status']}, the venue's {v['status']}")
    if vf:
        traded += 1
        qty_total += v_qty
        notional_total += v_notional
    parts += len(vf) > 1
    partial_now += v["status"] == "partially_filled"
venue_execs = {f["execution_id"] for i in ids for f in venue[i]["fills"]}
unbooked = sum(1 for e in venue_execs if booked_ids[e] == 0)
twice = sum(1 for e, n in booked_ids.items() if n > 1)
foreign = sum(1 for e in booked_ids if e not in venue_execs)
stalled = sum(1 for o in ours.values() if o.get("reason"))
statuses = collections.Counter(o["status"] for o in ours.values())
unexpected = sum(n for s, n in statuses.items() if s not in ("SUBMITTED", "PARTIALLY_FILLED", "FILLED"))
dead = int(subprocess.run(
    [sys.executable, "-c", "import boto3, os, sys; a = boto3.client('sqs', endpoint_url=os.environ['AWS_ENDPOINT_URL'])"
     ".get_queue_attributes(QueueUrl=os.environ['WORK_DEAD_LETTER_QUEUE_URL'], AttributeNames=['ApproximateNumberOfMessages',"
     " 'ApproximateNumberOfMessagesNotVisible'])['Attributes']; print(sum(int(v) for v in a.values()))"],
    check=True, capture_output=True, text=True).stdout)

print(f"== {len(ids)} resting orders held {hold} s, {moves} price moves every {step:g} s; ranges "
      + ", ".join(f"{s} {a}-{b}" for s, (a, b) in seen.items()))
print("== venue calls a minute over the hold (simulator's rate window)")
calls = subprocess.run(["bash", "scripts/venue_calls.sh", recording, "--since-line", str(hold_from), "--until-line",
                        str(hold_to)], capture_output=True, text=True)
print(calls.stdout, end="")
last = calls.stdout.strip().splitlines()[-1] if calls.stdout.strip() else ""
try:
    busiest = int(last.split("busiest minute: ")[1].split()[0])
    refused = int(last.split("429s in all: ")[1])
except (IndexError, ValueError):
    raise SystemExit(f"venue_calls.sh said: {calls.stdout}{calls.stderr}")
print(f"== our orders: {dict(sorted(statuses.items()))}; with a reason (stalled): {stalled}; "
      f"in another status: {unexpected}; work dead-letter queue: {dead} message(s)")
print(f"== against the venue: {traded} orders traded ({traded * 100 / len(ids):.1f}%), {parts} in more than one "
      f"execution, {partial_now} still partially filled; {len(venue_execs)} venue executions, "
      f"{sum(booked_ids.values())} fills booked; qty {qty_total}, notional {notional_total}")
print(f"   orders whose fills, qty or notional differ from the venue's: {mismatched}; status differs: {wrong_status}; "
      f"venue executions not booked: {unbooked}, booked twice: {twice}; booked fills the venue does not have: {foreign}")
for e in examples:
    print(f"   {e}")
failures = []
if busiest > 60:
    failures.append(f"busiest minute {busiest} venue calls (> 60)")
if refused:
    failures.append(f"{refused} 429s during the hold")
if stalled or unexpected or dead:
    failures.append(f"{stalled} stalled, {unexpected} in another status, {dead} dead-lettered")
if mismatched or wrong_status or unbooked or twice or foreign:
    failures.append("booked fills differ from the venue's")
if not traded:
    failures.append("nothing traded during the hold: the prices never crossed a limit")
call("POST", f"{sim}/_sim/config", {k: knobs_before[k] for k in ("tick_ms", "partial_fill_rate")})
print("== " + ("FAIL: " + "; ".join(failures) if failures else "PASS"))
sys.exit(1 if failures else 0)
PY
