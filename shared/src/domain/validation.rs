// Long because: every field rule of SPEC §4.1 in one pass over the body; nearly half is its per-field tests.
//! Syntax validation of a submit body (SPEC §4.1). Works on the parsed JSON value so
//! that every problem is reported per field, all at once, instead of stopping at the
//! first serde error. Decimals are accepted as strings or numbers.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::error::{FieldError, OrderError};
use super::ids::{ClientOrderId, Symbol};
use super::money::{AmountError, Price, Quantity};
use super::order::{OrderType, Side, TimeInForce};

/// A syntactically valid order request, not yet checked against the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderDraft {
    pub symbol: Symbol,
    pub side: Side,
    pub order_type: OrderType,
    pub quantity: Quantity,
    pub limit_price: Option<Price>,
    pub stop_price: Option<Price>,
    pub time_in_force: TimeInForce,
    pub client_order_id: Option<ClientOrderId>,
}

impl OrderDraft {
    /// What makes two orders the same for duplicate detection: symbol, side, type,
    /// quantity, limit and stop price, time in force (numbers normalized, so `10` and
    /// `10.00` are one); the client order id is left out.
    pub fn duplicate_fingerprint(&self) -> String {
        // Built by hand: it is made for every unkeyed submit of an account that checks
        // for duplicates, and `format!` with `Decimal`'s `Display` cost several times more.
        let mut out = String::with_capacity(64);
        for part in [
            self.symbol.as_str(),
            self.side.as_str(),
            self.order_type.as_str(),
            self.time_in_force.as_str(),
        ] {
            out.push_str(part);
            out.push('|');
        }
        push_normalized(&mut out, self.quantity.get());
        for price in [self.limit_price, self.stop_price] {
            out.push('|');
            match price {
                Some(p) => push_normalized(&mut out, p.get()),
                None => out.push('-'),
            }
        }
        out
    }
}

/// Appends `d` without trailing zeros, as `d.normalize().to_string()` writes it.
fn push_normalized(out: &mut String, d: Decimal) {
    let d = d.normalize();
    if d.is_sign_negative() && !d.is_zero() {
        out.push('-');
    }
    // The mantissa's digits, least significant first (at most 29 of them).
    let mut digits = [0u8; 40];
    let mut n = d.mantissa().unsigned_abs();
    let mut len = 0;
    // u64 arithmetic while the rest fits (every real price and quantity): 128-bit
    // division is a library call.
    while n > u128::from(u64::MAX) {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
    }
    let mut n = n as u64;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let scale = d.scale() as usize;
    let whole = len.saturating_sub(scale);
    if whole == 0 {
        out.push('0');
    }
    for &c in digits[scale.min(len)..len].iter().rev() {
        out.push(char::from(c));
    }
    if scale > 0 {
        out.push('.');
        for _ in len..scale {
            out.push('0');
        }
        for &c in digits[..scale.min(len)].iter().rev() {
            out.push(char::from(c));
        }
    }
}

const FIELDS: [(&str, &str); 8] = [
    ("symbol", "Symbol"),
    ("side", "Side"),
    ("type", "Type"),
    ("quantity", "Quantity"),
    ("limit_price", "Limit price"),
    ("stop_price", "Stop price"),
    ("time_in_force", "Time in force"),
    ("client_order_id", "Client order id"),
];

fn label(field: &str) -> &'static str {
    FIELDS.iter().find(|(f, _)| *f == field).map_or("Field", |(_, l)| l)
}

