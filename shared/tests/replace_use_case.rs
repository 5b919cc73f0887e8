//! Replacing a working order (issue 20) over the in-memory ports, with the venue's
//! replace as Alpaca documents it (the old order ends `replaced`, a new one with its
//! own client order id trades the quantity given): the replace confirmed, a fill that
//! reaches the venue first (in full: refused; in part: applied to what was left), a
//! lost answer retried (one replacement), and the idempotency key. After each, the
//! books equal the venue's: fills, cash, and what stays reserved.
//!
//! Long because: one scenario per race of a replace with a fill or a lost answer, each needing
//! its own setup of the in-memory ports.

use rust_decimal::Decimal;
use shared::adapters::memory::{FixedClock, MemoryIntakeStore, MemoryStore, MemoryVenue};
use shared::app::{
    AppError, AuditContext, ExecuteDeps, IntakeDeps, ReplaceOutcome, ReplaceRequest, SubmitDeps, execute, intake_pass,
    plan_submit, replace,
};
use shared::domain::{Order, OrderId, OrderStatus, Pricing, Timestamp, TraderId, validate_order};
use shared::http::submit::ProblemJson;
use shared::ports::{Clock, OrderStore, Venue, VenueReplace, WorkMessage};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

struct World {
    store: MemoryStore,
    intake: MemoryIntakeStore,
    venue: MemoryVenue,
    clock: FixedClock,
    trader: TraderId,
    start: Timestamp,
    pricing: Pricing,
}

async fn world() -> World {
    let store = MemoryStore::new();
    let trader = TraderId::parse("replace-alice").unwrap();
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
        pricing: Pricing::default(),
    }
}

