//! Issue 16, group 4: a poison record on the orders table's stream, against the local
//! stack with its mappings (`make test` phase 2; the mapper reads the stream mapping's
//! settings from the template, its retry bound lowered to `MAPPING_STREAM_MAX_RETRIES`).
//!
//! An order item publish can never read is written straight to the table, and orders
//! are submitted right behind it. publish reports the unreadable record; the mapping
//! retries from it up to its bound, then discards the batch (the poison record and
//! the orders behind it) to the on-failure destination and moves on: those orders'
//! changes in it are never announced. The orders themselves execute all the same:
//! submit queued them itself (the fast path, issue 17), so they end FILLED while the
//! batch is retried. `orders-admin redrive-stream` then rebuilds what the batch lost
//! from the table and the audit trails: every version of each order is announced,
//! once at the venue, balances right; it names the unreadable item (and exits
//! non-zero for it). An order submitted after the discarded batch executes too.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::Stack;
use e2e::report::{Row, panics_so_far};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::domain::{OrderId, RiskLimits, TraderId};
use shared::ports::OrderStore;

/// How long the mapping may take to give the batch up (8 retries of the mapper's backoff
/// take ~21 s), and an order to fill or its events to arrive.
const WAIT: Duration = Duration::from_secs(90);
const CASH: &str = "1000000";
/// Orders submitted right behind the poison record (in its batch).
const BEHIND: usize = 4;

fn marketable() -> Value {
    json!({"symbol": "PSN", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1000",
        "time_in_force": "day"})
}

async fn failure_records(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("GetQueueAttributes of the failure destination");
    out.attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn orders_admin(args: &'static [&'static str]) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args(["run", "-q", "--locked", "-p", "orders-admin", "--"])
            .args(args)
            .output()
            .expect("cargo run -p orders-admin");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .unwrap()
}

mod poison_record {
    use super::*;

