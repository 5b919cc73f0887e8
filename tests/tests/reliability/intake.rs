// Long because: three must-show scenarios of issue 14 sharing one comparison of our fills with the venue's
// executions.
//! The venue intake's must-show rows (issue 14): the intake stopped while orders fill
//! at the venue, then restarted; a resting order the venue replaced; a burst of
//! orders under a low venue rate limit. Each compares what we booked with the
//! venue's own executions (the simulator's `/_sim/orders`, following `replaced_by`):
//! the same execution ids, quantities and prices, so booked quantity and notional
//! equal the venue's to the cent.

use super::*;

use std::path::PathBuf;

use aws_sdk_sqs::types::QueueAttributeName;

/// Orders per scenario.
const ORDERS: usize = 4;

fn dec(v: &Value) -> Decimal {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

fn secs_from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number of seconds"))
        })
        .unwrap_or(default)
}

/// Every order the simulator holds (replacements included).
async fn all_venue_orders(s: &Stack) -> Vec<Value> {
    let url = format!("{}/_sim/orders", std::env::var("SIMULATOR_URL").expect("SIMULATOR_URL"));
    let body: Value = s.http.get(url).send().await.unwrap().json().await.unwrap();
    body["orders"].as_array().cloned().unwrap_or_default()
}

/// The venue's executions for our order `id`: those of its venue order and of every
/// replacement after it (`replaced_by`), as (execution id, qty, price), sorted.
async fn venue_executions(s: &Stack, id: &str) -> Vec<(String, Decimal, Decimal)> {
    let all = all_venue_orders(s).await;
    let mut out = Vec::new();
    let mut next = all.iter().find(|o| o["client_order_id"] == id);
    let mut hops = 0;
    while let Some(o) = next {
        for f in o["fills"].as_array().cloned().unwrap_or_default() {
            let execution = f["execution_id"].as_str().unwrap_or_default().to_owned();
            out.push((execution, dec(&f["qty"]), dec(&f["price"])));
        }
        hops += 1;
        next = match o["replaced_by"].as_str() {
            Some(by) if hops < 10 => all.iter().find(|r| r["id"] == by),
            _ => None,
        };
    }
    out.sort();
    out
}

/// Our fills of `id` as (execution id, quantity, price), sorted. We book the FILL
/// activity's id, `<yyyymmddhhmmssSSS>::<execution uuid>` (Alpaca's format); the
/// simulator's order view names the execution by its uuid: compared on that.
async fn booked(s: &Stack, trader: &TraderId, id: &str) -> Vec<(String, Decimal, Decimal)> {
    let token = s.token(trader);
    let fills = s.get(&format!("/orders/{id}/fills"), &token).await.unwrap().body;
    let mut out: Vec<(String, Decimal, Decimal)> = fills["fills"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            (
                {
                    let id = f["execution_id"].as_str().unwrap_or_default();
                    id.split_once("::").map_or(id, |(_, uuid)| uuid).to_owned()
                },
                dec(&f["quantity"]),
                dec(&f["price"]),
            )
        })
        .collect();
    out.sort();
    out
}

/// What the books say against the venue, over `ids`.
#[derive(Default)]
struct Books {
    /// Executions at the venue, and fills booked.
    executions: usize,
    fills: usize,
    /// Orders whose fills are not exactly the venue's executions (one missing, one
    /// twice, another quantity or price), or whose quantity or notional to the cent
    /// differ.
    mismatched: u64,
}

async fn books_against_venue(s: &Stack, trader: &TraderId, ids: &[String]) -> Books {
    let mut b = Books::default();
    for id in ids {
        let venue = venue_executions(s, id).await;
        let ours = booked(s, trader, id).await;
        let totals = |v: &[(String, Decimal, Decimal)]| {
            let qty: Decimal = v.iter().map(|(_, q, _)| *q).sum();
            let notional: Decimal = v.iter().map(|(_, q, p)| shared::domain::money::cents(*q * *p)).sum();
            (qty, notional)
        };
        if venue != ours || totals(&venue) != totals(&ours) {
            eprintln!("order {id}: booked {ours:?}, the venue's executions {venue:?}");
            b.mismatched += 1;
        }
        b.executions += venue.len();
        b.fills += ours.len();
    }
    b
}