impl World {
    /// A GTC limit buy resting at the venue, as submit and execute leave it.
    async fn resting_buy(&self, qty: &str, limit: &str) -> Order {
        let account = self.store.get_account(&self.trader).await.unwrap().unwrap();
        let body = serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": qty,
            "limit_price": limit, "time_in_force": "gtc"});
        let new = plan_submit(
            OrderId::new(),
            validate_order(&body).unwrap(),
            &account,
            &self.pricing,
            &AuditContext::system("t"),
            self.clock.now(),
        )
        .unwrap();
        let order = new.order.clone();
        self.store.create_order(new).await.unwrap();
        self.run(
            &order,
            WorkMessage::Execute {
                trader_id: self.trader.clone(),
                order_id: order.order_id,
            },
        )
        .await
        .unwrap();
        let placed = self.order(&order).await;
        assert_eq!(placed.status, OrderStatus::Submitted);
        placed
    }

    async fn patch(
        &self,
        order: &Order,
        body: serde_json::Value,
        key: Option<&str>,
    ) -> Result<ReplaceOutcome, AppError> {
        let deps = SubmitDeps {
            store: &self.store,
            clock: &self.clock,
            pricing: &self.pricing,
            market_data: None,
            queue: None,
        };
        let raw = serde_json::to_vec(&body).unwrap();
        let id = order.order_id.to_string();
        let req = ReplaceRequest {
            trader: self.trader.clone(),
            order_id: &id,
            body: &raw,
            idempotency_key: key,
            request_id: None,
        };
        replace(&deps, &ProblemJson, req).await
    }

    async fn run(&self, order: &Order, message: WorkMessage) -> Result<(), shared::app::ExecuteError> {
        let deps = ExecuteDeps {
            store: &self.store,
            intake: &self.intake,
            venue: &self.venue,
            clock: &self.clock,
            policy: Default::default(),
        };
        let _ = order;
        execute(&deps, &message, "m-1").await
    }

    async fn replace_message(&self, order: &Order) -> Result<(), shared::app::ExecuteError> {
        self.run(
            order,
            WorkMessage::Replace {
                trader_id: self.trader.clone(),
                order_id: order.order_id,
            },
        )
        .await
    }

    async fn intake(&self) {
        let deps = IntakeDeps {
            store: &self.store,
            attention: &self.store,
            intake: &self.intake,
            feed: &self.venue,
            venue: &self.venue,
            clock: &self.clock,
            feed_key: "feed-replace",
            start: self.start,
            page_size: 100,
            max_pages: 100,
            unknown_status_alarm_secs: 600,
            statuses: true,
        };
        intake_pass(&deps).await.unwrap();
    }

    /// An executor's replace of `asked` reaches the venue, which makes the replacement
    /// (trading `qty` at `limit`), but its answer is lost: whether the call said so.
    async fn replace_unanswered(&self, asked: &Order, qty: &str, limit: &str) -> bool {
        let pending = asked.pending_replace.clone().unwrap();
        let live = Venue::find(&self.venue, &asked.order_id).await.unwrap().unwrap();
        self.venue.drop_next_response();
        let changes = VenueReplace {
            client_order_id: pending.venue_client_id,
            qty: Some(d(qty)),
            limit_price: Some(d(limit)),
            stop_price: None,
            time_in_force: None,
        };
        Venue::replace(&self.venue, &live.venue_order_id, &changes)
            .await
            .is_err()
    }

    async fn order(&self, order: &Order) -> Order {
        self.store
            .get_order(&self.trader, &order.order_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn account(&self) -> shared::domain::Account {
        self.store.get_account(&self.trader).await.unwrap().unwrap()
    }

    /// The venue's orders still working (open, not replaced).
    fn live_at_venue(&self) -> usize {
        self.venue.orders().into_iter().filter(|o| o.status.is_open()).count()
    }

    /// What the venue executed in all: quantity and notional.
    fn venue_traded(&self) -> (Decimal, Decimal) {
        self.venue
            .all_executions()
            .iter()
            .fold((Decimal::ZERO, Decimal::ZERO), |(q, n), e| {
                (q + e.qty, n + e.qty * e.price)
            })
    }
}

#[tokio::test]
async fn a_confirmed_replace_moves_the_order_and_its_reservation_to_the_new_values() {
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    assert_eq!(w.account().await.reserved, d("1500.00"));

    let ReplaceOutcome::Accepted { order: asked, reply } = w
        .patch(
            &order,
            serde_json::json!({"quantity": "12", "limit_price": "160"}),
            None,
        )
        .await
        .unwrap()
    else {
        panic!("not accepted")
    };
    assert_eq!(reply.status, 200);
    assert_eq!(asked.status, OrderStatus::ReplaceRequested);
    // The larger of old (1,500) and new (12 × 160 = 1,920) until the venue answers.
    assert_eq!(w.account().await.reserved, d("1920.00"));
    assert_eq!(
        asked.quantity.get(),
        d("10"),
        "the order keeps its values until the venue replaced it"
    );

    w.replace_message(&order).await.unwrap();
    let done = w.order(&order).await;
    assert_eq!(done.status, OrderStatus::Submitted);
    assert_eq!(done.quantity.get(), d("12"));
    assert_eq!(done.limit_price.map(|p| p.get()), Some(d("160")));
    assert_eq!(done.pending_replace, None);
    assert_eq!(done.reserved_amount, d("1920.00"));
    assert_eq!(w.account().await.reserved, d("1920.00"));
    assert_eq!(w.live_at_venue(), 1, "one venue order works for ours");

    // The replacement fills at the venue: booked to our order, to the cent.
    w.venue.set_price("AAPL", d("159"));
    w.intake().await;
    let filled = w.order(&order).await;
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.filled_quantity, d("12"));
    let (qty, notional) = w.venue_traded();
    assert_eq!(qty, d("12"));
    let account = w.account().await;
    assert_eq!(account.cash, d("100000") - notional);
    assert_eq!(account.reserved, Decimal::ZERO);
    assert_eq!(account.open_orders, 0);
}

