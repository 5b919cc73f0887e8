//! Contract cases of the order queries (issue 20): the list's filters and direction,
//! held to the same answers on both stores.

use rust_decimal::Decimal;
use serde_json::json;

use shared::app::{AuditContext, plan_submit, plan_transition};
use shared::domain::{
    ClientOrderId, Order, OrderEvent, OrderId, OrderStatus, Pricing, Side, Symbol, Timestamp, TraderId, validate_order,
};
use shared::ports::{OrderFilter, OrderPage, StoreError};

use crate::fixture::{Fixture, unique_trader};

fn at(second: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_767_225_600_000 + second * 1000).expect("a time")
}

fn symbols(names: &[&str]) -> Vec<Symbol> {
    names.iter().map(|n| Symbol::parse(n).expect("symbol")).collect()
}

/// A limit order of `symbol` and `side`, created at `created`.
async fn place(f: &Fixture, trader: &TraderId, symbol: &str, side: &str, created: Timestamp) -> Order {
    let account = f.store.get_account(trader).await.expect("read").expect("account");
    let draft = validate_order(
        &json!({"symbol": symbol, "side": side, "type": "limit", "quantity": "1",
        "limit_price": "10"}),
    )
    .expect("valid");
    let ctx = AuditContext {
        actor: trader.to_string(),
        request_id: None,
        idempotency_key: None,
    };
    let new = plan_submit(OrderId::new(), draft, &account, &Pricing::default(), &ctx, created).expect("risk ok");
    let order = new.order.clone();
    f.store.create_order(new).await.expect("create");
    // ULIDs made in the same millisecond sort randomly; keep creation order visible.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    order
}

fn ids(page: &OrderPage) -> Vec<OrderId> {
    page.orders.iter().map(|o| o.order_id).collect()
}

pub async fn orders_filter_by_time_symbol_side_and_direction(f: Fixture) {
    let trader = unique_trader();
    f.store
        .fund_account(&trader, Decimal::from(100_000), None)
        .await
        .expect("fund");
    let aapl = Symbol::parse("AAPL").expect("symbol");
    f.store
        .deposit_position(&trader, &aapl, Decimal::from(10), Decimal::from(5))
        .await
        .expect("deposit");
    let o = [
        place(&f, &trader, "AAPL", "buy", at(0)).await,
        place(&f, &trader, "MSFT", "buy", at(1)).await,
        place(&f, &trader, "AAPL", "sell", at(2)).await,
        place(&f, &trader, "TSLA", "buy", at(3)).await,
        place(&f, &trader, "AAPL", "buy", at(4)).await,
    ];
    let id = |i: usize| o[i].order_id;
    let list = |filter: OrderFilter, limit: u32, after: Option<OrderId>| {
        let (store, trader) = (f.store.clone(), trader.clone());
        async move { store.filter_orders(&trader, &filter, limit, after).await.expect("list") }
    };

    let aapl_only = OrderFilter {
        symbols: symbols(&["AAPL"]),
        ..OrderFilter::default()
    };
    assert_eq!(ids(&list(aapl_only.clone(), 10, None).await), [id(4), id(2), id(0)]);
    let oldest_first = OrderFilter {
        ascending: true,
        ..aapl_only.clone()
    };
    assert_eq!(ids(&list(oldest_first, 10, None).await), [id(0), id(2), id(4)]);
    let sells = OrderFilter {
        side: Some(Side::Sell),
        ..OrderFilter::default()
    };
    assert_eq!(ids(&list(sells, 10, None).await), [id(2)]);
    // Both bounds are exclusive (Alpaca's `after` and `until`).
    let window = OrderFilter {
        after: Some(at(1)),
        until: Some(at(4)),
        ..OrderFilter::default()
    };
    assert_eq!(ids(&list(window, 10, None).await), [id(3), id(2)]);

    // Pages of a filtered list, oldest first, go on from the cursor.
    let buys = OrderFilter {
        symbols: symbols(&["AAPL", "MSFT"]),
        side: Some(Side::Buy),
        ascending: true,
        ..OrderFilter::default()
    };
    let first = list(buys.clone(), 2, None).await;
    assert_eq!(ids(&first), [id(0), id(1)]);
    assert!(first.next.is_some(), "more may follow");
    let rest = list(buys, 2, first.next).await;
    assert_eq!((ids(&rest), rest.next), (vec![id(4)], None));

    // A status filter combines with the others.
    let account = f.store.get_account(&trader).await.expect("read");
    let w = plan_transition(
        &o[0],
        &OrderEvent::RequestCancel,
        account.as_ref(),
        &AuditContext::system("test"),
        Timestamp::now(),
    )
    .expect("allowed");
    f.store.transition(w).await.expect("cancel");
    let cancelled_aapl = OrderFilter {
        status: Some(OrderStatus::Cancelled),
        ..aapl_only
    };
    assert_eq!(ids(&list(cancelled_aapl, 10, None).await), [id(0)]);
    let pending_msft_desc = OrderFilter {
        status: Some(OrderStatus::Pending),
        symbols: symbols(&["MSFT", "TSLA"]),
        ..OrderFilter::default()
    };
    let page = list(pending_msft_desc, 1, None).await;
    assert_eq!(ids(&page), [id(3)]);
    assert_eq!(page.next, Some(id(3)));
}

