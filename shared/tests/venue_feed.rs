//! The `VenueFeed` port in memory: every fill of the book is one execution with its
//! own id, read in pages after a cursor; the budget takes one request per page.

use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;
use shared::adapters::memory::{FixedClock, MemoryVenue, MemoryVenueBudget};
use shared::adapters::venue::BudgetedVenue;
use shared::domain::{Order, OrderId, Timestamp, TraderId, validate_order};
use shared::ports::{FeedPosition, Venue, VenueError, VenueFeed, VenueRate};

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn limit_buy(qty: &str, price: &str) -> Order {
    let body = serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": qty,
        "limit_price": price, "time_in_force": "gtc"});
    let draft = validate_order(&body).unwrap();
    Order::pending(
        OrderId::new(),
        TraderId::parse("t-1").unwrap(),
        draft,
        Decimal::ZERO,
        Timestamp::now(),
    )
}

fn epoch() -> Timestamp {
    Timestamp::parse("2026-01-05T15:00:00Z").unwrap()
}

#[tokio::test]
async fn each_fill_is_an_execution_read_in_pages_after_a_cursor() {
    let venue = MemoryVenue::new();
    venue.set_epoch(epoch());
    venue.set_price("AAPL", dec("190"));
    let a = limit_buy("10", "150");
    let b = limit_buy("4", "150");
    let va = venue.place(&a).await.unwrap();
    venue.place(&b).await.unwrap();
    venue.fill(&a.order_id, dec("3"), dec("149.9951")).unwrap();
    venue.advance_ms(1_000);
    venue.fill(&b.order_id, dec("4"), dec("149.5")).unwrap();
    venue.fill(&a.order_id, dec("7"), dec("149.25")).unwrap();

    let first = venue
        .executions(
            &FeedPosition::Since {
                at: epoch().plus_seconds(-1),
            },
            2,
        )
        .await
        .unwrap();
    assert!(first.more);
    assert_eq!(first.executions.len(), 2);
    let e = &first.executions[0];
    assert_eq!(
        (
            &e.venue_order_id,
            e.client_order_id,
            e.qty,
            e.price,
            e.cum_qty,
            e.leaves_qty
        ),
        (
            &va.venue_order_id,
            Some(a.order_id),
            dec("3"),
            dec("149.9951"),
            dec("3"),
            dec("7")
        )
    );
    let second = venue
        .executions(&FeedPosition::after(&first.executions[1]), 2)
        .await
        .unwrap();
    assert_eq!(second.executions.len(), 1);
    assert!(!second.more);
    let last = &second.executions[0];
    assert_eq!(
        (last.cum_qty, last.leaves_qty, last.price),
        (dec("10"), dec("0"), dec("149.25"))
    );
    assert_eq!(
        last.transaction_time,
        epoch().plus_seconds(1),
        "the venue's clock, not ours"
    );
    let mut ids: Vec<String> = first
        .executions
        .iter()
        .chain(&second.executions)
        .map(|e| e.execution_id.clone())
        .collect();
    let sorted = {
        let mut s = ids.clone();
        s.sort();
        s
    };
    assert_eq!(ids, sorted, "ids sort as the executions happened");
    ids.dedup();
    assert_eq!(ids.len(), 3);

    // A cursor after the last one reads nothing until the venue fills again.
    let at_end = FeedPosition::after(last);
    assert!(venue.executions(&at_end, 2).await.unwrap().executions.is_empty());
    let c = limit_buy("1", "200");
    venue.place(&c).await.unwrap();
    let new = venue.executions(&at_end, 2).await.unwrap();
    assert_eq!(new.executions.len(), 1, "the marketable order filled on arrival");
    assert_eq!(new.executions[0].client_order_id, Some(c.order_id));
    // A time bound after every execution so far reads nothing.
    let later = FeedPosition::Since {
        at: epoch().plus_seconds(5),
    };
    assert!(venue.executions(&later, 10).await.unwrap().executions.is_empty());
    // An execution id the venue never gave is refused, not read as "from the start".
    let unknown = FeedPosition::After {
        execution_id: "nope".into(),
        at: epoch(),
    };
    assert!(matches!(
        venue.executions(&unknown, 2).await,
        Err(VenueError::Rejected(_))
    ));
}

#[tokio::test]
async fn open_orders_are_listed_by_placement_with_their_replacement_and_paged_by_order_id() {
    let venue = MemoryVenue::new();
    venue.set_epoch(epoch());
    venue.set_price("AAPL", dec("190"));
    let a = limit_buy("10", "150");
    venue.place(&a).await.unwrap();
    venue.advance_ms(1_000);
    let b = limit_buy("5", "150");
    venue.place(&b).await.unwrap();
    let filled = limit_buy("1", "200"); // marketable: fills on arrival, not open
    venue.place(&filled).await.unwrap();
    let all = venue.open_orders(None, 500).await.unwrap();
    let ids: Vec<String> = all.orders.iter().map(|o| o.client_order_id.clone()).collect();
    assert_eq!(ids, vec![a.order_id.to_string(), b.order_id.to_string()]);
    assert_eq!(all.next, None);
    let page = venue.open_orders(None, 1).await.unwrap();
    assert_eq!(page.orders.len(), 1);
    assert_eq!(
        page.next.as_deref(),
        Some(all.orders[0].venue_order_id.as_str()),
        "the next page starts after the last one's venue order"
    );
    let rest = venue.open_orders(page.next.as_deref(), 1).await.unwrap();
    assert_eq!(rest.orders[0].client_order_id, b.order_id.to_string());
    // A replacement is open under the venue's own client order id; the replaced one
    // is not listed.
    let new_id = venue.replace(&a.order_id, dec("140")).unwrap();
    let now = venue.open_orders(None, 500).await.unwrap();
    let venue_ids: Vec<&str> = now.orders.iter().map(|o| o.venue_order_id.as_str()).collect();
    assert_eq!(venue_ids, vec![all.orders[1].venue_order_id.as_str(), new_id.as_str()]);
    assert_eq!(
        now.orders[1].replaces.as_deref(),
        Some(all.orders[0].venue_order_id.as_str())
    );
    assert_eq!(venue.calls().1, 4, "each listing is one call");
}

#[tokio::test]
async fn every_feed_page_takes_one_request_from_the_shared_budget() {
    let clock = Arc::new(FixedClock::new(Timestamp::from_unix_millis(1_700_000_001_000).unwrap()));
    let rate = VenueRate {
        per_minute: 26,
        window_secs: 5,
    }; // 2 per window
    let venue = BudgetedVenue::new(
        MemoryVenue::new(),
        Arc::new(MemoryVenueBudget::new()),
        "k",
        rate,
        clock.clone(),
    );
    let since = FeedPosition::Since { at: epoch() };
    assert!(venue.executions(&since, 100).await.is_ok());
    assert!(venue.open_orders(None, 500).await.is_ok());
    assert!(matches!(
        venue.executions(&since, 100).await,
        Err(VenueError::RateLimited { .. })
    ));
    clock.advance_seconds(5);
    assert!(venue.executions(&since, 100).await.is_ok(), "the next window opens");
}
