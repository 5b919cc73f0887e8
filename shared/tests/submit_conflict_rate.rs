//! The 409 rate of a trader submitting 20 orders a second while fills land on the same
//! account (issue 15 finding 4), on DynamoDB in the local emulator. Prints the figures:
//!
//! ```sh
//! bash scripts/stack.sh /tmp/stack.env --no-mappings &
//! set -a; . /tmp/stack.env; set +a
//! cargo test -p shared --test submit_conflict_rate -- --ignored --nocapture
//! ```
//!
//! The emulator serializes DynamoDB requests, so two transactions never overlap and
//! TransactionConflict never happens by itself; its fault knob
//! (`/_faults/transaction_conflict`) cancels a share of TransactWriteItems the way
//! DynamoDB does when another transaction is in flight on the ACCOUNT item. The share
//! (`CONFLICT_SHARE`, default 0.2) stands for how often a submit overlaps a fill; fills
//! meet the same share and retry as execute does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tokio::sync::mpsc;

use shared::adapters::aws::{DynamoStore, sdk_config};
use shared::app::{AuditContext, SubmitDeps, SubmitRequest, plan_transition};
use shared::domain::{Order, OrderEvent, Pricing, RiskLimits, TraderId};
use shared::http::Problem;
use shared::http::submit::submit;
use shared::ports::{OrderStore, StoreError, SystemClock};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: source the env file of scripts/stack.sh"))
}

async fn set_conflict_share(share: f64) -> serde_json::Value {
    let url = format!("{}/_faults/transaction_conflict", env("AWS_ENDPOINT_URL"));
    reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({ "share": share }))
        .send()
        .await
        .expect("emulator fault knob")
        .json()
        .await
        .expect("knob answer")
}

/// Claims then fills `order` in full, re-reading and retrying a conflicted transition.
async fn fill(store: &DynamoStore, order: Order, conflicts: &AtomicU32) {
    let ctx = AuditContext::system("conflict-rate");
    let events = [
        OrderEvent::Claim,
        OrderEvent::Fill {
            execution_id: format!("{}:1", order.order_id),
            quantity: order.quantity.get(),
            price: Decimal::from(10),
        },
    ];
    for event in events {
        for _ in 0..50 {
            let Ok(Some(now_order)) = store.get_order(&order.trader_id, &order.order_id).await else {
                return;
            };
            let account = store.get_account(&order.trader_id).await.ok().flatten();
            let now = shared::domain::Timestamp::now();
            let Ok(write) = plan_transition(&now_order, &event, account.as_ref(), &ctx, now) else {
                break;
            };
            match store.transition(write).await {
                Ok(()) | Err(StoreError::AlreadyExists) => break,
                Err(StoreError::Conflict) => {
                    conflicts.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => panic!("fill: {e}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS emulator (scripts/stack.sh); prints the 409 rate"]
async fn submits_at_twenty_a_second_while_fills_land() {
    let share: f64 = std::env::var("CONFLICT_SHARE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.2);
    let seconds: u32 = std::env::var("SECONDS_OF_LOAD")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let config = sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        env("ORDERS_TABLE"),
        env("AUDIT_TABLE"),
    ));
    let trader = TraderId::parse(&format!("rate-{}", ulid::Ulid::new())).unwrap();
    let limits = RiskLimits {
        orders_per_minute: 10_000,
        max_open_orders: 10_000,
        ..RiskLimits::default()
    };
    store
        .fund_account(&trader, Decimal::from(10_000_000), Some(limits))
        .await
        .unwrap();
    let before = set_conflict_share(share).await;

    // Fills land on the same account as the orders arrive.
    let (tx, mut rx) = mpsc::unbounded_channel::<Order>();
    let fill_conflicts = Arc::new(AtomicU32::new(0));
    let filler = {
        let (store, conflicts) = (store.clone(), fill_conflicts.clone());
        // One at a time, as they arrive (concurrent fills of one position would mostly
        // race each other on the position's version, not the submits).
        tokio::spawn(async move {
            while let Some(order) = rx.recv().await {
                fill(&store, order, &conflicts).await;
            }
        })
    };

    let total = 20 * seconds;
    let started = Instant::now();
    let mut submits = Vec::new();
    for i in 0..total {
        // 20 a second, on schedule whatever the replies take.
        let due = Duration::from_millis(50 * u64::from(i));
        tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
        let (store, trader, tx) = (store.clone(), trader.clone(), tx.clone());
        submits.push(tokio::spawn(async move {
            let deps = SubmitDeps {
                store: store.as_ref(),
                clock: &SystemClock,
                pricing: &Pricing::default(),
                market_data: None,
                queue: None,
            };
            let key = format!("k-{i}");
            let req = SubmitRequest {
                trader,
                body: br#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "10"}"#,
                idempotency_key: Some(&key),
                request_id: None,
                confirm_duplicate: None,
            };
            match submit(&deps, req).await {
                Ok(reply) if reply.status == 201 => {
                    let order: Order = serde_json::from_str(&reply.body).unwrap();
                    tx.send(order).ok();
                    201
                }
                Ok(reply) => reply.status,
                Err(e) => Problem::from(&e).status,
            }
        }));
    }
    drop(tx);
    let mut statuses = Vec::new();
    for s in submits {
        statuses.push(s.await.unwrap());
    }
    filler.await.unwrap();
    let after = set_conflict_share(0.0).await;

    let count = |code: u16| statuses.iter().filter(|s| **s == code).count();
    let (accepted, conflicted) = (count(201), count(409));
    let injected = after["injected"].as_u64().unwrap_or(0) - before["injected"].as_u64().unwrap_or(0);
    let orders = store.list_orders(&trader, None, 1_000, None).await.unwrap().orders;
    println!(
        "conflict share {share}: {total} submits in {:.1} s: 201 {accepted}, 409 {conflicted} ({:.1}%), other {}; \
         {injected} TransactionConflict cancellations injected; fills retried {} times; {} orders stored, {} filled",
        started.elapsed().as_secs_f64(),
        100.0 * conflicted as f64 / f64::from(total),
        statuses.len() - accepted - conflicted,
        fill_conflicts.load(Ordering::Relaxed),
        orders.len(),
        orders
            .iter()
            .filter(|o| o.status == shared::domain::OrderStatus::Filled)
            .count(),
    );
    assert_eq!(orders.len(), accepted, "one order per accepted submit, never a second");
    assert!(injected > 0, "the knob injected no conflict: {after}");
    // With retries a 409 needs every attempt to conflict (share^5).
    assert!(
        conflicted * 100 <= statuses.len() * 2,
        "{conflicted} of {} submits answered 409",
        statuses.len()
    );
}