async fn place_with_id(f: &Fixture, trader: &TraderId, cid: &str) -> Result<Order, StoreError> {
    let account = f.store.get_account(trader).await.expect("read").expect("account");
    let draft = validate_order(
        &json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1",
        "limit_price": "10", "client_order_id": cid}),
    )
    .expect("valid");
    let ctx = AuditContext {
        actor: trader.to_string(),
        request_id: None,
        idempotency_key: None,
    };
    let new = plan_submit(
        OrderId::new(),
        draft,
        &account,
        &Pricing::default(),
        &ctx,
        Timestamp::now(),
    )
    .expect("ok");
    let order = new.order.clone();
    f.store.create_order(new).await?;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    Ok(order)
}

pub async fn client_order_ids_are_unique_among_open_orders_and_find_the_latest(f: Fixture) {
    let (trader, other) = (unique_trader(), unique_trader());
    for t in [&trader, &other] {
        f.store
            .fund_account(t, Decimal::from(100_000), None)
            .await
            .expect("fund");
    }
    let cid = ClientOrderId::parse("my-ref-1").expect("id");
    assert_eq!(f.store.order_by_client_order_id(&trader, &cid).await, Ok(None));
    let first = place_with_id(&f, &trader, "my-ref-1").await.expect("first");
    assert_eq!(
        place_with_id(&f, &trader, "my-ref-1").await.map(|o| o.order_id),
        Err(StoreError::ClientOrderIdTaken {
            order_id: first.order_id
        }),
        "an open order holds the id"
    );
    // Another trader's ids are their own.
    place_with_id(&f, &other, "my-ref-1").await.expect("another trader");
    let found = f.store.order_by_client_order_id(&trader, &cid).await.expect("read");
    assert_eq!(found.map(|o| o.order_id), Some(first.order_id));
    let account = f.store.get_account(&trader).await.expect("read");

    // Once the order has ended the id is free again, and names the new order.
    let w = plan_transition(
        &first,
        &OrderEvent::RequestCancel,
        account.as_ref(),
        &AuditContext::system("test"),
        Timestamp::now(),
    )
    .expect("allowed");
    f.store.transition(w).await.expect("cancel");
    let second = place_with_id(&f, &trader, "my-ref-1")
        .await
        .expect("reused after the end");
    let found = f.store.order_by_client_order_id(&trader, &cid).await.expect("read");
    assert_eq!(
        found.map(|o| (o.order_id, o.status)),
        Some((second.order_id, OrderStatus::Pending))
    );
    assert_eq!(
        place_with_id(&f, &trader, "my-ref-1").await.map(|o| o.order_id),
        Err(StoreError::ClientOrderIdTaken {
            order_id: second.order_id
        })
    );
    // The refused orders reserved nothing: only the second order's 1 x $10 is held.
    let after = f.store.get_account(&trader).await.expect("read").expect("account");
    assert_eq!((after.reserved, after.open_orders), (Decimal::from(10), 1));
}
