//! Issue 6, group 4: dependency outages, against the local stack with its
//! event-source mappings running.
//!
//! 1. The emulator (DynamoDB, SQS, EventBridge) frozen (`kill -STOP`) for a few
//!    seconds while orders are executing: submits answer 503 naming DynamoDB (the
//!    SDK's operation timeout), and after `kill -CONT` the same Idempotency-Keys
//!    give one order each, nothing half-written, every order filled once, every
//!    event delivered, balances right.
//! 2. The venue failing every call for longer than the retry budget: the order is
//!    marked stalled (reason, STALL audit record, event), its message reaches the
//!    dead-letter queue with the funds still reserved; `orders-admin redrive` then
//!    completes it.
//! 3. The same through the operators' routes (issue 22): the stalled order in the
//!    day's attention list with its reason, the dead-letter queue's depth, and the
//!    redrive route, after which the order fills with one venue order.
//!
//! Long because: the scenarios share the venue knobs' lock, the emulator's stop and the
//! dead-letter helpers, and must run one at a time within this one binary.
//!
//! Each scenario writes one reliability row (`e2e::report`) with measured counts.

use std::time::Duration;

use e2e::Stack;
use e2e::report::{Row, panics_so_far};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::domain::{OrderId, RiskLimits, TraderId};
use shared::ports::{AuditLog, OrderStore};
use tokio::sync::Mutex;

#[path = "outages/tally.rs"]
mod tally;

/// How long an order may take to fill, or its events to arrive.
const WAIT: Duration = Duration::from_secs(90);
/// Every scenario's trader starts with this much cash.
const CASH: &str = "1000000";

mod outages {
    use super::tally::{finish, tally, timeouts_logged};
    use super::*;

    /// The stop freezes the whole stack, the venue knob is global: one at a time.
    static KNOBS: Mutex<()> = Mutex::const_new(());

    async fn stack() -> Stack {
        Stack::from_env().await.expect("the local stack's environment")
    }

    async fn trader(s: &Stack) -> TraderId {
        let limits = RiskLimits {
            orders_per_minute: 1000,
            max_open_orders: 1000,
            ..RiskLimits::default()
        };
        s.trader(CASH, Some(limits)).await.unwrap()
    }

    fn marketable(symbol: &str) -> Value {
        json!({"symbol": symbol, "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1000",
            "time_in_force": "day"})
    }

    fn key(prefix: &str, i: usize) -> String {
        format!("{prefix}-{i}-{}", ulid::Ulid::new())
    }

