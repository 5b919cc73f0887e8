//! In-memory adapters for fast tests. They implement the same conditions as the AWS
//! adapters (checked all-or-nothing under one lock, like a DynamoDB transaction) and
//! pass the same contract suite (`shared/tests/contract.rs`).

mod attention;
mod events;
mod intake_store;
mod live;
mod market_data;
mod queue;
mod store;
mod venue;
mod venue_budget;
mod write_once;

pub use attention::MemoryDeadLetters;
pub use events::MemoryEvents;
pub use intake_store::MemoryIntakeStore;
pub use live::{MemoryConnections, MemoryOrderChanges, MemoryPusher};
pub use market_data::MemoryMarketData;
pub use queue::MemoryQueue;
pub use store::MemoryStore;
pub use venue::MemoryVenue;
pub use venue_budget::MemoryVenueBudget;
pub use write_once::MemoryWriteOnce;

use std::sync::Mutex;

use crate::domain::Timestamp;
use crate::ports::Clock;

/// A clock tests set by hand.
#[derive(Debug)]
pub struct FixedClock(Mutex<Timestamp>);

impl FixedClock {
    pub fn new(at: Timestamp) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance_seconds(&self, s: i64) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t = t.plus_seconds(s);
    }

    pub fn advance_millis(&self, ms: i64) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t = Timestamp::from_unix_millis(t.unix_millis() + ms).unwrap_or(*t);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
