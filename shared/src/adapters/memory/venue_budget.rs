//! `VenueBudget` in memory: the same windows and cap as the DynamoDB adapter, under
//! one lock.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::Timestamp;
use crate::ports::{BudgetDecision, StoreError, VenueBudget, VenueRate};

#[derive(Debug, Default)]
pub struct MemoryVenueBudget {
    /// (API key, window start) → requests taken.
    windows: Mutex<HashMap<(String, i64), u32>>,
}

impl MemoryVenueBudget {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl VenueBudget for MemoryVenueBudget {
    async fn take_venue_request_leaving(
        &self,
        api_key: &str,
        rate: VenueRate,
        reserve: u32,
        now: Timestamp,
    ) -> Result<BudgetDecision, StoreError> {
        let (start, retry_after_secs) = rate.window(now);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let taken = windows.entry((api_key.to_owned(), start)).or_insert(0);
        if *taken >= rate.per_window().saturating_sub(reserve).max(1) {
            return Ok(BudgetDecision::Wait { retry_after_secs });
        }
        *taken += 1;
        Ok(BudgetDecision::Granted)
    }

    async fn spend_venue_windows(
        &self,
        api_key: &str,
        rate: VenueRate,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let (mut start, _) = rate.window(now);
        let last = until.unix_seconds().min(now.unix_seconds() + 120);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        while start < last {
            windows.insert((api_key.to_owned(), start), rate.per_window());
            start += i64::from(rate.window_secs.max(1));
        }
        Ok(())
    }
}
