// Long because: the one contract suite both stores must pass, a case per port behaviour, each short.
//! The contract cases. Each takes a fresh fixture and uses its own trader ids.

use std::collections::HashSet;
use std::str::FromStr;

use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::json;

use shared::app::{AuditContext, plan_submit, plan_transition};
use shared::domain::{
    Account, IdempotencyKey, Order, OrderEvent, OrderId, OrderStatus, Pricing, RiskLimits, Timestamp, TraderId,
    validate_order, verify_account_chain, verify_anchored, verify_chain,
};
use shared::ports::{
    IdempotencyRecord, NewOrder, OperatorAction, RateDecision, StatusEvent, StoreError, WorkMessage, WorkingOrder,
};

pub use crate::attention_cases::*;
pub use crate::duplicate_cases::*;
use crate::fixture::{Fixture, unique_trader};
pub use crate::notional_cases::*;
pub use crate::order_queries::*;
pub use crate::replace_cases::*;

fn dec(v: impl ToString) -> Decimal {
    Decimal::from_str(&v.to_string()).expect("decimal")
}

fn ctx(trader: &TraderId) -> AuditContext {
    AuditContext {
        actor: trader.to_string(),
        request_id: Some("req-test".into()),
        idempotency_key: None,
    }
}

fn exec() -> AuditContext {
    AuditContext::system("execute")
}

pub(crate) async fn funded(f: &Fixture, cash: i64) -> (TraderId, Account) {
    let trader = unique_trader();
    let account = f
        .store
        .fund_account(&trader, Decimal::from(cash), None)
        .await
        .expect("fund");
    (trader, account)
}

fn limit_buy(account: &Account, qty: &str, price: &str) -> NewOrder {
    let draft = validate_order(
        &json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": qty,
        "limit_price": price}),
    )
    .expect("valid");
    plan_submit(
        OrderId::new(),
        draft,
        account,
        &Pricing::default(),
        &ctx(&account.trader_id),
        Timestamp::now(),
    )
    .expect("risk ok")
}

pub(crate) async fn submit(f: &Fixture, account: &Account, qty: &str, price: &str) -> Order {
    let new = limit_buy(account, qty, price);
    let order = new.order.clone();
    f.store.create_order(new).await.expect("create");
    order
}

pub(crate) async fn step(f: &Fixture, order: &Order, event: OrderEvent) -> Order {
    let account = f.store.get_account(&order.trader_id).await.expect("read account");
    let w = plan_transition(order, &event, account.as_ref(), &exec(), Timestamp::now()).expect("allowed");
    let after = w.after.clone();
    f.store.transition(w).await.expect("commit");
    let stored = f
        .store
        .get_order(&order.trader_id, &order.order_id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored, after, "the store returns what it committed");
    after
}

fn fill(id: &str, qty: &str, price: &str) -> OrderEvent {
    OrderEvent::Fill {
        execution_id: id.into(),
        quantity: dec(qty),
        price: dec(price),
    }
}

async fn account(f: &Fixture, trader: &TraderId) -> Account {
    f.store.get_account(trader).await.expect("read").expect("exists")
}

/// Submits and commits a limit sell of `qty` at `price` from the account as stored.
async fn submit_sell(f: &Fixture, trader: &TraderId, qty: &str, price: &str) -> Order {
    let acct = account(f, trader).await;
    let body = json!({"symbol": "AAPL", "side": "sell", "type": "limit", "quantity": qty, "limit_price": price});
    let draft = validate_order(&body).unwrap();
    let new = plan_submit(
        OrderId::new(),
        draft,
        &acct,
        &Pricing::default(),
        &ctx(trader),
        Timestamp::now(),
    )
    .unwrap();
    let order = new.order.clone();
    f.store.create_order(new).await.unwrap();
    order
}

pub async fn accounts_are_funded_and_read_back(f: Fixture) {
    let trader = unique_trader();
    assert_eq!(f.store.get_account(&trader).await, Ok(None));
    let a = f.store.fund_account(&trader, dec(1000), None).await.unwrap();
    assert_eq!((a.cash, a.reserved, a.open_orders), (dec(1000), dec(0), 0));
    assert_eq!(a.limits, RiskLimits::default());
    let limits = RiskLimits {
        orders_per_minute: 7,
        ..RiskLimits::default()
    };
    let a = f
        .store
        .fund_account(&trader, dec("500.25"), Some(limits.clone()))
        .await
        .unwrap();
    assert_eq!(a.cash, dec("1500.25"));
    assert_eq!(a.limits, limits);
    assert_eq!(account(&f, &trader).await, a);
}

pub async fn submit_reserves_cash_and_writes_the_first_audit_record(f: Fixture) {
    let (trader, acct) = funded(&f, 10_000).await;
    let order = submit(&f, &acct, "10", "150.25").await;
    assert_eq!(order.reserved_amount, dec("1502.50"));
    let a = account(&f, &trader).await;
    assert_eq!(
        (a.reserved, a.buying_power(), a.open_orders),
        (dec("1502.50"), dec("8497.50"), 1)
    );
    assert_eq!(
        f.store.get_order(&trader, &order.order_id).await.unwrap(),
        Some(order.clone())
    );
    let records = f.audit.records(&order.order_id).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].action.as_str(), records[0].sequence), ("SUBMIT", 1));
    assert_eq!(records[0].hash, order.audit_head);
    assert_eq!(verify_chain(&records), Ok(()));
    // Another trader sees nothing of it.
    assert_eq!(
        f.store.get_order(&unique_trader(), &order.order_id).await.unwrap(),
        None
    );
}