struct Fields<'a> {
    body: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn fail(&mut self, field: &str, message: String) {
        self.errors.push(FieldError::new(field, message));
    }

    /// A field the body may not carry, named by its key; a key that is empty names
    /// nothing a client can find, so the body is named and the message says why.
    fn unknown(&mut self, key: &str, allowed: &str) {
        if key.is_empty() {
            self.fail("body", format!("A field has an empty name; {allowed}"));
        } else {
            self.fail(key, format!("Unknown field; {allowed}"));
        }
    }

    /// The field's value, treating JSON `null` as absent.
    fn get(&self, field: &str) -> Option<&'a Value> {
        self.body.get(field).filter(|v| !v.is_null())
    }

    fn string(&mut self, field: &str, required: bool) -> Option<&'a str> {
        match self.get(field) {
            None if required => {
                self.fail(field, format!("{} is required", label(field)));
                None
            }
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.fail(field, format!("{} must be a string", label(field)));
                None
            }
        }
    }

    fn choice<T>(&mut self, field: &str, names: &[&str], parse: fn(&str) -> Option<T>) -> Option<T> {
        let raw = self.string(field, true)?;
        let parsed = parse(raw);
        if parsed.is_none() {
            self.fail(field, format!("{} must be one of: {}", label(field), names.join(", ")));
        }
        parsed
    }

    fn decimal(&mut self, field: &str) -> Option<Decimal> {
        let value = self.get(field)?;
        let parsed = match value {
            // `from_str_exact` also takes digit separators ("1_000"): a decimal string is
            // only digits, one point and a sign.
            Value::String(s) if s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+')) => {
                Decimal::from_str_exact(s).ok()
            }
            Value::String(_) => None,
            // serde_json prints an f64 in its shortest round-trip form, which is the
            // number as the client wrote it for anything within f64's 15 digits.
            Value::Number(n) => {
                let text = n.to_string();
                if text.contains(['e', 'E']) {
                    Decimal::from_scientific(&text).ok()
                } else {
                    Decimal::from_str(&text).ok()
                }
            }
            _ => None,
        };
        if parsed.is_none() {
            self.fail(
                field,
                format!(
                    "{} must be a decimal number, as a string such as \"10.5\" or a JSON number",
                    label(field)
                ),
            );
        }
        parsed
    }

    fn amount<T>(&mut self, field: &str, parse: fn(Decimal) -> Result<T, AmountError>) -> Option<T> {
        let value = self.decimal(field)?;
        match parse(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let l = label(field);
                let message = match e {
                    AmountError::NotPositive => format!("{l} must be greater than 0"),
                    AmountError::TooManyDecimals(n) => format!("{l} must have at most {n} decimal places"),
                    AmountError::TooLarge(max) => format!("{l} must be at most {}", group_thousands(max)),
                };
                self.fail(field, message);
                None
            }
        }
    }
}