/// The local stacks pause the intake's schedule with a file (`tools/mapper
/// --schedule-pause-dir $STACK_LOG_DIR/schedules`). Dropping the guard resumes it.
struct IntakePaused {
    paused: PathBuf,
}

impl IntakePaused {
    /// Pauses the schedule and waits until the run in flight (if any) has ended.
    async fn start() -> Self {
        let dir = PathBuf::from(std::env::var("STACK_LOG_DIR").expect("STACK_LOG_DIR (make test starts the stack)"))
            .join("schedules");
        std::fs::create_dir_all(&dir).unwrap();
        let paused = dir.join("intake.paused");
        std::fs::write(&paused, b"").unwrap();
        let guard = Self { paused };
        let running = dir.join("intake.running");
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while running.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the intake's run in flight did not end within 90 s of the pause"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        guard
    }
}

impl Drop for IntakePaused {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.paused);
    }
}

/// The status of every order of `ids` (`GET /orders/{id}`).
async fn statuses(s: &Stack, trader: &TraderId, ids: &[String]) -> Vec<String> {
    let finals = final_versions(s, trader, ids).await.unwrap();
    finals.into_values().map(|(status, _)| status).collect()
}

/// SPEC §6 / issue 14: the intake stopped (its schedule paused) while orders fill at
/// the venue, then restarted: it catches up from its durable cursor and books every
/// execution exactly once. `INTAKE_OUTAGE_SECS` sets the outage (default 15; the
/// issue's 2 minutes: 120).
#[tokio::test]
#[ignore = "needs the local stack with mappings (API_URL): make test starts it"]
async fn intake_outage_every_fill_booked_once_after_the_restart() {
    // Pausing the intake holds up every scenario's fills: run alone.
    let _knobs = KNOBS.write().await;
    let s = stack().await;
    let panics = panics_so_far();
    let outage = Duration::from_secs(secs_from_env("INTAKE_OUTAGE_SECS", 15));
    let mut row = Row::new(
        4,
        "intake outage",
        &format!(
            "the venue intake stopped for {} s (its schedule paused) while resting and new orders fill at the venue, then restarted",
            outage.as_secs()
        ),
    );
    let cash = "1000000";
    let trader = s.trader(cash, None).await.unwrap();
    let tap = EventTap::new(&s, &trader).await.unwrap();
    fresh_market(&s, &["OUTG"]).await;
    // Resting buys under the market (100), working at the venue before the outage.
    let bodies: Vec<Value> = (0..ORDERS).map(|_| limit("OUTG", "3", "95", "gtc")).collect();
    let (mut all_statuses, resting) = submit_all(&s, &trader, &bodies).await;
    assert_eq!(resting.len(), ORDERS, "{all_statuses:?}");
    row.lost_orders += wait_all(&s, &trader, &resting, &["SUBMITTED"]).await;
    for id in &resting {
        s.wait_at_venue(id, WAIT).await.unwrap();
    }

    let paused = IntakePaused::start().await;
    let stopped = std::time::Instant::now();
    // While it is down: the market comes down through the resting buys, and new
    // marketable buys are placed (execute runs) and fill at once.
    s.sim_prices(json!({"OUTG": "90"})).await.unwrap();
    let bodies: Vec<Value> = (0..ORDERS).map(|_| limit("OUTG", "2", "1000", "day")).collect();
    let (more_statuses, marketable) = submit_all(&s, &trader, &bodies).await;
    all_statuses.extend(more_statuses);
    assert_eq!(marketable.len(), ORDERS, "{all_statuses:?}");
    let ids: Vec<String> = resting.iter().chain(&marketable).cloned().collect();
    for id in &marketable {
        s.wait_at_venue(id, WAIT).await.unwrap();
    }
    tokio::time::sleep(outage.saturating_sub(stopped.elapsed())).await;
    // Filled at the venue, nothing booked: the intake was down.
    let mut at_venue = 0;
    for id in &ids {
        at_venue += venue_executions(&s, id).await.len();
    }
    let during = statuses(&s, &trader, &ids).await;
    let booked_during = during.iter().filter(|st| *st != "SUBMITTED").count();
    assert_eq!(
        at_venue,
        2 * ORDERS,
        "every order filled at the venue during the outage"
    );
    assert_eq!(booked_during, 0, "nothing booked while the intake was down: {during:?}");
    let down = stopped.elapsed();

    drop(paused);
    let restarted = std::time::Instant::now();
    row.lost_orders += wait_all(&s, &trader, &ids, &["FILLED"]).await;
    let caught_up = restarted.elapsed();
    let books = books_against_venue(&s, &trader, &ids).await;
    row.wrong_balances += books.mismatched;
    tally(&s, &mut row, &trader, cash, &ids, &tap).await;
    row.server_errors = server_errors(all_statuses.iter().copied());
    row.operations = ids.len() as u64;
    row.notes = format!(
        "intake down {:.1} s: {at_venue} executions at the venue meanwhile, 0 booked; all {} orders FILLED {:.1} s after the restart; \
         {} fills booked for {} venue executions, each once; orders whose booked qty or notional differ from the venue's: {}",
        down.as_secs_f64(),
        ids.len(),
        caught_up.as_secs_f64(),
        books.fills,
        books.executions,
        books.mismatched
    );
    row.panics = panics_so_far() - panics;
    row.record_and_check();
}