pub async fn submit_refusals_write_nothing(f: Fixture) {
    // No account.
    let ghost = Account::new(unique_trader(), dec(1_000_000));
    let new = limit_buy(&ghost, "1", "10");
    let id = new.order.order_id;
    assert_eq!(f.store.create_order(new).await, Err(StoreError::NoAccount));
    assert_eq!(f.audit.records(&id).await.unwrap(), vec![]);

    // Funds: planned against a stale snapshot, refused by the store's condition.
    let (trader, acct) = funded(&f, 1_000).await;
    submit(&f, &acct, "6", "100").await;
    let stale = limit_buy(&acct, "5", "100");
    let id = stale.order.order_id;
    assert_eq!(f.store.create_order(stale).await, Err(StoreError::InsufficientFunds));
    assert_eq!(f.store.get_order(&trader, &id).await.unwrap(), None);
    assert_eq!(f.audit.records(&id).await.unwrap(), vec![]);
    let a = account(&f, &trader).await;
    assert_eq!((a.reserved, a.open_orders), (dec(600), 1));

    // The same order id twice.
    let new = limit_buy(&a, "1", "1");
    f.store.create_order(new.clone()).await.unwrap();
    assert_eq!(f.store.create_order(new).await, Err(StoreError::AlreadyExists));

    // Open-order limit.
    let limits = RiskLimits {
        max_open_orders: 2,
        ..RiskLimits::default()
    };
    let before_limit = account(&f, &trader).await;
    f.store.fund_account(&trader, dec(0), Some(limits)).await.unwrap();
    let mut over = limit_buy(&before_limit, "1", "1");
    over.guards.max_open_orders = 2;
    assert_eq!(f.store.create_order(over).await, Err(StoreError::OpenOrderLimit));

    // Daily loss limit: the guard re-checks today's P&L.
    let (_, a) = funded(&f, 1_000).await;
    let mut new = limit_buy(&a, "1", "1");
    new.guards.daily_loss_limit = dec(0);
    assert_eq!(f.store.create_order(new).await, Err(StoreError::DailyLossLimit));

    // A sell without a position.
    let draft = validate_order(
        &json!({"symbol": "AAPL", "side": "sell", "type": "limit", "quantity": "1",
        "limit_price": "1"}),
    )
    .unwrap();
    let mut with_position = a.clone();
    with_position.positions.push(shared::domain::Position {
        quantity: dec(5),
        ..shared::domain::Position::empty(draft.symbol.clone())
    });
    let new = plan_submit(
        OrderId::new(),
        draft,
        &with_position,
        &Pricing::default(),
        &ctx(&a.trader_id),
        Timestamp::now(),
    )
    .unwrap();
    assert_eq!(f.store.create_order(new).await, Err(StoreError::InsufficientPosition));
    let after = account(&f, &a.trader_id).await;
    assert_eq!((after.open_orders, after.reserved), (0, dec(0)));
}

pub async fn a_buy_goes_through_claim_partial_and_final_fill(f: Fixture) {
    let (trader, acct) = funded(&f, 10_000).await;
    let order = submit(&f, &acct, "10", "100").await;
    let order = step(&f, &order, OrderEvent::Claim).await;
    assert_eq!(order.status, OrderStatus::Submitted);
    let order = step(&f, &order, fill("x1", "4", "99")).await;
    assert_eq!(
        (order.status, order.filled_quantity),
        (OrderStatus::PartiallyFilled, dec(4))
    );
    let a = account(&f, &trader).await;
    assert_eq!((a.cash, a.reserved, a.buying_power()), (dec(9604), dec(600), dec(9004)));
    let order = step(&f, &order, fill("x2", "6", "100")).await;
    assert_eq!(order.status, OrderStatus::Filled);
    assert_eq!(order.average_fill_price, Some(dec("99.6")));
    assert_eq!(order.reserved_amount, dec(0));
    let a = account(&f, &trader).await;
    assert_eq!((a.cash, a.reserved, a.open_orders), (dec(9004), dec(0), 0));
    let p = &a.positions[0];
    assert_eq!(
        (p.symbol.as_str(), p.quantity, p.average_cost, p.reserved),
        ("AAPL", dec(10), dec("99.6"), dec(0))
    );
    let fills = f.store.fills(&trader, &order.order_id).await.unwrap();
    let ids: Vec<&str> = fills.iter().map(|f| f.execution_id.as_str()).collect();
    assert_eq!(ids, ["x1", "x2"]);
    let records = f.audit.records(&order.order_id).await.unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["SUBMIT", "CLAIM", "FILL", "FILL"]);
    assert_eq!(verify_chain(&records), Ok(()));
}

/// Log lines written while the guard is held (this thread's, as the case's store
/// calls run on it).
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> (
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || Captured(writer.clone()))
        .with_ansi(false)
        .finish();
    (buf, tracing::subscriber::set_default(subscriber))
}

/// Issue 14: a fill past the order's reservation (the venue filled beyond its limit)
/// that takes cash below zero is booked as the venue did it, never silently: the
/// store flags it with the `CashBelowZero` line naming the order.
pub async fn a_fill_that_takes_cash_below_zero_is_booked_and_flagged(f: Fixture) {
    let (trader, acct) = funded(&f, 1_000).await;
    let order = submit(&f, &acct, "10", "100").await;
    let order = step(&f, &order, OrderEvent::Claim).await;
    let (logs, guard) = capture_logs();
    let covered = step(&f, &order, fill("c1", "5", "100")).await;
    let before_flag = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        !before_flag.contains("cash below zero"),
        "a covered fill is not flagged: {before_flag}"
    );
    let order = step(&f, &covered, fill("c2", "5", "140")).await;
    drop(guard);
    assert_eq!(order.status, OrderStatus::Filled);
    let a = account(&f, &trader).await;
    assert_eq!(
        (a.cash, a.reserved),
        (dec(-200), dec(0)),
        "booked as the venue filled it"
    );
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let line = logged
        .lines()
        .find(|l| l.contains("cash below zero"))
        .unwrap_or_else(|| panic!("flagged: {logged}"));
    assert!(
        line.contains(&order.order_id.to_string()) && line.contains("CashBelowZero"),
        "{line}"
    );
    assert!(line.contains("cash_after=-200"), "{line}");
}

pub async fn sells_reserve_and_book_against_the_position(f: Fixture) {
    let (trader, _) = funded(&f, 0).await;
    let symbol = shared::domain::Symbol::parse("AAPL").unwrap();
    f.store
        .deposit_position(&trader, &symbol, dec(10), dec(100))
        .await
        .unwrap();
    let order = submit_sell(&f, &trader, "4", "110").await;
    let a = account(&f, &trader).await;
    assert_eq!((a.positions[0].reserved, a.positions[0].available()), (dec(4), dec(6)));
    let order = step(&f, &order, OrderEvent::Claim).await;
    let order = step(&f, &order, fill("s1", "3", "110")).await;
    let order = step(&f, &order, OrderEvent::RequestCancel).await;
    let order = step(
        &f,
        &order,
        OrderEvent::ConfirmCancel {
            reason: Some("cancelled by trader".into()),
        },
    )
    .await;
    assert_eq!((order.status, order.filled_quantity), (OrderStatus::Cancelled, dec(3)));
    let a = account(&f, &trader).await;
    assert_eq!((a.cash, a.realized_pnl, a.open_orders), (dec(330), dec(30), 0));
    assert_eq!(a.pnl_day, Some(Timestamp::now().date()));
    let p = &a.positions[0];
    assert_eq!((p.quantity, p.reserved, p.average_cost), (dec(7), dec(0), dec(100)));
}

pub async fn cancelling_a_pending_order_releases_its_reservation(f: Fixture) {
    let (trader, acct) = funded(&f, 1_000).await;
    let order = submit(&f, &acct, "3", "100").await;
    let order = step(&f, &order, OrderEvent::RequestCancel).await;
    assert_eq!((order.status, order.reserved_amount), (OrderStatus::Cancelled, dec(0)));
    let a = account(&f, &trader).await;
    assert_eq!((a.reserved, a.buying_power(), a.open_orders), (dec(0), dec(1000), 0));
}

