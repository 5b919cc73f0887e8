//! Timestamps: UTC, millisecond precision, RFC 3339 on the wire. Truncating to
//! milliseconds at creation makes every stored form round-trip byte for byte, which
//! the audit hash chain relies on.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};
use time_tz::{OffsetDateTimeExt, Tz, timezones};

/// The exchange's time zone: the trading day is its date.
const EXCHANGE_TZ: &Tz = timezones::db::america::NEW_YORK;

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

    /// The trading day this instant falls in: the date in New York, where US equities
    /// trade (America/New_York, DST-aware: the day starts at 05:00 UTC in winter and
    /// 04:00 UTC in summer). The daily loss limit restarts with it, not at UTC
    /// midnight, so a loss booked at 16:30 New York time still counts against an
    /// order submitted at 20:00 New York time (already tomorrow in UTC).
    pub fn trading_day(self) -> Date {
        self.0.to_timezone(EXCHANGE_TZ).date()
    }

    /// The trading day (`trading_day`), under the name older callers use.
    pub fn date(self) -> Date {
        self.trading_day()
    }

    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    pub fn plus_seconds(self, s: i64) -> Self {
        Self(self.0 + time::Duration::seconds(s))
    }
}

/// Longest RFC 3339 text `time` writes: `9999-12-31T23:59:59.999999999+23:59`.
const RFC3339_MAX: usize = 35;

impl Timestamp {
    /// The RFC 3339 text, written by `time` into `buf` instead of a new `String`:
    /// every order, audit record and event carries timestamps, and formatting them
    /// was a heap allocation each on the submit path (issue 7 profile).
    fn rfc3339(self, buf: &mut [u8; RFC3339_MAX]) -> Option<&str> {
        let mut out: &mut [u8] = buf;
        // The length is what the writes consumed of the buffer, not the count
        // `format_into` returns: time 0.3.55 leaves the fraction's digits out of it.
        self.0.format_into(&mut out, &Rfc3339).ok()?;
        let len = RFC3339_MAX - out.len();
        std::str::from_utf8(&buf[..len]).ok()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0; RFC3339_MAX];
        f.write_str(self.rfc3339(&mut buf).ok_or(fmt::Error)?)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; RFC3339_MAX];
        match self.rfc3339(&mut buf) {
            Some(text) => s.serialize_str(text),
            None => Err(serde::ser::Error::custom(format!(
                "timestamp {:?} has no RFC 3339 form (year outside 0000-9999)",
                self.0
            ))),
        }
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

    #[test]
    fn the_buffered_text_is_what_time_writes() {
        // Whole seconds, trailing zeros trimmed, every millisecond digit, far years.
        for ms in [
            0,
            1_700_000_000_000,
            1_700_000_000_100,
            1_700_000_000_120,
            1_700_000_000_123,
            253_402_300_799_999,
        ] {
            let t = Timestamp::from_unix_millis(ms).unwrap();
            let expected = t.0.format(&Rfc3339).unwrap();
            assert_eq!(t.to_string(), expected);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{expected}\""));
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::Value::String(expected));
        }
        // Before year 0 RFC 3339 has no form: an error, not a panic.
        let early = Timestamp::from_unix_millis(-62_167_219_200_001).unwrap();
        assert!(early.0.format(&Rfc3339).is_err());
        assert!(serde_json::to_string(&early).is_err());
        assert!(serde_json::to_value(early).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_representable_timestamp_formats_as_time_does(ms in 0i64..253_402_300_800_000) {
            let t = Timestamp::from_unix_millis(ms).unwrap();
            let expected = t.0.format(&Rfc3339).unwrap();
            proptest::prop_assert_eq!(t.to_string(), expected.clone());
            proptest::prop_assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{expected}\""));
        }
    }
}
