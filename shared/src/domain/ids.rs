//! Validated identifiers. Every id that ends up inside a DynamoDB key is checked here
//! so that no request can smuggle a key separator (`#`) or an empty string into a key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

use super::error::IdError;

fn is_key_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':' | '|' | '+')
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, IdError> {
                if raw.is_empty() {
                    return Err(IdError::Empty($what));
                }
                if raw.len() > Self::MAX_LEN {
                    return Err(IdError::TooLong($what, Self::MAX_LEN));
                }
                if !raw.chars().all(is_key_safe) {
                    return Err(IdError::BadChars($what));
                }
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// The trader: the JWT `sub` claim.
    TraderId,
    "Trader id",
    128
);
string_id!(
    /// The trader's own reference for an order (SPEC §3: at most 64 characters).
    ClientOrderId,
    "Client order id",
    64
);
string_id!(
    /// `Idempotency-Key` header value, scoped per trader.
    IdempotencyKey,
    "Idempotency key",
    128
);

/// Server-made order id: a ULID, so ids sort by creation time (newest-first listings
/// are a reverse key order, no sort attribute needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(Ulid);

impl OrderId {
    pub fn new() -> Self {
        Self(Ulid::new())
    }

    pub fn from_ulid(u: Ulid) -> Self {
        Self(u)
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        Ulid::from_string(raw).map(Self).map_err(|_| IdError::BadOrderId)
    }
}

impl Default for OrderId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for OrderId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for OrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Encoded on the stack: `collect_str` went through `fmt` and, for `Value`s,
        // an extra `String` (issue 7 profile).
        s.serialize_str(self.0.array_to_str(&mut [0; ulid::ULID_LEN]))
    }
}

impl<'de> Deserialize<'de> for OrderId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A ticker: 1–10 characters, upper-case letters and digits, with `.` or `/` inside
/// (BRK.B, BTC/USD); starts with a letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(String);

impl Symbol {
    pub const MAX_LEN: usize = 10;

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.starts_with(|c: char| c.is_ascii_uppercase())
            && !raw.ends_with(['.', '/'])
            && raw
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '/');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::BadSymbol)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_key_separators_and_empty() {
        assert_eq!(TraderId::parse(""), Err(IdError::Empty("Trader id")));
        assert_eq!(TraderId::parse("a#b"), Err(IdError::BadChars("Trader id")));
        assert!(TraderId::parse("alice-01@desk").is_ok());
        assert_eq!(
            ClientOrderId::parse(&"x".repeat(65)),
            Err(IdError::TooLong("Client order id", 64))
        );
        assert!(ClientOrderId::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn symbols() {
        for ok in ["AAPL", "BRK.B", "BTC/USD", "A", "X1"] {
            assert!(Symbol::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "aapl", "1ABC", "TOOLONGSYMB", "AB.", "A B", "ÄPL"] {
            assert!(Symbol::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn order_ids_round_trip_and_sort_by_time() {
        let a = OrderId::new();
        let b = OrderId::from_ulid(Ulid::from_parts(a.0.timestamp_ms() + 1, 0));
        assert!(a < b);
        assert_eq!(OrderId::parse(&a.to_string()), Ok(a));
        assert_eq!(OrderId::parse("not-an-id"), Err(IdError::BadOrderId));
    }

    #[test]
    fn order_ids_serialize_as_their_display_text() {
        let id = OrderId::new();
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        assert_eq!(
            serde_json::to_value(id).unwrap(),
            serde_json::Value::String(id.to_string())
        );
        assert_eq!(serde_json::from_str::<OrderId>(&format!("\"{id}\"")).unwrap(), id);
    }
}