pub async fn a_transition_from_a_stale_read_is_refused_by_the_store(f: Fixture) {
    let (trader, acct) = funded(&f, 1_000).await;
    let pending = submit(&f, &acct, "1", "100").await;
    let submitted = step(&f, &pending, OrderEvent::Claim).await;
    // Planned from the PENDING snapshot: allowed by the table from there, but the order moved on.
    let stale = plan_transition(
        &pending,
        &OrderEvent::RequestCancel,
        Some(&acct),
        &ctx(&trader),
        Timestamp::now(),
    )
    .unwrap();
    assert_eq!(f.store.transition(stale).await, Err(StoreError::Conflict));
    assert_eq!(
        f.store.get_order(&trader, &pending.order_id).await.unwrap(),
        Some(submitted)
    );
    assert_eq!(
        account(&f, &trader).await.reserved,
        dec(100),
        "the reservation was not released"
    );
    assert_eq!(f.audit.records(&pending.order_id).await.unwrap().len(), 2);
}

pub async fn a_transition_the_table_forbids_is_refused_by_the_store(f: Fixture) {
    let (trader, acct) = funded(&f, 1_000).await;
    let order = submit(&f, &acct, "1", "100").await;
    let order = step(&f, &order, OrderEvent::Claim).await;
    let filled = step(&f, &order, fill("f1", "1", "100")).await;
    // The table refuses FILLED -> anything...
    assert!(
        plan_transition(
            &filled,
            &OrderEvent::RequestCancel,
            Some(&acct),
            &exec(),
            Timestamp::now()
        )
        .is_err()
    );
    // ...and a write that lies about the current status (claims it is still SUBMITTED,
    // at FILLED's version) is refused by the store's condition on the status too.
    let mut lie = filled.clone();
    lie.status = OrderStatus::Submitted;
    let forged = plan_transition(
        &lie,
        &OrderEvent::Expire { reason: None },
        Some(&acct),
        &exec(),
        Timestamp::now(),
    )
    .unwrap();
    assert_eq!(f.store.transition(forged).await, Err(StoreError::Conflict));
    assert_eq!(
        f.store.get_order(&trader, &filled.order_id).await.unwrap(),
        Some(filled)
    );
}

pub async fn racing_transitions_from_one_version_commit_once(f: Fixture) {
    let (trader, acct) = funded(&f, 1_000).await;
    let order = submit(&f, &acct, "1", "100").await;
    let order = step(&f, &order, OrderEvent::Claim).await;
    let a = account(&f, &trader).await;
    let cancel = plan_transition(
        &order,
        &OrderEvent::RequestCancel,
        Some(&a),
        &ctx(&trader),
        Timestamp::now(),
    )
    .unwrap();
    let filled = plan_transition(&order, &fill("r1", "1", "100"), Some(&a), &exec(), Timestamp::now()).unwrap();
    let results = join_all([f.store.transition(cancel), f.store.transition(filled)]).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(results.contains(&Err(StoreError::Conflict)));
    let stored = f.store.get_order(&trader, &order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.version, order.version + 1);
    assert_eq!(verify_chain(&f.audit.records(&order.order_id).await.unwrap()), Ok(()));
}

pub async fn a_fill_is_recorded_once_per_execution_id(f: Fixture) {
    let (trader, acct) = funded(&f, 10_000).await;
    let order = submit(&f, &acct, "10", "100").await;
    let order = step(&f, &order, OrderEvent::Claim).await;
    let order = step(&f, &order, fill("dup", "2", "100")).await;
    let a = account(&f, &trader).await;
    let again = plan_transition(&order, &fill("dup", "2", "100"), Some(&a), &exec(), Timestamp::now()).unwrap();
    assert_eq!(f.store.transition(again).await, Err(StoreError::AlreadyExists));
    let stored = f.store.get_order(&trader, &order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.filled_quantity, dec(2));
    assert_eq!(account(&f, &trader).await, a);
    assert_eq!(f.store.fills(&trader, &order.order_id).await.unwrap().len(), 1);
}

pub async fn orders_list_newest_first_with_pages_and_status(f: Fixture) {
    let (trader, acct) = funded(&f, 100_000).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let a = account(&f, &trader).await;
        let o = submit(&f, &a, "1", "10").await;
        ids.push(o.order_id);
        // ULIDs made in the same millisecond sort randomly; keep creation order visible.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let _ = acct;
    let first = f.store.get_order(&trader, &ids[1]).await.unwrap().unwrap();
    step(&f, &first, OrderEvent::RequestCancel).await;

    let page1 = f.store.list_orders(&trader, None, 2, None).await.unwrap();
    let got: Vec<OrderId> = page1.orders.iter().map(|o| o.order_id).collect();
    assert_eq!(got, [ids[4], ids[3]]);
    assert_eq!(page1.next, Some(ids[3]));
    let page2 = f.store.list_orders(&trader, None, 2, page1.next).await.unwrap();
    let got: Vec<OrderId> = page2.orders.iter().map(|o| o.order_id).collect();
    assert_eq!(got, [ids[2], ids[1]]);
    let page3 = f.store.list_orders(&trader, None, 2, page2.next).await.unwrap();
    let got: Vec<OrderId> = page3.orders.iter().map(|o| o.order_id).collect();
    assert_eq!((got, page3.next), (vec![ids[0]], None));

    let cancelled = f
        .store
        .list_orders(&trader, Some(OrderStatus::Cancelled), 10, None)
        .await
        .unwrap();
    let got: Vec<OrderId> = cancelled.orders.iter().map(|o| o.order_id).collect();
    assert_eq!(got, [ids[1]]);
    let pending = f
        .store
        .list_orders(&trader, Some(OrderStatus::Pending), 3, None)
        .await
        .unwrap();
    let got: Vec<OrderId> = pending.orders.iter().map(|o| o.order_id).collect();
    assert_eq!(got, [ids[4], ids[3], ids[2]]);
    let rest = f
        .store
        .list_orders(&trader, Some(OrderStatus::Pending), 3, pending.next)
        .await
        .unwrap();
    let got: Vec<OrderId> = rest.orders.iter().map(|o| o.order_id).collect();
    assert_eq!(got, [ids[0]]);
    assert_eq!(
        f.store
            .list_orders(&unique_trader(), None, 10, None)
            .await
            .unwrap()
            .orders,
        vec![]
    );
}

