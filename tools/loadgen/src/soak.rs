//! `orders-load soak` (issue 6, scenario 8): the load's mix at N traders for a
//! duration with the venue failing a fraction of its requests, then every check of
//! the reliability report, measured: lost orders (accepted, then missing or not
//! terminal), duplicated venue orders (the simulator's orders per client order
//! id), lost events (versions 1..=final of each order not seen on the tap), wrong
//! balances (per trader, against the venue's fills: cash = start − Σ qty × price,
//! reserved 0, no open orders, positions = Σ qty, to the cent), 5xx answers,
//! panics in the stack's logs, and the functions' memory (RSS growth after the
//! warm-up). Writes the group-8 row and fails if anything is not 0.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use e2e::Stack;
use e2e::report::{Row, panics_so_far};
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::domain::{OrderId, TraderId};
use shared::ports::OrderStore;

use crate::mix::Mix;
use crate::rss::{Growth, Sampler, growth};
use crate::run::{Limit, RunConfig, TERMINAL};

const CASH: &str = "10000000";

pub struct SoakConfig {
    pub traders: usize,
    pub duration: Duration,
    pub venue_error_rate: f64,
    pub settle: Duration,
    pub seed: u64,
    pub json: Option<String>,
}

pub async fn soak(cfg: SoakConfig) -> anyhow::Result<()> {
    let stack = Arc::new(Stack::from_env().await?);
    let sim = std::env::var("SIMULATOR_URL").context("SIMULATOR_URL is not set")?;
    let before: Value = stack
        .http
        .get(format!("{sim}/_sim/config"))
        .send()
        .await?
        .json()
        .await?;
    let panics_before = panics_so_far();
    let retries_before = log_lines("will retry");
    stack.sim_config(json!({"error_rate": cfg.venue_error_rate})).await?;
    let sampler = Sampler::start(stack.resources.orders_table.clone(), Duration::from_secs(10));
    let run_cfg = RunConfig {
        traders: cfg.traders,
        limit: Limit::Duration(cfg.duration),
        seed: cfg.seed,
        mix: Mix::default(),
        cash: CASH,
        settle: cfg.settle,
        tap_receivers: 4,
    };
    eprintln!(
        "orders-load soak: {} traders for {} s, venue error rate {}",
        cfg.traders,
        cfg.duration.as_secs(),
        cfg.venue_error_rate
    );
    let result = crate::run::run(stack.clone(), &run_cfg).await;
    let samples = sampler.stop().await;
    // Restore the venue whatever happened.
    let restore = json!({"error_rate": before["error_rate"].as_f64().unwrap_or(0.0)});
    stack.sim_config(restore).await?;
    let result = result?;

    let log = &result.log;
    let placed = &log.placed;
    eprintln!("orders-load soak: {} orders accepted; checking", placed.len());
    let mut row = Row::new(
        8,
        &format!("soak: {} traders for {} s", cfg.traders, cfg.duration.as_secs()),
        &format!("{:.0}% venue errors (500/503)", cfg.venue_error_rate * 100.0),
    );
    row.operations = (log.submit.len() + log.cancel.len()) as u64;

    // The orders as stored now.
    let orders: Vec<(String, usize, Option<shared::domain::Order>)> = futures::stream::iter(placed.iter())
        .map(|p| {
            let stack = stack.clone();
            let trader = result.traders[p.trader].clone();
            async move {
                let found = match OrderId::parse(&p.id) {
                    Ok(id) => stack.store.get_order(&trader, &id).await.ok().flatten(),
                    Err(_) => None,
                };
                (p.id.clone(), p.trader, found)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut not_terminal = Vec::new();
    for (id, _, o) in &orders {
        match o {
            Some(o) if TERMINAL.contains(&o.status.as_str()) => {}
            Some(o) => not_terminal.push(format!("{id} {}", o.status.as_str())),
            None => not_terminal.push(format!("{id} missing")),
        }
    }
    row.lost_orders = not_terminal.len() as u64;

    // The venue's orders, by client order id (= our order id).
    let venue: Value = stack
        .http
        .get(format!("{sim}/_sim/orders"))
        .send()
        .await?
        .json()
        .await?;
    let mut at_venue: HashMap<String, Vec<&Value>> = HashMap::new();
    for v in venue["orders"].as_array().into_iter().flatten() {
        if let Some(c) = v["client_order_id"].as_str() {
            at_venue.entry(c.to_owned()).or_default().push(v);
        }
    }
    row.duplicated_venue_orders = orders
        .iter()
        .map(|(id, _, _)| at_venue.get(id).map_or(0, |v| v.len().saturating_sub(1)) as u64)
        .sum();

    // Events: every version up to the stored one.
    {
        let seen = result.events.lock().unwrap_or_else(|p| p.into_inner());
        row.lost_events = orders
            .iter()
            .filter_map(|(id, _, o)| {
                o.as_ref()
                    .map(|o| crate::tap::missing_versions(seen.get(id), o.version))
            })
            .sum();
    }

    // Balances, per trader, against what the venue filled.
    let mut expected: Vec<(Decimal, BTreeMap<String, Decimal>)> =
        vec![(Decimal::ZERO, BTreeMap::new()); result.traders.len()];
    for (id, trader, _) in &orders {
        for v in at_venue.get(id).into_iter().flatten() {
            for f in v["fills"].as_array().into_iter().flatten() {
                let qty = dec(&f["qty"])?;
                let price = dec(&f["price"])?;
                let symbol = v["symbol"].as_str().unwrap_or_default().to_owned();
                expected[*trader].0 += qty * price;
                *expected[*trader].1.entry(symbol).or_default() += qty;
            }
        }
    }
    let start: Decimal = CASH.parse()?;
    let mut wrong = Vec::new();
    for (i, trader) in result.traders.iter().enumerate() {
        let why = account_mismatch(&stack, trader, start, &expected[i]).await?;
        if let Some(why) = why {
            wrong.push(format!("{trader}: {why}"));
        }
    }
    row.wrong_balances = wrong.len() as u64;
    row.server_errors = log.server_errors;
    row.panics = panics_so_far().saturating_sub(panics_before);
    let execute_retries = log_lines("will retry").saturating_sub(retries_before);

    let warm_up = if cfg.duration >= Duration::from_secs(120) {
        Duration::from_secs(60)
    } else {
        cfg.duration / 5
    };
    let grown = growth(&samples, warm_up);
    let leaks: Vec<&Growth> = grown.iter().filter(|g| g.is_leak()).collect();
    row.notes = format!(
        "{}; work messages the execute function failed and left to SQS to retry (its `will retry` log lines): {execute_retries}",
        notes(&result, &grown, &leaks, warm_up, &not_terminal, &wrong)
    );
    eprintln!("orders-load soak: {}", row.to_json());
    if let Some(path) = &cfg.json {
        std::fs::write(path, serde_json::to_string_pretty(&row.to_json())?)
            .with_context(|| format!("writing {path}"))?;
    }
    let leaked = !leaks.is_empty();
    let checked = std::panic::catch_unwind(|| row.record_and_check());
    if checked.is_err() {
        bail!("the soak found lost or wrong things (the row above)");
    }
    if leaked {
        bail!("function memory grew after the warm-up (the row's notes)");
    }
    if grown.is_empty() {
        bail!("no function process of this stack was found under /proc: memory not measured");
    }
    Ok(())
}

/// Lines containing `text` in the stack's logs (`STACK_LOG_DIR/*.log`); 0 without it.
fn log_lines(text: &str) -> u64 {
    let Some(dir) = std::env::var_os("STACK_LOG_DIR") else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|t| t.lines().filter(|l| l.contains(text)).count() as u64)
        .sum()
}

fn dec(v: &Value) -> anyhow::Result<Decimal> {
    let text = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    text.parse()
        .with_context(|| format!("`{text}` from the venue is not a decimal"))
}

/// Why the account differs from what its fills imply, to the cent; None if it does not.
async fn account_mismatch(
    stack: &Stack,
    trader: &TraderId,
    start: Decimal,
    expected: &(Decimal, BTreeMap<String, Decimal>),
) -> anyhow::Result<Option<String>> {
    let Some(a) = stack.store.get_account(trader).await? else {
        return Ok(Some("no account".into()));
    };
    let cent = Decimal::new(1, 2);
    let mut why = Vec::new();
    let cash = start - expected.0;
    if (a.cash - cash).abs() >= cent {
        why.push(format!(
            "cash {} but start {start} − fills {} = {cash}",
            a.cash, expected.0
        ));
    }
    if !a.reserved.is_zero() {
        why.push(format!("reserved {} with every order terminal", a.reserved));
    }
    if a.open_orders != 0 {
        why.push(format!(
            "{} open orders counted with every order terminal",
            a.open_orders
        ));
    }
    for p in &a.positions {
        let want = expected.1.get(p.symbol.as_str()).copied().unwrap_or_default();
        if p.quantity != want || !p.reserved.is_zero() {
            why.push(format!(
                "{} {} (reserved {}) but fills give {want}",
                p.symbol.as_str(),
                p.quantity,
                p.reserved
            ));
        }
    }
    for (symbol, qty) in &expected.1 {
        if !a.positions.iter().any(|p| p.symbol.as_str() == symbol) && !qty.is_zero() {
            why.push(format!("no {symbol} position but fills give {qty}"));
        }
    }
    Ok((!why.is_empty()).then(|| why.join("; ")))
}

fn notes(
    r: &crate::run::RunResult,
    grown: &[Growth],
    leaks: &[&Growth],
    warm_up: Duration,
    not_terminal: &[String],
    wrong: &[String],
) -> String {
    let l = &r.log;
    let mut parts = vec![format!(
        "{} orders accepted ({:.1}/s), {} cancels; final submit answers {:?}, cancel answers {:?}; {} retried \
         (409/429/503); 5xx answers by status {:?}; events awaited over a minute: {}",
        l.placed.len(),
        l.placed.len() as f64 / r.submit_phase.as_secs_f64().max(0.001),
        l.cancel.len(),
        l.submit_answers,
        l.cancel_answers,
        l.retries,
        l.server_error_statuses,
        l.unfinished
    )];
    let mut by_function: BTreeMap<&str, (i64, u64, u64, usize)> = BTreeMap::new();
    for g in grown {
        let e = by_function.entry(g.function.as_str()).or_insert((i64::MIN, 0, 0, 0));
        if g.grew_kib() > e.0 {
            *e = (g.grew_kib(), g.warm_kib, g.end_kib, e.3);
        }
        e.3 += 1;
    }
    let rss: Vec<String> = by_function
        .iter()
        .map(|(f, (grew, warm, end, n))| {
            format!(
                "{f} {:.1}→{:.1} MiB ({:+.1}, {n} inst.)",
                *warm as f64 / 1024.0,
                *end as f64 / 1024.0,
                *grew as f64 / 1024.0
            )
        })
        .collect();
    let leaking: Vec<String> = leaks.iter().map(|g| format!("{} pid {}", g.function, g.pid)).collect();
    parts.push(format!(
        "RSS after {} s warm-up → end, worst instance: {}; leak rule >10% and >8 MiB: {} leaking {}",
        warm_up.as_secs(),
        rss.join(", "),
        leaks.len(),
        leaking.join(", ")
    ));
    if !not_terminal.is_empty() {
        parts.push(format!(
            "not terminal: {}",
            not_terminal.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !wrong.is_empty() {
        parts.push(format!(
            "wrong: {}",
            wrong.iter().take(3).cloned().collect::<Vec<_>>().join(" | ")
        ));
    }
    if l.transport_errors > 0 || r.tap_errors > 0 {
        parts.push(format!(
            "transport errors {}, tap errors {}",
            l.transport_errors, r.tap_errors
        ));
    }
    parts.join("; ")
}