#[tokio::test]
async fn a_fill_that_reaches_the_venue_first_refuses_the_replace_and_releases_what_it_held() {
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    w.patch(&order, serde_json::json!({"limit_price": "170"}), None)
        .await
        .unwrap();
    assert_eq!(w.account().await.reserved, d("1700.00"));
    // The whole order fills at the venue before the replace gets there.
    w.venue.fill(&order.order_id, d("10"), d("149.5")).unwrap();
    w.replace_message(&order).await.unwrap();
    let refused = w.order(&order).await;
    assert_eq!(refused.status, OrderStatus::Submitted);
    assert!(
        refused
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("The replace was refused"),
        "{:?}",
        refused.reason
    );
    assert_eq!(refused.limit_price.map(|p| p.get()), Some(d("150")));
    // The intake books the venue's execution: the order ends filled, nothing held.
    w.intake().await;
    let filled = w.order(&order).await;
    assert_eq!(filled.status, OrderStatus::Filled);
    let account = w.account().await;
    assert_eq!(account.cash, d("100000") - d("1495.00"));
    assert_eq!(account.reserved, Decimal::ZERO);
    assert_eq!(w.venue.count(&order.order_id), 1);
    assert_eq!(w.live_at_venue(), 0);
}

#[tokio::test]
async fn a_fill_booked_while_the_replace_waits_keeps_the_extra_apart_and_the_replace_applies_to_what_is_left() {
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    w.patch(&order, serde_json::json!({"quantity": "8", "limit_price": "155"}), None)
        .await
        .unwrap();
    // 1,500 held, the new version needs 8 × 155 = 1,240: no extra.
    assert_eq!(w.account().await.reserved, d("1500.00"));
    // 3 fill at the venue and are booked before the replace reaches it.
    w.venue.fill(&order.order_id, d("3"), d("150")).unwrap();
    w.intake().await;
    let part = w.order(&order).await;
    assert_eq!(part.status, OrderStatus::ReplaceRequested);
    assert_eq!(part.filled_quantity, d("3"));
    assert_eq!(w.account().await.reserved, d("1050.00"));
    // The replace trades 8 in all: 5 more at 155.
    w.replace_message(&order).await.unwrap();
    let done = w.order(&order).await;
    assert_eq!(done.status, OrderStatus::PartiallyFilled);
    assert_eq!(done.quantity.get(), d("8"));
    assert_eq!(done.remaining(), d("5"));
    assert_eq!(done.reserved_amount, d("775.00"));
    assert_eq!(w.account().await.reserved, d("775.00"));
    let new = w
        .venue
        .orders()
        .into_iter()
        .find(|o| o.status.is_open())
        .expect("the replacement works");
    assert_eq!(new.qty, d("5"));
}

#[tokio::test]
async fn a_fill_that_lands_between_the_look_and_the_replace_stays_and_the_quantity_follows_the_venue() {
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    w.patch(&order, serde_json::json!({"quantity": "6"}), None)
        .await
        .unwrap();
    // Not booked yet when the replace goes out: the venue filled 2 of the old version.
    w.venue.fill(&order.order_id, d("2"), d("150")).unwrap();
    w.replace_message(&order).await.unwrap();
    let done = w.order(&order).await;
    // The look saw the 2: the replacement trades 4, the order's total stays 6.
    assert_eq!(done.quantity.get(), d("6"));
    w.intake().await;
    let booked = w.order(&order).await;
    assert_eq!(booked.filled_quantity, d("2"));
    assert_eq!(booked.status, OrderStatus::PartiallyFilled);
    w.venue.set_price("AAPL", d("149"));
    w.intake().await;
    let filled = w.order(&order).await;
    assert_eq!(filled.status, OrderStatus::Filled);
    let (qty, notional) = w.venue_traded();
    assert_eq!(qty, d("6"));
    assert_eq!(filled.filled_quantity, qty);
    let account = w.account().await;
    assert_eq!(account.cash, d("100000") - notional);
    assert_eq!(account.reserved, Decimal::ZERO);
}

