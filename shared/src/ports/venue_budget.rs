//! The venue's shared request budget (`VenueBudget`) and its rate.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::Timestamp;

/// How many venue requests the deployment may make: the venue's published limit per
/// API key and minute (Alpaca: 200), counted in fixed windows of `window_secs`.
///
/// A fixed-window count alone can put two windows' worth of requests into one sliding
/// minute. A sliding 60 s span touches at most `60 / w + 1` windows of `w` seconds, so
/// a budget of `floor(limit × w / (60 + w))` per window keeps every sliding minute at
/// or under `limit`, however the venue aligns its own window. With 200 a minute and
/// 5 s windows: 15 per window, at most 13 × 15 = 195 in any minute, 180 a minute
/// sustained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueRate {
    pub per_minute: u32,
    pub window_secs: u32,
}

impl VenueRate {
    /// Alpaca's Trading API limit per API key.
    pub const ALPACA: VenueRate = VenueRate {
        per_minute: 200,
        window_secs: 5,
    };

    /// Requests allowed in one window (at least one, so a tiny limit still moves).
    pub fn per_window(&self) -> u32 {
        let w = u64::from(self.window_secs.max(1));
        ((u64::from(self.per_minute) * w) / (60 + w)).max(1) as u32
    }

    /// The start (unix seconds) of the window `now` falls in, and the seconds until
    /// the next one opens.
    pub fn window(&self, now: Timestamp) -> (i64, u64) {
        let w = i64::from(self.window_secs.max(1));
        let secs = now.unix_seconds();
        let start = secs - secs.rem_euclid(w);
        (start, (start + w - secs) as u64)
    }
}

/// Whether a venue request may go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetDecision {
    Granted,
    /// The window's budget is spent (or the venue asked us to back off): the next
    /// request may go in `retry_after_secs`.
    Wait {
        retry_after_secs: u64,
    },
}

/// The venue's request budget, shared by every function instance that calls the venue
/// with one API key (SPEC §6, §9: all functions together stay under the venue's
/// published limit). `key` names the API key (never the secret).
#[async_trait]
pub trait VenueBudget: Send + Sync {
    /// Takes one request from the window `now` falls in.
    async fn take_venue_request(
        &self,
        key: &str,
        rate: VenueRate,
        now: Timestamp,
    ) -> Result<BudgetDecision, StoreError> {
        self.take_venue_request_leaving(key, rate, 0, now).await
    }

    /// Takes one request from the window `now` falls in unless no more than `reserve`
    /// of its `rate.per_window()` are left (those are kept for other callers: execute
    /// leaves the intake its share). At least one request a window is always
    /// possible.
    async fn take_venue_request_leaving(
        &self,
        key: &str,
        rate: VenueRate,
        reserve: u32,
        now: Timestamp,
    ) -> Result<BudgetDecision, StoreError>;

    /// The venue refused a request with 429: spend every window from `now` until
    /// `until`, so no instance asks again before the venue said it may.
    async fn spend_venue_windows(
        &self,
        key: &str,
        rate: VenueRate,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<(), StoreError>;
}