fn group_thousands(d: Decimal) -> String {
    let digits = d.trunc().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Validates a submit body; on failure every invalid field is reported.
pub fn validate_order(body: &Value) -> Result<OrderDraft, OrderError> {
    let Some(map) = body.as_object() else {
        return Err(OrderError::Validation(vec![FieldError::new(
            "body",
            "The request body must be a JSON object",
        )]));
    };
    let mut f = Fields {
        body: map,
        errors: Vec::new(),
    };

    for key in map.keys() {
        if !FIELDS.iter().any(|(name, _)| name == key) {
            let allowed: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
            f.unknown(key, &format!("allowed fields are: {}", allowed.join(", ")));
        }
    }

    let symbol = f.string("symbol", true).and_then(|raw| match Symbol::parse(raw) {
        Ok(s) => Some(s),
        Err(e) => {
            f.fail("symbol", e.to_string());
            None
        }
    });
    let side = f.choice("side", Side::NAMES, Side::from_wire);
    let order_type = f.choice("type", OrderType::NAMES, OrderType::from_wire);
    let quantity = match f.get("quantity") {
        None => {
            f.fail("quantity", "Quantity is required".into());
            None
        }
        Some(_) => f.amount("quantity", Quantity::parse),
    };
    let limit_price = f.amount("limit_price", Price::parse);
    let stop_price = f.amount("stop_price", Price::parse);
    let time_in_force = match f.get("time_in_force") {
        None => Some(TimeInForce::Day),
        Some(_) => f.choice("time_in_force", TimeInForce::NAMES, TimeInForce::from_wire),
    };
    let client_order_id = f
        .string("client_order_id", false)
        .and_then(|raw| match ClientOrderId::parse(raw) {
            Ok(id) => Some(id),
            Err(e) => {
                f.fail("client_order_id", e.to_string());
                None
            }
        });

    if let Some(t) = order_type {
        let present = |field: &str| f.get(field).is_some();
        let (has_limit, has_stop) = (present("limit_price"), present("stop_price"));
        if t.needs_limit_price() && !has_limit {
            f.fail(
                "limit_price",
                "Limit price is required for limit and stop_limit orders".into(),
            );
        }
        if !t.needs_limit_price() && has_limit {
            f.fail(
                "limit_price",
                "Limit price must be null for market and stop orders".into(),
            );
        }
        if t.needs_stop_price() && !has_stop {
            f.fail(
                "stop_price",
                "Stop price is required for stop and stop_limit orders".into(),
            );
        }
        if !t.needs_stop_price() && has_stop {
            f.fail(
                "stop_price",
                "Stop price must be null for market and limit orders".into(),
            );
        }
    }

    venue_rules(&mut f, order_type, time_in_force, quantity, limit_price, stop_price);

    match (symbol, side, order_type, quantity, time_in_force) {
        (Some(symbol), Some(side), Some(order_type), Some(quantity), Some(time_in_force)) if f.errors.is_empty() => {
            Ok(OrderDraft {
                symbol,
                side,
                order_type,
                quantity,
                limit_price,
                stop_price,
                time_in_force,
                client_order_id,
            })
        }
        _ => Err(OrderError::Validation(f.errors)),
    }
}

/// Prices of $1.00 or more trade in whole cents (SEC Rule 612 forbids sub-penny
/// quotes at or above $1); under $1 the venue takes 4 decimal places.
pub const SUB_PENNY_BELOW: Decimal = Decimal::ONE;
/// Decimal places of a price at or above `SUB_PENNY_BELOW`.
pub const WHOLE_CENT_SCALE: u32 = 2;

/// What the venue would refuse after we accepted (Alpaca: fractional quantities only
/// on market orders with time in force day; no sub-penny price at or above $1), so the
/// trader hears it at submit, on the field, instead of as a rejection later.
fn venue_rules(
    f: &mut Fields<'_>,
    order_type: Option<OrderType>,
    time_in_force: Option<TimeInForce>,
    quantity: Option<Quantity>,
    limit_price: Option<Price>,
    stop_price: Option<Price>,
) {
    let fractional_not_allowed = match (quantity, order_type, time_in_force) {
        (Some(q), Some(t), Some(tif)) => {
            !q.get().fract().is_zero() && (t != OrderType::Market || tif != TimeInForce::Day)
        }
        _ => false,
    };
    if fractional_not_allowed {
        f.fail(
            "quantity",
            "Fractional quantities are accepted only for market orders with time in force day; use a whole number of shares"
                .into(),
        );
    }
    for (field, price) in [("limit_price", limit_price), ("stop_price", stop_price)] {
        let sub_penny =
            price.is_some_and(|p| p.get() >= SUB_PENNY_BELOW && p.get().normalize().scale() > WHOLE_CENT_SCALE);
        if sub_penny {
            f.fail(
                field,
                format!(
                    "{} of $1.00 or more must have at most {WHOLE_CENT_SCALE} decimal places (no sub-penny prices)",
                    label(field)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::dec;

    #[test]
    fn a_fingerprint_writes_numbers_as_normalize_and_display_would() {
        for raw in [
            "0",
            "0.0",
            "1",
            "10",
            "10.00",
            "150.25",
            "150.2500",
            "0.5",
            "0.0001",
            "0.000001",
            "100.010",
            "123456789.123456",
            "-2.50",
            "79228162514264337593543950335",
            "0.0000000000000000000000000001",
        ] {
            let d = dec(raw);
            let mut out = String::new();
            push_normalized(&mut out, d);
            assert_eq!(out, d.normalize().to_string(), "{raw}");
        }
    }
    use serde_json::json;

    fn errors(body: Value) -> Vec<(String, String)> {
        match validate_order(&body) {
            Err(OrderError::Validation(errs)) => errs.into_iter().map(|e| (e.field, e.message)).collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn the_spec_example_is_valid() {
        let d = validate_order(
            &json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "10",
            "limit_price": "150.25", "stop_price": null, "time_in_force": "day", "client_order_id": "my-1"}),
        )
        .unwrap();
        assert_eq!(d.quantity.get(), dec(10));
        assert_eq!(d.limit_price.map(Price::get), Some(dec("150.25")));
        assert_eq!(d.client_order_id.unwrap().as_str(), "my-1");
    }

    #[test]
    fn numbers_are_accepted_exactly() {
        let d = validate_order(
            &json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": 10,
            "limit_price": 150.25}),
        )
        .unwrap();
        assert_eq!(d.limit_price.unwrap().get().to_string(), "150.25");
        assert_eq!(d.time_in_force, TimeInForce::Day);
    }

    #[test]
    fn zero_and_negative_quantities_have_the_spec_message() {
        for q in [json!("0"), json!(0), json!("-5"), json!(-1.5)] {
            let errs = errors(json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": q}));
            assert_eq!(
                errs,
                vec![("quantity".into(), "Quantity must be greater than 0".into())]
            );
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errs = errors(
            json!({"symbol": "aapl", "side": "long", "type": "limit", "quantity": "abc",
            "time_in_force": "week", "extra": 1}),
        );
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["extra", "symbol", "side", "quantity", "time_in_force", "limit_price"]
        );
        assert_eq!(errs[5].1, "Limit price is required for limit and stop_limit orders");
    }

    #[test]
    fn hostile_numbers_are_refused_with_a_field_message() {
        for q in [
            json!("NaN"),
            json!("Infinity"),
            json!("1e400"),
            json!("10.5.1"),
            json!(true),
            json!([1]),
            json!("99999999999999999999999999999999999"),
            json!("1_000"),
            json!("1_0.5"),
        ] {
            let errs = errors(json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": q}));
            assert_eq!(errs.len(), 1, "{q}");
            assert_eq!(errs[0].0, "quantity");
        }
        let errs = errors(json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "0.0000001"}));
        assert_eq!(errs[0].1, "Quantity must have at most 6 decimal places");
        let errs = errors(json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": 1e20}));
        assert_eq!(errs[0].1, "Quantity must be at most 1,000,000");
    }

    #[test]
    fn prices_must_match_the_type() {
        let errs = errors(
            json!({"symbol": "AAPL", "side": "sell", "type": "market", "quantity": "1",
            "limit_price": "10"}),
        );
        assert_eq!(
            errs,
            vec![(
                "limit_price".into(),
                "Limit price must be null for market and stop orders".into()
            )]
        );
        let errs = errors(
            json!({"symbol": "AAPL", "side": "sell", "type": "stop_limit", "quantity": "1",
            "limit_price": "10"}),
        );
        assert_eq!(
            errs,
            vec![(
                "stop_price".into(),
                "Stop price is required for stop and stop_limit orders".into()
            )]
        );
    }

    #[test]
    fn fractional_quantities_only_for_market_day_orders() {
        let ok = validate_order(&json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "0.5"}));
        assert_eq!(ok.map(|d| d.quantity.get()).ok(), Some(dec("0.5")));
        let whole = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "2.000", "limit_price": "10"});
        assert!(validate_order(&whole).is_ok(), "2.000 is a whole number of shares");
        let message = "Fractional quantities are accepted only for market orders with time in force day; use a whole number of shares";
        for body in [
            json!({"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "0.5", "limit_price": "10"}),
            json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1.25", "time_in_force": "gtc"}),
            json!({"symbol": "AAPL", "side": "sell", "type": "stop", "quantity": "3.000001", "stop_price": "10"}),
            json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "0.5", "time_in_force": "ioc"}),
        ] {
            assert_eq!(errors(body), vec![("quantity".into(), message.into())]);
        }
    }

    #[test]
    fn prices_of_a_dollar_or_more_are_whole_cents_and_below_a_dollar_four_places() {
        let order = |field: &str, price: &str| {
            let mut body = json!({"symbol": "AAPL", "side": "buy", "type": "stop_limit", "quantity": "1",
                "limit_price": "10", "stop_price": "10"});
            body[field] = json!(price);
            body
        };
        for field in ["limit_price", "stop_price"] {
            for fine in ["1.00", "1.01", "150.25", "0.9999", "0.0001", "0.5"] {
                assert!(validate_order(&order(field, fine)).is_ok(), "{field} {fine}");
            }
            let label = if field == "limit_price" {
                "Limit price"
            } else {
                "Stop price"
            };
            for sub_penny in ["1.001", "150.255", "1.0001"] {
                assert_eq!(
                    errors(order(field, sub_penny)),
                    vec![(
                        field.into(),
                        format!("{label} of $1.00 or more must have at most 2 decimal places (no sub-penny prices)")
                    )],
                    "{field} {sub_penny}"
                );
            }
            assert_eq!(
                errors(order(field, "0.00001"))[0].1,
                format!("{label} must have at most 4 decimal places")
            );
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert_eq!(
            errors(json!([1, 2])),
            vec![("body".into(), "The request body must be a JSON object".into())]
        );
        let errs = errors(json!({}));
        assert_eq!(errs.len(), 4, "{errs:?}");
    }

    #[test]
    fn an_unknown_field_is_named_and_one_with_an_empty_name_names_the_body() {
        let body = |extra: &str| {
            let mut b = json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1"});
            b[extra] = json!(1);
            b
        };
        let errs = errors(body("colour"));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "colour");
        assert!(
            errs[0].1.starts_with("Unknown field; allowed fields are: symbol"),
            "{errs:?}"
        );
        let errs = errors(body(""));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "body");
        assert!(
            errs[0]
                .1
                .starts_with("A field has an empty name; allowed fields are: symbol"),
            "{errs:?}"
        );
    }
}