    #[tokio::test]
    #[ignore = "needs the local stack (API_URL) and its mappings: make test starts them"]
    async fn a_poison_record_is_discarded_to_the_destination_and_redrive_stream_rebuilds_what_it_took() {
        let s = Stack::from_env().await.expect("the local stack's environment");
        let failure_url = std::env::var("PUBLISH_FAILURE_QUEUE_URL").expect("PUBLISH_FAILURE_QUEUE_URL (stack output)");
        let config = shared::adapters::aws::sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let ddb = aws_sdk_dynamodb::Client::new(&config);
        let limits = RiskLimits {
            orders_per_minute: 1000,
            max_open_orders: 1000,
            ..RiskLimits::default()
        };
        let t: TraderId = s.trader(CASH, Some(limits)).await.unwrap();
        let token = s.token(&t);
        let tap = s.tap(&t).await.unwrap();
        let panics = panics_so_far();
        let mut row = Row::new(
            4,
            "poison stream record",
            "an order item publish cannot read written to the table, orders submitted behind it; \
             the stream mapping gives the batch up to its on-failure destination, then orders-admin redrive-stream",
        );
        assert_eq!(
            failure_records(&sqs, &failure_url).await,
            0,
            "the failure destination is not empty before the test"
        );

        // The poison: an ORDER# item without the fields an order needs.
        let poison = OrderId::new().to_string();
        ddb.put_item()
            .table_name(&s.resources.orders_table)
            .item("PK", AttributeValue::S(format!("TRADER#{t}")))
            .item("SK", AttributeValue::S(format!("ORDER#{poison}")))
            .item("status", AttributeValue::S("PENDING".into()))
            .item(
                "updated_at",
                AttributeValue::S(shared::domain::Timestamp::now().to_string()),
            )
            .send()
            .await
            .unwrap();
        let mut behind = Vec::new();
        for i in 0..BEHIND {
            let a = s
                .submit(
                    &token,
                    Some(&format!("poison-{i}-{}", ulid::Ulid::new())),
                    &marketable(),
                )
                .await
                .unwrap();
            assert_eq!(a.status, 201, "{}", a.body);
            behind.push(a.body["order_id"].as_str().unwrap().to_owned());
        }

        // The mapping gives the batch up: one failure record, and it moves on.
        let started = tokio::time::Instant::now();
        while failure_records(&sqs, &failure_url).await == 0 {
            assert!(
                started.elapsed() < WAIT,
                "no failure record in the on-failure destination after {WAIT:?}: the mapping retries the poison record forever"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let discarded_in = started.elapsed();
        // The orders behind it were in the discarded batch, but the fast path queued
        // them at their commit: they executed without the stream.
        for id in &behind {
            s.wait_for_status(&t, id, &["FILLED"], WAIT)
                .await
                .expect("an order whose stream record was discarded executes by the fast path");
        }
        // An order after the discarded batch: the mapping has moved on, it executes.
        let after = s
            .submit(
                &token,
                Some(&format!("poison-after-{}", ulid::Ulid::new())),
                &marketable(),
            )
            .await
            .unwrap();
        assert_eq!(after.status, 201, "{}", after.body);
        let after_id = after.body["order_id"].as_str().unwrap().to_owned();
        s.wait_for_status(&t, &after_id, &["FILLED"], WAIT)
            .await
            .expect("the order after the discarded batch executes");

        // The runbook's redrive.
        let (ok, output) = orders_admin(&["redrive-stream", "--slack-secs", "30"]).await;
        assert!(
            !ok,
            "redrive-stream must fail naming the unreadable item it could not rebuild: {output}"
        );
        assert!(
            output.contains("UNREADABLE") && output.contains(&poison),
            "the poison item is not named: {output}"
        );
        for id in &behind {
            assert!(
                output.contains(&format!("announced order {id} FILLED")),
                "{id} not re-announced: {output}"
            );
            assert!(
                !output.contains(&format!("queued execute {id}")),
                "{id} is FILLED: no work to re-queue: {output}"
            );
        }
        assert_eq!(
            failure_records(&sqs, &failure_url).await,
            0,
            "the failure record was not deleted"
        );

        // Every order: filled once at the venue, every version announced, balances right.
        let mut all = behind.clone();
        all.push(after_id);
        row.operations = all.len() as u64;
        let mut finals = BTreeMap::new();
        let mut spent = Decimal::ZERO;
        let mut notes = vec![format!(
            "batch discarded {:.0} s after the poison record (MAPPING_STREAM_MAX_RETRIES retries); {}",
            discarded_in.as_secs_f64(),
            output
                .lines()
                .find(|l| l.contains("lost batch(es)"))
                .unwrap_or_default()
        )];
        for id in &all {
            match s.wait_for_status(&t, id, &["FILLED"], WAIT).await {
                Ok(o) => {
                    finals.insert(id.clone(), o["version"].as_u64().unwrap_or_default());
                    let qty: Decimal = o["filled_quantity"].as_str().unwrap_or("0").parse().unwrap_or_default();
                    let avg: Decimal = o["average_fill_price"]
                        .as_str()
                        .unwrap_or("0")
                        .parse()
                        .unwrap_or_default();
                    spent += qty * avg;
                }
                Err(e) => {
                    row.lost_orders += 1;
                    notes.push(e.to_string());
                }
            }
            let venue = s.sim_orders(id).await.unwrap().len() as u64;
            row.duplicated_venue_orders += venue.saturating_sub(1);
        }
        match tap.collect_every_version(&finals, WAIT).await {
            Ok(seen) => {
                for (id, last) in &finals {
                    row.lost_events += (1..=*last)
                        .filter(|v| !seen.iter().any(|e| &e.order_id == id && e.version == *v))
                        .count() as u64;
                }
            }
            Err(e) => {
                row.lost_events += finals.values().sum::<u64>();
                notes.push(e.to_string());
            }
        }
        let a = s.store.get_account(&t).await.unwrap().unwrap();
        let cash: Decimal = CASH.parse().unwrap();
        if a.reserved != Decimal::ZERO || a.open_orders != 0 || a.cash != cash - spent {
            row.wrong_balances += 1;
            notes.push(format!(
                "account: cash {} (expected {}), reserved {}, open orders {}",
                a.cash,
                cash - spent,
                a.reserved,
                a.open_orders
            ));
        }
        row.panics = panics_so_far().saturating_sub(panics);
        row.notes = notes.join("; ");
        row.record_and_check();
    }
}
