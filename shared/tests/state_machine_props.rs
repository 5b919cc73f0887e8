//! Property tests of the order aggregate over random event sequences (SPEC §2):
//! terminal states never leave (but for a late fill of a cancelled order, which is
//! booked and releases nothing), filled quantity never exceeds quantity, the cash the
//! order holds never goes negative and is zero once terminal, and the account's view
//! of the reservation (the sum of effects) always equals the order's.

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;

use shared::domain::status::next;
use shared::domain::{
    Account, EventKind, OrderEvent, OrderId, OrderStatus, Pricing, ReplaceDraft, Reservation, Side, Timestamp,
    TraderId, assess, assess_replace, validate_order,
};

#[derive(Clone, Debug)]
enum Step {
    Claim,
    /// Fill a share (in per-mille) of what remains, at a price offset in cents.
    Fill {
        per_mille: u32,
        cents: i64,
    },
    /// Fill more than remains.
    Overfill,
    RequestCancel,
    RetryPlacement,
    ConfirmCancel,
    Reject,
    Expire,
    /// Replace with a new total of `per_mille` of the order's quantity (more than its
    /// fills, else skipped) at a price offset in cents.
    RequestReplace {
        per_mille: u32,
        cents: i64,
    },
    ConfirmReplace,
    RefuseReplace,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Claim),
        4 => (1u32..=1000, -500i64..500).prop_map(|(per_mille, cents)| Step::Fill { per_mille, cents }),
        1 => Just(Step::Overfill),
        2 => Just(Step::RequestCancel),
        1 => Just(Step::RetryPlacement),
        1 => Just(Step::ConfirmCancel),
        1 => Just(Step::Reject),
        1 => Just(Step::Expire),
        2 => (1u32..=3000, -500i64..500).prop_map(|(per_mille, cents)| Step::RequestReplace { per_mille, cents }),
        1 => Just(Step::ConfirmReplace),
        1 => Just(Step::RefuseReplace),
    ]
}

