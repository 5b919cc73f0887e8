//! The venue intake over the in-memory ports: each venue execution booked once on
//! our order at the venue's price, quantity and time, keyed by the venue's execution
//! id, across replayed pages, restarts and a crash between booking and moving the
//! cursor; a replacement the venue made has its fills booked to our order.
//!
//! Long because: one scenario per execution path of the intake (replays, restarts, crashes,
//! replacements, sweep corrections), each needing its own setup of the in-memory ports.

use rust_decimal::Decimal;
use shared::adapters::memory::{FixedClock, MemoryIntakeStore, MemoryStore, MemoryVenue};
use shared::app::intake::sweep;
use shared::app::{AuditContext, IntakeDeps, IntakeError, PassReport, intake_pass, plan_submit, plan_transition};
use shared::domain::{Order, OrderEvent, OrderId, OrderStatus, Pricing, Timestamp, TraderId, validate_order};
use shared::ports::{Clock, FeedPosition, IntakeStore, OrderStore, Venue, VenueFeed, VenueStatus, WorkingOrder};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

const FEED: &str = "feed-test";

struct World {
    store: MemoryStore,
    intake: MemoryIntakeStore,
    venue: MemoryVenue,
    clock: FixedClock,
    trader: TraderId,
    start: Timestamp,
}

async fn world() -> World {
    let store = MemoryStore::new();
    let trader = TraderId::parse("intake-alice").unwrap();
    store.fund_account(&trader, d("100000"), None).await.unwrap();
    let start = Timestamp::parse("2026-01-05T15:00:00Z").unwrap();
    let venue = MemoryVenue::new();
    venue.set_epoch(start.plus_seconds(1));
    venue.set_price("AAPL", d("190"));
    World {
        store,
        intake: MemoryIntakeStore::new(),
        venue,
        clock: FixedClock::new(start.plus_seconds(600)),
        trader,
        start,
    }
}

impl World {
    /// A GTC limit buy submitted, claimed with its locator, and placed at the venue,
    /// as the executor does.
    async fn working_buy(&self, qty: &str, limit: &str) -> Order {
        self.working_buy_of(&self.trader, qty, limit).await
    }