#[tokio::test]
async fn a_replace_whose_answer_was_lost_is_found_not_made_again() {
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    let ReplaceOutcome::Accepted { order: asked, .. } = w
        .patch(&order, serde_json::json!({"limit_price": "151"}), None)
        .await
        .unwrap()
    else {
        panic!("not accepted")
    };
    // An executor's replace reached the venue and made the replacement, but its
    // answer was lost (then the executor died): the order still waits.
    let lost = w.replace_unanswered(&asked, "10", "151").await;
    assert!(lost, "the answer was lost");
    assert_eq!(w.order(&order).await.status, OrderStatus::ReplaceRequested);
    // The redelivered message finds the replacement and confirms it.
    w.replace_message(&order).await.unwrap();
    let done = w.order(&order).await;
    assert_eq!(done.status, OrderStatus::Submitted);
    assert_eq!(done.limit_price.map(|p| p.get()), Some(d("151")));
    assert_eq!(done.quantity.get(), d("10"));
    assert_eq!(w.venue.orders().len(), 2, "the original and one replacement");
    assert_eq!(w.live_at_venue(), 1);
    assert_eq!(w.account().await.reserved, d("1510.00"));
    // Another copy of the message changes nothing.
    w.replace_message(&order).await.unwrap();
    assert_eq!(w.venue.orders().len(), 2);
    assert_eq!(w.order(&order).await.version, done.version);
}

#[tokio::test]
async fn a_cancel_overtaking_a_replace_the_venue_made_cancels_the_replacement() {
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    let ReplaceOutcome::Accepted { order: asked, .. } = w
        .patch(&order, serde_json::json!({"limit_price": "152"}), None)
        .await
        .unwrap()
    else {
        panic!("not accepted")
    };
    // The replace reaches the venue (its answer lost), then the trader cancels.
    w.replace_unanswered(&asked, "10", "152").await;
    let deps = shared::app::CancelDeps {
        store: &w.store,
        clock: &w.clock,
        queue: None,
    };
    let cancelling = shared::app::cancel(&deps, &w.trader, &order.order_id.to_string(), None)
        .await
        .unwrap();
    assert_eq!(cancelling.status, OrderStatus::CancelRequested);
    // The replace message sees the cancel and leaves the order to it.
    w.replace_message(&order).await.unwrap();
    assert_eq!(w.order(&order).await.status, OrderStatus::CancelRequested);
    w.run(
        &order,
        WorkMessage::Cancel {
            trader_id: w.trader.clone(),
            order_id: order.order_id,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        w.live_at_venue(),
        0,
        "the replacement working at the venue was cancelled"
    );
    w.intake().await;
    let ended = w.order(&order).await;
    assert_eq!(ended.status, OrderStatus::Cancelled);
    let account = w.account().await;
    assert_eq!(account.reserved, Decimal::ZERO);
    assert_eq!(account.cash, d("100000"));
}

#[tokio::test]
async fn the_idempotency_key_gives_one_replace_and_the_first_answer() {
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    let body = serde_json::json!({"limit_price": "152"});
    let first = w.patch(&order, body.clone(), Some("replace-key-1")).await.unwrap();
    let again = w.patch(&order, body, Some("replace-key-1")).await.unwrap();
    let ReplaceOutcome::Replayed(replayed) = again else {
        panic!("not a replay")
    };
    assert_eq!(replayed, first.into_reply());
    assert_eq!(w.order(&order).await.version, order.version + 1, "one transition");
    let other = w
        .patch(&order, serde_json::json!({"limit_price": "153"}), Some("replace-key-1"))
        .await;
    assert!(matches!(other, Err(AppError::IdempotencyKeyReused(_))), "{other:?}");
}

#[tokio::test]
async fn bad_replaces_are_refused_with_what_is_wrong_and_change_nothing() {
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    let missing = OrderId::new();
    let mut ghost = order.clone();
    ghost.order_id = missing;
    assert!(matches!(
        w.patch(&ghost, serde_json::json!({"limit_price": "1"}), None).await,
        Err(AppError::OrderNotFound(_))
    ));
    let e = w
        .patch(&order, serde_json::json!({"stop_price": "1"}), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no stop price"), "{e}");
    // More than the account can hold.
    let e = w
        .patch(&order, serde_json::json!({"quantity": "1000"}), None)
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("Insufficient funds"), "{e}");
    // A terminal order cannot change.
    w.venue.fill(&order.order_id, d("10"), d("150")).unwrap();
    w.intake().await;
    let e = w
        .patch(&order, serde_json::json!({"limit_price": "151"}), None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with("Cannot replace order in FILLED status"),
        "{e}"
    );
    assert_eq!(w.account().await.reserved, Decimal::ZERO);
}

#[tokio::test]
async fn a_symbol_restricted_for_the_account_after_placement_refuses_its_replace() {
    use shared::domain::{RiskLimits, Symbol};
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    let limits = RiskLimits {
        restricted_symbols: vec![Symbol::parse("AAPL").unwrap()],
        ..RiskLimits::default()
    };
    w.store
        .fund_account(&w.trader, d("100000"), Some(limits))
        .await
        .unwrap();
    let e = w
        .patch(&order, serde_json::json!({"limit_price": "151"}), None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "AAPL is restricted for this account; no orders in it are accepted"
    );
    let same = w.order(&order).await;
    assert_eq!((same.status, same.version), (OrderStatus::Submitted, order.version));
    assert_eq!(w.account().await.reserved, d("1500.00"));
}

#[tokio::test]
async fn a_halt_refuses_a_replace_and_the_order_stays_as_it_was() {
    use shared::domain::{TradingScope, TradingState};
    use shared::ports::{OperatorAction, TradingControls};
    let w = world().await;
    let order = w.resting_buy("10", "150").await;
    w.store
        .set_trading_state(
            &TradingScope::Deployment,
            TradingState::Halted,
            Some("drill"),
            &OperatorAction::new("jane"),
        )
        .await
        .unwrap();
    let e = w
        .patch(&order, serde_json::json!({"limit_price": "151"}), None)
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("Trading is halted for"), "{e}");
    let same = w.order(&order).await;
    assert_eq!(same.status, OrderStatus::Submitted);
    assert_eq!(same.version, order.version);
    assert_eq!(w.account().await.reserved, d("1500.00"));
}

