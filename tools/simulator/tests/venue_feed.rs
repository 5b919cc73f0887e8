//! The Alpaca adapter's `VenueFeed` against the simulator over HTTP: it pages the
//! FILL activities (`page_size`, `page_token`) and picks up from a cursor, with
//! nothing missed and nothing doubled.

mod support;

use std::collections::BTreeSet;

use serde_json::json;
use shared::domain::Timestamp;
use shared::ports::{FeedPosition, Venue, VenueExecution, VenueFeed};
use support::{Harness, dec, order, simulated};

/// Every execution from `from` on, page by page; the pages read and the cursor after
/// the last execution.
async fn drain(feed: &dyn VenueFeed, from: FeedPosition, page_size: u32) -> (Vec<VenueExecution>, usize, FeedPosition) {
    let (mut all, mut pages, mut at) = (Vec::new(), 0, from);
    loop {
        let page = feed.executions(&at, page_size).await.expect("a page of executions");
        pages += 1;
        if let Some(last) = page.executions.last() {
            at = FeedPosition::after(last);
        }
        all.extend(page.executions);
        if !page.more || pages > 50 {
            return (all, pages, at);
        }
    }
}

#[tokio::test]
async fn the_adapter_pages_through_every_fill_once_and_resumes_from_its_cursor() {
    let s = simulated().await;
    let start = FeedPosition::Since {
        at: Timestamp::from_unix_millis(Timestamp::now().unix_millis() - 60_000).expect("a time"),
    };
    s.post("/_sim/config", json!({"partial_fill_rate": 1.0})).await;
    s.set_price("AAPL", "190").await;
    // Two resting buys filled in parts: 8 → 4, 2, 1, 1 and 3 → 1, 1, 1 at least.
    let a = order(json!({"type": "limit", "limit_price": "150", "quantity": "8", "time_in_force": "gtc"}));
    let b = order(json!({"type": "limit", "limit_price": "150", "quantity": "3", "time_in_force": "gtc"}));
    let placed_a = s.adapter.place(&a).await.expect("placed");
    let placed_b = s.adapter.place(&b).await.expect("placed");
    for price in ["149", "148", "147", "146"] {
        s.set_price("AAPL", price).await;
    }
    let raw: serde_json::Value = s
        .http
        .get(s.url("/v2/account/activities/FILL?direction=asc"))
        .header("APCA-API-KEY-ID", "test-key")
        .header("APCA-API-SECRET-KEY", "test-secret")
        .send()
        .await
        .expect("sim reachable")
        .json()
        .await
        .expect("JSON");
    let raw = raw.as_array().cloned().expect("activities");
    assert!(raw.len() >= 5, "enough fills for three pages of two: {raw:?}");

    let (seen, pages, cursor) = drain(&s.adapter, start.clone(), 2).await;
    assert!(pages >= 3, "read in {pages} pages");
    let ids: Vec<&str> = seen.iter().map(|e| e.execution_id.as_str()).collect();
    let raw_ids: Vec<&str> = raw.iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, raw_ids, "every activity once, in the venue's order");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "none doubled");
    for (e, a) in seen.iter().zip(&raw) {
        assert_eq!(
            e.price,
            dec(a["price"].as_str().expect("price")),
            "the venue's price, exactly"
        );
        assert_eq!(e.qty, dec(a["qty"].as_str().expect("qty")));
        assert_eq!(e.cum_qty, dec(a["cum_qty"].as_str().expect("cum_qty")));
        let at = Timestamp::parse(a["transaction_time"].as_str().expect("time")).expect("RFC 3339");
        assert_eq!(e.transaction_time, at, "the venue's transaction time");
    }
    for placed in [&placed_a, &placed_b] {
        let booked: rust_decimal::Decimal = seen
            .iter()
            .filter(|e| e.venue_order_id == placed.venue_order_id)
            .map(|e| e.qty)
            .sum();
        let now = s
            .adapter
            .find(&placed.client_order_id)
            .await
            .expect("find")
            .expect("there");
        assert_eq!(
            booked, now.filled_quantity,
            "the executions add up to the order's fills"
        );
    }

    // Nothing new: the cursor reads an empty page. Then more fills: only those.
    let (none, _, same) = drain(&s.adapter, cursor.clone(), 2).await;
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(same, cursor);
    let c = order(json!({"type": "limit", "limit_price": "150", "quantity": "1", "time_in_force": "gtc"}));
    s.adapter.place(&c).await.expect("placed");
    let (new, _, _) = drain(&s.adapter, cursor, 2).await;
    assert_eq!(new.len(), 1, "only the execution after the cursor: {new:?}");
    assert_eq!(new[0].cum_qty, dec("1"));
    assert!(!ids.contains(&new[0].execution_id.as_str()));
}