    /// `working_buy` for `trader`'s account.
    async fn working_buy_of(&self, trader: &TraderId, qty: &str, limit: &str) -> Order {
        let account = self.store.get_account(trader).await.unwrap().unwrap();
        let body = serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": qty,
            "limit_price": limit, "time_in_force": "gtc"});
        let new = plan_submit(
            OrderId::new(),
            validate_order(&body).unwrap(),
            &account,
            &Pricing::default(),
            &AuditContext::system("t"),
            self.clock.now(),
        )
        .unwrap();
        let order = new.order.clone();
        self.store.create_order(new).await.unwrap();
        let claim = plan_transition(
            &order,
            &OrderEvent::Claim,
            None,
            &AuditContext::system("t"),
            self.clock.now(),
        )
        .unwrap();
        let claimed = claim.after.clone();
        self.store.transition(claim).await.unwrap();
        self.intake.put_order_ref(&order.order_id, trader).await.unwrap();
        self.intake
            .put_working(&WorkingOrder {
                order_id: order.order_id,
                trader_id: trader.clone(),
                venue_order_id: None,
                cancel_done: false,
            })
            .await
            .unwrap();
        self.venue.place(&claimed).await.unwrap();
        claimed
    }

    async fn pass(&self, page_size: u32) -> Result<PassReport, IntakeError> {
        let deps = IntakeDeps {
            store: &self.store,
            attention: &self.store,
            intake: &self.intake,
            feed: &self.venue,
            venue: &self.venue,
            clock: &self.clock,
            feed_key: FEED,
            start: self.start,
            page_size,
            max_pages: 100,
            unknown_status_alarm_secs: 600,
            statuses: true,
        };
        intake_pass(&deps).await
    }

    async fn order(&self, order: &Order) -> Order {
        self.store
            .get_order(&self.trader, &order.order_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn cash(&self) -> Decimal {
        self.store.get_account(&self.trader).await.unwrap().unwrap().cash
    }

    async fn reserved(&self) -> Decimal {
        self.store.get_account(&self.trader).await.unwrap().unwrap().reserved
    }

    /// Our books of `order` equal the venue's executions of it: the same ids, and the
    /// same filled quantity and notional, exactly.
    async fn assert_books_match_venue(&self, order: &Order, venue_order_ids: &[String]) {
        let executions: Vec<_> = self
            .venue
            .all_executions()
            .into_iter()
            .filter(|e| venue_order_ids.contains(&e.venue_order_id))
            .collect();
        let fills = self.store.fills(&self.trader, &order.order_id).await.unwrap();
        let mut ids: Vec<&str> = fills.iter().map(|f| f.execution_id.as_str()).collect();
        ids.sort();
        let mut venue_ids: Vec<&str> = executions.iter().map(|e| e.execution_id.as_str()).collect();
        venue_ids.sort();
        assert_eq!(ids, venue_ids, "each venue execution booked once, by its id");
        for e in &executions {
            let f = fills.iter().find(|f| f.execution_id == e.execution_id).unwrap();
            assert_eq!(
                (f.quantity, f.price, f.executed_at),
                (e.qty, e.price, e.transaction_time)
            );
        }
        let ours = self.order(order).await;
        let qty: Decimal = executions.iter().map(|e| e.qty).sum();
        let notional: Decimal = executions.iter().map(|e| e.qty * e.price).sum();
        assert_eq!(ours.filled_quantity, qty);
        assert_eq!(
            ours.booked_notional,
            Some(notional),
            "booked notional equals the venue's exactly"
        );
    }
}

#[tokio::test]
async fn executions_are_booked_once_at_the_venues_figures_across_replays_and_restarts() {
    let w = world().await;
    let order = w.working_buy("10", "150").await;
    let cash_before = w.cash().await;
    w.venue.fill(&order.order_id, d("3"), d("149.9951")).unwrap();
    w.venue.advance_ms(250);
    w.venue.fill(&order.order_id, d("2"), d("149.5")).unwrap();
    w.venue.advance_ms(250);
    w.venue.fill(&order.order_id, d("5"), d("149.25")).unwrap();
    let venue_id = w.venue.find(&order.order_id).await.unwrap().unwrap().venue_order_id;

    let first = w.pass(2).await.unwrap();
    assert_eq!((first.booked, first.duplicates, first.refused), (3, 0, 0), "{first:?}");
    assert!(first.pages >= 2, "read in pages of two");
    w.assert_books_match_venue(&order, std::slice::from_ref(&venue_id))
        .await;
    let filled = w.order(&order).await;
    assert_eq!(filled.status, OrderStatus::Filled);
    let notional = d("3") * d("149.9951") + d("2") * d("149.5") + d("5") * d("149.25");
    let cash_after = w.cash().await;
    assert!(
        (cash_before - cash_after - notional).abs() < d("0.03"),
        "cash moves by the venue's notional"
    );

    // A restart reads from the cursor: nothing again.
    let again = w.pass(2).await.unwrap();
    assert_eq!((again.booked, again.duplicates), (0, 0));
    // A replay of every page (the cursor back at the start) books nothing twice.
    let at = w.intake.feed_cursor(FEED).await.unwrap().unwrap();
    w.intake
        .advance_feed_cursor(FEED, at.version, &FeedPosition::Since { at: w.start })
        .await
        .unwrap();
    let replay = w.pass(2).await.unwrap();
    assert_eq!(
        (replay.booked, replay.duplicates, replay.refused),
        (0, 3, 0),
        "{replay:?}"
    );
    w.assert_books_match_venue(&order, &[venue_id]).await;
    assert_eq!(w.cash().await, cash_after);
    assert_eq!(w.order(&order).await.version, filled.version);
}

#[tokio::test]
async fn the_cursor_survives_a_crash_between_booking_and_moving_it() {
    let w = world().await;
    let order = w.working_buy("6", "150").await;
    for (qty, price) in [("1", "149"), ("1", "148.5"), ("2", "148"), ("2", "147.75")] {
        w.venue.fill(&order.order_id, d(qty), d(price)).unwrap();
        w.venue.advance_ms(100);
    }
    let venue_id = w.venue.find(&order.order_id).await.unwrap().unwrap().venue_order_id;
    w.intake.fail_next_advance();
    assert!(w.pass(2).await.is_err(), "the cursor write was lost");
    assert_eq!(
        w.intake.feed_cursor(FEED).await.unwrap(),
        None,
        "the cursor did not move"
    );
    assert_eq!(
        w.order(&order).await.filled_quantity,
        d("2"),
        "the first page was booked"
    );
    let after = w.pass(2).await.unwrap();
    assert_eq!((after.booked, after.duplicates), (2, 2), "{after:?}");
    w.assert_books_match_venue(&order, &[venue_id]).await;
    // Two passes racing: the one that read an older cursor cannot move it back.
    let at = w.intake.feed_cursor(FEED).await.unwrap().unwrap();
    let stale = w
        .intake
        .advance_feed_cursor(FEED, at.version - 1, &FeedPosition::Since { at: w.start })
        .await;
    assert!(stale.is_err());
    assert_eq!(w.intake.feed_cursor(FEED).await.unwrap(), Some(at));
}

#[tokio::test]
async fn a_replacements_fills_are_booked_to_our_order_and_nothing_is_released_early() {
    let w = world().await;
    let order = w.working_buy("10", "150").await;
    let reserved_at_start = w.reserved().await;
    w.venue.fill(&order.order_id, d("4"), d("149.5")).unwrap();
    let old_id = w.venue.find(&order.order_id).await.unwrap().unwrap().venue_order_id;
    let new_id = w.venue.replace(&order.order_id, d("140")).unwrap();
    assert_eq!(
        w.venue.venue_order(&old_id).await.unwrap().unwrap().replaced_by,
        Some(new_id.clone())
    );
    w.pass(100).await.unwrap();
    let partly = w.order(&order).await;
    assert_eq!(
        (partly.status, partly.filled_quantity),
        (OrderStatus::PartiallyFilled, d("4"))
    );
    let held = w.reserved().await;
    assert!(
        held > Decimal::ZERO && held < reserved_at_start,
        "the rest stays reserved: {held}"
    );

    w.venue.advance_ms(1_000);
    w.venue.set_price("AAPL", d("139.5"));
    let report = w.pass(100).await.unwrap();
    assert_eq!((report.booked, report.refused), (1, 0), "{report:?}");
    w.assert_books_match_venue(&order, &[old_id, new_id.clone()]).await;
    let done = w.order(&order).await;
    assert_eq!((done.status, done.filled_quantity), (OrderStatus::Filled, d("10")));
    assert_eq!(w.reserved().await, Decimal::ZERO, "released as it filled, not before");
    // The replacement was located once and remembered.
    assert_eq!(w.intake.venue_alias(&new_id).await.unwrap(), Some(order.order_id));
}

#[tokio::test]
async fn an_execution_of_an_order_that_is_not_ours_is_refused_not_booked() {
    let w = world().await;
    let order = w.working_buy("1", "200").await; // marketable: fills on arrival
    let stranger = w.working_buy("1", "200").await;
    // The locator of `stranger` never written: as for an order of another client.
    let fresh = MemoryIntakeStore::new();
    fresh.put_order_ref(&order.order_id, &w.trader).await.unwrap();
    let deps = IntakeDeps {
        store: &w.store,
        attention: &w.store,
        intake: &fresh,
        feed: &w.venue,
        venue: &w.venue,
        clock: &w.clock,
        feed_key: FEED,
        start: w.start,
        page_size: 10,
        max_pages: 10,
        unknown_status_alarm_secs: 600,
        statuses: true,
    };
    let report = intake_pass(&deps).await.unwrap();
    assert_eq!((report.booked, report.refused), (1, 1), "{report:?}");
    assert_eq!(w.order(&stranger).await.filled_quantity, Decimal::ZERO);
    assert!(fresh.feed_cursor(FEED).await.unwrap().is_some(), "the feed moves on");
}

#[tokio::test]
async fn a_cancel_confirmed_by_the_venue_after_a_late_fill_books_the_fill_first() {
    let w = world().await;
    let order = w.working_buy("10", "150").await;
    let reserved_at_start = w.reserved().await;
    w.venue.fill(&order.order_id, d("3"), d("149.5")).unwrap();
    let at_venue = w.venue.find(&order.order_id).await.unwrap().unwrap();
    w.venue.cancel(&at_venue.venue_order_id).await.unwrap();
    // The venue's order list is read before its execution: the order is not ended
    // with fewer fills than the venue's.
    let deps = IntakeDeps {
        store: &w.store,
        attention: &w.store,
        intake: &w.intake,
        feed: &w.venue,
        venue: &w.venue,
        clock: &w.clock,
        feed_key: FEED,
        start: w.start,
        page_size: 10,
        max_pages: 10,
        unknown_status_alarm_secs: 600,
        statuses: true,
    };
    let mut report = PassReport::default();
    sweep(&deps, &mut report).await.unwrap();
    assert_eq!((report.ended, report.deferred), (0, 1), "{report:?}");
    assert_eq!(w.order(&order).await.status, OrderStatus::Submitted);
    assert_eq!(w.reserved().await, reserved_at_start, "nothing released yet");
    // A full pass books the execution, then ends the order as the venue did.
    let pass = w.pass(10).await.unwrap();
    assert_eq!((pass.booked, pass.ended), (1, 1), "{pass:?}");
    let ended = w.order(&order).await;
    assert_eq!((ended.status, ended.filled_quantity), (OrderStatus::Cancelled, d("3")));
    assert_eq!(w.reserved().await, Decimal::ZERO, "the rest released when it ended");
    w.assert_books_match_venue(&order, &[at_venue.venue_order_id]).await;
    let records = shared::ports::AuditLog::records(&w.store, &order.order_id)
        .await
        .unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions.last(), Some(&"CANCEL_CONFIRM"), "{actions:?}");
    // Passes after that change nothing.
    let later = w.pass(10).await.unwrap();
    assert_eq!((later.booked, later.ended), (0, 0));
}

