//! The venue's request budget (SPEC §6, §9): fixed windows that keep every sliding
//! minute under the venue's published limit, and `BudgetedVenue`, which takes from the
//! budget before every call and honours a 429's back-off.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use shared::adapters::memory::{FixedClock, MemoryVenueBudget};
use shared::adapters::venue::BudgetedVenue;
use shared::domain::{Order, OrderId, Timestamp};
use shared::ports::{BudgetDecision, Venue, VenueBudget, VenueError, VenueOrder, VenueRate};

#[test]
fn alpacas_200_a_minute_is_15_per_5_second_window() {
    assert_eq!(VenueRate::ALPACA.per_window(), 15);
    let at = Timestamp::from_unix_millis(1_000_003_000).unwrap();
    assert_eq!(VenueRate::ALPACA.window(at), (1_000_000, 2));
    // A limit too small for its window still lets one request through.
    assert_eq!(
        VenueRate {
            per_minute: 3,
            window_secs: 5
        }
        .per_window(),
        1
    );
}

/// A caller that asks every 100 ms for ten minutes, as greedy as can be: in no
/// sliding minute does it get more than the venue's limit, whatever the window
/// length; the shorter the window, the more of the limit is usable (5 s: 90%).
#[tokio::test]
async fn no_sliding_minute_exceeds_the_limit() {
    for window_secs in [1, 5, 10, 30, 60] {
        let rate = VenueRate {
            per_minute: 200,
            window_secs,
        };
        let budget = MemoryVenueBudget::new();
        let mut granted_at: Vec<i64> = Vec::new();
        let start_ms = 1_700_000_000_000i64 + 1234;
        for tick in 0..6_000i64 {
            let now_ms = start_ms + tick * 100;
            let now = Timestamp::from_unix_millis(now_ms).unwrap();
            if budget.take_venue_request("k", rate, now).await == Ok(BudgetDecision::Granted) {
                granted_at.push(now_ms);
            }
        }
        let mut window = VecDeque::new();
        let mut worst = 0;
        for &t in &granted_at {
            window.push_back(t);
            while window.front().is_some_and(|&f| f <= t - 60_000) {
                window.pop_front();
            }
            worst = worst.max(window.len());
        }
        assert!(
            worst <= 200,
            "{window_secs} s windows: {worst} requests in one sliding minute"
        );
        // Sustained, each window's budget is used in full: per_window × 60 / w a minute.
        let per_minute = granted_at.len() as f64 / 10.0;
        let expected = f64::from(rate.per_window() * 60 / window_secs);
        assert!(
            per_minute >= expected - 1.0,
            "{window_secs} s windows: {per_minute} a minute, not {expected}"
        );
        if window_secs == VenueRate::ALPACA.window_secs {
            assert!(
                per_minute >= 179.0,
                "the default windows use 90% of the limit: {per_minute}"
            );
        }
    }
}

/// A venue that counts its calls and answers each with what it was told.
struct Scripted {
    calls: AtomicUsize,
    rate_limited: bool,
}

#[async_trait]
impl Venue for Scripted {
    async fn place(&self, _order: &Order) -> Result<VenueOrder, VenueError> {
        Err(VenueError::Transient("not used".into()))
    }
    async fn find(&self, _client_order_id: &OrderId) -> Result<Option<VenueOrder>, VenueError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.rate_limited {
            return Err(VenueError::RateLimited {
                retry_after: Some(Duration::from_secs(12)),
                message: "too many requests".into(),
            });
        }
        Ok(None)
    }
    async fn cancel(&self, _venue_order_id: &str) -> Result<(), VenueError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn rate() -> VenueRate {
    VenueRate {
        per_minute: 26,
        window_secs: 5,
    } // 2 per window
}