#[tokio::test]
async fn the_intake_settles_a_replace_the_executor_never_answered() {
    let w = world().await;
    // Confirmed: the venue made the replacement (its answer lost, the executor gone),
    // and the replacement filled in full.
    let order = w.resting_buy("10", "150").await;
    let ReplaceOutcome::Accepted { order: asked, .. } = w
        .patch(
            &order,
            serde_json::json!({"quantity": "12", "limit_price": "160"}),
            None,
        )
        .await
        .unwrap()
    else {
        panic!("not accepted")
    };
    w.replace_unanswered(&asked, "12", "160").await;
    w.venue.set_price("AAPL", d("159"));
    w.intake().await;
    let filled = w.order(&order).await;
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!((filled.quantity.get(), filled.filled_quantity), (d("12"), d("12")));
    let (qty, notional) = w.venue_traded();
    assert_eq!(qty, d("12"));
    let account = w.account().await;
    assert_eq!(
        (account.cash, account.reserved),
        (d("100000") - notional, Decimal::ZERO)
    );

    // Refused: the old version filled in full before any replace reached the venue.
    let second = w.resting_buy("5", "150").await;
    w.patch(&second, serde_json::json!({"limit_price": "151"}), None)
        .await
        .unwrap();
    w.venue.fill(&second.order_id, d("5"), d("150")).unwrap();
    w.intake().await;
    let done = w.order(&second).await;
    assert_eq!(done.status, OrderStatus::Filled);
    assert_eq!(done.pending_replace, None);
    assert_eq!(done.limit_price.map(|p| p.get()), Some(d("150")));
    let account = w.account().await;
    assert_eq!(account.reserved, Decimal::ZERO);
    assert_eq!(account.cash, d("100000") - notional - d("750.00"));
    // The executor's message, late, changes nothing.
    w.replace_message(&second).await.unwrap();
    assert_eq!(w.order(&second).await.version, done.version);
}