#[tokio::test]
async fn the_sweep_lists_open_orders_and_looks_up_only_the_orders_that_ended() {
    let w = world().await;
    // Nothing of ours works: the sweep asks the venue nothing.
    let idle = w.pass(10).await.unwrap();
    assert_eq!((idle.listed, idle.looked_up), (0, 0), "{idle:?}");
    let limits = shared::domain::RiskLimits {
        max_open_orders: 1_000,
        ..Default::default()
    };
    w.store
        .fund_account(&w.trader, Decimal::ZERO, Some(limits))
        .await
        .unwrap();
    let mut resting = Vec::new();
    for _ in 0..620 {
        resting.push(w.working_buy("1", "150").await);
    }
    let calm = w.pass(10).await.unwrap();
    assert_eq!(
        (calm.listed, calm.looked_up, calm.ended),
        (2, 0, 0),
        "620 open orders: two listing calls of 500, no lookups: {calm:?}"
    );
    // The venue ends two on its own (a halt cancels one, one is rejected): one lookup
    // each, and each is corrected through the normal transition.
    w.venue.end(&resting[3].order_id, VenueStatus::Canceled).unwrap();
    w.venue.end(&resting[600].order_id, VenueStatus::Rejected).unwrap();
    let (finds, _) = w.venue.calls();
    let report = w.pass(10).await.unwrap();
    assert_eq!((report.listed, report.looked_up, report.ended), (2, 2, 2), "{report:?}");
    assert_eq!(w.venue.calls().0, finds + 2);
    let halted = w.order(&resting[3]).await;
    assert_eq!(halted.status, OrderStatus::Cancelled);
    assert_eq!(w.order(&resting[600]).await.status, OrderStatus::Rejected);
    let records = shared::ports::AuditLog::records(&w.store, &resting[3].order_id)
        .await
        .unwrap();
    let last = records.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("CANCEL_CONFIRM", "intake")
    );
    assert_eq!(
        w.intake.working_orders().await.unwrap().len(),
        618,
        "the ended ones left the index"
    );
    let next = w.pass(10).await.unwrap();
    assert_eq!((next.looked_up, next.ended), (0, 0), "corrected once: {next:?}");
    for o in resting
        .iter()
        .filter(|o| o.order_id != resting[3].order_id && o.order_id != resting[600].order_id)
    {
        assert_eq!(w.order(o).await.version, o.version, "the resting ones are untouched");
    }
}

