//! Money stays in cents (issue 15 finding 6): over any sequence of partial fills and
//! a cancel, every reservation an order holds has at most two decimals, each release
//! is whole cents, and the releases add up to exactly what was reserved. A booked
//! trade moves cash and today's P&L in whole cents too; prices and average prices
//! keep their own decimals.

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;

use shared::app::{AuditContext, plan_transition};
use shared::domain::{Account, Order, OrderEvent, OrderId, Position, Symbol, Timestamp, TraderId, validate_order};

fn now() -> Timestamp {
    Timestamp::from_unix_millis(1_790_000_000_000).unwrap()
}

/// A claimed limit buy of `quantity` at `limit`, holding `reserved`. Quantity and
/// price are set after validation, which refuses what the venue would (fractions
/// other than on market/day orders, sub-penny prices from $1 up): the money
/// arithmetic is the same for every order, and odd fractions are where rounding bites.
fn claimed_buy(quantity: &str, limit: &str, reserved: Decimal) -> Order {
    let mut draft = validate_order(&json!({
        "symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1"
    }))
    .unwrap();
    draft.quantity = shared::domain::Quantity::parse(quantity.parse().unwrap()).unwrap();
    draft.limit_price = Some(shared::domain::Price::parse(limit.parse().unwrap()).unwrap());
    let order = Order::pending(
        OrderId::new(),
        TraderId::parse("alice").unwrap(),
        draft,
        reserved,
        now(),
    );
    order.apply(&OrderEvent::Claim, now()).unwrap().order
}

fn dp(d: Decimal) -> u32 {
    d.normalize().scale()
}

fn fill(n: usize, quantity: Decimal, price: Decimal) -> OrderEvent {
    OrderEvent::Fill {
        execution_id: format!("x:{n}"),
        quantity,
        price,
    }
}

#[test]
fn a_third_filled_leaves_whole_cents_reserved() {
    // 3 @ 333.333…: reserved 1000.00; one share filled used to leave 666.666…67.
    let order = claimed_buy("3", "333.3333", Decimal::new(100_000, 2));
    let applied = order
        .apply(&fill(1, Decimal::ONE, Decimal::new(3_333_333, 4)), now())
        .unwrap();
    assert_eq!(applied.order.reserved_amount.to_string(), "666.67");
    assert_eq!(applied.effect.reserved.to_string(), "-333.33");
    let json = serde_json::to_value(&applied.order).unwrap();
    assert_eq!(json["reserved_amount"], "666.67");
}

#[test]
fn a_booked_trade_moves_cash_and_pnl_in_cents() {
    let order = claimed_buy("3", "333.3333", Decimal::new(100_000, 2));
    let mut account = Account::new(TraderId::parse("alice").unwrap(), Decimal::from(10_000));
    account.reserved = Decimal::new(100_000, 2);
    let event = fill(1, Decimal::new(333_333, 6), Decimal::new(3_333_333, 4)); // 0.333333 @ 333.3333
    let w = plan_transition(&order, &event, Some(&account), &AuditContext::system("t"), now()).unwrap();
    let booking = w.booking.unwrap();
    assert!(dp(booking.cash) <= 2, "cash moved by {}", booking.cash);
    assert_eq!(booking.cash.to_string(), "-111.11");
    assert!(dp(w.effect.reserved) <= 2, "released {}", w.effect.reserved);
    // The position keeps the trade's own price decimals.
    assert_eq!(booking.after.average_cost.to_string(), "333.3333");

    // A sell realizes P&L in cents.
    let mut holder = account.clone();
    holder.positions = vec![Position {
        symbol: Symbol::parse("AAPL").unwrap(),
        quantity: Decimal::from(3),
        reserved: Decimal::from(3),
        average_cost: Decimal::new(1_000_001, 4),
        version: 1,
    }];
    let draft = validate_order(&json!({
        "symbol": "AAPL", "side": "sell", "type": "limit", "quantity": "3", "limit_price": "100"
    }))
    .unwrap();
    let sell = Order::pending(OrderId::new(), holder.trader_id.clone(), draft, Decimal::ZERO, now());
    let sell = sell.apply(&OrderEvent::Claim, now()).unwrap().order;
    let event = fill(2, Decimal::new(1_333_333, 6), Decimal::new(1_500_003, 4));
    let w = plan_transition(&sell, &event, Some(&holder), &AuditContext::system("t"), now()).unwrap();
    let booking = w.booking.unwrap();
    assert!(dp(booking.cash) <= 2, "cash moved by {}", booking.cash);
    assert!(dp(booking.pnl.delta) <= 2, "realized {}", booking.pnl.delta);
}

#[derive(Clone, Debug)]
enum Step {
    /// Fill a share (per mille) of what remains.
    Fill(u32),
    Cancel,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![8 => (1u32..=1000).prop_map(Step::Fill), 1 => Just(Step::Cancel)],
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn releases_are_cents_and_add_up_to_the_reservation(
        quantity_units in 1i64..100_000_000,   // up to 100 shares, 6 dp
        price_units in 1i64..10_000_000,        // up to 1000.0000, 4 dp
        steps in steps(),
    ) {
        let quantity = Decimal::new(quantity_units, 6);
        let price = Decimal::new(price_units, 4);
        let reserved = (quantity * price).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::AwayFromZero);
        let mut order = claimed_buy(&quantity.to_string(), &price.to_string(), reserved);
        let mut released = Decimal::ZERO;
        for (n, step) in steps.iter().enumerate() {
            if order.status.is_terminal() {
                break;
            }
            let event = match step {
                Step::Fill(per_mille) => {
                    let q = (order.remaining() * Decimal::from(*per_mille) / Decimal::from(1000))
                        .round_dp_with_strategy(6, rust_decimal::RoundingStrategy::ToZero);
                    if q.is_zero() {
                        continue;
                    }
                    fill(n, q, price)
                }
                Step::Cancel => {
                    order = order.apply(&OrderEvent::RequestCancel, now()).unwrap().order;
                    OrderEvent::ConfirmCancel { reason: None }
                }
            };
            let applied = order.apply(&event, now()).unwrap();
            prop_assert!(dp(applied.effect.reserved) <= 2, "release {}", applied.effect.reserved);
            prop_assert!(applied.effect.reserved <= Decimal::ZERO);
            prop_assert!(dp(applied.order.reserved_amount) <= 2, "held {}", applied.order.reserved_amount);
            prop_assert!(applied.order.reserved_amount >= Decimal::ZERO);
            released -= applied.effect.reserved;
            order = applied.order;
        }
        if !order.status.is_terminal() {
            order.apply(&OrderEvent::RequestCancel, now()).map(|a| order = a.order).ok();
            let applied = order.apply(&OrderEvent::ConfirmCancel { reason: None }, now()).unwrap();
            released -= applied.effect.reserved;
            order = applied.order;
        }
        prop_assert_eq!(order.reserved_amount, Decimal::ZERO);
        prop_assert_eq!(released, reserved);
    }
}
