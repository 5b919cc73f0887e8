//! Crash points (issue 6, scenario 1): the execute function killed (exit 137) right
//! after each step between claim and venue call, the venue intake killed right after
//! its fill write, and publish after its event publish, then "restarted": the same
//! message delivered again to the real function (the intake: its next run). Every
//! order must end FILLED with exactly one venue order and one fill per venue
//! execution, right balances, an intact audit chain, and every status event delivered
//! at least once.
//!
//! Runs on a stack WITHOUT event-source mappings (`scripts/stack.sh ENV --no-mappings`,
//! make test's phase 1): submitted orders stay PENDING until the test drives them,
//! through `tests/src/bin/crash-point.rs` (the real handlers, killed at a step) and
//! the real functions under `cargo lambda watch` (`LAMBDA_URL`).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::Stack;
use e2e::report::{Row, panics_so_far};
use e2e::tally::{EventTap, broken_chains, duplicated_venue_orders, lost_events, wrong_balance};
use serde_json::{Value, json};
use shared::domain::{OrderId, TraderId};
use shared::ports::WorkMessage;

mod crash {
    use super::*;

    const WAIT: Duration = Duration::from_secs(30);
    const CASH: &str = "100000";

    async fn stack() -> Stack {
        Stack::from_env().await.expect("the local stack's environment")
    }

    /// The crash points follow one message through claim, place and fill in a single
    /// run, so while a crash test runs the simulator works a placement at once
    /// (`accepted_ms` and `pending_new_ms` 0). Alpaca's asynchronous acceptance is the
    /// execution suite's (make test's phase 2, after this one). The last crash test to
    /// finish puts the knobs back as it found them.
    static IMMEDIATE: tokio::sync::Mutex<(usize, Option<Value>)> = tokio::sync::Mutex::const_new((0, None));

    async fn immediate_venue(s: &Stack) {
        let mut held = IMMEDIATE.lock().await;
        if held.0 == 0 {
            let url = format!("{}/_sim/config", std::env::var("SIMULATOR_URL").expect("SIMULATOR_URL"));
            let knobs: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            held.1 = Some(json!({"accepted_ms": knobs["accepted_ms"], "pending_new_ms": knobs["pending_new_ms"]}));
            s.sim_config(json!({"accepted_ms": 0, "pending_new_ms": 0}))
                .await
                .unwrap();
        }
        held.0 += 1;
    }

    async fn venue_as_found(s: &Stack) {
        let mut held = IMMEDIATE.lock().await;
        held.0 -= 1;
        if held.0 == 0 {
            if let Some(knobs) = held.1.take() {
                s.sim_config(knobs).await.unwrap();
            }
        }
    }

    /// One intake run at a time: a run books every execution in the venue's feed, so
    /// one that ran between the intake crash test's placement and its crash point
    /// would leave that crash point nothing to book.
    static INTAKE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// One run of the real intake function (a pass or two over the venue's
    /// executions, as its schedule runs it).
    async fn run_intake(s: &Stack) {
        let _one = INTAKE.lock().await;
        s.invoke("intake", &json!({"run_secs": 1})).await.unwrap();
    }

    /// Runs the crash-point binary with `event` on stdin; its exit code (None if a
    /// signal ended it). `env` overrides variables of the stack's environment.
    fn crash_point(args: &[&str], event: &Value, env: &[(&str, &str)]) -> Option<i32> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-point"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .spawn()
            .expect("crash-point starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(event.to_string().as_bytes())
            .expect("event written");
        child.wait().expect("crash-point ends").code()
    }

    /// A new trader and one marketable buy of 5 `symbol` (a limit far above the
    /// simulator's market fills at once), left PENDING: no mapping picks it up.
    async fn pending_order(s: &Stack, symbol: &str) -> (TraderId, OrderId, EventTap) {
        let trader = s.trader(CASH, None).await.unwrap();
        let tap = EventTap::new(s, &trader).await.unwrap();
        let body = json!({"symbol": symbol, "side": "buy", "type": "limit", "quantity": "5",
            "limit_price": "1000", "time_in_force": "day"});
        let r = s.submit(&s.token(&trader), None, &body).await.unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        let id = OrderId::parse(r.body["order_id"].as_str().unwrap()).unwrap();
        let order = s.order(&trader, &id).await.unwrap();
        assert_eq!(order.status.to_string(), "PENDING", "no mapping runs in this phase");
        (trader, id, tap)
    }