pub async fn audit_records_cannot_be_overwritten_and_tampering_is_found(f: Fixture) {
    let (_, acct) = funded(&f, 1_000).await;
    let order = submit(&f, &acct, "1", "100").await;
    let order = step(&f, &order, OrderEvent::Claim).await;
    let records = f.audit.records(&order.order_id).await.unwrap();
    let mut rewrite = records[0].clone();
    rewrite.reason = Some("rewritten".into());
    rewrite.hash = rewrite.compute_hash();
    assert_eq!(f.audit.append(&rewrite).await, Err(StoreError::AlreadyExists));
    assert_eq!(f.audit.records(&order.order_id).await.unwrap(), records);
    assert_eq!(verify_chain(&records), Ok(()));

    // Changed behind the adapter's back: the verifier finds the broken link.
    let mut altered = records[1].clone();
    altered.actor = "mallory".into();
    f.tamper_audit(altered).await;
    let after = f.audit.records(&order.order_id).await.unwrap();
    assert_eq!(
        verify_chain(&after),
        Err(shared::domain::ChainBreak::Altered { sequence: 2 })
    );
}

pub async fn concurrent_reservations_accept_exactly_what_the_balance_covers(f: Fixture) {
    const N: usize = 300;
    const K: usize = 100;
    let trader = unique_trader();
    let limits = RiskLimits {
        max_open_orders: 10_000,
        ..RiskLimits::default()
    };
    let acct = f
        .store
        .fund_account(&trader, Decimal::from(K as i64 * 10), Some(limits))
        .await
        .unwrap();
    // Every order is planned from the same snapshot (which could afford all of them):
    // only the store's atomic condition stands between them and overspending.
    let writes: Vec<NewOrder> = (0..N).map(|_| limit_buy(&acct, "1", "10")).collect();
    let results = join_all(writes.into_iter().map(|w| {
        let store = f.store.clone();
        tokio::spawn(async move { store.create_order(w).await })
    }))
    .await;
    let results: Vec<Result<(), StoreError>> = results.into_iter().map(|r| r.expect("task")).collect();
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| **r == Err(StoreError::InsufficientFunds))
        .count();
    assert_eq!(
        (accepted, refused),
        (K, N - K),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let a = account(&f, &trader).await;
    assert_eq!(
        (a.reserved, a.buying_power(), a.open_orders),
        (Decimal::from(K as i64 * 10), dec(0), K as u32)
    );
    let all = f.store.list_orders(&trader, None, 1000, None).await.unwrap();
    assert_eq!(all.orders.len(), K);
}

pub async fn work_messages_round_trip_and_are_deleted(f: Fixture) {
    let msg = WorkMessage::Execute {
        trader_id: unique_trader(),
        order_id: OrderId::new(),
    };
    f.queue.send(&msg, 0).await.unwrap();
    let got = f.queue.receive(10, 2).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].receive_count, 1);
    assert_eq!(serde_json::from_str::<WorkMessage>(&got[0].body).unwrap(), msg);
    f.queue.delete(&got[0].receipt_handle).await.unwrap();
    assert_eq!(f.queue.receive(10, 1).await.unwrap(), vec![]);
}

pub async fn work_messages_sent_together_all_arrive(f: Fixture) {
    f.queue.send_all(&[], 0).await.unwrap();
    let trader = unique_trader();
    let sent: Vec<WorkMessage> = (0..23)
        .map(|i| match i % 3 {
            0 => WorkMessage::Execute {
                trader_id: trader.clone(),
                order_id: OrderId::new(),
            },
            1 => WorkMessage::Cancel {
                trader_id: trader.clone(),
                order_id: OrderId::new(),
            },
            _ => WorkMessage::Recheck {
                trader_id: trader.clone(),
                order_id: OrderId::new(),
                seq: i,
            },
        })
        .collect();
    f.queue.send_all(&sent, 0).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        if got.len() >= sent.len() {
            break;
        }
        for m in f.queue.receive(10, 1).await.unwrap() {
            got.push(serde_json::from_str::<WorkMessage>(&m.body).unwrap());
            f.queue.delete(&m.receipt_handle).await.unwrap();
        }
    }
    let key = |m: &WorkMessage| m.ids().1.to_string();
    let (mut want, mut have) = (sent.clone(), got);
    want.sort_by_key(key);
    have.sort_by_key(key);
    assert_eq!(have, want, "23 messages sent in three batches, each received once");
}

pub async fn a_message_hidden_for_zero_seconds_comes_back_at_once(f: Fixture) {
    let msg = WorkMessage::Recheck {
        trader_id: unique_trader(),
        order_id: OrderId::new(),
        seq: 3,
    };
    f.queue.send(&msg, 0).await.unwrap();
    let got = f.queue.receive(10, 2).await.unwrap();
    assert_eq!(got.len(), 1);
    f.queue.change_visibility(&got[0].receipt_handle, 0).await.unwrap();
    let again = f.queue.receive(10, 2).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    assert_eq!(serde_json::from_str::<WorkMessage>(&again[0].body).unwrap(), msg);
    f.queue.delete(&again[0].receipt_handle).await.unwrap();
}

pub async fn the_working_index_keeps_orders_until_removed(f: Fixture) {
    let trader = unique_trader();
    let ours: Vec<OrderId> = (0..7).map(|_| OrderId::new()).collect();
    let mine = |all: Vec<WorkingOrder>| -> Vec<WorkingOrder> {
        let mut v: Vec<WorkingOrder> = all.into_iter().filter(|w| ours.contains(&w.order_id)).collect();
        v.sort_by_key(|w| w.order_id.to_string());
        v
    };
    let entry = |id: &OrderId, venue: Option<&str>| WorkingOrder {
        order_id: *id,
        trader_id: trader.clone(),
        venue_order_id: venue.map(str::to_owned),
        cancel_done: false,
    };
    for id in &ours {
        f.intake.put_working(&entry(id, None)).await.unwrap();
    }
    let mut want: Vec<WorkingOrder> = ours.iter().map(|id| entry(id, None)).collect();
    want.sort_by_key(|w| w.order_id.to_string());
    assert_eq!(
        mine(f.intake.working_orders().await.unwrap()),
        want,
        "every shard is read"
    );
    // Following a replacement rewrites the entry; removing takes it out, twice is fine.
    f.intake.put_working(&entry(&ours[0], Some("venue-2"))).await.unwrap();
    f.intake.remove_working(&ours[1]).await.unwrap();
    f.intake.remove_working(&ours[1]).await.unwrap();
    let now = mine(f.intake.working_orders().await.unwrap());
    assert_eq!(now.len(), 6);
    assert!(now.iter().all(|w| w.order_id != ours[1]));
    let replaced = now.iter().find(|w| w.order_id == ours[0]).unwrap();
    assert_eq!(replaced.venue_order_id.as_deref(), Some("venue-2"));
    assert!(f.intake.is_working(&ours[0]).await.unwrap());
    assert!(!f.intake.is_working(&ours[1]).await.unwrap(), "removed");
    assert!(!f.intake.is_working(&OrderId::new()).await.unwrap(), "never put");
    // The mark of a cancel whose executor part is done: read back with the entry, cleared by a
    // put without it, absent with the entry.
    assert!(!f.intake.cancel_done(&ours[2]).await.unwrap(), "put without the mark");
    let cancelling = WorkingOrder {
        cancel_done: true,
        ..entry(&ours[2], Some("venue-3"))
    };
    f.intake.put_working(&cancelling).await.unwrap();
    assert!(f.intake.cancel_done(&ours[2]).await.unwrap());
    let listed = mine(f.intake.working_orders().await.unwrap());
    assert_eq!(listed.iter().find(|w| w.order_id == ours[2]), Some(&cancelling));
    assert!(!f.intake.cancel_done(&ours[0]).await.unwrap(), "another entry");
    f.intake.put_working(&entry(&ours[2], None)).await.unwrap();
    assert!(!f.intake.cancel_done(&ours[2]).await.unwrap(), "rewritten without it");
    f.intake.remove_working(&ours[3]).await.unwrap();
    assert!(!f.intake.cancel_done(&ours[3]).await.unwrap(), "removed");
    assert!(!f.intake.cancel_done(&OrderId::new()).await.unwrap(), "never put");
}