/// Issue 14: the venue replaces a resting GTC limit (`/_sim/replace`, as for a
/// corporate action): our order keeps working through the replacement, nothing is
/// released while it works, and its fills are booked to our order.
#[tokio::test]
#[ignore = "needs the local stack with mappings (API_URL): make test starts it"]
async fn a_replaced_order_books_the_replacements_fills_and_releases_nothing_early() {
    let _knobs = KNOBS.read().await;
    let s = stack().await;
    let panics = panics_so_far();
    let mut row = Row::new(
        3,
        "venue replaced the order",
        "the venue replaces resting GTC limits (a new venue order at a lower limit, replaced_by), then the market crosses the replacements",
    );
    let cash = "100000";
    let trader = s.trader(cash, None).await.unwrap();
    let token = s.token(&trader);
    let tap = EventTap::new(&s, &trader).await.unwrap();
    fresh_market(&s, &["REPL"]).await;
    let bodies: Vec<Value> = (0..ORDERS).map(|_| limit("REPL", "5", "95", "gtc")).collect();
    let (all_statuses, ids) = submit_all(&s, &trader, &bodies).await;
    assert_eq!(ids.len(), ORDERS, "{all_statuses:?}");
    row.lost_orders += wait_all(&s, &trader, &ids, &["SUBMITTED"]).await;
    for id in &ids {
        s.wait_at_venue(id, WAIT).await.unwrap();
    }
    let reserved_before = dec(&s.get("/account", &token).await.unwrap().body["reserved"]);
    let replace_url = format!(
        "{}/_sim/replace",
        std::env::var("SIMULATOR_URL").expect("SIMULATOR_URL")
    );
    let mut replacements = Vec::new();
    for id in &ids {
        let r = s
            .http
            .post(&replace_url)
            .json(&json!({"client_order_id": id, "limit_price": "94"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "replace {id}: {}", r.status());
        let replacement: Value = r.json().await.unwrap();
        replacements.push(replacement["id"].as_str().unwrap_or_default().to_owned());
    }
    // Several sweeps (one a second locally) see the originals gone from the open
    // orders and follow them: still working, nothing released.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = statuses(&s, &trader, &ids).await;
    let reserved_during = dec(&s.get("/account", &token).await.unwrap().body["reserved"]);
    let released_early =
        during.iter().filter(|st| *st != "SUBMITTED").count() as u64 + u64::from(reserved_during != reserved_before);
    row.wrong_balances += released_early;
    // The replacements' limit is 94 (an adjustment down, as for a dividend): 93
    // crosses them (the replaced originals no longer work), each fills at 93.
    s.sim_prices(json!({"REPL": "93"})).await.unwrap();
    row.lost_orders += wait_all(&s, &trader, &ids, &["FILLED"]).await;
    let books = books_against_venue(&s, &trader, &ids).await;
    row.wrong_balances += books.mismatched;
    let mut replacement_fills = 0;
    for id in &ids {
        replacement_fills += booked(&s, &trader, id).await.len();
    }
    let reserved_after = dec(&s.get("/account", &token).await.unwrap().body["reserved"]);
    tally(&s, &mut row, &trader, cash, &ids, &tap).await;
    row.server_errors = server_errors(all_statuses.iter().copied());
    row.operations = (ids.len() * 2) as u64;
    row.notes = format!(
        "{} orders replaced at the venue ({} replacement venue orders); while the replacements worked: statuses {:?}, \
         reserved {reserved_during} (before {reserved_before}); all FILLED by the replacements: {replacement_fills} fills \
         booked for {} venue executions, mismatched orders {}; reserved after {reserved_after}",
        ids.len(),
        replacements.len(),
        during,
        books.executions,
        books.mismatched
    );
    row.panics = panics_so_far() - panics;
    row.record_and_check();
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let attrs = out.attributes().cloned().unwrap_or_default();
    attrs.values().filter_map(|v| v.parse::<u64>().ok()).sum()
}

/// Spends the functions' venue key's requests for the current minute of the
/// simulator's window, with at least 20 s of it left (so the refusals last into the
/// burst): cheap lookups under that key until the venue answers 429.
async fn spend_the_venue_window(s: &Stack, sim: &str) {
    let key = std::env::var("VENUE_API_KEY_ID").unwrap_or_else(|_| "local".into());
    let lookup = || {
        s.http
            .get(format!("{sim}/v2/orders/spend-the-window"))
            .header("APCA-API-KEY-ID", key.as_str())
            .header("APCA-API-SECRET-KEY", "spend")
            .send()
    };
    for _ in 0..3 {
        let first = lookup().await.unwrap();
        let reset = first
            .headers()
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .expect("the venue's X-RateLimit-Reset");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let left = reset - now;
        if left < 20 {
            tokio::time::sleep(Duration::from_secs(left.max(0) as u64 + 1)).await;
            continue;
        }
        for _ in 0..10_000 {
            if lookup().await.unwrap().status() == 429 {
                return;
            }
        }
    }
    panic!("the venue's window could not be spent");
}

/// The venue's 429 answers recorded so far (`$STACK_LOG_DIR/venue-exchanges.jsonl`).
fn venue_429s() -> usize {
    let dir = std::env::var("STACK_LOG_DIR").expect("STACK_LOG_DIR (make test starts the stack)");
    let text = std::fs::read_to_string(PathBuf::from(dir).join("venue-exchanges.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|x| x["status"] == 429)
        .count()
}

/// SPEC §6: a rate limit never dead-letters or stalls an order. The venue's limit
/// set low (`VENUE_LIMIT_SCENARIO_PER_MIN`, default 40 a minute, far under what the
/// functions' budget paces to locally, so the venue's own 429s do the limiting), a
/// burst of marketable orders: every one placed once and filled, none dead-lettered
/// or stalled.
#[tokio::test]
#[ignore = "needs the local stack with mappings (API_URL): make test starts it"]
async fn a_burst_under_the_venues_rate_limit_fills_every_order_without_dead_letters() {
    // The venue's limit is global: run alone.
    let _knobs = KNOBS.write().await;
    let s = stack().await;
    let panics = panics_so_far();
    let limit_per_min = secs_from_env("VENUE_LIMIT_SCENARIO_PER_MIN", 40);
    const BURST: usize = 20;
    let mut row = Row::new(
        4,
        "venue rate limit",
        &format!(
            "the venue's limit at {limit_per_min} requests a minute (429 with X-RateLimit-*), a burst of {BURST} marketable orders at once"
        ),
    );
    let cash = "1000000";
    let limits = shared::domain::RiskLimits {
        orders_per_minute: 1_000,
        max_open_orders: 1_000,
        ..shared::domain::RiskLimits::default()
    };
    let trader = s.trader(cash, Some(limits)).await.unwrap();
    let tap = EventTap::new(&s, &trader).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&shared::adapters::aws::sdk_config().await);
    let dlq = std::env::var("WORK_DEAD_LETTER_QUEUE_URL").expect("WORK_DEAD_LETTER_QUEUE_URL");
    let dead_before = queue_depth(&sqs, &dlq).await;
    fresh_market(&s, &["RATE"]).await;
    let sim = std::env::var("SIMULATOR_URL").expect("SIMULATOR_URL");
    let knobs: Value = s
        .http
        .get(format!("{sim}/_sim/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let limit_before = knobs["rate_limit_per_min"].clone();
    s.sim_config(json!({"rate_limit_per_min": limit_per_min}))
        .await
        .unwrap();
    // The burst arrives with the functions' key already out of requests for the
    // minute, so its placements meet the venue's 429 for certain (with fewer calls of
    // our own, a burst alone may stay under the limit, or straddle two windows).
    spend_the_venue_window(&s, &sim).await;
    let refused_before = venue_429s();
    let started = std::time::Instant::now();
    let bodies: Vec<Value> = (0..BURST).map(|_| limit("RATE", "1", "1000", "gtc")).collect();
    let (all_statuses, ids) = submit_all(&s, &trader, &bodies).await;
    assert_eq!(ids.len(), BURST, "every submit accepted: {all_statuses:?}");
    // A few windows of the venue's minute: the limit holds everyone back in turn.
    let within = Duration::from_secs(secs_from_env("VENUE_LIMIT_SCENARIO_WAIT_SECS", 240));
    let waits = join_all(ids.iter().map(|id| s.wait_for_status(&trader, id, &["FILLED"], within))).await;
    let unfilled = waits
        .iter()
        .filter(|w| w.as_ref().inspect_err(|e| eprintln!("{e}")).is_err())
        .count() as u64;
    let took = started.elapsed();
    let refused = venue_429s() - refused_before;
    s.sim_config(json!({"rate_limit_per_min": limit_before})).await.unwrap();
    row.lost_orders += unfilled;
    let dead = queue_depth(&sqs, &dlq).await.saturating_sub(dead_before);
    let mut stalled = 0;
    for id in &ids {
        let records = s.store.records(&OrderId::parse(id).unwrap()).await.unwrap();
        stalled += u64::from(records.iter().any(|r| r.action == "STALL"));
    }
    row.lost_orders += dead + stalled;
    let books = books_against_venue(&s, &trader, &ids).await;
    row.wrong_balances += books.mismatched;
    tally(&s, &mut row, &trader, cash, &ids, &tap).await;
    // The limit lifted: the venue path is open again before the next scenario runs
    // (the functions honoured the venue's reset time; it has passed).
    let probe = s.trader(cash, None).await.unwrap();
    let (probe_statuses, probe_ids) = submit_all(&s, &probe, &[limit("RATE", "1", "1000", "day")]).await;
    assert_eq!(probe_ids.len(), 1, "{probe_statuses:?}");
    let after = std::time::Instant::now();
    row.lost_orders += wait_all(&s, &probe, &probe_ids, &["FILLED"]).await;
    row.wrong_balances += u64::from(
        wrong_balance(&s, &probe, cash.parse().unwrap(), &probe_ids)
            .await
            .unwrap(),
    );
    row.server_errors = server_errors(all_statuses.iter().copied());
    row.operations = BURST as u64 + 1;
    row.notes = format!(
        "venue answered 429 {refused} times; all {BURST} FILLED in {:.1} s, one venue order each; dead-lettered {dead}, \
         stalled {stalled}; {} fills for {} venue executions, mismatched orders {}; an order after the limit lifted \
         filled in {:.1} s",
        took.as_secs_f64(),
        books.fills,
        books.executions,
        books.mismatched,
        after.elapsed().as_secs_f64()
    );
    assert!(
        refused > 0,
        "the venue never refused a request: the scenario did not reach its limit"
    );
    row.panics = panics_so_far() - panics;
    row.record_and_check();
}