    fn signal(sig: &str) {
        let pid = std::env::var("EMULATOR_PID").expect("EMULATOR_PID (scripts/stack.sh exports it)");
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid} failed");
    }

    /// Resumes the emulator and the venue when dropped, even if the test fails.
    struct Restore;

    impl Drop for Restore {
        fn drop(&mut self) {
            signal("-CONT");
            // Drop cannot await: a blocking client on a thread of its own.
            let sim = std::env::var("SIMULATOR_URL").unwrap_or_default();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        let knobs = json!({"error_rate": 0.0});
                        let _ = reqwest::Client::new()
                            .post(format!("{sim}/_sim/config"))
                            .json(&knobs)
                            .send()
                            .await;
                    });
                }
            })
            .join();
        }
    }

    /// Submits every (key, body) at once; the answers in order.
    async fn submit_all(s: &Stack, token: &str, orders: &[(String, Value)]) -> Vec<e2e::Answer> {
        let calls = orders.iter().map(|(k, b)| s.submit(token, Some(k), b));
        futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|a| a.expect("an HTTP answer"))
            .collect()
    }

    /// One trader's client: submits one order after another (each with its own
    /// Idempotency-Key) until `stop` is set; every key with its body and answer.
    async fn client(
        s: std::sync::Arc<Stack>,
        token: String,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Vec<(String, Value, e2e::Answer)> {
        let mut sent = Vec::new();
        let mut i = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let (k, body) = (key("load", i), marketable("OUTA"));
            let a = s.submit(&token, Some(&k), &body).await.expect("an HTTP answer");
            sent.push((k, body, a));
            i += 1;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        sent
    }

    #[tokio::test]
    #[ignore = "needs the local stack (API_URL) and its mappings: make test starts them"]
    async fn emulator_stopped_during_load_answers_503_then_everything_completes() {
        const STOP: Duration = Duration::from_secs(6);
        let _knobs = KNOBS.lock().await;
        let s = std::sync::Arc::new(stack().await);
        let t = trader(&s).await;
        let token = s.token(&t);
        let tap = s.tap(&t).await.unwrap();
        let panics = panics_so_far();
        let timeouts_before = timeouts_logged();
        let mut row = Row::new(
            4,
            "emulator stopped during load",
            "kill -STOP of the emulator (DynamoDB, SQS, EventBridge) for 6 s while two clients submit and orders execute",
        );
        let mut notes = Vec::new();

        // Load: two clients, one submitting a burst, one submitting steadily; orders
        // are in publish and execute when the emulator stops.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let steady = tokio::spawn(client(s.clone(), token.clone(), stop.clone()));
        let burst: Vec<(String, Value)> = (0..4).map(|i| (key("burst", i), marketable("OUTB"))).collect();
        let mut sent: Vec<(String, Value, e2e::Answer)> = burst
            .iter()
            .cloned()
            .zip(submit_all(&s, &token, &burst).await)
            .map(|((k, b), a)| (k, b, a))
            .collect();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let restore = Restore;
        signal("-STOP");
        let during: Vec<(String, Value)> = (0..3).map(|i| (key("stop", i), marketable("OUTC"))).collect();
        let (answers, ()) = tokio::join!(submit_all(&s, &token, &during), tokio::time::sleep(STOP));
        drop(restore);
        sent.extend(during.into_iter().zip(answers).map(|((k, b), a)| (k, b, a)));
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sent.extend(steady.await.unwrap());

        // Every answer: 201, or 503 naming DynamoDB (then the same key again until
        // 201: one order per key, whether the first try committed or not).
        let (mut unavailable, mut after_resume, mut ids) = (0, 0, Vec::new());
        for (k, body, first) in &sent {
            let mut a = if first.status == 201 {
                None
            } else if first.status == 503
                && first.content_type().starts_with("application/problem+json")
                && first.detail().contains("DynamoDB")
            {
                unavailable += 1;
                Some(s.submit(&token, Some(k), body).await.unwrap())
            } else {
                row.server_errors += u64::from(first.status >= 500);
                notes.push(format!("{k} answered {}: {}", first.status, first.body));
                continue;
            };
            for _ in 0..10 {
                match &a {
                    Some(r) if r.status == 503 => {
                        after_resume += 1;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        a = Some(s.submit(&token, Some(k), body).await.unwrap());
                    }
                    _ => break,
                }
            }
            let answer = a.as_ref().unwrap_or(first);
            match answer.status {
                201 => ids.push(answer.body["order_id"].as_str().unwrap_or_default().to_owned()),
                status => {
                    row.server_errors += u64::from(status >= 500);
                    notes.push(format!(
                        "{k} retried after the resume answered {status}: {}",
                        answer.body
                    ));
                }
            }
        }
        row.server_errors += after_resume;
        let mut distinct = ids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), ids.len(), "two keys answered with one order: {ids:?}");

        row.operations = sent.len() as u64;
        let tally = tally(&s, &t, &tap, &ids).await;
        let mut head = vec![format!(
            "{} submits: 503 naming DynamoDB while stopped: {unavailable} (each key retried after the resume: 201, one order per key); \
             5xx after the resume: {after_resume}; SDK timeouts logged by the functions and mappings: {}",
            sent.len(),
            timeouts_logged().saturating_sub(timeouts_before)
        )];
        head.extend(notes);
        finish(row, tally, panics, head);
        assert!(
            unavailable >= 3,
            "the submits while the emulator was stopped answer 503 naming DynamoDB"
        );
    }

    /// The order ids of the work messages now in the dead-letter queue. A peek: every
    /// message is received (hidden, so that the next receive pages on) until none is
    /// left, then made visible again for the redrive.
    async fn dead_lettered(sqs: &aws_sdk_sqs::Client, dlq: &str) -> Vec<String> {
        let (mut ids, mut handles) = (Vec::new(), Vec::new());
        loop {
            let out = sqs
                .receive_message()
                .queue_url(dlq)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                break;
            }
            for m in out.messages() {
                let body: Value = serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
                ids.extend(body["order_id"].as_str().map(str::to_owned));
                handles.extend(m.receipt_handle().map(str::to_owned));
            }
        }
        for h in handles {
            sqs.change_message_visibility()
                .queue_url(dlq)
                .receipt_handle(h)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
        ids
    }

    /// `orders-admin redrive`, as an operator runs it (the stack's env is inherited).
    async fn orders_admin_redrive() -> (bool, String) {
        tokio::task::spawn_blocking(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = std::process::Command::new(cargo)
                .args(["run", "-q", "--locked", "-p", "orders-admin", "--", "redrive"])
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

    #[tokio::test]
    #[ignore = "needs the local stack (API_URL) and its mappings: make test starts them"]
    async fn venue_down_past_the_retry_budget_dead_letters_then_redrive_completes() {
        const ORDERS: usize = 2;
        let _knobs = KNOBS.lock().await;
        let _restore = Restore;
        let s = stack().await;
        let t = trader(&s).await;
        let token = s.token(&t);
        let tap = s.tap(&t).await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&shared::adapters::aws::sdk_config().await);
        let dlq = std::env::var("WORK_DEAD_LETTER_QUEUE_URL").expect("WORK_DEAD_LETTER_QUEUE_URL");
        let panics = panics_so_far();
        let mut row = Row::new(
            4,
            "venue down past the retry budget, then redrive",
            "every venue call fails (simulator error_rate 1.0) until the work messages are dead-lettered",
        );
        s.sim_config(json!({"error_rate": 1.0})).await.unwrap();
        let started = tokio::time::Instant::now();
        let orders: Vec<(String, Value)> = (0..ORDERS).map(|i| (key("venue", i), marketable("OUTV"))).collect();
        let mut ids = Vec::new();
        for a in submit_all(&s, &token, &orders).await {
            assert_eq!(a.status, 201, "{}", a.body);
            ids.push(a.body["order_id"].as_str().unwrap_or_default().to_owned());
        }

        // Visibly stalled: the reason on the order, a STALL audit record (its event is
        // one of the versions the tap must deliver), the funds still reserved.
        for id in &ids {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let r = s.get(&format!("/orders/{id}"), &token).await.unwrap();
                if r.body["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("dead-letter queue"))
                {
                    assert_eq!(
                        r.body["status"], "SUBMITTED",
                        "stalled where it was claimed: {}",
                        r.body
                    );
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{id} not stalled after {WAIT:?}: {}",
                    r.body
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let records = s.store.records(&OrderId::parse(id).unwrap()).await.unwrap();
            assert!(
                records.iter().any(|r| r.action == "STALL"),
                "no STALL audit record for {id}"
            );
        }
        let stalled_in = started.elapsed();
        let a = s.store.get_account(&t).await.unwrap().unwrap();
        let mut held = Decimal::ZERO;
        for id in &ids {
            held += s.order(&t, &OrderId::parse(id).unwrap()).await.unwrap().reserved_amount;
        }
        assert_eq!(
            held,
            Decimal::from(1000 * ORDERS as i64),
            "each order holds quantity x limit price"
        );
        assert_eq!(
            (a.reserved, a.open_orders),
            (held, ORDERS as u32),
            "funds still reserved exactly"
        );
        assert_eq!(a.cash, CASH.parse::<Decimal>().unwrap(), "no cash moved");

        // In the dead-letter queue (after one more receive of the work queue).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut in_dlq = dead_lettered(&sqs, &dlq).await;
        while !ids.iter().all(|id| in_dlq.contains(id)) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not all of {ids:?} in the DLQ: {in_dlq:?}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            in_dlq = dead_lettered(&sqs, &dlq).await;
        }
        let dead_in = started.elapsed();

        // The cause fixed, the documented redrive.
        s.sim_config(json!({"error_rate": 0.0})).await.unwrap();
        let redrive_started = tokio::time::Instant::now();
        let (ok, output) = orders_admin_redrive().await;
        let redrive_took = redrive_started.elapsed();
        assert!(ok, "orders-admin redrive failed: {output}");
        for id in &ids {
            assert!(output.contains(id.as_str()), "redrive did not report {id}: {output}");
        }
        row.operations = ORDERS as u64;
        let tally = tally(&s, &t, &tap, &ids).await;
        let notes = vec![format!(
            "stalled after {:.0} s, dead-lettered after {:.0} s (MAX_RECEIVES receives, backoff base RETRY_BACKOFF_BASE_MS); \
             `orders-admin redrive` ({:.0} s with cargo run): {}; all filled {:.0} s after it",
            stalled_in.as_secs_f64(),
            dead_in.as_secs_f64(),
            redrive_took.as_secs_f64(),
            output.lines().last().unwrap_or_default(),
            (redrive_started.elapsed() - redrive_took).as_secs_f64()
        )];
        finish(row, tally, panics, notes);
        for id in &ids {
            let order = s.order(&t, &OrderId::parse(id).unwrap()).await.unwrap();
            assert_eq!(order.reason, None, "{id}: the stall's reason ends once the order fills");
        }
    }

    /// The operator's view of a stall (issue 22): the order in `GET /operator/attention`
    /// with its reason, the dead-letter queue's depth at least 1, `POST /operator/
    /// dead-letters/redrive`, and the order then filling normally with one venue order.
    #[tokio::test]
    #[ignore = "needs the local stack (API_URL) and its mappings: make test starts them"]
    async fn an_operator_sees_a_stalled_order_and_redrives_it_through_the_api() {
        let _knobs = KNOBS.lock().await;
        let _restore = Restore;
        let s = stack().await;
        let t = trader(&s).await;
        let token = s.token(&t);
        let ops = s.token_with(json!({"sub": "jane", "scope": "orders/operate"}), 900);
        let sqs = aws_sdk_sqs::Client::new(&shared::adapters::aws::sdk_config().await);
        let dlq = std::env::var("WORK_DEAD_LETTER_QUEUE_URL").expect("WORK_DEAD_LETTER_QUEUE_URL");

        s.sim_config(json!({"error_rate": 1.0})).await.unwrap();
        let a = s
            .submit(&token, Some(&key("ops", 0)), &marketable("OPSV"))
            .await
            .unwrap();
        assert_eq!(a.status, 201, "{}", a.body);
        let id = a.body["order_id"].as_str().unwrap_or_default().to_owned();

        // In the day's stalled list, with the stall's reason.
        let deadline = tokio::time::Instant::now() + WAIT;
        let record = loop {
            let r = s.get("/operator/attention?kind=stalled", &ops).await.unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
            let found = r.body["records"]
                .as_array()
                .and_then(|rs| rs.iter().find(|x| x["order_id"] == id.as_str()).cloned());
            if let Some(found) = found {
                break found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} not listed as stalled after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        assert_eq!(record["kind"], "stalled");
        assert_eq!(record["trader_id"], t.to_string());
        assert_eq!(
            (&record["from_status"], &record["to_status"]),
            (&json!("SUBMITTED"), &json!("SUBMITTED"))
        );
        let reason = record["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("dead-letter queue"), "{record}");
        assert_eq!(record["current_status"], "SUBMITTED");
        assert_eq!(record["current_reason"].as_str(), Some(reason), "still stalled");

        // Its message reaches the dead-letter queue: the depth counts it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !dead_lettered(&sqs, &dlq).await.contains(&id) {
            assert!(tokio::time::Instant::now() < deadline, "{id} not in the DLQ");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let depth = s.get("/operator/dead-letters", &ops).await.unwrap();
            assert_eq!(depth.status, 200, "{}", depth.body);
            if depth.body["messages"].as_u64().unwrap_or(0) >= 1 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "depth never counted it: {}",
                depth.body
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // A trader cannot move it.
        let refused = s
            .send("POST", "/operator/dead-letters/redrive", Some(&token), &[], None)
            .await
            .unwrap();
        assert_eq!(refused.status, 403, "{}", refused.body);

        // The cause fixed, the redrive route, a call at a time until nothing is left.
        s.sim_config(json!({"error_rate": 0.0})).await.unwrap();
        let mut moved = 0;
        for _ in 0..50 {
            let r = s
                .send("POST", "/operator/dead-letters/redrive", Some(&ops), &[], None)
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
            moved += r.body["moved"].as_u64().unwrap_or(0);
            if r.body["more"] == false {
                break;
            }
        }
        assert!(moved >= 1, "the redrive moved nothing");
        let order = s.wait_for_status(&t, &id, &["FILLED"], WAIT).await.unwrap();
        assert_eq!(order["reason"], Value::Null, "the stall's reason ended: {order}");
        let at_venue = s.sim_orders(&id).await.unwrap();
        assert_eq!(at_venue.len(), 1, "one venue order: {at_venue:?}");
        // The list now shows it ended.
        let r = s.get("/operator/attention?kind=stalled", &ops).await.unwrap();
        let now = r.body["records"]
            .as_array()
            .and_then(|rs| rs.iter().find(|x| x["order_id"] == id.as_str()).cloned())
            .unwrap_or_default();
        assert_eq!(
            (&now["current_status"], &now["current_reason"]),
            (&json!("FILLED"), &Value::Null)
        );
    }
}