pub async fn status_events_are_published_beyond_one_put_events_batch(f: Fixture) {
    let (_, acct) = funded(&f, 100_000).await;
    let mut events = Vec::new();
    let mut orders = HashSet::new();
    for _ in 0..12 {
        let new = limit_buy(&acct, "1", "10");
        orders.insert(new.order.order_id);
        events.push(StatusEvent::of(None, &new.order));
    }
    f.events.publish(&events).await.expect("published");
    let mut got = f.delivered_events(&orders, events.len()).await;
    got.sort_by_key(|e| e.order_id);
    events.sort_by_key(|e| e.order_id);
    assert_eq!(got, events);
}

pub async fn the_daily_loss_guard_counts_todays_realized_losses(f: Fixture) {
    let (trader, _) = funded(&f, 1_000).await;
    let symbol = shared::domain::Symbol::parse("AAPL").unwrap();
    f.store
        .deposit_position(&trader, &symbol, dec(10), dec(100))
        .await
        .unwrap();
    let order = submit_sell(&f, &trader, "10", "50").await;
    let order = step(&f, &order, OrderEvent::Claim).await;
    step(&f, &order, fill("loss", "10", "50")).await;
    let a = account(&f, &trader).await;
    assert_eq!(
        (a.realized_pnl, a.losses_on(Timestamp::now().date())),
        (dec(-500), dec(500))
    );

    let mut at_limit = limit_buy(&a, "1", "1");
    at_limit.guards.daily_loss_limit = dec(500);
    assert_eq!(f.store.create_order(at_limit).await, Err(StoreError::DailyLossLimit));
    let mut under_limit = limit_buy(&a, "1", "1");
    under_limit.guards.daily_loss_limit = dec("500.01");
    assert_eq!(f.store.create_order(under_limit).await, Ok(()));
}

fn idem(trader: &TraderId, key: &str, status: u16, order: Option<OrderId>, at: Timestamp) -> IdempotencyRecord {
    IdempotencyRecord {
        trader_id: trader.clone(),
        key: IdempotencyKey::parse(key).unwrap(),
        request_hash: "h".repeat(64),
        status,
        body: format!("{{\"status\":{status}}}"),
        order_id: order,
        created_at: at,
        expires_at: IdempotencyRecord::expiry(at),
    }
}

pub async fn an_idempotency_key_commits_with_its_order_and_is_taken_once(f: Fixture) {
    let (trader, acct) = funded(&f, 10_000).await;
    let now = Timestamp::now();
    let mut first = limit_buy(&acct, "1", "100");
    let record = idem(&trader, "key-1", 201, Some(first.order.order_id), now);
    first.idempotency = Some(record.clone());
    f.store.create_order(first).await.unwrap();
    let key = IdempotencyKey::parse("key-1").unwrap();
    assert_eq!(f.store.idempotency(&trader, &key, now).await.unwrap(), Some(record));

    let mut second = limit_buy(&acct, "1", "100");
    let second_id = second.order.order_id;
    second.idempotency = Some(idem(&trader, "key-1", 201, Some(second_id), now));
    assert_eq!(f.store.create_order(second).await, Err(StoreError::IdempotencyKeyTaken));
    assert_eq!(f.store.get_order(&trader, &second_id).await.unwrap(), None);
    assert_eq!(f.audit.records(&second_id).await.unwrap(), vec![]);
    let a = account(&f, &trader).await;
    assert_eq!((a.reserved, a.open_orders), (dec(100), 1));

    // Keys are per trader.
    let (other, other_acct) = funded(&f, 1_000).await;
    let mut theirs = limit_buy(&other_acct, "1", "1");
    theirs.idempotency = Some(idem(&other, "key-1", 201, Some(theirs.order.order_id), now));
    f.store.create_order(theirs).await.unwrap();

    // An expired key (TTL has not removed it yet) is free again.
    let old = now.plus_seconds(-IdempotencyRecord::LIFETIME_SECS - 5);
    let mut stale = limit_buy(&acct, "1", "1");
    stale.idempotency = Some(idem(&trader, "key-2", 201, Some(stale.order.order_id), old));
    f.store.create_order(stale).await.unwrap();
    let key2 = IdempotencyKey::parse("key-2").unwrap();
    assert_eq!(f.store.idempotency(&trader, &key2, now).await.unwrap(), None);
    let mut fresh = limit_buy(&acct, "1", "1");
    let fresh_record = idem(&trader, "key-2", 201, Some(fresh.order.order_id), now);
    fresh.idempotency = Some(fresh_record.clone());
    f.store.create_order(fresh).await.unwrap();
    assert_eq!(
        f.store.idempotency(&trader, &key2, now).await.unwrap(),
        Some(fresh_record)
    );
}

pub async fn concurrent_submits_with_one_key_make_one_order(f: Fixture) {
    let (trader, acct) = funded(&f, 10_000).await;
    let now = Timestamp::now();
    let writes: Vec<NewOrder> = (0..20)
        .map(|_| {
            let mut w = limit_buy(&acct, "1", "10");
            w.idempotency = Some(idem(&trader, "same", 201, Some(w.order.order_id), now));
            w
        })
        .collect();
    let results = join_all(writes.into_iter().map(|w| {
        let store = f.store.clone();
        tokio::spawn(async move { store.create_order(w).await })
    }))
    .await;
    let results: Vec<Result<(), StoreError>> = results.into_iter().map(|r| r.expect("task")).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| **r == Err(StoreError::IdempotencyKeyTaken))
        .count();
    assert_eq!((ok, taken), (1, 19), "{results:?}");
    assert_eq!(
        f.store
            .list_orders(&trader, None, 100, None)
            .await
            .unwrap()
            .orders
            .len(),
        1
    );
    assert_eq!(account(&f, &trader).await.reserved, dec(10));
}

