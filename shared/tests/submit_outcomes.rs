//! The submit use case for a caller that is not HTTP (an operator tool, a WebSocket):
//! it renders replies its own way and gets the domain's outcomes and errors; no
//! status code comes from the use case (issue 21 item 1).

use rust_decimal::Decimal;

use shared::adapters::memory::{FixedClock, MemoryStore};
use shared::app::{AppError, StoredReply, SubmitDeps, SubmitOutcome, SubmitReplies, SubmitRequest, submit};
use shared::domain::{Order, OrderError, OrderId, OrderStatus, Pricing, RiskLimits, Timestamp, TraderId};
use shared::ports::{AuditLog, OrderStore};

const LIMIT_BUY: &str =
    r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10", "limit_price": "150.25"}"#;

/// A caller that is not HTTP (an operator tool, a WebSocket) renders replies its own
/// way and gets the domain's outcomes and errors: no status code comes from the use case.
struct PlainReplies;

impl SubmitReplies for PlainReplies {
    fn accepted(&self, order: &Order) -> Result<StoredReply, AppError> {
        Ok(StoredReply {
            status: 0,
            body: format!("accepted {}", order.order_id),
        })
    }

    fn refused(&self, error: &OrderError, audit_id: OrderId) -> StoredReply {
        StoredReply {
            status: 1,
            body: format!("refused {audit_id}: {error}"),
        }
    }
}

#[tokio::test]
async fn the_use_case_answers_domain_outcomes_to_a_caller_that_is_not_http() {
    let limits = RiskLimits {
        orders_per_minute: 4,
        ..RiskLimits::default()
    };
    let store = MemoryStore::new();
    let olga = TraderId::parse("olga").unwrap();
    store
        .fund_account(&olga, Decimal::from(1_500), Some(limits))
        .await
        .unwrap();
    // 10 s into its minute, so the rate window's wait is predictable.
    let clock = FixedClock::new(Timestamp::from_unix_millis(1_789_999_990_000).unwrap());
    let pricing = Pricing::default();
    let deps = SubmitDeps {
        store: &store,
        clock: &clock,
        pricing: &pricing,
        market_data: None,
        queue: None,
    };
    let orders = || async { store.list_orders(&olga, None, 1000, None).await.unwrap().orders };
    let req = |body: &'static str, key: Option<&'static str>| SubmitRequest {
        trader: TraderId::parse("olga").unwrap(),
        body: body.as_bytes(),
        idempotency_key: key,
        request_id: None,
        confirm_duplicate: None,
    };
    let small = r#"{"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "100"}"#;

    let accepted = submit(&deps, &PlainReplies, req(small, Some("k1"))).await.unwrap();
    let SubmitOutcome::Accepted { order, reply } = &accepted else {
        panic!("{accepted:?}")
    };
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(reply.body, format!("accepted {}", order.order_id));
    assert_eq!(orders().await, vec![(**order).clone()]);

    // The same key and body: the reply this caller rendered, as stored.
    let again = submit(&deps, &PlainReplies, req(small, Some("k1"))).await.unwrap();
    assert_eq!(again, SubmitOutcome::Replayed(reply.clone()));

    // $1,502.50 against $1,400 of buying power left: refused, with the record's id.
    let refused = submit(&deps, &PlainReplies, req(LIMIT_BUY, None)).await.unwrap();
    let SubmitOutcome::Refused { error, audit_id, reply } = &refused else {
        panic!("{refused:?}")
    };
    assert!(matches!(error, OrderError::InsufficientFunds { .. }), "{error:?}");
    assert_eq!(reply.body, format!("refused {audit_id}: {error}"));
    let records = store.records(audit_id).await.unwrap();
    assert_eq!(records.len(), 1);

    // The key again with another body: an error naming the key, nothing stored.
    let reused = submit(&deps, &PlainReplies, req(LIMIT_BUY, Some("k1"))).await;
    assert_eq!(reused, Err(AppError::IdempotencyKeyReused("k1".into())));

    // The rate limit is an error, not an outcome: it carries the wait, no status.
    let limited = submit(&deps, &PlainReplies, req(small, None)).await;
    assert_eq!(
        limited,
        Err(AppError::Order(OrderError::RateLimited {
            limit: 4,
            retry_after_secs: 50
        }))
    );
    assert_eq!(orders().await.len(), 1);
}