    /// Checks the end state of one crashed-and-restarted order and fills its row:
    /// FILLED at version 3, one venue order, balances, audit chain, and the events of
    /// every version once the stream is handed to the real publish function.
    async fn settle(s: &Stack, row: &mut Row, trader: &TraderId, id: &OrderId, tap: &EventTap, published: u64) {
        // The intake books the venue's executions (execute books none).
        run_intake(s).await;
        let ids = vec![id.to_string()];
        let order = s.order(trader, id).await.unwrap();
        // Claim, fill, and one more version for each placement retried after its
        // window closed (a restart slower than the placement window re-opens it first,
        // as a PLACEMENT_RETRY record: `app::execute`).
        let retries = s
            .audit_actions(trader)
            .await
            .unwrap()
            .iter()
            .filter(|a| a.as_str() == "PLACEMENT_RETRY")
            .count() as u64;
        row.lost_orders = u64::from(order.status.to_string() != "FILLED" || order.version != 3 + retries);
        row.duplicated_venue_orders = duplicated_venue_orders(s, &ids).await.unwrap();
        let at_venue = s.sim_orders(&id.to_string()).await.unwrap().len();
        row.lost_orders += u64::from(at_venue == 0);
        row.wrong_balances = u64::from(wrong_balance(s, trader, CASH.parse().unwrap(), &ids).await.unwrap());
        let broken = broken_chains(s, &ids).await.unwrap();
        s.publish_stream(id, published).await.unwrap();
        let expected = BTreeMap::from([(id.to_string(), order.version)]);
        let seen = tap.gather(&expected, WAIT).await.unwrap();
        row.lost_events = lost_events(&seen, &expected);
        row.notes = format!(
            "final {} v{}, {at_venue} venue order(s), {} events received for {} versions, audit chains broken: {broken}",
            order.status,
            order.version,
            seen.len(),
            order.version
        );
        assert_eq!(broken, 0, "audit chain of {id}");
    }

    /// One execute crash point: the crashing run, what it left, the restart, the end.
    async fn execute_crash_point(point: &str, symbol: &str) {
        let s = stack().await;
        immediate_venue(&s).await;
        let panics = panics_so_far();
        let mut row = Row::new(
            1,
            &format!("execute killed {point}"),
            "process exit 137 mid-handler, then redelivery",
        );
        let (trader, id, tap) = pending_order(&s, symbol).await;
        let work = WorkMessage::Execute {
            trader_id: trader.clone(),
            order_id: id,
        };
        let first = e2e::crash::sqs_event(&work, 1).unwrap();
        assert_eq!(
            crash_point(&["execute", point], &first, &[]),
            Some(137),
            "killed {point}"
        );

        let left = s.order(&trader, &id).await.unwrap();
        let at_venue = s.sim_orders(&id.to_string()).await.unwrap();
        let (status, version, venue) = match point {
            "after-claim" => ("SUBMITTED", 2, 0),
            _ => ("SUBMITTED", 2, 1),
        };
        assert_eq!(
            (left.status.to_string().as_str(), left.version, at_venue.len()),
            (status, version, venue),
            "state left by the crash {point}"
        );

        // The restart: SQS delivers the same message again after its visibility timeout.
        let again = e2e::crash::sqs_event(&work, 2).unwrap();
        s.invoke("execute", &again).await.unwrap();
        row.operations = 3;
        settle(&s, &mut row, &trader, &id, &tap, 0).await;
        venue_as_found(&s).await;
        row.panics = panics_so_far() - panics;
        row.record_and_check();
    }

    #[tokio::test]
    #[ignore = "needs the local stack without mappings: scripts/stack.sh ENV --no-mappings"]
    async fn killed_after_the_claim_the_redelivery_places_the_order_once() {
        execute_crash_point("after-claim", "CRSHC").await;
    }

    #[tokio::test]
    #[ignore = "needs the local stack without mappings: scripts/stack.sh ENV --no-mappings"]
    async fn killed_after_the_venue_accepted_the_redelivery_reconciles_instead_of_resending() {
        execute_crash_point("after-place", "CRSHP").await;
    }