pub async fn a_rejected_submit_records_its_audit_and_its_key(f: Fixture) {
    let trader = unique_trader();
    let now = Timestamp::now();
    let error = shared::domain::OrderError::InsufficientFunds {
        required: dec(10),
        available: dec(1),
    };
    let body = json!({"symbol": "AAPL"});
    let audit = shared::app::plan_rejected_submit(OrderId::new(), &trader, Some(body), &error, &ctx(&trader), now);
    let record = idem(&trader, "rej", 422, None, now);
    f.store
        .record_rejection(audit.clone(), Some(record.clone()))
        .await
        .unwrap();
    assert_eq!(f.audit.records(&audit.order_id).await.unwrap(), vec![audit.clone()]);
    let key = IdempotencyKey::parse("rej").unwrap();
    assert_eq!(
        f.store.idempotency(&trader, &key, now).await.unwrap(),
        Some(record.clone())
    );
    let again = shared::app::plan_rejected_submit(OrderId::new(), &trader, None, &error, &ctx(&trader), now);
    assert_eq!(
        f.store.record_rejection(again.clone(), Some(record)).await,
        Err(StoreError::IdempotencyKeyTaken)
    );
    assert_eq!(f.audit.records(&again.order_id).await.unwrap(), vec![]);
    // Without a key only the audit record is written.
    f.store.record_rejection(again.clone(), None).await.unwrap();
    assert_eq!(f.audit.records(&again.order_id).await.unwrap(), vec![again]);
}

pub async fn the_rate_limit_counts_per_trader_per_minute(f: Fixture) {
    let trader = unique_trader();
    // The middle of a minute, so the test cannot straddle a window edge.
    let minute = (Timestamp::now().unix_seconds() / 60 + 1) * 60;
    let at = Timestamp::from_unix_millis((minute + 48) * 1000).unwrap();
    for remaining in [2, 1, 0] {
        assert_eq!(
            f.store.take_rate_token(&trader, 3, at).await,
            Ok(RateDecision::Allowed { remaining })
        );
    }
    assert_eq!(
        f.store.take_rate_token(&trader, 3, at).await,
        Ok(RateDecision::Limited { retry_after_secs: 12 })
    );
    assert_eq!(
        f.store.take_rate_token(&unique_trader(), 3, at).await,
        Ok(RateDecision::Allowed { remaining: 2 })
    );
    assert_eq!(
        f.store.take_rate_token(&trader, 3, at.plus_seconds(60)).await,
        Ok(RateDecision::Allowed { remaining: 2 })
    );
}

pub async fn the_venue_budget_caps_each_window_for_every_caller(f: Fixture) {
    use shared::ports::{BudgetDecision, VenueRate};
    let rate = VenueRate {
        per_minute: 200,
        window_secs: 5,
    };
    let key = format!("key-{}", ulid::Ulid::new());
    // The second second of a window, so the test cannot straddle its edge.
    let start = (Timestamp::now().unix_seconds() / 5 + 1) * 5;
    let at = Timestamp::from_unix_millis((start + 1) * 1000).unwrap();
    // Many callers at once (function instances): exactly the window's 15 get through.
    let takes = (0..40).map(|_| {
        let (budget, key) = (f.budget.clone(), key.clone());
        tokio::spawn(async move { budget.take_venue_request(&key, rate, at).await })
    });
    let mut granted = 0;
    for t in takes {
        match t.await.unwrap().unwrap() {
            BudgetDecision::Granted => granted += 1,
            BudgetDecision::Wait { retry_after_secs } => assert_eq!(retry_after_secs, 4),
        }
    }
    assert_eq!(granted, rate.per_window());
    // Another API key has its own budget; the next window starts afresh.
    let other = format!("key-{}", ulid::Ulid::new());
    assert_eq!(
        f.budget.take_venue_request(&other, rate, at).await,
        Ok(BudgetDecision::Granted)
    );
    assert_eq!(
        f.budget.take_venue_request(&key, rate, at.plus_seconds(5)).await,
        Ok(BudgetDecision::Granted)
    );
    // The venue said 429 with Retry-After 12 s: nothing goes until then.
    f.budget
        .spend_venue_windows(&other, rate, at, at.plus_seconds(12))
        .await
        .unwrap();
    for later in [0, 4, 9] {
        assert!(
            matches!(
                f.budget.take_venue_request(&other, rate, at.plus_seconds(later)).await,
                Ok(BudgetDecision::Wait { .. })
            ),
            "{later} s after the 429"
        );
    }
    assert_eq!(
        f.budget.take_venue_request(&other, rate, at.plus_seconds(14)).await,
        Ok(BudgetDecision::Granted)
    );
    // A caller leaving 3 of the 15 to others (execute, the intake's share) stops at 12;
    // the others still get the last 3.
    let shared_key = format!("key-{}", ulid::Ulid::new());
    let mut execute = 0;
    for _ in 0..20 {
        if f.budget.take_venue_request_leaving(&shared_key, rate, 3, at).await == Ok(BudgetDecision::Granted) {
            execute += 1;
        }
    }
    assert_eq!(execute, 12);
    let mut intake = 0;
    for _ in 0..5 {
        if f.budget.take_venue_request(&shared_key, rate, at).await == Ok(BudgetDecision::Granted) {
            intake += 1;
        }
    }
    assert_eq!(intake, 3);
}

pub async fn a_deposit_averages_the_cost_of_the_held_and_deposited_lots(f: Fixture) {
    let (trader, _) = funded(&f, 0).await;
    let symbol = shared::domain::Symbol::parse("AAPL").unwrap();
    f.store
        .deposit_position(&trader, &symbol, dec(10), dec(100))
        .await
        .unwrap();
    f.store
        .deposit_position(&trader, &symbol, dec(30), dec(200))
        .await
        .unwrap();
    let p = account(&f, &trader).await.positions[0].clone();
    // (10 × 100 + 30 × 200) / 40: the second lot does not overwrite the first's cost.
    assert_eq!(
        (p.quantity, p.average_cost, p.available()),
        (dec(40), dec(175), dec(40))
    );
    // A sell reserved meanwhile stays reserved across a deposit.
    submit_sell(&f, &trader, "5", "300").await;
    f.store
        .deposit_position(&trader, &symbol, dec(10), dec("100.5"))
        .await
        .unwrap();
    let p = account(&f, &trader).await.positions[0].clone();
    assert_eq!((p.quantity, p.reserved, p.available()), (dec(50), dec(5), dec(45)));
    assert_eq!(p.average_cost, dec("160.1"));
}

