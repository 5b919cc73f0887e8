//! Closing a position (issue 20, Alpaca's `DELETE /v2/positions/{symbol}`): a market
//! sell of all the position, or of `qty` shares, or of `percentage` of it (rounded
//! down to the venue's share precision), made on the normal submit path: rate limit,
//! idempotency key, validation, risk, controls and the position's reservation.
//!
//! The key's request identity is the close request itself (symbol, qty, percentage),
//! not the order body made from the position: a retry after a lost answer replays the
//! first outcome even when the position has been sold since.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::error::AppError;
use super::submit::{RateQuota, SubmitDeps, SubmitOutcome, SubmitReplies, SubmitRequest, submit_keyed_by};
use crate::domain::money::QUANTITY_SCALE;
use crate::domain::{FieldError, OrderError, Symbol, TraderId};

pub struct CloseRequest<'a> {
    pub trader: TraderId,
    pub symbol: &'a str,
    pub qty: Option<&'a str>,
    pub percentage: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub request_id: Option<String>,
}

/// How much of the position to sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Amount {
    All,
    Qty(Decimal),
    Percentage(Decimal),
}

fn bad(field: &str, message: String) -> AppError {
    AppError::InvalidParameter(FieldError::new(field, message))
}

fn amount(qty: Option<&str>, percentage: Option<&str>) -> Result<Amount, AppError> {
    let given = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
    match (given(qty), given(percentage)) {
        (Some(_), Some(_)) => Err(bad(
            "qty",
            "Give qty or percentage, not both: qty sells that many shares, percentage that share of the position"
                .into(),
        )),
        (Some(q), None) => q
            .parse::<Decimal>()
            .ok()
            .filter(|d| *d > Decimal::ZERO)
            .map(Amount::Qty)
            .ok_or_else(|| {
                bad(
                    "qty",
                    format!("Qty must be a number of shares greater than 0, e.g. 5 or 2.5; got '{q}'"),
                )
            }),
        (None, Some(p)) => p
            .parse::<Decimal>()
            .ok()
            .filter(|d| *d > Decimal::ZERO && *d <= Decimal::ONE_HUNDRED)
            .map(Amount::Percentage)
            .ok_or_else(|| {
                bad(
                    "percentage",
                    format!("Percentage must be a number greater than 0 and at most 100; got '{p}'"),
                )
            }),
        (None, None) => Ok(Amount::All),
    }
}

/// The shares to sell of `held`: a percentage rounds down to the venue's precision.
fn shares(amount: Amount, held: Decimal) -> Decimal {
    match amount {
        Amount::All => held,
        Amount::Qty(q) => q,
        Amount::Percentage(p) => (held * p / Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(QUANTITY_SCALE, rust_decimal::RoundingStrategy::ToZero),
    }
}

pub async fn close_position(
    deps: &SubmitDeps<'_>,
    replies: &dyn SubmitReplies,
    req: CloseRequest<'_>,
    quota: &mut Option<RateQuota>,
) -> Result<SubmitOutcome, AppError> {
    let not_held = || AppError::PositionNotFound(req.symbol.to_owned());
    let symbol = Symbol::parse(req.symbol).map_err(|_| not_held())?;
    let amount = amount(req.qty, req.percentage)?;
    let request = json!({"close_position": symbol.as_str(), "qty": req.qty, "percentage": req.percentage});
    let key = super::submit::idempotency_key(req.idempotency_key)?;
    let now = deps.clock.now();
    let replaying = match &key {
        Some(k) => deps.store.idempotency(&req.trader, k, now).await?.is_some(),
        None => false,
    };
    let body: Value = if replaying {
        // Answered from the key's record; the body is not looked at.
        request.clone()
    } else {
        let account = deps
            .store
            .get_account(&req.trader)
            .await?
            .ok_or(AppError::Order(OrderError::NoAccount))?;
        let held = account
            .position(&symbol)
            .map(|p| p.quantity)
            .filter(|q| *q > Decimal::ZERO)
            .ok_or_else(not_held)?;
        let quantity = shares(amount, held);
        json!({"symbol": symbol.as_str(), "side": "sell", "type": "market", "quantity": quantity.normalize().to_string(),
            "time_in_force": "day"})
    };
    let raw = body.to_string();
    let order = SubmitRequest {
        trader: req.trader.clone(),
        body: raw.as_bytes(),
        idempotency_key: req.idempotency_key,
        request_id: req.request_id.clone(),
        // A close names no price: two closes a moment apart are the trader's intent.
        confirm_duplicate: Some("true"),
    };
    submit_keyed_by(deps, replies, order, Some(&request), quota).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amount_is_all_a_quantity_or_a_percentage_each_checked() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(amount(None, Some("")), Ok(Amount::All));
        assert_eq!(amount(Some("2.5"), None), Ok(Amount::Qty(d("2.5"))));
        assert_eq!(amount(None, Some("50")), Ok(Amount::Percentage(d("50"))));
        let field = |r: Result<Amount, AppError>| match r {
            Err(AppError::InvalidParameter(f)) => (f.field, f.message),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(amount(Some("1"), Some("5"))).1,
            "Give qty or percentage, not both: qty sells that many shares, percentage that share of the position"
        );
        assert_eq!(
            field(amount(Some("-1"), None)),
            (
                "qty".into(),
                "Qty must be a number of shares greater than 0, e.g. 5 or 2.5; got '-1'".into()
            )
        );
        for p in ["0", "100.01", "half"] {
            assert_eq!(
                field(amount(None, Some(p))),
                (
                    "percentage".into(),
                    format!("Percentage must be a number greater than 0 and at most 100; got '{p}'")
                )
            );
        }
    }

    #[test]
    fn a_percentage_rounds_down_to_the_venue_precision() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(shares(Amount::Percentage(d("50")), d("3")), d("1.5"));
        assert_eq!(shares(Amount::Percentage(d("33.333333")), d("1")), d("0.333333"));
        assert_eq!(shares(Amount::Percentage(d("100")), d("7")), d("7"));
        assert_eq!(shares(Amount::All, d("7")), d("7"));
    }
}
