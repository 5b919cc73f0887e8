//! `orders-load live`: WebSocket clients of the live order stream (issue 18) connected
//! while a load run goes on. Every client must receive every status event of its own
//! trader's orders (the tap's events are the reference), in version order per order,
//! and nothing of another trader; commit → client latency is reported as p50 / p99,
//! with the stages of the way when the stack logs them (tools/mapper/src/stages.rs).
//! Exits non-zero on any missing, foreign or out-of-order event.
//!
//! ```text
//! orders-load live --clients 200 --traders 100 --orders 1000 [--settle-secs 60] [--seed N] [--json FILE]
//! ```
//! Clients are spread over the traders in turn (client i is trader i mod traders').

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use e2e::Stack;
use futures::StreamExt;
use local_mappings::stages::{self, Arrival};
use serde_json::{Value, json};
use shared::domain::{Timestamp, TraderId};
use tokio_tungstenite::tungstenite::Message;

use crate::mix::Mix;
use crate::run::{Limit, RunConfig};

pub struct LiveConfig {
    pub clients: usize,
    pub traders: usize,
    pub orders: usize,
    pub settle: Duration,
    pub seed: u64,
    pub json: Option<String>,
}

/// One update as a client received it.
#[derive(Clone, Debug)]
struct Got {
    order_id: String,
    version: u64,
    trader_id: String,
    commit_ms: i64,
    received_ms: i64,
}

/// What one client saw.
#[derive(Default)]
struct Client {
    got: Mutex<Vec<Got>>,
    /// Messages that were not order updates of the stream's shape.
    odd: Mutex<Vec<String>>,
    closed: AtomicBool,
}

fn live_url(token: &str) -> anyhow::Result<String> {
    let api = std::env::var("API_URL").context("API_URL is not set (the stack's env)")?;
    Ok(format!(
        "{}?token={token}",
        api.replace("http://", "ws://").replace("/api/v1", "/live")
    ))
}

fn parse(text: &str) -> Option<Got> {
    let m: Value = serde_json::from_str(text).ok()?;
    if m["type"] != "order_update" {
        return None;
    }
    Some(Got {
        order_id: m["order_id"].as_str()?.to_owned(),
        version: m["version"].as_u64()?,
        trader_id: m["trader_id"].as_str()?.to_owned(),
        commit_ms: Timestamp::parse(m["timestamp"].as_str()?).ok()?.unix_millis(),
        received_ms: Timestamp::now().unix_millis(),
    })
}

async fn connect(url: &str, client: Arc<Client>, stop: Arc<AtomicBool>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .with_context(|| "connecting a client to /live".to_owned())?;
    Ok(tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(Message::Text(text)))) => match parse(&text) {
                    Some(g) => client.got.lock().unwrap_or_else(|p| p.into_inner()).push(g),
                    None => client
                        .odd
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(text.chars().take(200).collect()),
                },
                Ok(Some(Ok(_))) => {}
                Ok(None) | Ok(Some(Err(_))) => {
                    client.closed.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
        let _ = futures::SinkExt::close(&mut socket).await;
    }))
}

/// The findings of one client against the events its trader's orders had.
#[derive(Debug, Default)]
struct Check {
    missing: usize,
    foreign: usize,
    out_of_order: usize,
    duplicates: usize,
}

fn check(got: &[Got], trader: &str, expected: &BTreeSet<(String, u64)>) -> (Check, Vec<String>) {
    let mut c = Check::default();
    let mut notes = Vec::new();
    let mut highest: HashMap<&str, u64> = HashMap::new();
    let mut seen: BTreeSet<(String, u64)> = BTreeSet::new();
    for g in got {
        if g.trader_id != trader {
            c.foreign += 1;
            notes.push(format!("foreign: {} v{} of {}", g.order_id, g.version, g.trader_id));
            continue;
        }
        if !seen.insert((g.order_id.clone(), g.version)) {
            c.duplicates += 1;
            continue;
        }
        let h = highest.entry(&g.order_id).or_insert(0);
        if g.version < *h {
            c.out_of_order += 1;
            notes.push(format!("out of order: {} v{} after v{}", g.order_id, g.version, h));
        }
        *h = (*h).max(g.version);
    }
    for e in expected.difference(&seen) {
        c.missing += 1;
        notes.push(format!("missing: {} v{}", e.0, e.1));
    }
    (c, notes)
}