/// The fields a replace (`PATCH /orders/{id}`) may change; each given one overrides
/// the order's. `quantity` is the order's new total quantity, what it has filled
/// included (FIX's OrderQty on a cancel/replace).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplaceDraft {
    pub quantity: Option<Quantity>,
    pub limit_price: Option<Price>,
    pub stop_price: Option<Price>,
    pub time_in_force: Option<TimeInForce>,
}

const REPLACE_FIELDS: [&str; 4] = ["quantity", "limit_price", "stop_price", "time_in_force"];

/// Validates a replace body against the order's type (a market order has no price to
/// change); on failure every invalid field is reported.
pub fn validate_replace(
    body: &Value,
    order_type: OrderType,
    current_tif: TimeInForce,
) -> Result<ReplaceDraft, OrderError> {
    let Some(map) = body.as_object() else {
        return Err(OrderError::Validation(vec![FieldError::new(
            "body",
            "The request body must be a JSON object",
        )]));
    };
    let mut f = Fields {
        body: map,
        errors: Vec::new(),
    };
    for key in map.keys() {
        if !REPLACE_FIELDS.contains(&key.as_str()) {
            f.unknown(key, &format!("a replace changes only: {}", REPLACE_FIELDS.join(", ")));
        }
    }
    if REPLACE_FIELDS.iter().all(|name| f.get(name).is_none()) && f.errors.is_empty() {
        f.fail(
            "body",
            format!("Nothing to change: give at least one of {}", REPLACE_FIELDS.join(", ")),
        );
    }
    let quantity = f.amount("quantity", Quantity::parse);
    let limit_price = f.amount("limit_price", Price::parse);
    let stop_price = f.amount("stop_price", Price::parse);
    let time_in_force = match f.get("time_in_force") {
        None => None,
        Some(_) => f.choice("time_in_force", TimeInForce::NAMES, TimeInForce::from_wire),
    };
    if f.get("limit_price").is_some() && !order_type.needs_limit_price() {
        f.fail(
            "limit_price",
            format!("A {} order has no limit price to change", order_type.as_str()),
        );
    }
    if f.get("stop_price").is_some() && !order_type.needs_stop_price() {
        f.fail(
            "stop_price",
            format!("A {} order has no stop price to change", order_type.as_str()),
        );
    }
    if matches!(time_in_force, Some(TimeInForce::Ioc | TimeInForce::Fok)) {
        f.fail(
            "time_in_force",
            "A working order can be changed to day or gtc only (ioc and fok act at once on arrival)".into(),
        );
    }
    // The venue's own rules, on the values the new version will have.
    venue_rules(
        &mut f,
        Some(order_type),
        Some(time_in_force.unwrap_or(current_tif)),
        quantity,
        limit_price,
        stop_price,
    );
    if !f.errors.is_empty() {
        return Err(OrderError::Validation(f.errors));
    }
    Ok(ReplaceDraft {
        quantity,
        limit_price,
        stop_price,
        time_in_force,
    })
}

