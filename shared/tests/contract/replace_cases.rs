//! Contract cases of a replace's writes (issue 20): what a replace request holds,
//! refused atomically when the account or the position cannot cover it, its key
//! taken once, and the replaced order read back as committed.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::json;

use shared::app::{AuditContext, plan_submit, plan_transition};
use shared::domain::{
    Account, IdempotencyKey, Order, OrderEvent, OrderId, OrderStatus, Pricing, Quantity, ReplaceDraft, Timestamp,
    assess_replace, validate_order,
};
use shared::ports::{IdempotencyRecord, StoreError};

use crate::fixture::{Fixture, unique_trader};

fn dec(v: &str) -> Decimal {
    Decimal::from_str(v).expect("decimal")
}

async fn placed(f: &Fixture, account: &Account, body: serde_json::Value) -> Order {
    let new = plan_submit(
        OrderId::new(),
        validate_order(&body).unwrap(),
        account,
        &Pricing::default(),
        &AuditContext::system("t"),
        Timestamp::now(),
    )
    .unwrap();
    let order = new.order.clone();
    f.store.create_order(new).await.unwrap();
    commit(f, &order, OrderEvent::Claim).await.unwrap()
}

async fn commit(f: &Fixture, order: &Order, event: OrderEvent) -> Result<Order, StoreError> {
    let w = plan_transition(order, &event, None, &AuditContext::system("t"), Timestamp::now()).unwrap();
    let after = w.after.clone();
    f.store.transition(w).await?;
    let stored = f
        .store
        .get_order(&order.trader_id, &order.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, after, "the store returns what it committed");
    Ok(after)
}

fn request(order: &Order, account: &Account, draft: ReplaceDraft) -> OrderEvent {
    let pending = assess_replace(
        order,
        &draft,
        account,
        &Pricing::default(),
        OrderId::new(),
        Timestamp::now(),
    )
    .unwrap();
    OrderEvent::RequestReplace { pending }
}

