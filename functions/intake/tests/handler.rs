//! The intake handler: passes every `poll` until shortly before the invocation's
//! deadline, whatever the number of resting orders; a failing pass does not stop
//! the run, and the next one catches up from the cursor.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use intake::{DEADLINE_MARGIN, Intake};
use rust_decimal::Decimal;
use shared::adapters::memory::{MemoryIntakeStore, MemoryStore, MemoryVenue};
use shared::app::fixtures::place_limit_buy;
use shared::app::{AuditContext, plan_transition};
use shared::domain::{OrderEvent, Timestamp, TraderId};
use shared::ports::{
    ExecutionPage, FeedPosition, IntakeStore, OpenOrderPage, OrderStore, SystemClock, Venue, VenueError, VenueFeed,
    VenueOrderRef, WorkingOrder,
};

/// The memory venue, counting the feed's calls.
struct Counted {
    venue: Arc<MemoryVenue>,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl VenueFeed for Counted {
    async fn executions(&self, from: &FeedPosition, page_size: u32) -> Result<ExecutionPage, VenueError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.venue.executions(from, page_size).await
    }
    async fn open_orders(&self, after: Option<&str>, limit: u32) -> Result<OpenOrderPage, VenueError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.venue.open_orders(after, limit).await
    }
    async fn venue_order(&self, id: &str) -> Result<Option<VenueOrderRef>, VenueError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.venue.venue_order(id).await
    }
}

async fn run_with_resting(resting: usize, status_every: u32) -> (usize, u32, Decimal) {
    let store = Arc::new(MemoryStore::new());
    let intake_store = Arc::new(MemoryIntakeStore::new());
    let venue = Arc::new(MemoryVenue::new());
    venue.set_epoch(Timestamp::now());
    venue.set_price("AAPL", Decimal::from(190));
    let trader = TraderId::parse("intake-bob").unwrap();
    store
        .fund_account(&trader, Decimal::from(1_000_000), None)
        .await
        .unwrap();
    let mut first = None;
    for _ in 0..resting {
        let order = place_limit_buy(store.as_ref(), &trader, "2", "150").await;
        let claim = plan_transition(
            &order,
            &OrderEvent::Claim,
            None,
            &AuditContext::system("t"),
            Timestamp::now(),
        )
        .unwrap();
        let claimed = claim.after.clone();
        store.transition(claim).await.unwrap();
        intake_store.put_order_ref(&order.order_id, &trader).await.unwrap();
        intake_store
            .put_working(&WorkingOrder {
                order_id: order.order_id,
                trader_id: trader.clone(),
                venue_order_id: None,
                cancel_done: false,
            })
            .await
            .unwrap();
        venue.place(&claimed).await.unwrap();
        first.get_or_insert(order);
    }
    let first = first.unwrap();
    venue.fill(&first.order_id, Decimal::ONE, Decimal::from(149)).unwrap();
    let feed = Arc::new(Counted {
        venue: venue.clone(),
        calls: AtomicUsize::new(0),
    });
    let handler = Intake {
        store: store.clone(),
        attention: store.clone(),
        intake: intake_store,
        feed: feed.clone(),
        venue: venue.clone(),
        clock: Arc::new(SystemClock),
        feed_key: "test-feed".into(),
        poll: Duration::from_millis(100),
        lookback: Duration::from_secs(3600),
        page_size: 100,
        unknown_status_alarm_secs: 600,
        status_every,
    };
    // An invocation with DEADLINE_MARGIN + 1 s left: about ten passes of 100 ms.
    let deadline = Instant::now() + DEADLINE_MARGIN + Duration::from_secs(1);
    let report = handler.run(|| deadline.saturating_duration_since(Instant::now())).await;
    assert!(Instant::now() < deadline, "stopped before the deadline");
    assert_eq!(report.failed, 0);
    let booked = store
        .get_order(&trader, &first.order_id)
        .await
        .unwrap()
        .unwrap()
        .filled_quantity;
    // The feed's calls and the sweep's lookups of single orders (none: every resting
    // order is in the venue's open list).
    let (finds, _) = venue.calls();
    (feed.calls.load(Ordering::SeqCst) + finds, report.passes, booked)
}

#[tokio::test]
async fn venue_calls_do_not_grow_with_resting_orders() {
    let (few_calls, few_passes, few_booked) = run_with_resting(2, 1).await;
    let (many_calls, many_passes, many_booked) = run_with_resting(200, 1).await;
    assert!((8..=11).contains(&few_passes), "a pass every poll: {few_passes}");
    assert_eq!(
        (few_booked, many_booked),
        (Decimal::ONE, Decimal::ONE),
        "the fill is booked once"
    );
    // Per pass: one page of executions and one listing of open orders (500 a page);
    // the first execution of a venue order without client order id would add one
    // lookup (not here), and so would an order that left the open list unbooked.
    assert!(
        few_calls as u32 <= 2 * few_passes + 1,
        "{few_calls} calls in {few_passes} passes"
    );
    assert!(
        many_calls as u32 <= 2 * many_passes + 1,
        "200 resting orders: {many_calls} calls in {many_passes} passes"
    );
}

#[tokio::test]
async fn the_order_list_can_be_read_on_every_few_passes_only() {
    let (calls, passes, booked) = run_with_resting(20, 5).await;
    assert_eq!(booked, Decimal::ONE);
    // One activities page a pass, one listing on every fifth pass.
    assert!(
        calls as u32 <= passes + passes.div_ceil(5),
        "{calls} calls in {passes} passes"
    );
}
