//! Timestamps: UTC, millisecond precision, RFC 3339 on the wire. Truncating to
//! milliseconds at creation makes every stored form round-trip byte for byte, which
//! the audit hash chain relies on.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        let ms = t.millisecond();
        // Infallible: the millisecond part of a valid time is a valid millisecond.
        Self(t.replace_millisecond(ms).unwrap_or(t))
    }

    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    pub fn from_unix_millis(ms: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .map(Self)
    }

    pub fn parse(s: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(s, &Rfc3339).map(Self::from_datetime)
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn unix_millis(self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// The trading day (UTC date) the daily loss limit is counted in.
    pub fn date(self) -> Date {
        self.0.date()
    }

    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    pub fn plus_seconds(self, s: i64) -> Self {
        Self(self.0 + time::Duration::seconds(s))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_millis_and_round_trips() {
        let t = Timestamp::from_datetime(OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap());
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.123Z");
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        assert_eq!(Timestamp::from_unix_millis(t.unix_millis()), Some(t));
    }
}
