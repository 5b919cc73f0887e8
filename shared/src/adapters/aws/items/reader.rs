//! Typed reads from an item, naming the attribute when it is missing or bad, and the
//! error of a failed DynamoDB call.

use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::keys::Item;
use crate::domain::{OrderType, Side, TimeInForce, Timestamp};
use crate::ports::StoreError;

pub(super) fn corrupt(what: &str, name: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} attribute `{name}` is missing or malformed"))
}

/// Typed reads from an item, each naming the attribute when it is missing or bad.
pub struct Reader<'a> {
    item: &'a Item,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item, what: &'static str) -> Self {
        Self { item, what }
    }

    pub fn opt_str(&self, name: &str) -> Option<&'a str> {
        match self.item.get(name) {
            Some(AttributeValue::S(v)) => Some(v.as_str()),
            _ => None,
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_str(name).ok_or_else(|| corrupt(self.what, name))
    }

    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.str(name)?.parse().map_err(|_| corrupt(self.what, name))
    }

    pub fn opt_parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.opt_str(name)
            .map(|v| v.parse().map_err(|_| corrupt(self.what, name)))
            .transpose()
    }

    fn num(&self, name: &str) -> Result<&'a str, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::N(v)) => Ok(v.as_str()),
            _ => Err(corrupt(self.what, name)),
        }
    }

    pub fn dec(&self, name: &str) -> Result<Decimal, StoreError> {
        let raw = self.num(name)?;
        Decimal::from_str(raw)
            .or_else(|_| Decimal::from_scientific(raw))
            .map_err(|_| corrupt(self.what, name))
    }

    pub fn opt_dec(&self, name: &str) -> Result<Option<Decimal>, StoreError> {
        if self.item.contains_key(name) {
            self.dec(name).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn u64(&self, name: &str) -> Result<u64, StoreError> {
        self.num(name)?.parse().map_err(|_| corrupt(self.what, name))
    }

    pub fn u32(&self, name: &str) -> Result<u32, StoreError> {
        self.num(name)?.parse().map_err(|_| corrupt(self.what, name))
    }

    pub fn json(&self, name: &str) -> Result<Option<Value>, StoreError> {
        self.opt_str(name)
            .map(|t| serde_json::from_str(t).map_err(|_| corrupt(self.what, name)))
            .transpose()
    }

    pub fn time(&self, name: &str) -> Result<Timestamp, StoreError> {
        Timestamp::parse(self.str(name)?).map_err(|_| corrupt(self.what, name))
    }
}

pub(super) struct Wire<T>(pub(super) T);
impl<T: Copy> FromStr for Wire<T>
where
    T: WireName,
{
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        T::from_wire_name(s).map(Wire).ok_or(())
    }
}

pub(super) trait WireName: Sized {
    fn from_wire_name(s: &str) -> Option<Self>;
}
impl WireName for Side {
    fn from_wire_name(s: &str) -> Option<Self> {
        Side::from_wire(s)
    }
}
impl WireName for OrderType {
    fn from_wire_name(s: &str) -> Option<Self> {
        OrderType::from_wire(s)
    }
}
impl WireName for TimeInForce {
    fn from_wire_name(s: &str) -> Option<Self> {
        TimeInForce::from_wire(s)
    }
}

pub(super) fn put_opt(item: &mut Item, name: &str, v: Option<AttributeValue>) {
    if let Some(v) = v {
        item.insert(name.to_owned(), v);
    }
}

/// A DynamoDB call that failed for any reason but a condition: the store is unavailable,
/// with the SDK's whole error chain.
pub fn unavailable<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> crate::ports::StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    crate::ports::StoreError::Unavailable {
        service: "DynamoDB",
        detail: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
    }
}