    #[tokio::test]
    #[ignore = "needs the local stack without mappings: scripts/stack.sh ENV --no-mappings"]
    async fn killed_after_the_fill_write_the_redelivery_changes_nothing() {
        // The fill write is the venue intake's: execute places the order (the venue
        // fills it at once), the intake books the fill and is killed before its cursor
        // moves past it; its next run reads the execution again and books nothing.
        let s = stack().await;
        immediate_venue(&s).await;
        let panics = panics_so_far();
        let mut row = Row::new(
            1,
            "intake killed after the fill write",
            "process exit 137 mid-pass, then the next run",
        );
        let (trader, id, tap) = pending_order(&s, "CRSHF").await;
        let work = WorkMessage::Execute {
            trader_id: trader.clone(),
            order_id: id,
        };
        {
            let _one = INTAKE.lock().await;
            s.invoke("execute", &e2e::crash::sqs_event(&work, 1).unwrap())
                .await
                .unwrap();
            let placed = s.order(&trader, &id).await.unwrap();
            assert_eq!((placed.status.to_string().as_str(), placed.version), ("SUBMITTED", 2));
            s.wait_at_venue(&id.to_string(), WAIT).await.unwrap();
            assert_eq!(
                crash_point(&["intake", "after-fill", &id.to_string()], &json!({}), &[]),
                Some(137),
                "killed after the fill write"
            );
            let left = s.order(&trader, &id).await.unwrap();
            assert_eq!(
                (left.status.to_string().as_str(), left.version),
                ("FILLED", 3),
                "state left by the crash after the fill write"
            );
        }
        row.operations = 3;
        settle(&s, &mut row, &trader, &id, &tap, 0).await;
        let fills = s.get(&format!("/orders/{id}/fills"), &s.token(&trader)).await.unwrap();
        let fills = fills.body["fills"].as_array().cloned().unwrap_or_default();
        assert_eq!(fills.len(), 1, "one fill for the one venue execution: {fills:?}");
        venue_as_found(&s).await;
        row.panics = panics_so_far() - panics;
        row.record_and_check();
    }

    #[tokio::test]
    #[ignore = "needs the local stack without mappings: scripts/stack.sh ENV --no-mappings"]
    async fn publish_killed_after_put_events_is_retried_and_the_order_executes_once() {
        let s = stack().await;
        immediate_venue(&s).await;
        let panics = panics_so_far();
        let mut row = Row::new(
            1,
            "publish killed after PutEvents",
            "process exit 137 before the reply, then the batch retried",
        );
        let (trader, id, tap) = pending_order(&s, "CRSHE").await;
        let records = s.stream_records(&id).await.unwrap();
        assert_eq!(records.len(), 1, "the order's INSERT: {records:?}");
        let batch = json!({ "Records": records });

        // The crashing run queues to a queue of the test's own, to see what it sent.
        let sqs = aws_sdk_sqs::Client::new(&shared::adapters::aws::sdk_config().await);
        let name = format!("crash-{}", ulid::Ulid::new().to_string().to_lowercase());
        let own = sqs.create_queue().queue_name(&name).send().await.unwrap();
        let own = own.queue_url().unwrap().to_owned();
        assert_eq!(
            crash_point(&["publish"], &batch, &[("WORK_QUEUE_URL", own.as_str())]),
            Some(137)
        );
        // The backstop is sent BACKSTOP_DELAY_SECS late.
        let got = sqs
            .receive_message()
            .queue_url(&own)
            .max_number_of_messages(10)
            .wait_time_seconds(shared::ports::BACKSTOP_DELAY_SECS as i32 + 5)
            .send()
            .await
            .unwrap();
        let queued: Vec<WorkMessage> = got
            .messages()
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect();
        let backstop = WorkMessage::Backstop {
            trader_id: trader.clone(),
            order_id: id,
            of: shared::ports::Backstopped::Execute,
        };
        assert_eq!(
            queued,
            vec![backstop.clone()],
            "the crashed run queued the backstop (the order still waits: nothing takes the fast path's message here)"
        );
        let fast = WorkMessage::Execute {
            trader_id: trader.clone(),
            order_id: id,
        };

        // The stream retries the unacknowledged batch with the real function: the event
        // and the backstop go out a second time.
        s.invoke("publish", &batch).await.unwrap();
        // Three copies reach execute, each a first delivery: the crashed run's backstop,
        // the fast path's message (late), the retry's backstop: still one venue order.
        for work in [&backstop, &fast, &backstop] {
            let event = e2e::crash::sqs_event(work, 1).unwrap();
            s.invoke("execute", &event).await.unwrap();
        }
        row.operations = 6;
        settle(&s, &mut row, &trader, &id, &tap, 1).await;
        venue_as_found(&s).await;
        row.panics = panics_so_far() - panics;
        row.record_and_check();
    }
}