#[cfg(test)]
mod replace_tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value, t: OrderType) -> Vec<String> {
        match validate_replace(&body, t, TimeInForce::Gtc) {
            Err(OrderError::Validation(e)) => e.into_iter().map(|e| e.field).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_replace_names_each_bad_field() {
        assert_eq!(fields(json!({}), OrderType::Limit), vec!["body"]);
        assert_eq!(fields(json!({"side": "sell"}), OrderType::Limit), vec!["side"]);
        assert_eq!(
            fields(json!({"limit_price": "1"}), OrderType::Market),
            vec!["limit_price"]
        );
        assert_eq!(fields(json!({"stop_price": "1"}), OrderType::Limit), vec!["stop_price"]);
        assert_eq!(fields(json!({"quantity": "-1"}), OrderType::Limit), vec!["quantity"]);
        assert_eq!(
            fields(json!({"time_in_force": "ioc"}), OrderType::Limit),
            vec!["time_in_force"]
        );
        assert_eq!(fields(json!([1]), OrderType::Limit), vec!["body"]);
        assert_eq!(
            fields(json!({"limit_price": "10.001"}), OrderType::Limit),
            vec!["limit_price"]
        );
        assert_eq!(fields(json!({"quantity": "1.5"}), OrderType::Limit), vec!["quantity"]);
        // A key with no name: the body is named (a field error names something).
        assert_eq!(fields(json!({"": null}), OrderType::Limit), vec!["body"]);
    }

    #[test]
    fn a_replace_takes_the_fields_it_is_given() {
        let d = validate_replace(
            &json!({"quantity": "5", "limit_price": 101.5}),
            OrderType::Limit,
            TimeInForce::Day,
        )
        .unwrap();
        assert_eq!(d.quantity.map(|q| q.get()), Some(Decimal::from(5)));
        assert_eq!(d.limit_price.map(|p| p.get()), Decimal::from_str("101.5").ok());
        assert_eq!(d.stop_price, None);
        assert_eq!(d.time_in_force, None);
    }
}