pub async fn a_replace_holds_the_larger_reservation_and_the_confirm_reads_back(f: Fixture) {
    let trader = unique_trader();
    let account = f.store.fund_account(&trader, dec("2000"), None).await.unwrap();
    let body = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10", "limit_price": "100"});
    let order = placed(&f, &account, body).await;
    let account = f.store.get_account(&trader).await.unwrap().unwrap();
    let draft = ReplaceDraft {
        quantity: Quantity::parse(dec("12")).ok(),
        limit_price: shared::domain::Price::parse(dec("150")).ok(),
        ..ReplaceDraft::default()
    };
    // 12 × 150 = 1,800 needs 800 more: more than the 1,000 available after another
    // order took 300 since the snapshot — refused by the store, nothing written.
    let event = request(&order, &account, draft.clone());
    let other = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "3", "limit_price": "100"});
    placed(&f, &account, other).await;
    let refused = commit(&f, &order, event).await;
    assert_eq!(refused.err(), Some(StoreError::InsufficientFunds));
    assert_eq!(
        f.store.get_account(&trader).await.unwrap().unwrap().reserved,
        dec("1300")
    );

    // Within what is available: held at once, read back with what it waits with.
    let draft = ReplaceDraft {
        limit_price: shared::domain::Price::parse(dec("120")).ok(),
        ..draft
    };
    let account = f.store.get_account(&trader).await.unwrap().unwrap();
    let asked = commit(&f, &order, request(&order, &account, draft)).await.unwrap();
    assert_eq!(asked.status, OrderStatus::ReplaceRequested);
    assert_eq!(asked.reserved_amount, dec("1440"));
    assert_eq!(
        f.store.get_account(&trader).await.unwrap().unwrap().reserved,
        dec("1740")
    );

    let done = commit(
        &f,
        &asked,
        OrderEvent::ConfirmReplace {
            quantity: Quantity::parse(dec("12")).unwrap(),
            replaced_filled: Decimal::ZERO,
            reason: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(done.pending_replace, None);
    assert_eq!(
        (done.quantity.get(), done.limit_price.map(|p| p.get())),
        (dec("12"), Some(dec("120")))
    );
    assert!(done.venue_client_id.is_some());
}

pub async fn a_replace_of_a_sell_holds_only_shares_that_are_available(f: Fixture) {
    let trader = unique_trader();
    f.store.fund_account(&trader, dec("0"), None).await.unwrap();
    let symbol = shared::domain::Symbol::parse("AAPL").unwrap();
    f.store
        .deposit_position(&trader, &symbol, dec("10"), dec("100"))
        .await
        .unwrap();
    let account = f.store.get_account(&trader).await.unwrap().unwrap();
    let body = json!({"symbol": "AAPL", "side": "sell", "type": "limit", "quantity": "4", "limit_price": "110"});
    let order = placed(&f, &account, body).await;
    let account = f.store.get_account(&trader).await.unwrap().unwrap();
    let more = ReplaceDraft {
        quantity: Quantity::parse(dec("9")).ok(),
        ..ReplaceDraft::default()
    };
    let event = request(&order, &account, more);
    // Another sell takes 3 of the 6 available before the replace commits.
    let other = json!({"symbol": "AAPL", "side": "sell", "type": "limit", "quantity": "3", "limit_price": "110"});
    placed(&f, &account, other).await;
    assert_eq!(
        commit(&f, &order, event).await.err(),
        Some(StoreError::InsufficientPosition)
    );
    let account = f.store.get_account(&trader).await.unwrap().unwrap();
    let fewer = ReplaceDraft {
        quantity: Quantity::parse(dec("6")).ok(),
        ..ReplaceDraft::default()
    };
    let asked = commit(&f, &order, request(&order, &account, fewer)).await.unwrap();
    let p = f.store.get_account(&trader).await.unwrap().unwrap().positions[0].clone();
    assert_eq!((p.reserved, p.available()), (dec("9"), dec("1")));
    let refused = commit(
        &f,
        &asked,
        OrderEvent::RefuseReplace {
            reason: "filled first".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(refused.status, OrderStatus::Submitted);
    let p = f.store.get_account(&trader).await.unwrap().unwrap().positions[0].clone();
    assert_eq!((p.reserved, p.available()), (dec("7"), dec("3")));
}

pub async fn a_replace_key_is_taken_once(f: Fixture) {
    let trader = unique_trader();
    let account = f.store.fund_account(&trader, dec("5000"), None).await.unwrap();
    let body = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10", "limit_price": "100"});
    let order = placed(&f, &account, body).await;
    let account = f.store.get_account(&trader).await.unwrap().unwrap();
    let draft = ReplaceDraft {
        limit_price: shared::domain::Price::parse(dec("101")).ok(),
        ..ReplaceDraft::default()
    };
    let now = Timestamp::now();
    let key = IdempotencyKey::parse("replace-contract-1").unwrap();
    let record = IdempotencyRecord {
        trader_id: trader.clone(),
        key: key.clone(),
        request_hash: "h".into(),
        status: 200,
        body: "{}".into(),
        order_id: Some(order.order_id),
        created_at: now,
        expires_at: IdempotencyRecord::expiry(now),
    };
    let mut w = plan_transition(
        &order,
        &request(&order, &account, draft.clone()),
        None,
        &AuditContext::system("t"),
        now,
    )
    .unwrap();
    w.idempotency = Some(record.clone());
    f.store.transition(w).await.unwrap();
    assert_eq!(
        f.store.idempotency(&trader, &key, now).await.unwrap(),
        Some(record.clone())
    );
    // The same key on another order's replace: refused, nothing written.
    let account = f.store.get_account(&trader).await.unwrap().unwrap();
    let body = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "100"});
    let second = placed(&f, &account, body).await;
    let account = f.store.get_account(&trader).await.unwrap().unwrap();
    let mut w = plan_transition(
        &second,
        &request(&second, &account, draft),
        None,
        &AuditContext::system("t"),
        now,
    )
    .unwrap();
    w.idempotency = Some(record);
    assert_eq!(f.store.transition(w).await.err(), Some(StoreError::IdempotencyKeyTaken));
    let same = f.store.get_order(&trader, &second.order_id).await.unwrap().unwrap();
    assert_eq!(same.status, OrderStatus::Submitted);
}
