//! The operator's audit verification of a trader's orders (issue 22) over the in-memory
//! store: intact chains pass, a record changed in place is named with its order, a
//! trader without an account is not found, a bad cursor is a field error, and the
//! orders are checked a page at a time.

use rust_decimal::Decimal;

use shared::adapters::memory::{FixedClock, MemoryStore};
use shared::app::audit_check::{AUDIT_CHECK_PAGE, check_trader_audit};
use shared::app::{AppError, SubmitDeps, SubmitRequest};
use shared::domain::{Pricing, RiskLimits, Timestamp, TraderId};
use shared::http::submit::submit;
use shared::ports::{AuditLog, OrderStore};

fn t(id: &str) -> TraderId {
    TraderId::parse(id).unwrap()
}

async fn world(orders: usize) -> MemoryStore {
    let store = MemoryStore::new();
    let limits = RiskLimits {
        orders_per_minute: 100_000,
        max_open_orders: 1_000,
        ..RiskLimits::default()
    };
    store
        .fund_account(&t("alice"), Decimal::from(1_000_000), Some(limits))
        .await
        .unwrap();
    let clock = FixedClock::new(Timestamp::from_unix_millis(1_789_999_990_000).unwrap());
    let pricing = Pricing::default();
    let deps = SubmitDeps {
        store: &store,
        clock: &clock,
        pricing: &pricing,
        queue: None,
    };
    for _ in 0..orders {
        let body = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "100"}"#;
        let req = SubmitRequest {
            trader: t("alice"),
            body: body.as_bytes(),
            idempotency_key: None,
            request_id: None,
        };
        let reply = submit(&deps, req).await.unwrap();
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    store
}

#[tokio::test]
async fn intact_chains_pass_and_a_record_changed_in_place_is_named() {
    let store = world(3).await;
    let check = check_trader_audit(&store, &store, &t("alice"), None).await.unwrap();
    assert_eq!((check.orders_checked, check.broken.len()), (3, 0), "{check:?}");
    assert_eq!(check.next_cursor, None);

    let page = store.list_orders(&t("alice"), None, 10, None).await.unwrap();
    let victim = page.orders[1].order_id;
    let mut record = store.records(&victim).await.unwrap().remove(0);
    record.reason = Some("rewritten".into());
    store.tamper_audit(record);
    let check = check_trader_audit(&store, &store, &t("alice"), None).await.unwrap();
    assert_eq!(check.orders_checked, 3);
    assert_eq!(check.broken.len(), 1, "{check:?}");
    assert_eq!(check.broken[0].order_id, victim);
    assert!(
        check.broken[0].finding.contains("altered"),
        "{}",
        check.broken[0].finding
    );
}

#[tokio::test]
async fn pages_follow_the_cursor_and_bad_input_is_refused_by_name() {
    let n = AUDIT_CHECK_PAGE as usize + 2;
    let store = world(n).await;
    let first = check_trader_audit(&store, &store, &t("alice"), None).await.unwrap();
    assert_eq!(first.orders_checked, AUDIT_CHECK_PAGE as usize);
    let cursor = first.next_cursor.expect("a second page").to_string();
    let second = check_trader_audit(&store, &store, &t("alice"), Some(&cursor))
        .await
        .unwrap();
    assert_eq!((second.orders_checked, second.next_cursor), (2, None));

    let err = check_trader_audit(&store, &store, &t("nobody"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::TraderNotFound(ref who) if who == "nobody"),
        "{err:?}"
    );
    let err = check_trader_audit(&store, &store, &t("alice"), Some("yesterday"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::InvalidParameter(ref f) if f.field == "cursor"),
        "{err:?}"
    );
}