fn kind_of(event: &OrderEvent, remaining: Decimal, filled: Decimal) -> EventKind {
    match event {
        OrderEvent::Claim => EventKind::Claim,
        OrderEvent::Fill { quantity, .. } if *quantity == remaining => EventKind::FinalFill,
        OrderEvent::Fill { .. } => EventKind::PartialFill,
        OrderEvent::RequestCancel => EventKind::RequestCancel,
        OrderEvent::RetryPlacement => EventKind::RetryPlacement,
        OrderEvent::ConfirmCancel { .. } => EventKind::ConfirmCancel,
        OrderEvent::Reject { .. } => EventKind::Reject,
        OrderEvent::Expire { .. } => EventKind::Expire,
        OrderEvent::Stall { .. } => EventKind::Stall,
        OrderEvent::RequestReplace { .. } => EventKind::RequestReplace,
        OrderEvent::ConfirmReplace { .. } | OrderEvent::RefuseReplace { .. } if filled.is_zero() => {
            EventKind::EndReplace
        }
        OrderEvent::ConfirmReplace { .. } | OrderEvent::RefuseReplace { .. } => EventKind::EndReplaceAfterFills,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_event_sequences_keep_the_invariants(
        buy in any::<bool>(),
        quantity_milli in 1u64..5_000_000,
        price_cents in 1u64..100_000,
        steps in prop::collection::vec(step(), 0..25),
    ) {
        let side = if buy { "buy" } else { "sell" };
        let quantity = Decimal::new(quantity_milli as i64, 3);
        let price = Decimal::new(price_cents as i64, 2);
        // A limit order with a fractional quantity: the venue takes those only as
        // market/day orders (so validation refuses them), but the money arithmetic is
        // the same for every type, and fractions are where rounding bites.
        let mut draft = validate_order(&json!({"symbol": "AAPL", "side": side, "type": "limit",
            "quantity": "1", "limit_price": price.to_string()})).unwrap();
        draft.quantity = shared::domain::Quantity::parse(quantity).unwrap();
        let mut account = Account::new(TraderId::parse("p").unwrap(), Decimal::from(10_000_000_000i64));
        account.limits.max_order_notional = Decimal::from(10_000_000_000i64);
        account.positions.push(shared::domain::Position {
            quantity: Decimal::from(10_000_000),
            ..shared::domain::Position::empty(draft.symbol.clone())
        });
        let assessment = assess(&draft, &account, &Pricing::default(), Timestamp::now().date()).unwrap();
        let (mut cash_held, mut shares_held) = match assessment.reservation {
            Reservation::Cash(c) => (c, Decimal::ZERO),
            Reservation::Position { quantity, .. } => (Decimal::ZERO, quantity),
        };
        let mut order = shared::domain::Order::pending(
            OrderId::new(), account.trader_id.clone(), draft, cash_held, Timestamp::now());
        let mut open_orders = 1i64;
        let mut notional = Decimal::ZERO;

        for (i, s) in steps.iter().enumerate() {
            let remaining = order.remaining();
            let filled = order.filled_quantity;
            let event = match s {
                Step::Claim => OrderEvent::Claim,
                Step::Fill { per_mille, cents } => {
                    let q = (remaining * Decimal::from(*per_mille) / Decimal::from(1000)).round_dp(3);
                    let q = if q.is_zero() { remaining } else { q };
                    let p = (price + Decimal::new(*cents, 2)).max(Decimal::new(1, 2));
                    OrderEvent::Fill { execution_id: format!("x{i}"), quantity: q, price: p }
                }
                Step::Overfill => OrderEvent::Fill {
                    execution_id: format!("x{i}"), quantity: remaining + Decimal::ONE, price,
                },
                Step::RequestCancel => OrderEvent::RequestCancel,
                Step::RetryPlacement => OrderEvent::RetryPlacement,
                Step::ConfirmCancel => OrderEvent::ConfirmCancel { reason: None },
                Step::Reject => OrderEvent::Reject { reason: "no".into() },
                Step::Expire => OrderEvent::Expire { reason: None },
                Step::RequestReplace { per_mille, cents } => {
                    let total = (order.quantity.get() * Decimal::from(*per_mille) / Decimal::from(1000)).round_dp(3);
                    let p = (price + Decimal::new(*cents, 2)).max(Decimal::new(1, 2));
                    let draft = ReplaceDraft {
                        quantity: shared::domain::Quantity::parse(total).ok(),
                        limit_price: shared::domain::Price::parse(p).ok(),
                        ..ReplaceDraft::default()
                    };
                    match assess_replace(&order, &draft, &account, &Pricing::default(), OrderId::new(), Timestamp::now()) {
                        Ok(pending) => OrderEvent::RequestReplace { pending },
                        // Not replaceable now, or not more than its fills: nothing to do.
                        Err(_) => continue,
                    }
                }
                Step::ConfirmReplace => {
                    // As the venue leaves it: the replacement trades something, so the
                    // total is more than what has filled (fills that got there first
                    // count in it).
                    let asked = order.pending_replace.as_ref().map_or(order.quantity.get(), |p| p.quantity.get());
                    let total = asked.max(filled + Decimal::new(1, 3));
                    OrderEvent::ConfirmReplace {
                        quantity: shared::domain::Quantity::parse(total).unwrap(),
                        replaced_filled: Decimal::ZERO,
                        reason: None,
                    }
                }
                Step::RefuseReplace => OrderEvent::RefuseReplace { reason: "filled first".into() },
            };
            let was = order.status;
            match order.apply(&event, Timestamp::now()) {
                Ok(applied) => {
                    prop_assert!(!was.is_terminal() || (was == OrderStatus::Cancelled
                        && matches!(event, OrderEvent::Fill { .. })),
                        "{was} left a terminal state on {event:?}");
                    prop_assert!(!matches!(s, Step::Overfill), "an overfill was accepted");
                    prop_assert_eq!(Ok(applied.order.status), next(was, kind_of(&event, remaining, filled)),
                        "the table decides");
                    prop_assert_eq!(applied.order.version, order.version + 1);
                    cash_held += applied.effect.reserved;
                    shares_held += applied.effect.position_reserved;
                    open_orders += applied.effect.open_orders;
                    if let OrderEvent::Fill { quantity, price, .. } = &event {
                        notional += quantity * price;
                    }
                    order = applied.order;
                }
                Err(_) => {
                    let table_allows = next(was, kind_of(&event, remaining, filled)).is_ok();
                    prop_assert!(was.is_terminal() || !table_allows || matches!(s, Step::Overfill),
                        "{was} refused an event the table allows: {event:?}");
                }
            }
            prop_assert!(order.filled_quantity <= order.quantity.get());
            prop_assert_eq!(order.booked_notional, Some(notional), "the order keeps its booked notional");
            prop_assert!(order.reserved_amount >= Decimal::ZERO);
            prop_assert_eq!(cash_held, order.reserved_amount, "account and order agree on cash held");
            match order.side {
                Side::Buy => prop_assert_eq!(shares_held, Decimal::ZERO),
                Side::Sell => prop_assert_eq!(shares_held,
                    if order.status.is_terminal() { Decimal::ZERO } else {
                        order.remaining() + order.pending_replace.as_ref().map_or(Decimal::ZERO, |p| p.extra_reserved)
                    }),
            }
            if order.status.is_terminal() {
                prop_assert_eq!(order.reserved_amount, Decimal::ZERO);
                prop_assert_eq!(open_orders, 0);
            } else {
                prop_assert_eq!(open_orders, 1);
            }
            if order.status == OrderStatus::Filled {
                prop_assert_eq!(order.filled_quantity, order.quantity.get());
            }
        }
    }
}