#[tokio::test]
async fn the_sweep_follows_a_replacement_and_releases_nothing_while_it_works() {
    let w = world().await;
    let order = w.working_buy("10", "150").await;
    w.venue.fill(&order.order_id, d("4"), d("149.5")).unwrap();
    let reserved = {
        w.pass(100).await.unwrap();
        w.reserved().await
    };
    let new_id = w.venue.replace(&order.order_id, d("140")).unwrap();
    let report = w.pass(100).await.unwrap();
    assert_eq!((report.replaced, report.ended), (1, 0), "{report:?}");
    let working = w.intake.working_orders().await.unwrap();
    assert_eq!(working.len(), 1);
    assert_eq!(working[0].venue_order_id.as_deref(), Some(new_id.as_str()));
    assert_eq!(w.intake.venue_alias(&new_id).await.unwrap(), Some(order.order_id));
    assert_eq!(w.order(&order).await.status, OrderStatus::PartiallyFilled);
    assert_eq!(
        w.reserved().await,
        reserved,
        "nothing released while the replacement works"
    );
    // The replacement is open: later sweeps find it in the list, no lookups.
    let calm = w.pass(100).await.unwrap();
    assert_eq!((calm.looked_up, calm.replaced), (0, 0), "{calm:?}");
    // The venue cancels the replacement after one more fill: booked, then ended.
    w.venue.set_price("AAPL", d("139"));
    let venue_new = w.venue.orders().into_iter().find(|o| o.id == new_id).unwrap();
    assert!(venue_new.status.is_final(), "the replacement filled at 139");
    let done = w.pass(100).await.unwrap();
    assert_eq!(done.booked, 1, "{done:?}");
    let ours = w.order(&order).await;
    assert_eq!((ours.status, ours.filled_quantity), (OrderStatus::Filled, d("10")));
    assert_eq!(w.reserved().await, Decimal::ZERO);
    w.pass(100).await.unwrap();
    assert!(w.intake.working_orders().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_replacement_the_venue_cancels_ends_our_order_with_every_fill_booked() {
    let w = world().await;
    let order = w.working_buy("10", "150").await;
    w.venue.fill(&order.order_id, d("4"), d("149.5")).unwrap();
    let new_id = w.venue.replace(&order.order_id, d("140")).unwrap();
    w.pass(100).await.unwrap();
    // A fill of the replacement, then the venue cancels what is left of it; the sweep
    // sees the executions booked first (in the same pass), then ends our order.
    let venue_new = w.venue.orders().into_iter().find(|o| o.id == new_id).unwrap();
    let client = venue_new.client_order_id.clone();
    w.venue.set_price("AAPL", d("141"));
    let ours_before = w.order(&order).await;
    assert_eq!(ours_before.filled_quantity, d("4"));
    w.venue.cancel(&new_id).await.unwrap();
    let report = w.pass(100).await.unwrap();
    assert_eq!(report.ended, 1, "{report:?} ({client})");
    assert_eq!(report.looked_up, 2, "our venue order, then its replacement: {report:?}");
    let ended = w.order(&order).await;
    assert_eq!((ended.status, ended.filled_quantity), (OrderStatus::Cancelled, d("4")));
    assert_eq!(w.reserved().await, Decimal::ZERO, "released when it ended, not before");
}

/// Issue 22: what the sweep does is kept for operators. A correction's record is
/// written with its transition; a mismatch it cannot correct (we booked more than the
/// venue says it filled) is recorded once, however many passes find it again.
#[tokio::test]
async fn corrections_and_mismatches_are_recorded_for_operators() {
    use shared::ports::{AttentionKind, AttentionLog};
    let w = world().await;
    let corrected = w.working_buy("5", "150").await;
    let mismatched = w.working_buy("5", "150").await;
    // A fill booked on our side that the venue never made.
    let account = w.store.get_account(&w.trader).await.unwrap().unwrap();
    let phantom = plan_transition(
        &mismatched,
        &OrderEvent::Fill {
            execution_id: "not-at-the-venue".into(),
            quantity: d("2"),
            price: d("149"),
        },
        Some(&account),
        &AuditContext::system("t"),
        w.clock.now(),
    )
    .unwrap();
    w.store.transition(phantom).await.unwrap();
    w.venue.end(&corrected.order_id, VenueStatus::Canceled).unwrap();
    w.venue.end(&mismatched.order_id, VenueStatus::Canceled).unwrap();
    let report = w.pass(10).await.unwrap();
    assert_eq!(report.ended, 1, "{report:?}");
    w.clock.advance_seconds(5);
    w.pass(10).await.unwrap();

    let day = w.clock.now().datetime().date();
    let page = w
        .store
        .attention_records(AttentionKind::Reconciliation, day, 50, None)
        .await
        .unwrap();
    let of = |id: OrderId| {
        page.records
            .iter()
            .filter(move |r| r.order_id == id)
            .collect::<Vec<_>>()
    };
    let fixed = of(corrected.order_id);
    assert_eq!(fixed.len(), 1, "{page:?}");
    assert_eq!(
        (fixed[0].from_status, fixed[0].to_status, fixed[0].corrected),
        (OrderStatus::Submitted, OrderStatus::Cancelled, true)
    );
    assert_eq!(fixed[0].venue_status.as_deref(), Some("canceled"));
    let open = of(mismatched.order_id);
    assert_eq!(open.len(), 1, "recorded once across passes: {page:?}");
    assert!(!open[0].corrected);
    assert!(open[0].reason.contains("we booked 2"), "{}", open[0].reason);
    assert_eq!(
        w.order(&mismatched).await.status,
        OrderStatus::PartiallyFilled,
        "left as it was"
    );
    let stalled = w
        .store
        .attention_records(AttentionKind::Stalled, day, 50, None)
        .await
        .unwrap();
    assert!(stalled.records.is_empty());
}

/// The venue as a feed whose market crosses `price` right after the executions are
/// read: an order fills while a pass runs, between its read of the executions and
/// the rest of the pass.
struct FillsAfterTheRead<'a> {
    venue: &'a MemoryVenue,
    price: std::sync::Mutex<Option<Decimal>>,
}

#[async_trait::async_trait]
impl VenueFeed for FillsAfterTheRead<'_> {
    async fn executions(
        &self,
        from: &FeedPosition,
        page_size: u32,
    ) -> Result<shared::ports::ExecutionPage, shared::ports::VenueError> {
        let page = self.venue.executions(from, page_size).await;
        if let Some(price) = self.price.lock().unwrap().take() {
            self.venue.set_price("AAPL", price);
        }
        page
    }

    async fn open_orders(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<shared::ports::OpenOrderPage, shared::ports::VenueError> {
        self.venue.open_orders(after, limit).await
    }

    async fn venue_order(
        &self,
        venue_order_id: &str,
    ) -> Result<Option<shared::ports::VenueOrderRef>, shared::ports::VenueError> {
        self.venue.venue_order(venue_order_id).await
    }
}

/// Issue 14: venue calls that do not grow with the orders that trade. An order that
/// fills while a pass runs (after its read of the executions) is ended by the next
/// pass's booking, not looked up by the sweep: the sweep lists the open orders before
/// the executions are read, so an order missing from the list has its executions
/// among those read.
#[tokio::test]
async fn an_order_that_fills_during_a_pass_is_ended_without_a_lookup() {
    let w = world().await;
    let order = w.working_buy("5", "185").await;
    w.pass(100).await.unwrap();
    let (finds, _) = w.venue.calls();
    let feed = FillsAfterTheRead {
        venue: &w.venue,
        price: std::sync::Mutex::new(Some(d("184"))),
    };
    let deps = IntakeDeps {
        store: &w.store,
        attention: &w.store,
        intake: &w.intake,
        feed: &feed,
        venue: &w.venue,
        clock: &w.clock,
        feed_key: FEED,
        start: w.start,
        page_size: 100,
        max_pages: 100,
        unknown_status_alarm_secs: 600,
        statuses: true,
    };
    let during = intake_pass(&deps).await.unwrap();
    let after = w.pass(100).await.unwrap();
    assert_eq!(
        w.order(&order).await.status,
        OrderStatus::Filled,
        "{during:?} {after:?}"
    );
    assert_eq!(
        (w.venue.calls().0, during.looked_up + after.looked_up),
        (finds, 0),
        "no order looked up: {during:?} {after:?}"
    );
    let venue_id = w.venue.find(&order.order_id).await.unwrap().unwrap().venue_order_id;
    w.assert_books_match_venue(&order, &[venue_id]).await;
}

#[tokio::test]
async fn a_page_books_different_traders_executions_at_once_and_one_traders_one_after_another() {
    let w = world().await;
    let mut orders = Vec::new();
    for i in 0..4 {
        let trader = TraderId::parse(&format!("intake-t{i}")).unwrap();
        w.store.fund_account(&trader, d("100000"), None).await.unwrap();
        for _ in 0..2 {
            orders.push((trader.clone(), w.working_buy_of(&trader, "3", "200").await));
        }
    }
    // Marketable: the venue filled all eight; one page brings their executions.
    assert_eq!(w.venue.all_executions().len(), 8);
    w.store.slow_transitions(20);
    let report = w.pass(100).await.unwrap();
    assert_eq!((report.pages, report.booked, report.refused), (1, 8, 0));
    assert_eq!(
        w.store.most_transitions_at_once(),
        4,
        "the four traders' bookings at once, each trader's two one after the other"
    );
    for (trader, order) in &orders {
        let booked = w.store.get_order(trader, &order.order_id).await.unwrap().unwrap();
        assert_eq!((booked.status, booked.filled_quantity), (OrderStatus::Filled, d("3")));
    }
    // A replay of the page books nothing twice.
    let again = w.pass(100).await.unwrap();
    assert_eq!(again.booked, 0);
}
