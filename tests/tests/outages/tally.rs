//! What an outage scenario's orders came to, counted for its reliability row:
//! orders not filled (or half-written), venue orders beyond one per order, event
//! versions the tap never got, an account that does not match its fills.

use std::collections::BTreeMap;

use e2e::Stack;
use e2e::report::{Row, panics_so_far};
use rust_decimal::Decimal;
use shared::domain::{OrderId, TraderId};
use shared::ports::{AuditLog, OrderStore};

use super::{CASH, WAIT};

/// What a scenario's orders came to, checked through the store, the venue and the tap.
pub struct Tally {
    lost_orders: u64,
    duplicated_venue_orders: u64,
    lost_events: u64,
    wrong_balances: u64,
    notes: Vec<String>,
}

/// Waits for every order FILLED, then counts: orders not filled, venue orders
/// beyond one per order, event versions never delivered, an account that does
/// not match its fills, and orders whose audit chain is missing or broken.
pub async fn tally(s: &Stack, t: &TraderId, tap: &e2e::execution::Tap, ids: &[String]) -> Tally {
    let mut out = Tally {
        lost_orders: 0,
        duplicated_venue_orders: 0,
        lost_events: 0,
        wrong_balances: 0,
        notes: Vec::new(),
    };
    let mut finals = BTreeMap::new();
    for id in ids {
        match s.wait_for_status(t, id, &["FILLED"], WAIT).await {
            Ok(order) => {
                finals.insert(id.clone(), order["version"].as_u64().unwrap_or_default());
                if !order["reason"].is_null() {
                    out.notes
                        .push(format!("{id} filled with a reason left: {}", order["reason"]));
                }
            }
            Err(e) => {
                out.lost_orders += 1;
                out.notes.push(e.to_string());
            }
        }
        let venue = s.sim_orders(id).await.unwrap().len() as u64;
        out.duplicated_venue_orders += venue.saturating_sub(1);
        let oid = OrderId::parse(id).unwrap();
        // Its audit trail: SUBMIT first, no gap, ending at the order's version.
        let records = s.store.records(&oid).await.unwrap();
        let order = s.order(t, &oid).await.unwrap();
        let whole = records.first().is_some_and(|r| r.action == "SUBMIT")
            && records.iter().enumerate().all(|(i, r)| r.sequence == i as u64 + 1)
            && records
                .last()
                .and_then(|r| r.after.as_ref())
                .map(|a| a["version"].as_u64())
                == Some(Some(order.version));
        if !whole {
            out.lost_orders += 1;
            let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
            out.notes
                .push(format!("{id} v{}: audit trail {actions:?} incomplete", order.version));
        }
    }
    match tap.collect(&finals, WAIT).await {
        Ok(seen) => {
            for (id, last) in &finals {
                let missing = (1..=*last)
                    .filter(|v| !seen.iter().any(|e| &e.order_id == id && e.version == *v))
                    .count();
                out.lost_events += missing as u64;
            }
        }
        Err(e) => {
            out.lost_events += finals.values().sum::<u64>();
            out.notes.push(format!("tap: {e}"));
        }
    }
    // The account against its orders and fills: cash spent on the fills, nothing
    // reserved, no open order, the position the fills add up to.
    let all = s.store.list_orders(t, None, 1000, None).await.unwrap().orders;
    let mut spent = Decimal::ZERO;
    let mut bought = Decimal::ZERO;
    for o in &all {
        for f in s.store.fills(t, &o.order_id).await.unwrap() {
            spent += f.quantity * f.price;
            bought += f.quantity;
        }
    }
    let a = s.store.get_account(t).await.unwrap().expect("the trader's account");
    let held: Decimal = a.positions.iter().map(|p| p.quantity).sum();
    let cash: Decimal = CASH.parse().unwrap();
    if a.cash != cash - spent || !a.reserved.is_zero() || a.open_orders != 0 || held != bought {
        out.wrong_balances += 1;
        out.notes.push(format!(
            "account: cash {} (fills imply {}), reserved {}, open {}, held {held} (bought {bought})",
            a.cash,
            cash - spent,
            a.reserved,
            a.open_orders
        ));
    }
    // Every stored order is one the client was answered for (none half-written).
    let orphans = all.iter().filter(|o| !ids.contains(&o.order_id.to_string())).count();
    if orphans > 0 {
        out.lost_orders += orphans as u64;
        out.notes
            .push(format!("{orphans} stored order(s) no submit answered for"));
    }
    out
}

/// Lines of the stack's function and mapping logs that report an SDK timeout.
pub fn timeouts_logged() -> usize {
    let Some(dir) = std::env::var_os("STACK_LOG_DIR") else {
        return 0;
    };
    ["functions.log", "mappings.log"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(std::path::Path::new(&dir).join(f)).ok())
        .map(|text| {
            text.lines()
                .filter(|l| l.contains("timed out") || l.contains("timeout"))
                .count()
        })
        .sum()
}

pub fn finish(mut row: Row, t: Tally, panics_before: u64, notes: Vec<String>) {
    row.lost_orders = t.lost_orders;
    row.duplicated_venue_orders = t.duplicated_venue_orders;
    row.lost_events = t.lost_events;
    row.wrong_balances = t.wrong_balances;
    row.panics = panics_so_far().saturating_sub(panics_before);
    row.notes = notes.into_iter().chain(t.notes).collect::<Vec<_>>().join("; ");
    eprintln!("{}", row.to_json());
    row.record_and_check();
}
