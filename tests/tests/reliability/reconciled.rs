//! Issue 14, item 2: each correction the reconciliation sweep makes is published as
//! its own `Order Reconciled` event, beside the order's `Order Status Changed`. Two day
//! orders rest until the venue expires them on its own at the end of its day: only
//! the sweep can find that, and it ends both through the normal transitions. A third
//! order the trader cancels ends either by execute (its cancel message found the
//! venue order already `canceled`: no finding, no event) or by the sweep (after
//! `pending_cancel`: a correction), whichever came first; the audit trail's actor
//! says which. A tap on the bus (a queue and a rule for the trader's `orders` events)
//! must receive, per correction, exactly one reconciliation (one `reconciliation_id`,
//! every copy identical) with the venue's ids and statuses, the correction's statuses
//! and time, and the operator record it stands for, and none for an end that was no
//! correction. Every
//! envelope received is appended to `$STACK_LOG_DIR/bus-events.jsonl`, which
//! `tools/check_asyncapi.py` checks against infra/asyncapi.yaml (channel `bus`).

use super::*;

use e2e::bus::BusTap;

fn of_type<'a>(events: &'a [Value], detail_type: &str, order: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["detail-type"] == detail_type && e["detail"]["order_id"] == order)
        .map(|e| &e["detail"])
        .collect()
}

#[tokio::test]
#[ignore = "needs the local stack with mappings (API_URL): make test starts it"]
async fn each_sweep_correction_is_published_once_as_its_own_event() {
    // The venue's day (`day_ms`) must stay as it is until the day order expires.
    let _knobs = KNOBS.read().await;
    let s = stack().await;
    let trader = s.trader("100000", None).await.unwrap();
    let token = s.token(&trader);
    let tap = BusTap::new(&s, &trader, &["Order Reconciled", "Order Status Changed"]).await;
    fresh_market(&s, &["RECN"]).await;
    // Far below the market: both rest until they end.
    let bodies = [
        limit("RECN", "3", "50", "gtc"),
        limit("RECN", "2", "51", "day"),
        limit("RECN", "1", "52", "day"),
    ];
    let (answers, ids) = submit_all(&s, &trader, &bodies).await;
    assert_eq!(ids.len(), 3, "{answers:?}");
    let cancelled = ids[0].clone();
    assert_eq!(wait_all(&s, &trader, &ids, &["SUBMITTED"]).await, 0);
    let mut venue_ids = Vec::new();
    for id in &ids {
        let at_venue = s.wait_at_venue(id, WAIT).await.unwrap();
        venue_ids.push(at_venue[0]["id"].as_str().unwrap().to_owned());
    }
    let r = s.cancel(&token, &cancelled).await.unwrap();
    assert!(
        matches!(r.status, 200 | 202) && r.body["status"] == "CANCEL_REQUESTED",
        "{} {}",
        r.status,
        r.body
    );
    // The venue's day is a minute locally (`day_ms`): the day order expires within it.
    let mut ended = vec![
        s.wait_for_status(&trader, &cancelled, &["CANCELLED"], WAIT)
            .await
            .unwrap(),
    ];
    for id in &ids[1..] {
        let o = s
            .wait_for_status(&trader, id, &["EXPIRED"], Duration::from_secs(120))
            .await;
        ended.push(o.unwrap());
    }
    // Who ended each order: the sweep (`intake`) or execute.
    let mut by_sweep = Vec::new();
    for id in &ids {
        let audit = s.get(&format!("/orders/{id}/audit"), &token).await.unwrap();
        let last = audit.body["records"].as_array().and_then(|r| r.last()).cloned();
        by_sweep.push(last.is_some_and(|r| r["actor"] == "intake"));
    }
    assert!(
        by_sweep[1] && by_sweep[2],
        "only the sweep ends an order the venue expired: {by_sweep:?}"
    );

    // Until every correction's reconciliation and every final status event arrived,
    // then 5 s more for any repeat.
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let arrived = |events: &[Value]| {
        ids.iter().zip(&ended).zip(&by_sweep).all(|((id, o), swept)| {
            (!swept || !of_type(events, "Order Reconciled", id).is_empty())
                && of_type(events, "Order Status Changed", id)
                    .iter()
                    .any(|d| d["version"] == o["version"])
        })
    };
    while !arrived(&events) && tokio::time::Instant::now() < deadline {
        tap.receive(&mut events).await;
    }
    let settle = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < settle {
        tap.receive(&mut events).await;
    }

    let expected = [
        (
            &ids[0],
            &venue_ids[0],
            "canceled",
            "CANCEL_REQUESTED",
            "CANCELLED",
            &ended[0],
        ),
        (&ids[1], &venue_ids[1], "expired", "SUBMITTED", "EXPIRED", &ended[1]),
        (&ids[2], &venue_ids[2], "expired", "SUBMITTED", "EXPIRED", &ended[2]),
    ];
    let mut corrections = Vec::new();
    for ((id, venue_id, venue_status, from, to, order), swept) in expected.into_iter().zip(&by_sweep) {
        let found = of_type(&events, "Order Reconciled", id);
        if !swept {
            assert!(
                found.is_empty(),
                "execute's own end of {id} is no correction: {found:?}"
            );
            eprintln!("order {id}: ended by execute, no Order Reconciled event");
            continue;
        }
        corrections.push((id, order));
        let keys: std::collections::BTreeSet<&str> =
            found.iter().filter_map(|d| d["reconciliation_id"].as_str()).collect();
        assert_eq!(keys.len(), 1, "one correction, one dedupe key: {found:?}");
        assert!(found.iter().all(|d| d == &found[0]), "repeats are identical: {found:?}");
        let d = found[0];
        // The correction's time is the order's last change (the same transaction).
        let at = order["updated_at"].as_str().unwrap();
        let millis = shared::domain::Timestamp::parse(at).unwrap().unix_millis();
        let reason = d["reason"].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            *d,
            json!({"reconciliation_id": format!("{millis:013}#{id}"), "order_id": id, "trader_id": trader.as_str(),
                "venue_order_id": venue_id, "venue_status": venue_status, "from_status": from, "to_status": to,
                "corrected": true, "reason": reason, "at": at}),
        );
        assert!(
            reason.contains(venue_status) && reason.contains(&format!("corrected from {from} to {to}")),
            "{reason}"
        );
        // Beside the order's own status event of the same correction.
        let status = of_type(&events, "Order Status Changed", id);
        assert!(
            status
                .iter()
                .any(|e| e["previous_status"] == from && e["new_status"] == to && e["timestamp"] == at),
            "{status:?}"
        );
        eprintln!(
            "order {id}: {} Order Reconciled event(s) received, key {}",
            found.len(),
            d["reconciliation_id"]
        );
    }

    // The operator record each event stands for.
    let ops = s.token_with(json!({"sub": "jane", "scope": "orders/operate"}), 600);
    for (id, order) in corrections {
        let at = order["updated_at"].as_str().unwrap();
        let mut records = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!(
                "/operator/attention?kind=reconciliation&date={}&limit=200{cursor}",
                &at[..10]
            );
            let list = s.get(&path, &ops).await.unwrap();
            assert_eq!(list.status, 200, "{}", list.body);
            let page = list.body["records"].as_array().cloned().unwrap_or_default();
            records.extend(page.into_iter().filter(|r| r["order_id"] == *id));
            match list.body["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={}", next.replace('#', "%23")),
                None => break,
            }
        }
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(
            (records[0]["at"].as_str(), records[0]["corrected"].as_bool()),
            (Some(at), Some(true))
        );
    }
}
