//! Contract cases of duplicate detection (issue 19): an order's fingerprint is taken
//! with it, in the submit's transaction; an identical order within the window is
//! refused naming the first (and writes nothing), a confirmed one goes in and becomes
//! the one later duplicates name, and the window's end frees the fingerprint.

use rust_decimal::Decimal;
use serde_json::json;

use shared::app::{AuditContext, plan_submit};
use shared::domain::{Account, OrderId, Pricing, RiskLimits, Symbol, Timestamp, validate_order};
use shared::ports::{DuplicateGuard, NewOrder, StoreError};

use crate::fixture::{Fixture, unique_trader};

fn order_at(account: &Account, qty: &str, at: Timestamp, window_secs: u32, confirmed: bool) -> NewOrder {
    let draft = validate_order(
        &json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": qty,
        "limit_price": "150.25"}),
    )
    .expect("valid");
    let fingerprint = draft.duplicate_fingerprint();
    let mut new = plan_submit(
        OrderId::new(),
        draft,
        account,
        &Pricing::default(),
        &AuditContext::system("t"),
        at,
    )
    .expect("risk ok");
    new.duplicate = Some(DuplicateGuard {
        fingerprint,
        window_secs,
        confirmed,
    });
    new
}

pub async fn an_identical_order_within_the_window_is_refused_unless_confirmed(f: Fixture) {
    let trader = unique_trader();
    let account = f
        .store
        .fund_account(&trader, Decimal::from(100_000), None)
        .await
        .unwrap();
    let t0 = Timestamp::now();
    let first = order_at(&account, "10", t0, 5, false);
    let first_id = first.order.order_id;
    f.store.create_order(first).await.unwrap();

    // Identical, 2 s later: refused, naming the first; nothing of it stored.
    let second = order_at(&account, "10", t0.plus_seconds(2), 5, false);
    let second_id = second.order.order_id;
    match f.store.create_order(second).await {
        Err(StoreError::DuplicateOrder { order_id, placed_at }) => {
            assert_eq!(order_id, first_id);
            assert_eq!(placed_at.unix_millis(), t0.unix_millis());
        }
        other => panic!("expected DuplicateOrder, got {other:?}"),
    }
    assert_eq!(f.store.get_order(&trader, &second_id).await.unwrap(), None);
    let after = f.store.get_account(&trader).await.unwrap().unwrap();
    assert_eq!(after.open_orders, 1, "the refused order reserved nothing");

    // Another quantity is another order.
    f.store
        .create_order(order_at(&account, "11", t0.plus_seconds(2), 5, false))
        .await
        .unwrap();

    // Confirmed: placed, and later duplicates name it.
    let confirmed = order_at(&account, "10", t0.plus_seconds(3), 5, true);
    let confirmed_id = confirmed.order.order_id;
    f.store.create_order(confirmed).await.unwrap();
    match f
        .store
        .create_order(order_at(&account, "10", t0.plus_seconds(4), 5, false))
        .await
    {
        Err(StoreError::DuplicateOrder { order_id, .. }) => assert_eq!(order_id, confirmed_id),
        other => panic!("expected DuplicateOrder naming the confirmed order, got {other:?}"),
    }

    // Once the window after the latest has passed (3 s + 5 s), an identical order goes in.
    f.store
        .create_order(order_at(&account, "10", t0.plus_seconds(8), 5, false))
        .await
        .unwrap();
    // Another trader's identical order is not a duplicate.
    let other = unique_trader();
    let other_account = f
        .store
        .fund_account(&other, Decimal::from(100_000), None)
        .await
        .unwrap();
    f.store
        .create_order(order_at(&other_account, "10", t0.plus_seconds(8), 5, false))
        .await
        .unwrap();
}

/// The limits issue 19 added (the duplicate window, the trader's restricted symbols,
/// the rolling-minute notional)
/// are stored with the account and read back as funded.
pub async fn an_accounts_duplicate_window_and_restricted_symbols_read_back(f: Fixture) {
    let trader = unique_trader();
    let limits = RiskLimits {
        duplicate_window_secs: 7,
        restricted_symbols: vec![Symbol::parse("GME").unwrap(), Symbol::parse("BRK.B").unwrap()],
        max_notional_per_minute: Decimal::new(2_500_050, 2),
        ..RiskLimits::default()
    };
    f.store
        .fund_account(&trader, Decimal::from(1_000), Some(limits.clone()))
        .await
        .unwrap();
    let read = f.store.get_account(&trader).await.unwrap().unwrap();
    assert_eq!(read.limits, limits);
    let plain = unique_trader();
    f.store.fund_account(&plain, Decimal::from(1_000), None).await.unwrap();
    let read = f.store.get_account(&plain).await.unwrap().unwrap();
    assert_eq!(
        (
            read.limits.duplicate_window_secs,
            read.limits.restricted_symbols.len(),
            read.limits.max_notional_per_minute
        ),
        (0, 0, Decimal::ZERO)
    );
}
