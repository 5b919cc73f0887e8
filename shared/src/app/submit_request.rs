//! What a submit request carries beyond its body, read and checked before anything is
//! written: the body's canonical hash (the idempotency key's request identity), the
//! `Idempotency-Key` and the `Confirm-Duplicate` header.

use serde_json::Value;

use super::error::AppError;
use crate::domain::audit::sha256_hex;
use crate::domain::{FieldError, IdempotencyKey, TraderId};

pub struct SubmitRequest<'a> {
    pub trader: TraderId,
    pub body: &'a [u8],
    pub idempotency_key: Option<&'a str>,
    pub request_id: Option<String>,
    /// The `Confirm-Duplicate` header (`true`: place the order even if duplicate
    /// detection would refuse it as an identical order placed moments ago).
    pub confirm_duplicate: Option<&'a str>,
}

/// SHA-256 of the body as parsed JSON: `serde_json` writes object keys sorted, so
/// key order and whitespace do not make two requests different. Written straight
/// into a buffer of about the raw body's size: the same bytes `Value`'s `Display`
/// gives, without its `fmt` adapter and `String` regrowth (issue 7 profile).
pub(super) fn request_hash(body: &Value, raw_len: usize) -> String {
    let mut canonical = Vec::with_capacity(raw_len);
    // Writing a `Value` into a `Vec` cannot fail.
    if serde_json::to_writer(&mut canonical, body).is_err() {
        canonical.clear();
    }
    sha256_hex(&canonical)
}

/// The `Confirm-Duplicate` header's value: `true` or `false` (any case), absent: false.
pub(super) fn confirm_duplicate(raw: Option<&str>) -> Result<bool, AppError> {
    match raw.map(str::trim) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(AppError::InvalidParameter(FieldError::new(
            "Confirm-Duplicate",
            format!(
                "Confirm-Duplicate must be true or false, not {:?}",
                v.chars().take(32).collect::<String>()
            ),
        ))),
    }
}

/// The `Idempotency-Key` header's value, checked (a bad one is a 400 naming the header).
pub(super) fn idempotency_key(raw: Option<&str>) -> Result<Option<IdempotencyKey>, AppError> {
    raw.map(|k| {
        IdempotencyKey::parse(k)
            .map_err(|e| AppError::InvalidParameter(FieldError::new("Idempotency-Key", e.to_string())))
    })
    .transpose()
}
