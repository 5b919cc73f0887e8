//! Counting what went wrong in a reliability scenario (issue 6), from what the stack
//! shows afterwards: venue orders per order, status events seen per order, the
//! account against its fills, audit chains. Every count here is measured, never
//! assumed, and a scenario puts them in its `report::Row`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context;
use rust_decimal::Decimal;
use serde_json::Value;
use shared::domain::{OrderId, TraderId, verify_chain};
use shared::ports::AuditLog;

use crate::Stack;
use crate::execution::{Seen, Tap};

fn dec(v: &Value) -> Decimal {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

/// Sum over `orders` of the venue orders beyond the first one.
pub async fn duplicated_venue_orders(s: &Stack, orders: &[String]) -> anyhow::Result<u64> {
    let mut extra = 0;
    for id in orders {
        extra += (s.sim_orders(id).await?.len() as u64).saturating_sub(1);
    }
    Ok(extra)
}

/// Versions `1..=final` of each order of `expected` (order id → final version)
/// that are not in `seen`.
pub fn lost_events(seen: &[Seen], expected: &BTreeMap<String, u64>) -> u64 {
    let got: BTreeSet<(&str, u64)> = seen.iter().map(|s| (s.order_id.as_str(), s.version)).collect();
    expected
        .iter()
        .map(|(id, last)| (1..=*last).filter(|v| !got.contains(&(id.as_str(), *v))).count() as u64)
        .sum()
}

/// A tap of one trader's status events that, unlike `execution::Tap`, returns what
/// arrived when time is up instead of failing, so missing events are counted.
pub struct EventTap(Tap);

impl EventTap {
    /// The same tap as `Stack::tap` (a queue and a rule on the bus for `trader`).
    pub async fn new(s: &Stack, trader: &TraderId) -> anyhow::Result<Self> {
        Ok(Self(s.tap(trader).await?))
    }

    /// Reads events until every order of `expected` (order id -> final version) has
    /// all its versions, or `within` passes; duplicates kept, in arrival order.
    pub async fn gather(&self, expected: &BTreeMap<String, u64>, within: Duration) -> anyhow::Result<Vec<Seen>> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen: Vec<Seen> = Vec::new();
        while lost_events(&seen, expected) > 0 && tokio::time::Instant::now() < deadline {
            self.0.receive(&mut seen).await?;
        }
        Ok(seen)
    }
}

/// The final status and version of each order (`GET /orders/{id}`).
pub async fn final_versions(
    s: &Stack,
    trader: &TraderId,
    orders: &[String],
) -> anyhow::Result<BTreeMap<String, (String, u64)>> {
    let token = s.token(trader);
    let mut out = BTreeMap::new();
    for id in orders {
        let r = s.get(&format!("/orders/{id}"), &token).await?;
        let status = r.body["status"].as_str().unwrap_or_default().to_owned();
        out.insert(id.clone(), (status, r.body["version"].as_u64().unwrap_or_default()));
    }
    Ok(out)
}

/// Whether `trader`'s account differs from what its orders imply: cash is the
/// starting cash less every buy fill plus every sell fill, reserved is what its open
/// orders still hold, and each position is the net filled quantity.
pub async fn wrong_balance(
    s: &Stack,
    trader: &TraderId,
    start_cash: Decimal,
    orders: &[String],
) -> anyhow::Result<bool> {
    let token = s.token(trader);
    let mut cash = start_cash;
    let mut reserved = Decimal::ZERO;
    let mut positions: BTreeMap<String, Decimal> = BTreeMap::new();
    for id in orders {
        let order = s.get(&format!("/orders/{id}"), &token).await?.body;
        let fills = s.get(&format!("/orders/{id}/fills"), &token).await?.body;
        let buy = order["side"] == "buy";
        for f in fills["fills"].as_array().context("fills list")? {
            let (q, p) = (dec(&f["quantity"]), dec(&f["price"]));
            let symbol = order["symbol"].as_str().unwrap_or_default().to_owned();
            let position = positions.entry(symbol).or_default();
            // Each booked fill moves cash by its notional to the cent (`money::cents`).
            let notional = shared::domain::money::cents(q * p);
            if buy {
                cash -= notional;
                *position += q;
            } else {
                cash += notional;
                *position -= q;
            }
        }
        reserved += dec(&order["reserved_amount"]);
    }
    let account = s.get("/account", &token).await?.body;
    let held: BTreeMap<String, Decimal> = account["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["symbol"].as_str().unwrap_or_default().to_owned(), dec(&p["quantity"])))
        .filter(|(_, q)| !q.is_zero())
        .collect();
    positions.retain(|_, q| !q.is_zero());
    let wrong = dec(&account["cash"]) != cash || dec(&account["reserved"]) != reserved || held != positions;
    if wrong {
        eprintln!("account of {trader}: {account}; expected cash {cash}, reserved {reserved}, positions {positions:?}");
    }
    Ok(wrong)
}

/// Orders of `orders` whose audit chain does not verify.
pub async fn broken_chains(s: &Stack, orders: &[String]) -> anyhow::Result<u64> {
    let mut broken = 0;
    for id in orders {
        let records = s.store.records(&OrderId::parse(id)?).await?;
        if let Err(e) = verify_chain(&records) {
            eprintln!("audit chain of {id}: {e}");
            broken += 1;
        }
    }
    Ok(broken)
}

/// Counts answers with a 5xx status.
pub fn server_errors(statuses: impl IntoIterator<Item = u16>) -> u64 {
    statuses.into_iter().filter(|s| *s >= 500).count() as u64
}