#[tokio::test]
async fn a_spent_budget_answers_rate_limited_without_calling_the_venue() {
    let clock = Arc::new(FixedClock::new(Timestamp::from_unix_millis(1_700_000_001_000).unwrap()));
    let budget = Arc::new(MemoryVenueBudget::new());
    let venue = BudgetedVenue::new(
        Scripted {
            calls: AtomicUsize::new(0),
            rate_limited: false,
        },
        budget,
        "key-1",
        rate(),
        clock.clone(),
    );
    let id = OrderId::new();
    assert_eq!(venue.find(&id).await, Ok(None));
    assert_eq!(venue.cancel("v-1").await, Ok(()));
    match venue.find(&id).await {
        Err(VenueError::RateLimited { retry_after, .. }) => assert_eq!(retry_after, Some(Duration::from_secs(4))),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    clock.advance_seconds(4);
    assert_eq!(venue.find(&id).await, Ok(None), "the next window opens");
}

#[tokio::test]
async fn a_429_from_the_venue_stops_every_caller_until_its_retry_after() {
    let clock = Arc::new(FixedClock::new(Timestamp::from_unix_millis(1_700_000_001_000).unwrap()));
    let budget: Arc<dyn VenueBudget> = Arc::new(MemoryVenueBudget::new());
    let limited = BudgetedVenue::new(
        Scripted {
            calls: AtomicUsize::new(0),
            rate_limited: true,
        },
        budget.clone(),
        "key-1",
        rate(),
        clock.clone(),
    );
    assert!(matches!(
        limited.find(&OrderId::new()).await,
        Err(VenueError::RateLimited { .. })
    ));
    // Another instance on the same key: no call reaches its venue for 12 s.
    let other = Scripted {
        calls: AtomicUsize::new(0),
        rate_limited: false,
    };
    let other = BudgetedVenue::new(other, budget.clone(), "key-1", rate(), clock.clone());
    for _ in 0..2 {
        assert!(matches!(other.cancel("v").await, Err(VenueError::RateLimited { .. })));
        clock.advance_seconds(5);
    }
    clock.advance_seconds(5);
    assert_eq!(other.cancel("v").await, Ok(()), "15 s after the 429");
}

/// Issue 14: a burst of placements must not starve the intake of the venue budget.
/// Execute's venue leaves a share of every window to the intake (`with_reserve`): it
/// is refused once only the reserve is left, while the intake (no reserve) still gets
/// those requests. A 429 still stops both.
#[tokio::test]
async fn executes_share_leaves_the_intake_its_reserve_in_every_window() {
    let clock = Arc::new(FixedClock::new(Timestamp::from_unix_millis(1_700_000_001_000).unwrap()));
    let budget: Arc<dyn VenueBudget> = Arc::new(MemoryVenueBudget::new());
    let rate = VenueRate {
        per_minute: 65,
        window_secs: 5,
    }; // 5 per window
    let scripted = || Scripted {
        calls: AtomicUsize::new(0),
        rate_limited: false,
    };
    let execute = BudgetedVenue::new(scripted(), budget.clone(), "key-1", rate, clock.clone()).with_reserve(2);
    let intake = BudgetedVenue::new(scripted(), budget.clone(), "key-1", rate, clock.clone());
    let id = OrderId::new();
    for _ in 0..3 {
        assert_eq!(execute.find(&id).await, Ok(None));
    }
    assert!(
        matches!(execute.find(&id).await, Err(VenueError::RateLimited { .. })),
        "execute stops at 3 of 5: the last 2 are the intake's"
    );
    assert_eq!(intake.find(&id).await, Ok(None));
    assert_eq!(intake.find(&id).await, Ok(None));
    assert!(matches!(intake.find(&id).await, Err(VenueError::RateLimited { .. })));
    // The next window: execute gets its 3 again.
    clock.advance_seconds(5);
    assert_eq!(execute.find(&id).await, Ok(None));
    // A reserve as large as the window still lets one request a window through.
    let greedy = BudgetedVenue::new(scripted(), budget.clone(), "key-2", rate, clock.clone()).with_reserve(9);
    assert_eq!(greedy.find(&id).await, Ok(None));
    assert!(matches!(greedy.find(&id).await, Err(VenueError::RateLimited { .. })));
}
