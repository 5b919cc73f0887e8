//! The notional a trader sent over the last rolling minute (issue 19; SEC Rule
//! 15c3-5's orders that exceed size parameters "over a short period"). The window
//! holds each accepted order's notional with the time it was accepted; an order is
//! admitted only if it and every order accepted in the 60 s before it stay within the
//! account's `max_notional_per_minute`. Exact, not an estimate from buckets: the
//! store keeps the entries and writes the window back conditional on the version it
//! was read at, so two submits of one trader can never both pass on the same room.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::error::OrderError;
use super::time::Timestamp;

/// The window's length.
pub const WINDOW_MS: i64 = 60_000;

/// One accepted order's share of the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotionalEntry {
    pub at_ms: i64,
    pub notional: Decimal,
}

/// A trader's accepted notional over the last minute, as stored at `version` (0: no
/// order counted yet). Entries are kept in time order with their running total, so
/// admitting an order costs the entries that left the window, not the whole window.
/// The entries are shared (`Arc`): a read, a retry's copy of the order to commit and
/// the store's copy are one allocation, made once, when an order is admitted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotionalWindow {
    entries: Arc<[NotionalEntry]>,
    pub version: u64,
    /// The sum of `entries`.
    total: Decimal,
}

impl NotionalWindow {
    /// A window of `entries` (any order) as stored at `version`.
    pub fn new(mut entries: Vec<NotionalEntry>, version: u64) -> Self {
        entries.sort_by_key(|e| e.at_ms);
        let total = entries.iter().map(|e| e.notional).sum();
        Self {
            entries: entries.into(),
            version,
            total,
        }
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[NotionalEntry] {
        &self.entries
    }

    /// Whether an entry accepted at `at_ms` still counts at `now_ms`.
    fn counts(at_ms: i64, now_ms: i64) -> bool {
        at_ms > now_ms - WINDOW_MS
    }

    /// How many of the (time-ordered) entries no longer count at `now_ms`.
    fn expired(&self, now_ms: i64) -> usize {
        self.entries.partition_point(|e| !Self::counts(e.at_ms, now_ms))
    }

    /// The notional accepted in the minute before `now`.
    pub fn used(&self, now: Timestamp) -> Decimal {
        let gone = self.expired(now.unix_millis());
        self.total - self.entries[..gone].iter().map(|e| e.notional).sum::<Decimal>()
    }

    /// The window with `notional` accepted at `now` (entries that no longer count are
    /// dropped, so the stored window stays small), or the refusal if it would exceed
    /// `limit`. The result keeps this window's version: the store writes it only over
    /// that version.
    pub fn admit(&self, now: Timestamp, notional: Decimal, limit: Decimal) -> Result<NotionalWindow, OrderError> {
        let now_ms = now.unix_millis();
        let gone = self.expired(now_ms);
        let live = &self.entries[gone..];
        let used = self.total - self.entries[..gone].iter().map(|e| e.notional).sum::<Decimal>();
        if used + notional > limit {
            return Err(OrderError::NotionalPerMinute {
                notional,
                used,
                limit,
                retry_after_secs: Self::room_after(live, used, notional, limit, now_ms),
            });
        }
        // In time order even if this clock is behind the one that wrote the last entry.
        let at = live.partition_point(|e| e.at_ms <= now_ms);
        let entry = NotionalEntry {
            at_ms: now_ms,
            notional,
        };
        // One allocation of the exact size (the iterator's length is known).
        let entries: Arc<[NotionalEntry]> = live[..at]
            .iter()
            .copied()
            .chain(std::iter::once(entry))
            .chain(live[at..].iter().copied())
            .collect();
        Ok(NotionalWindow {
            entries,
            version: self.version,
            total: used + notional,
        })
    }

    /// Whole seconds until enough of `live` (sorted by time) has left the window for
    /// `notional` to fit; `None` when it could never fit (the order alone is over).
    fn room_after(
        live: &[NotionalEntry],
        used: Decimal,
        notional: Decimal,
        limit: Decimal,
        now_ms: i64,
    ) -> Option<u64> {
        if notional > limit {
            return None;
        }
        let mut left = used;
        for e in live {
            left -= e.notional;
            if left + notional <= limit {
                // The entry stops counting at at_ms + WINDOW_MS.
                let wait_ms = (e.at_ms + WINDOW_MS - now_ms).max(0);
                return Some(((wait_ms + 999) / 1000) as u64);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::dec;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn window(entries: &[(i64, &str)]) -> NotionalWindow {
        NotionalWindow::new(
            entries
                .iter()
                .map(|(ms, n)| NotionalEntry {
                    at_ms: at(*ms).unix_millis(),
                    notional: dec(n),
                })
                .collect(),
            4,
        )
    }

    #[test]
    fn an_order_that_fills_the_limit_exactly_is_admitted_and_a_cent_more_is_not() {
        let w = window(&[(0, "600.00"), (10_000, "300.00")]);
        let now = at(20_000);
        let admitted = w.admit(now, dec("100.00"), dec("1000")).unwrap();
        assert_eq!(admitted.used(now), dec("1000.00"));
        assert_eq!(admitted.version, 4, "written over the version it was read at");
        let refused = w.admit(now, dec("100.01"), dec("1000")).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Order notional of $100.01 would bring this account's notional over the last minute to $1,000.01, over its limit of $1,000.00 per rolling minute; retry after 40 s"
        );
    }

    #[test]
    fn an_entry_stops_counting_exactly_one_minute_after_it_was_accepted() {
        let w = window(&[(0, "900")]);
        assert!(w.admit(at(59_999), dec("200"), dec("1000")).is_err());
        let admitted = w.admit(at(60_000), dec("200"), dec("1000")).unwrap();
        assert_eq!(
            admitted.entries().len(),
            1,
            "the expired entry is dropped from the stored window"
        );
        assert_eq!(admitted.used(at(60_000)), dec("200"));
    }

    #[test]
    fn entries_stay_in_time_order_and_the_total_is_their_sum() {
        // Read back out of order (another instance's clock was ahead).
        let w = window(&[(5_000, "200"), (0, "100")]);
        assert_eq!(w.entries()[0].at_ms, at(0).unix_millis());
        let admitted = w.admit(at(3_000), dec("50"), dec("1000")).unwrap();
        let times: Vec<i64> = admitted
            .entries()
            .iter()
            .map(|e| e.at_ms - at(0).unix_millis())
            .collect();
        assert_eq!(times, [0, 3_000, 5_000]);
        assert_eq!(admitted, NotionalWindow::new(admitted.entries().to_vec(), 4));
        assert_eq!(admitted.used(at(3_000)), dec("350"));
        assert_eq!(admitted.used(at(60_000)), dec("250"));
    }

    #[test]
    fn the_wait_named_is_until_enough_has_left_the_window() {
        let w = window(&[(0, "400"), (5_000, "400"), (30_000, "100")]);
        // 900 used; 700 more needs 600 gone: the first two entries, the second at 65 s.
        match w.admit(at(31_000), dec("700"), dec("1000")) {
            Err(OrderError::NotionalPerMinute { retry_after_secs, .. }) => assert_eq!(retry_after_secs, Some(34)),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // An order over the limit on its own can never fit.
        let refused = w.admit(at(31_000), dec("1000.01"), dec("1000")).unwrap_err();
        assert!(
            refused.to_string().ends_with("; this order alone exceeds it"),
            "{refused}"
        );
    }
}