pub async fn live(cfg: LiveConfig) -> anyhow::Result<()> {
    anyhow::ensure!(
        cfg.traders >= 1 && cfg.clients >= cfg.traders,
        "--clients ({}) must be at least --traders ({}), which must be at least 1",
        cfg.clients,
        cfg.traders
    );
    let stack = Arc::new(Stack::from_env().await?);
    let ids: Vec<TraderId> = crate::run::traders(&stack, cfg.traders, "10000000")
        .await
        .context("funding the traders")?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    let mut readers = Vec::new();
    for i in 0..cfg.clients {
        let trader = i % cfg.traders;
        let client = Arc::new(Client::default());
        let url = live_url(&stack.token_with(json!({"sub": ids[trader].as_str()}), 3600))?;
        readers.push(connect(&url, client.clone(), stop.clone()).await?);
        clients.push((trader, client));
    }
    eprintln!(
        "orders-load live: {} clients of {} traders connected; {} orders over HTTP",
        cfg.clients, cfg.traders, cfg.orders
    );
    let started = Instant::now();
    let run_cfg = RunConfig {
        traders: cfg.traders,
        limit: Limit::Orders(cfg.orders),
        seed: cfg.seed,
        mix: Mix::default(),
        cash: "10000000",
        settle: Duration::from_secs(120 + cfg.orders as u64 / 50),
        tap_receivers: 4,
    };
    let result = crate::run::run_as(stack.clone(), &run_cfg, ids.clone()).await?;
    // Every trader's expected events: what the tap saw of its orders.
    let mut expected: Vec<BTreeSet<(String, u64)>> = vec![BTreeSet::new(); cfg.traders];
    {
        let events = result.events.lock().unwrap_or_else(|p| p.into_inner());
        for placed in &result.log.placed {
            for r in events.get(&placed.id).into_iter().flatten() {
                expected[placed.trader].insert((placed.id.clone(), r.version));
            }
        }
    }
    // Until every client has every expected event, or the settle time passed.
    let settle_until = Instant::now() + cfg.settle;
    loop {
        let complete = clients.iter().all(|(t, c)| {
            let got = c.got.lock().unwrap_or_else(|p| p.into_inner());
            let seen: BTreeSet<(String, u64)> = got.iter().map(|g| (g.order_id.clone(), g.version)).collect();
            expected[*t].is_subset(&seen)
        });
        if complete || Instant::now() >= settle_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let connected_secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.await;
    }

    let mut total = Check::default();
    let mut notes = Vec::new();
    let mut arrivals = Vec::new();
    let (mut received, mut closed, mut odd) = (0usize, 0usize, 0usize);
    for (t, c) in &clients {
        let got = c.got.lock().unwrap_or_else(|p| p.into_inner());
        received += got.len();
        closed += usize::from(c.closed.load(Ordering::Relaxed));
        odd += c.odd.lock().unwrap_or_else(|p| p.into_inner()).len();
        let (found, n) = check(&got, ids[*t].as_str(), &expected[*t]);
        total.missing += found.missing;
        total.foreign += found.foreign;
        total.out_of_order += found.out_of_order;
        total.duplicates += found.duplicates;
        notes.extend(n);
        let mut first: BTreeMap<(String, u64), &Got> = BTreeMap::new();
        for g in got.iter() {
            first.entry((g.order_id.clone(), g.version)).or_insert(g);
        }
        arrivals.extend(first.into_values().map(|g| Arrival {
            order_id: g.order_id.clone(),
            version: g.version,
            commit_ms: g.commit_ms,
            received_ms: g.received_ms,
        }));
    }
    let events: usize = expected.iter().map(BTreeSet::len).sum();
    let deliveries: usize = clients.iter().map(|(t, _)| expected[*t].len()).sum();
    let log = stages::read(&stages::StageLog::from_env()).unwrap_or_default();
    let rows = stages::breakdown(&log, &arrivals);
    let whole = rows.last().map(|(_, s)| s.clone()).unwrap_or_default();
    let pct = |p: usize| {
        let mut s = whole.clone();
        s.sort_unstable();
        let rank = (s.len() * p).div_ceil(100).clamp(1, s.len().max(1));
        s.get(rank - 1).copied()
    };
    println!(
        "orders-load live --clients {} --traders {} --orders {}: {} orders, {} events of them, {} deliveries due, \
         {} received ({} duplicates); missing {}, foreign {}, out of order {}; {} clients closed early, \
         {} other messages; connected {:.0} s",
        cfg.clients,
        cfg.traders,
        cfg.orders,
        result.log.placed.len(),
        events,
        deliveries,
        received,
        total.duplicates,
        total.missing,
        total.foreign,
        total.out_of_order,
        closed,
        odd,
        connected_secs
    );
    println!(
        "commit -> client: p50 {} ms, p99 {} ms, max {} ms\n{}",
        pct(50).map_or("-".into(), |v| v.to_string()),
        pct(99).map_or("-".into(), |v| v.to_string()),
        pct(100).map_or("-".into(), |v| v.to_string()),
        stages::table(&rows)
    );
    for n in notes.iter().take(20) {
        println!("  {n}");
    }
    if let Some(path) = &cfg.json {
        let out = json!({
            "clients": cfg.clients, "traders": cfg.traders, "orders": result.log.placed.len(),
            "events": events, "deliveries_due": deliveries, "received": received,
            "duplicates": total.duplicates, "missing": total.missing, "foreign": total.foreign,
            "out_of_order": total.out_of_order, "closed_early": closed, "connected_secs": connected_secs,
            "commit_to_client_ms": {"p50": pct(50), "p99": pct(99), "max": pct(100)},
        });
        std::fs::write(path, serde_json::to_string_pretty(&out)?).with_context(|| format!("writing {path}"))?;
    }
    anyhow::ensure!(
        total.missing == 0 && total.foreign == 0 && total.out_of_order == 0 && closed == 0,
        "the live stream failed: {} missing, {} foreign, {} out of order, {} clients closed early",
        total.missing,
        total.foreign,
        total.out_of_order,
        closed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn got(order: &str, version: u64, trader: &str) -> Got {
        Got {
            order_id: order.into(),
            version,
            trader_id: trader.into(),
            commit_ms: 0,
            received_ms: 0,
        }
    }

    #[test]
    fn the_check_finds_missing_foreign_out_of_order_and_counts_repeats() {
        let expected: BTreeSet<(String, u64)> = [("a", 1), ("a", 2), ("a", 3), ("b", 1)]
            .iter()
            .map(|(o, v)| ((*o).to_owned(), *v))
            .collect();
        let received = vec![
            got("a", 1, "t"),
            got("a", 3, "t"),
            got("a", 2, "t"),
            got("a", 3, "t"),
            got("x", 1, "u"),
        ];
        let (c, notes) = check(&received, "t", &expected);
        assert_eq!(
            (c.missing, c.foreign, c.out_of_order, c.duplicates),
            (1, 1, 1, 1),
            "{notes:?}"
        );
        let (c, _) = check(
            &[got("a", 1, "t"), got("a", 2, "t"), got("a", 3, "t"), got("b", 1, "t")],
            "t",
            &expected,
        );
        assert_eq!((c.missing, c.foreign, c.out_of_order, c.duplicates), (0, 0, 0, 0));
    }
}