#[tokio::test]
async fn a_replacement_is_found_by_the_venues_id_and_leads_back_to_our_order() {
    let s = simulated().await;
    s.set_price("AAPL", "190").await;
    let ours = order(json!({"type": "limit", "limit_price": "150", "quantity": "5", "time_in_force": "gtc"}));
    let placed = s.adapter.place(&ours).await.expect("placed");
    let replacement = s
        .post(
            "/_sim/replace",
            json!({"client_order_id": ours.order_id.to_string(), "limit_price": "140"}),
        )
        .await;
    let new_id = replacement["id"].as_str().expect("replacement id").to_owned();

    let old = s
        .adapter
        .venue_order(&placed.venue_order_id)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(old.status, shared::ports::VenueStatus::Replaced);
    assert_eq!(old.replaced_by.as_deref(), Some(new_id.as_str()));
    assert_eq!(old.client_order_id, ours.order_id.to_string());
    let new = s.adapter.venue_order(&new_id).await.expect("get").expect("there");
    assert_eq!(new.replaces.as_deref(), Some(placed.venue_order_id.as_str()));
    assert_ne!(
        new.client_order_id,
        ours.order_id.to_string(),
        "the venue's own client order id"
    );
    let found = s.adapter.find(&ours.order_id).await.expect("find").expect("there");
    assert_eq!(
        found.replaced_by.as_deref(),
        Some(new_id.as_str()),
        "find carries replaced_by too"
    );
    assert_eq!(s.adapter.venue_order("no-such-order").await, Ok(None));
}

#[tokio::test]
async fn the_intake_books_the_simulators_executions_and_a_replacements_to_our_order() {
    use shared::adapters::memory::{MemoryIntakeStore, MemoryStore};
    use shared::app::fixtures::place_limit_buy;
    use shared::app::{AuditContext, IntakeDeps, intake_pass, plan_transition};
    use shared::domain::{OrderEvent, OrderStatus, TraderId};
    use shared::ports::{IntakeStore, OrderStore, SystemClock, WorkingOrder};

    let s = simulated().await;
    s.post("/_sim/config", json!({"partial_fill_rate": 1.0})).await;
    s.set_price("AAPL", "190").await;
    let store = MemoryStore::new();
    let intake = MemoryIntakeStore::new();
    let trader = TraderId::parse("sim-intake").expect("trader");
    store.fund_account(&trader, dec("100000"), None).await.expect("funded");
    let ours = place_limit_buy(&store, &trader, "8", "150").await;
    let claim = plan_transition(
        &ours,
        &OrderEvent::Claim,
        None,
        &AuditContext::system("t"),
        Timestamp::now(),
    )
    .expect("claim");
    let claimed = claim.after.clone();
    store.transition(claim).await.expect("claimed");
    intake.put_order_ref(&ours.order_id, &trader).await.expect("locator");
    intake
        .put_working(&WorkingOrder {
            order_id: ours.order_id,
            trader_id: trader.clone(),
            venue_order_id: None,
            cancel_done: false,
        })
        .await
        .expect("working");
    let placed = s.adapter.place(&claimed).await.expect("placed");
    s.set_price("AAPL", "149.5").await; // 4 of 8
    let replacement = s
        .post(
            "/_sim/replace",
            json!({"client_order_id": ours.order_id.to_string(), "limit_price": "140"}),
        )
        .await;
    let new_id = replacement["id"].as_str().expect("replacement id").to_owned();
    for price in ["139.5", "139.25", "139"] {
        s.set_price("AAPL", price).await;
    }
    let clock = SystemClock;
    let deps = IntakeDeps {
        store: &store,
        attention: &store,
        intake: &intake,
        feed: &s.adapter,
        venue: &s.adapter,
        clock: &clock,
        feed_key: "sim",
        start: Timestamp::from_unix_millis(Timestamp::now().unix_millis() - 60_000).expect("a time"),
        page_size: 2,
        max_pages: 50,
        unknown_status_alarm_secs: 600,
        // The sweep too, over the simulator's GET /v2/orders.
        statuses: true,
    };
    let report = intake_pass(&deps).await.expect("a pass");
    assert_eq!(report.refused, 0, "{report:?}");
    let (seen, _, _) = drain(&s.adapter, FeedPosition::Since { at: deps.start }, 100).await;
    let venue: Vec<&VenueExecution> = seen
        .iter()
        .filter(|e| e.venue_order_id == placed.venue_order_id || e.venue_order_id == new_id)
        .collect();
    assert!(
        venue.iter().any(|e| e.venue_order_id == new_id),
        "the replacement filled"
    );
    let booked = store
        .get_order(&trader, &ours.order_id)
        .await
        .expect("read")
        .expect("there");
    let qty: rust_decimal::Decimal = venue.iter().map(|e| e.qty).sum();
    let notional: rust_decimal::Decimal = venue.iter().map(|e| e.qty * e.price).sum();
    assert_eq!(booked.filled_quantity, qty);
    assert_eq!(
        booked.booked_notional,
        Some(notional),
        "our books equal the venue's exactly"
    );
    let fills = store.fills(&trader, &ours.order_id).await.expect("fills");
    let mut ids: Vec<&str> = fills.iter().map(|f| f.execution_id.as_str()).collect();
    let mut venue_ids: Vec<&str> = venue.iter().map(|e| e.execution_id.as_str()).collect();
    ids.sort();
    venue_ids.sort();
    assert_eq!(ids, venue_ids, "every execution once, by the venue's id");
    assert_eq!(
        (booked.status, booked.filled_quantity),
        (OrderStatus::Filled, dec("8")),
        "4 before the replacement, 4 by it"
    );
    assert_eq!(report.listed, 1, "one listing of the open orders: {report:?}");
    assert!(
        intake.working_orders().await.expect("index").is_empty(),
        "the filled order left the working index"
    );
    let again = intake_pass(&deps).await.expect("a pass");
    assert_eq!((again.booked, again.duplicates), (0, 0), "the cursor moved past them");
}
