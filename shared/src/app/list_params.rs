//! The order list's query parameters (issue 20): Alpaca's `GET /v2/orders` filters
//! (`after`, `until`, `symbols`, `side`, `direction`) beside our `status`, `limit` and
//! `cursor`, parsed into the store's `OrderFilter`; each bad value is refused with its
//! own message naming the parameter.

use super::error::AppError;
use super::query::{DEFAULT_PAGE, MAX_PAGE, decode_cursor};
use crate::domain::{FieldError, OrderId, OrderStatus, Side, Symbol, Timestamp};
use crate::ports::OrderFilter;

fn bad(field: &str, message: String) -> AppError {
    AppError::InvalidParameter(FieldError::new(field, message))
}

/// The order list's query parameters as the request gave them (absent or empty: not
/// given). Names and meanings are Alpaca's `GET /v2/orders` where it has them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListParams<'a> {
    pub status: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub cursor: Option<&'a str>,
    pub after: Option<&'a str>,
    pub until: Option<&'a str>,
    pub symbols: Option<&'a str>,
    pub side: Option<&'a str>,
    pub direction: Option<&'a str>,
}

/// Most symbols one list request may name.
pub const MAX_SYMBOLS: usize = 100;

pub(super) fn given(raw: Option<&str>) -> Option<&str> {
    raw.filter(|v| !v.is_empty())
}

fn time_param(field: &str, label: &str, raw: Option<&str>) -> Result<Option<Timestamp>, AppError> {
    given(raw)
        .map(|t| {
            Timestamp::parse(t).map_err(|_| {
                bad(
                    field,
                    format!("{label} must be an RFC 3339 time such as 2026-01-02T15:04:05Z; got '{t}'"),
                )
            })
        })
        .transpose()
}

fn symbols_param(raw: Option<&str>) -> Result<Vec<Symbol>, AppError> {
    let Some(raw) = given(raw) else {
        return Ok(Vec::new());
    };
    // No spaces: the document's pattern has none, and what it calls invalid is refused.
    let names: Vec<&str> = raw.split(',').collect();
    if names.len() > MAX_SYMBOLS {
        return Err(bad(
            "symbols",
            format!("Symbols may name at most {MAX_SYMBOLS} symbols; got {}", names.len()),
        ));
    }
    names
        .into_iter()
        .map(|name| {
            Symbol::parse(name).map_err(|e| {
                bad(
                    "symbols",
                    format!("Symbols must be a comma-separated list such as AAPL,MSFT; '{name}' is not a symbol: {e}"),
                )
            })
        })
        .collect()
}

/// Parses and checks the list's parameters: the first invalid one is refused with its
/// own message.
pub fn order_filter(p: &ListParams<'_>) -> Result<(OrderFilter, u32, Option<OrderId>), AppError> {
    let status = given(p.status)
        .map(|s| {
            s.to_ascii_uppercase().parse::<OrderStatus>().map_err(|_| {
                let names: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
                bad("status", format!("Status must be one of: {}", names.join(", ")))
            })
        })
        .transpose()?;
    let limit = match given(p.limit) {
        None => DEFAULT_PAGE,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad("limit", format!("Limit must be a whole number from 1 to {MAX_PAGE}")))?,
    };
    let cursor = given(p.cursor).map(decode_cursor).transpose()?;
    let after = time_param("after", "After", p.after)?;
    let until = time_param("until", "Until", p.until)?;
    if let (Some(a), Some(u)) = (after, until) {
        if u <= a {
            return Err(bad(
                "until",
                format!("Until ({u}) must be later than after ({a}); both are exclusive"),
            ));
        }
    }
    let symbols = symbols_param(p.symbols)?;
    let side = given(p.side)
        .map(|s| Side::from_wire(s).ok_or_else(|| bad("side", format!("Side must be one of: buy, sell; got '{s}'"))))
        .transpose()?;
    let ascending = match given(p.direction) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(d) => {
            return Err(bad(
                "direction",
                format!("Direction must be one of: asc, desc; got '{d}'"),
            ));
        }
    };
    let filter = OrderFilter {
        status,
        after,
        until,
        symbols,
        side,
        ascending,
    };
    Ok((filter, limit, cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: ListParams<'_>) -> FieldError {
        match order_filter(&p) {
            Err(AppError::InvalidParameter(f)) => f,
            other => panic!("{p:?}: {other:?}"),
        }
    }

    #[test]
    fn every_bad_list_parameter_is_refused_with_its_own_message() {
        let cases = [
            (
                ListParams {
                    after: Some("yesterday"),
                    ..Default::default()
                },
                "after",
                "After must be an RFC 3339 time such as 2026-01-02T15:04:05Z; got 'yesterday'",
            ),
            (
                ListParams {
                    until: Some("2026-13-01T00:00:00Z"),
                    ..Default::default()
                },
                "until",
                "Until must be an RFC 3339 time such as 2026-01-02T15:04:05Z; got '2026-13-01T00:00:00Z'",
            ),
            (
                ListParams {
                    after: Some("2026-01-02T00:00:00Z"),
                    until: Some("2026-01-02T00:00:00Z"),
                    ..Default::default()
                },
                "until",
                "Until (2026-01-02T00:00:00Z) must be later than after (2026-01-02T00:00:00Z); both are exclusive",
            ),
            (
                ListParams {
                    symbols: Some("AAPL,,MSFT"),
                    ..Default::default()
                },
                "symbols",
                "Symbols must be a comma-separated list such as AAPL,MSFT; '' is not a symbol: Symbol must be 1 to 10 characters: upper-case letters and digits, with '.' or '/' inside, starting with a letter",
            ),
            (
                ListParams {
                    side: Some("short"),
                    ..Default::default()
                },
                "side",
                "Side must be one of: buy, sell; got 'short'",
            ),
            (
                ListParams {
                    direction: Some("up"),
                    ..Default::default()
                },
                "direction",
                "Direction must be one of: asc, desc; got 'up'",
            ),
        ];
        for (params, field, message) in cases {
            let f = refused(params);
            assert_eq!((f.field.as_str(), f.message.as_str()), (field, message));
        }
        let many = vec!["A"; MAX_SYMBOLS + 1].join(",");
        let f = refused(ListParams {
            symbols: Some(&many),
            ..Default::default()
        });
        assert_eq!(f.message, "Symbols may name at most 100 symbols; got 101");
    }

    #[test]
    fn good_list_parameters_make_the_filter() {
        let (filter, limit, cursor) = order_filter(&ListParams {
            status: Some("pending"),
            limit: Some("7"),
            after: Some("2026-01-02T00:00:00Z"),
            until: Some("2026-01-03T00:00:00+01:00"),
            symbols: Some("AAPL,MSFT"),
            side: Some("sell"),
            direction: Some("asc"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((limit, cursor), (7, None));
        assert_eq!(
            filter,
            OrderFilter {
                status: Some(OrderStatus::Pending),
                after: Some(Timestamp::parse("2026-01-02T00:00:00Z").unwrap()),
                until: Some(Timestamp::parse("2026-01-02T23:00:00Z").unwrap()),
                symbols: vec![Symbol::parse("AAPL").unwrap(), Symbol::parse("MSFT").unwrap()],
                side: Some(Side::Sell),
                ascending: true,
            }
        );
        let (defaults, limit, _) = order_filter(&ListParams::default()).unwrap();
        assert_eq!((defaults, limit), (OrderFilter::default(), DEFAULT_PAGE));
    }
}
