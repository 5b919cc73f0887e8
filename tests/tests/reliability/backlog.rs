//! A throttled execute backlog (issue 16, item 5): far more work than execute's
//! capped concurrency can take at once, on a slow venue. Lambda's SQS pollers (the
//! local mapper) receive no more than `MaximumConcurrency` batches can run, so a
//! backlog waits in the queue instead of being received, refused and counted toward
//! `maxReceiveCount`: nothing reaches the dead-letter queue, no order is marked
//! stalled, and every order fills once.

use super::*;

use aws_sdk_sqs::types::QueueAttributeName;

/// Messages visible plus in flight on the queue at `url` (0 when it cannot be read).
async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let attrs = out.attributes().cloned().unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|name| attrs.get(name).and_then(|v| v.parse::<u64>().ok()))
    .sum()
}

#[tokio::test]
#[ignore = "needs the local stack with mappings (API_URL): make test starts it"]
async fn a_throttled_execute_backlog_drains_without_dead_letters() {
    // The venue's latency is a global knob.
    let _knobs = KNOBS.write().await;
    let s = stack().await;
    let panics = panics_so_far();
    const ORDERS: usize = 60;
    const VENUE_MS: u64 = 250;
    let mut row = Row::new(
        4,
        "throttled execute backlog",
        "60 marketable orders at once, execute capped at the mapping's MaximumConcurrency, venue answering in 250 ms",
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
    let work = std::env::var("WORK_QUEUE_URL").expect("WORK_QUEUE_URL");
    let dead_before = depth(&sqs, &dlq).await;
    fresh_market(&s, &["BKLG"]).await;
    s.sim_config(json!({"latency_ms": VENUE_MS})).await.unwrap();
    // Crossing limits: each fills as soon as it reaches the venue.
    let bodies: Vec<Value> = (0..ORDERS).map(|_| limit("BKLG", "1", "101", "gtc")).collect();
    let started = std::time::Instant::now();
    let (statuses, ids) = submit_all(&s, &trader, &bodies).await;
    assert_eq!(ids.len(), ORDERS, "every submit accepted: {statuses:?}");
    // The backlog as it stood while it drained (sampled), then every order filled.
    let mut deepest = 0;
    let drained = async {
        loop {
            deepest = deepest.max(depth(&sqs, &work).await);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let waited = tokio::select! {
        w = wait_all(&s, &trader, &ids, &["FILLED"]) => w,
        () = drained => unreachable!("the sampler never ends"),
    };
    let elapsed = started.elapsed();
    s.sim_config(json!({"latency_ms": 0})).await.unwrap();
    row.lost_orders += waited;
    let dead = depth(&sqs, &dlq).await.saturating_sub(dead_before);
    let mut stalled = 0;
    for id in &ids {
        let records = s.store.records(&OrderId::parse(id).unwrap()).await.unwrap();
        stalled += u64::from(records.iter().any(|r| r.action == "STALL"));
    }
    // A message in the dead-letter queue or an order marked stalled is an order the
    // backlog lost to its retry budget.
    row.lost_orders += dead + stalled;
    tally(&s, &mut row, &trader, cash, &ids, &tap).await;
    row.server_errors = server_errors(statuses.iter().copied());
    row.operations = ORDERS as u64;
    row.notes = format!(
        "deepest backlog sampled {deepest} messages; all filled in {:.1} s; dead-lettered {dead}, stalled {stalled}",
        elapsed.as_secs_f64()
    );
    row.panics = panics_so_far() - panics;
    row.record_and_check();
}