pub async fn operator_changes_are_recorded_in_the_account_chain(f: Fixture) {
    let trader = unique_trader();
    let symbol = shared::domain::Symbol::parse("MSFT").unwrap();
    let ops = OperatorAction::new("ops");
    let limits = RiskLimits {
        max_open_orders: 3,
        ..RiskLimits::default()
    };
    f.admin
        .fund(&trader, dec(1000), Some(limits.clone()), &ops)
        .await
        .unwrap();
    f.admin
        .fund(&trader, dec("250.5"), None, &OperatorAction::new("ops"))
        .await
        .unwrap();
    f.admin
        .deposit(&trader, &symbol, dec(4), dec(50), &OperatorAction::new("desk"))
        .await
        .unwrap();
    let records = f.admin.account_records(&trader).await.unwrap();
    let anchor = f.admin.account_anchor(&trader).await.unwrap();
    assert_eq!(verify_account_chain(&trader, anchor.as_ref(), &records), Ok(()));
    let summary: Vec<(u64, &str, &str)> = records
        .iter()
        .map(|r| (r.sequence, r.actor.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "operator:ops", "FUND"),
            (2, "operator:ops", "FUND"),
            (3, "operator:desk", "DEPOSIT_POSITION")
        ]
    );
    assert_eq!(records[0].operation_id, ops.operation_id);
    assert_eq!(records[0].before, None, "a new account");
    assert_eq!(records[0].after.as_ref().unwrap()["cash"], "1000");
    assert_eq!(records[0].after.as_ref().unwrap()["limits"]["max_open_orders"], 3);
    assert_eq!(records[1].before.as_ref().unwrap()["cash"], "1000");
    assert_eq!(records[1].after.as_ref().unwrap()["cash"], "1250.5");
    assert_eq!(records[2].before.as_ref().unwrap()["quantity"], "0");
    assert_eq!(records[2].after.as_ref().unwrap()["quantity"], "4");
    assert_eq!(account(&f, &trader).await.limits, limits);
    // The unattributed setup path is audited too.
    f.store.fund_account(&trader, dec(1), None).await.unwrap();
    let records = f.admin.account_records(&trader).await.unwrap();
    assert_eq!(records[3].actor, "operator:unattributed");
    let anchor = f.admin.account_anchor(&trader).await.unwrap();
    assert_eq!(verify_account_chain(&trader, anchor.as_ref(), &records), Ok(()));
    // Without an account, a deposit is refused and records nothing.
    let nobody = unique_trader();
    assert_eq!(
        f.admin
            .deposit(&nobody, &symbol, dec(1), dec(1), &OperatorAction::new("ops"))
            .await,
        Err(shared::ports::StoreError::NoAccount)
    );
    assert_eq!(f.admin.account_records(&nobody).await.unwrap(), []);
    assert_eq!(f.admin.account_anchor(&nobody).await.unwrap(), None);
}

pub async fn an_operation_id_is_applied_once(f: Fixture) {
    let trader = unique_trader();
    let symbol = shared::domain::Symbol::parse("AAPL").unwrap();
    let fund = OperatorAction::with_id("ops", "fund-1");
    let a = f.admin.fund(&trader, dec(1000), None, &fund).await.unwrap();
    let again = f.admin.fund(&trader, dec(1000), None, &fund).await.unwrap();
    assert_eq!(
        (a.cash, again.cash),
        (dec(1000), dec(1000)),
        "the retry funds nothing more"
    );
    let deposit = OperatorAction::with_id("ops", "deposit-1");
    for _ in 0..2 {
        f.admin
            .deposit(&trader, &symbol, dec(5), dec(10), &deposit)
            .await
            .unwrap();
    }
    assert_eq!(account(&f, &trader).await.positions[0].quantity, dec(5));
    assert_eq!(f.admin.account_records(&trader).await.unwrap().len(), 2);
}

pub async fn a_stored_order_and_its_chain_are_anchored(f: Fixture) {
    let (trader, acct) = funded(&f, 10_000).await;
    let order = submit(&f, &acct, "10", "100.50").await;
    let order = step(&f, &order, OrderEvent::Claim).await;
    let order = step(&f, &order, fill("a1", "4", "99.10")).await;
    let stored = f
        .store
        .get_order(&trader, &order.order_id)
        .await
        .unwrap()
        .expect("stored");
    let records = f.audit.records(&order.order_id).await.unwrap();
    assert_eq!(verify_anchored(&stored, &records), Ok(()));
    // The status changes' records keep what changed (issue 17) and read back with both
    // snapshots, each `before` the `after` of the record before it.
    assert_eq!(records[0].changes, None, "a submit's record keeps the whole order");
    for pair in records.windows(2) {
        let changes = pair[1].changes.as_ref().expect("a status change keeps its changes");
        assert!(changes["set"].get("status").is_some(), "{changes}");
        assert_eq!(pair[1].before, pair[0].after);
        assert!(pair[1].after.is_some());
    }
    // The order as read back at an earlier version is not its chain's anchor.
    let mut older = stored.clone();
    older.version += 1;
    assert!(verify_anchored(&older, &records).is_err());
}

pub async fn the_intake_cursor_moves_only_from_the_version_read(f: Fixture) {
    use shared::ports::FeedPosition;
    let feed = format!("feed-{}", ulid::Ulid::new());
    assert_eq!(f.intake.feed_cursor(&feed).await, Ok(None));
    let first = FeedPosition::Since { at: Timestamp::now() };
    let second = FeedPosition::After {
        execution_id: "20260105150000000::e-1".into(),
        at: Timestamp::now(),
    };
    // Two passes that both read "no cursor": one moves it.
    let racing = join_all((0..6).map(|i| {
        let (intake, feed) = (f.intake.clone(), feed.clone());
        let to = if i % 2 == 0 { first.clone() } else { second.clone() };
        tokio::spawn(async move { intake.advance_feed_cursor(&feed, 0, &to).await })
    }))
    .await;
    let won = racing.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    assert_eq!(won, 1, "{racing:?}");
    assert!(
        racing
            .iter()
            .all(|r| matches!(r, Ok(Ok(()) | Err(StoreError::Conflict)))),
        "the others are refused as conflicts: {racing:?}"
    );
    let stored = f.intake.feed_cursor(&feed).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    f.intake.advance_feed_cursor(&feed, 1, &second).await.unwrap();
    // A pass that read version 1 cannot move it back.
    assert_eq!(
        f.intake.advance_feed_cursor(&feed, 1, &first).await,
        Err(StoreError::Conflict)
    );
    let now = f.intake.feed_cursor(&feed).await.unwrap().unwrap();
    assert_eq!((now.position, now.version), (second, 2));
}

