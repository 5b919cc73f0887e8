//! Contract cases of the rolling-minute notional (issue 19): the trader's window is
//! written with the order, in the submit's transaction, only over the version it was
//! read at; a submit built on a window another submit has since moved writes nothing,
//! and of submits racing from one read exactly one commits.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::json;

use shared::app::{AuditContext, plan_submit};
use shared::domain::{Account, NotionalWindow, OrderId, Pricing, RiskLimits, Timestamp, validate_order};
use shared::ports::{NewOrder, StoreError};

use crate::fixture::{Fixture, unique_trader};

/// A limit buy of `qty` at 100, counted into `window` at `at` (limit 10,000).
fn order_in(account: &Account, window: &NotionalWindow, qty: &str, at: Timestamp) -> NewOrder {
    let draft = validate_order(
        &json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": qty, "limit_price": "100"}),
    )
    .expect("valid");
    let mut new = plan_submit(
        OrderId::new(),
        draft,
        account,
        &Pricing::default(),
        &AuditContext::system("t"),
        at,
    )
    .expect("risk ok");
    new.notional_window = Some(window.admit(at, new.notional, Decimal::from(10_000)).expect("room"));
    new
}

pub async fn the_notional_window_is_written_with_the_order_over_the_version_read(f: Fixture) {
    let trader = unique_trader();
    let account = f
        .store
        .fund_account(&trader, Decimal::from(100_000), None)
        .await
        .unwrap();
    let empty = f.store.notional_window(&trader).await.unwrap();
    assert_eq!(empty, NotionalWindow::default());
    let t0 = Timestamp::now();
    f.store.create_order(order_in(&account, &empty, "6", t0)).await.unwrap();
    let after_one = f.store.notional_window(&trader).await.unwrap();
    assert_eq!(after_one.version, 1);
    assert_eq!(after_one.used(t0), Decimal::from(600));

    // Built on the window before that order: refused, and nothing of it is stored.
    let stale = order_in(&account, &empty, "3", t0.plus_seconds(1));
    let stale_id = stale.order.order_id;
    assert_eq!(f.store.create_order(stale).await, Err(StoreError::NotionalWindowMoved));
    assert_eq!(f.store.get_order(&trader, &stale_id).await.unwrap(), None);
    assert_eq!(f.store.get_account(&trader).await.unwrap().unwrap().open_orders, 1);
    assert_eq!(f.store.notional_window(&trader).await.unwrap(), after_one);

    // Admitted again over the window as it is: both counted.
    let t1 = t0.plus_seconds(2);
    f.store
        .create_order(order_in(&account, &after_one, "3", t1))
        .await
        .unwrap();
    let after_two = f.store.notional_window(&trader).await.unwrap();
    assert_eq!((after_two.version, after_two.used(t1)), (2, Decimal::from(900)));
    // Another trader's window is their own.
    assert_eq!(
        f.store.notional_window(&unique_trader()).await.unwrap(),
        NotionalWindow::default()
    );
}

pub async fn of_submits_racing_from_one_window_read_exactly_one_commits(f: Fixture) {
    let trader = unique_trader();
    let account = f
        .store
        .fund_account(&trader, Decimal::from(100_000), None)
        .await
        .unwrap();
    let window = f.store.notional_window(&trader).await.unwrap();
    let store = Arc::clone(&f.store);
    let t0 = Timestamp::now();
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let (store, new) = (Arc::clone(&store), order_in(&account, &window, "1", t0));
            tokio::spawn(async move { store.create_order(new).await })
        })
        .collect();
    let mut committed = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(()) => committed += 1,
            // A concurrent transaction on the account, or the window moved: no write.
            Err(StoreError::NotionalWindowMoved | StoreError::Conflict) => {}
            Err(e) => panic!("unexpected refusal {e:?}"),
        }
    }
    assert_eq!(committed, 1);
    let stored = f.store.notional_window(&trader).await.unwrap();
    assert_eq!((stored.version, stored.used(t0)), (1, Decimal::from(100)));
    assert_eq!(f.store.get_account(&trader).await.unwrap().unwrap().open_orders, 1);
}

pub async fn the_window_reads_with_the_account_when_the_account_has_the_limit(f: Fixture) {
    let trader = unique_trader();
    assert_eq!(f.store.account_with_window(&trader).await, Ok(None));
    let account = f
        .store
        .fund_account(&trader, Decimal::from(100_000), None)
        .await
        .unwrap();
    let t0 = Timestamp::now();
    let new = order_in(&account, &NotionalWindow::default(), "6", t0);
    f.store.create_order(new).await.unwrap();
    // The limit off: the account alone, as `get_account` reads it.
    let (read, window) = f.store.account_with_window(&trader).await.unwrap().unwrap();
    assert_eq!((read.open_orders, window), (1, None));
    assert_eq!(Some(read), f.store.get_account(&trader).await.unwrap());

    let limits = RiskLimits {
        max_notional_per_minute: Decimal::from(10_000),
        ..RiskLimits::default()
    };
    f.store
        .fund_account(&trader, Decimal::ZERO, Some(limits.clone()))
        .await
        .unwrap();
    let (read, window) = f.store.account_with_window(&trader).await.unwrap().unwrap();
    assert_eq!(read.limits, limits);
    assert_eq!(Some(&read), f.store.get_account(&trader).await.unwrap().as_ref());
    // The window as `notional_window` reads it, stored version and entries included.
    let stored = f.store.notional_window(&trader).await.unwrap();
    assert_eq!((stored.version, stored.used(t0)), (1, Decimal::from(600)));
    assert_eq!(window, Some(stored));
    // A trader with the limit and no order yet: an empty window at version 0.
    let fresh = unique_trader();
    f.store
        .fund_account(&fresh, Decimal::from(10), Some(limits))
        .await
        .unwrap();
    let (_, window) = f.store.account_with_window(&fresh).await.unwrap().unwrap();
    assert_eq!(window, Some(NotionalWindow::default()));
}
