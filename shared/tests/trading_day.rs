//! The daily loss limit restarts with the exchange's trading day (America/New_York,
//! DST-aware), not at UTC midnight (issue 15 finding 7).

use rust_decimal::Decimal;
use serde_json::json;
use time::macros::date;

use shared::app::{AuditContext, plan_submit};
use shared::domain::{Account, OrderError, OrderId, Pricing, Timestamp, TraderId, validate_order};

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse(rfc3339).unwrap()
}

/// An account that lost its whole daily limit ($5,000) on 2026-11-24 (New York).
fn spent_on_the_24th() -> Account {
    let mut a = Account::new(TraderId::parse("alice").unwrap(), Decimal::from(100_000));
    a.pnl_day = Some(date!(2026 - 11 - 24));
    a.realized_pnl = Decimal::from(-5_000);
    a
}

fn submit_at(now: Timestamp) -> Result<(), OrderError> {
    let draft = validate_order(&json!({
        "symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "10"
    }))
    .unwrap();
    let ctx = AuditContext::system("t");
    plan_submit(
        OrderId::new(),
        draft,
        &spent_on_the_24th(),
        &Pricing::default(),
        &ctx,
        now,
    )
    .map(|_| ())
}

#[test]
fn after_utc_midnight_it_is_still_the_new_york_day_of_the_losses() {
    // 01:00 UTC on the 25th is 20:00 EST on the 24th: the limit still holds.
    assert!(matches!(
        submit_at(at("2026-11-25T01:00:00Z")),
        Err(OrderError::DailyLossLimit { .. })
    ));
    assert!(matches!(
        submit_at(at("2026-11-25T04:59:59.999Z")),
        Err(OrderError::DailyLossLimit { .. })
    ));
    // Midnight in New York (05:00 UTC in winter) starts a new day.
    assert_eq!(submit_at(at("2026-11-25T05:00:00Z")), Ok(()));
}

#[test]
fn the_day_follows_daylight_saving_time() {
    // Summer (EDT, UTC-4): midnight in New York is 04:00 UTC.
    assert_eq!(at("2026-07-15T03:59:59Z").trading_day(), date!(2026 - 07 - 14));
    assert_eq!(at("2026-07-15T04:00:00Z").trading_day(), date!(2026 - 07 - 15));
    // Winter (EST, UTC-5): 05:00 UTC.
    assert_eq!(at("2026-01-15T04:59:59Z").trading_day(), date!(2026 - 01 - 14));
    assert_eq!(at("2026-01-15T05:00:00Z").trading_day(), date!(2026 - 01 - 15));
    // Spring forward on Sunday 2026-03-08 at 02:00 EST: that day starts at 05:00 UTC
    // (still EST) and the next at 04:00 UTC (EDT).
    assert_eq!(at("2026-03-08T04:59:59Z").trading_day(), date!(2026 - 03 - 07));
    assert_eq!(at("2026-03-08T05:00:00Z").trading_day(), date!(2026 - 03 - 08));
    assert_eq!(at("2026-03-08T07:30:00Z").trading_day(), date!(2026 - 03 - 08));
    assert_eq!(at("2026-03-09T03:59:59Z").trading_day(), date!(2026 - 03 - 08));
    assert_eq!(at("2026-03-09T04:00:00Z").trading_day(), date!(2026 - 03 - 09));
    // Fall back on Sunday 2026-11-01 at 02:00 EDT: that day starts at 04:00 UTC (EDT)
    // and the next at 05:00 UTC (EST).
    assert_eq!(at("2026-11-01T03:59:59Z").trading_day(), date!(2026 - 10 - 31));
    assert_eq!(at("2026-11-01T04:00:00Z").trading_day(), date!(2026 - 11 - 01));
    assert_eq!(at("2026-11-01T06:30:00Z").trading_day(), date!(2026 - 11 - 01));
    assert_eq!(at("2026-11-02T04:59:59Z").trading_day(), date!(2026 - 11 - 01));
    assert_eq!(at("2026-11-02T05:00:00Z").trading_day(), date!(2026 - 11 - 02));
    // `date()` is the same day (callers that predate the name).
    assert_eq!(at("2026-11-02T04:59:59Z").date(), date!(2026 - 11 - 01));
}