pub async fn order_locators_and_venue_aliases_are_kept(f: Fixture) {
    let (trader, other) = (unique_trader(), unique_trader());
    let order = OrderId::new();
    assert_eq!(f.intake.order_trader(&order).await, Ok(None));
    f.intake.put_order_ref(&order, &trader).await.unwrap();
    f.intake.put_order_ref(&order, &trader).await.unwrap();
    assert_eq!(
        f.intake.put_order_ref(&order, &other).await,
        Err(StoreError::AlreadyExists),
        "an order has one trader"
    );
    assert_eq!(f.intake.order_trader(&order).await, Ok(Some(trader)));
    let venue_id = format!("v-{}", ulid::Ulid::new());
    assert_eq!(f.intake.venue_alias(&venue_id).await, Ok(None));
    f.intake.put_venue_alias(&venue_id, &order).await.unwrap();
    assert_eq!(f.intake.venue_alias(&venue_id).await, Ok(Some(order)));
}

fn limit_sell(account: &Account, qty: &str, price: &str) -> NewOrder {
    let draft = validate_order(
        &json!({"symbol": "AAPL", "side": "sell", "type": "limit", "quantity": qty, "limit_price": price}),
    )
    .expect("valid");
    plan_submit(
        OrderId::new(),
        draft,
        account,
        &Pricing::default(),
        &ctx(&account.trader_id),
        Timestamp::now(),
    )
    .expect("risk ok")
}

/// The submit's transaction checks the deployment's and the trader's trading state as
/// stored, whatever the snapshot it was planned from said.
pub async fn trading_states_guard_the_submit_transaction(f: Fixture) {
    use shared::domain::{Symbol, TradingScope, TradingState};
    let (trader, _) = funded(&f, 100_000).await;
    f.store
        .deposit_position(&trader, &Symbol::parse("AAPL").unwrap(), dec(10), dec(100))
        .await
        .unwrap();
    let a = account(&f, &trader).await;
    let jane = OperatorAction::new("jane");
    let deployment = TradingScope::Deployment;
    let restricted = |scope: &TradingScope, state| StoreError::TradingRestricted {
        scope: scope.clone(),
        state,
    };

    f.controls
        .set_trading_state(&deployment, TradingState::Halted, None, &jane)
        .await
        .unwrap();
    assert_eq!(f.controls.trading_state(&deployment).await, Ok(TradingState::Halted));
    assert_eq!(
        f.store.create_order(limit_buy(&a, "1", "1")).await,
        Err(restricted(&deployment, TradingState::Halted))
    );
    assert_eq!(
        f.store.create_order(limit_sell(&a, "1", "1")).await,
        Err(restricted(&deployment, TradingState::Halted))
    );

    let jane2 = OperatorAction::new("jane");
    f.controls
        .set_trading_state(&deployment, TradingState::Reducing, None, &jane2)
        .await
        .unwrap();
    assert_eq!(
        f.store.create_order(limit_buy(&a, "1", "1")).await,
        Err(restricted(&deployment, TradingState::Reducing))
    );
    f.store.create_order(limit_sell(&a, "4", "1")).await.unwrap();

    // The trader's own state, with the deployment active again.
    f.controls
        .set_trading_state(&deployment, TradingState::Active, None, &OperatorAction::new("jane"))
        .await
        .unwrap();
    let planned_before = account(&f, &trader).await;
    let own = TradingScope::Trader(trader.clone());
    f.controls
        .set_trading_state(
            &own,
            TradingState::Halted,
            Some("margin call"),
            &OperatorAction::new("jane"),
        )
        .await
        .unwrap();
    assert_eq!(f.controls.trading_state(&own).await, Ok(TradingState::Halted));
    assert_eq!(
        f.store.create_order(limit_sell(&planned_before, "1", "1")).await,
        Err(restricted(&own, TradingState::Halted))
    );
    f.controls
        .set_trading_state(&own, TradingState::Reducing, None, &OperatorAction::new("jane"))
        .await
        .unwrap();
    assert_eq!(
        f.store.create_order(limit_buy(&planned_before, "1", "1")).await,
        Err(restricted(&own, TradingState::Reducing))
    );
    f.store
        .create_order(limit_sell(&planned_before, "1", "1"))
        .await
        .unwrap();
    let after = account(&f, &trader).await;
    assert_eq!(
        (after.reserved, after.open_orders, after.trading_state),
        (dec(0), 2, TradingState::Reducing)
    );

    // A trader without an account has no state to set.
    let nobody = TradingScope::Trader(unique_trader());
    assert_eq!(
        f.controls
            .set_trading_state(&nobody, TradingState::Halted, None, &OperatorAction::new("jane"))
            .await,
        Err(StoreError::NoAccount)
    );
}

pub async fn trading_state_changes_are_recorded_once_per_operation(f: Fixture) {
    use shared::domain::{SET_TRADING_STATE, TradingScope, TradingState};
    let (trader, _) = funded(&f, 1_000).await;
    let scope = TradingScope::Trader(trader.clone());
    let op = OperatorAction::with_id("jane", format!("op-{}", ulid::Ulid::new()));
    let first = f
        .controls
        .set_trading_state(&scope, TradingState::Halted, Some("r"), &op)
        .await
        .unwrap();
    let again = f
        .controls
        .set_trading_state(&scope, TradingState::Halted, Some("r"), &op)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        (first.before, first.after),
        (TradingState::Active, TradingState::Halted)
    );
    let records = f.admin.account_records(&trader).await.unwrap();
    let recorded: Vec<_> = records.iter().filter(|r| r.action == SET_TRADING_STATE).collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].actor.as_str(), recorded[0].sequence),
        ("operator:jane", first.sequence)
    );
    let anchor = f.admin.account_anchor(&trader).await.unwrap();
    assert_eq!(verify_account_chain(&trader, anchor.as_ref(), &records), Ok(()));

    // The deployment's changes: its principal's chain, anchored on its item.
    for state in [TradingState::Halted, TradingState::Active] {
        f.controls
            .set_trading_state(&TradingScope::Deployment, state, None, &OperatorAction::new("jane"))
            .await
            .unwrap();
    }
    let chain = f.admin.account_records(&f.deployment).await.unwrap();
    let anchor = f.admin.account_anchor(&f.deployment).await.unwrap();
    assert!(chain.len() >= 2);
    assert_eq!(verify_account_chain(&f.deployment, anchor.as_ref(), &chain), Ok(()));
    // Its item reads as an account with nothing in it.
    let principal = f.store.get_account(&f.deployment).await.unwrap().unwrap();
    assert_eq!((principal.cash, principal.limits.max_open_orders), (dec(0), 0));
}
