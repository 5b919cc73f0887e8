//! The execute function: an SQS batch of work messages (SPEC §6). Each message runs
//! `shared::app::execute`; the reply names only the messages that failed
//! (`ReportBatchItemFailures`), so one bad message never fails the batch. A failed
//! message is hidden for an exponential backoff with jitter (its visibility) and
//! comes back; after the queue's `maxReceiveCount` SQS moves it to the DLQ, and the
//! last failure marks the order stalled (reason, `STALL` audit record, event) and is
//! logged as an error naming the order, for the operator.
//!
//! A batch's orders run at once, so that one slow venue call does not hold up the
//! other nine; the messages of one order run one after the other in batch order (a
//! cancel behind its order's execute sees what that execute did). Either way each
//! message is safe against any other delivery of it (SPEC §6: conditional claims).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
pub use shared::app::execute::ExecutePolicy;
use shared::app::{ExecuteDeps, ExecuteError, execute, mark_stalled};
use shared::ports::{Clock, IntakeStore, OrderStore, Venue, VenueError, WorkMessage, WorkQueue};
use tracing::{Instrument, error, info, info_span, warn};

/// First retry after about this long (`RETRY_BACKOFF_BASE_MS`); doubles per receive.
pub const BACKOFF_BASE_MS: u64 = 2_000;
/// Longest backoff (SQS keeps a message invisible for at most 12 h).
const BACKOFF_CAP_SECS: u32 = 300;
/// Tries at setting a failed message's backoff. When the queue itself is out of
/// reach, the message would otherwise stay hidden for the queue's whole visibility
/// timeout (minutes); a few spaced tries ride out a short outage.
const VISIBILITY_TRIES: u32 = 3;
const VISIBILITY_RETRY_PAUSE: Duration = Duration::from_secs(1);
/// SQS takes a message delay of at most 15 minutes.
const SQS_MAX_DELAY_SECS: u32 = 900;
/// Up to this much is added to a rate-limited message's wait (one budget window).
const RATE_LIMIT_JITTER_SECS: u32 = 5;

/// The wait in whole seconds when `e` is the venue's rate limit (ours or the venue's
/// own 429), else `None`.
pub fn rate_limited(e: &ExecuteError) -> Option<u32> {
    match e {
        ExecuteError::Venue(VenueError::RateLimited { retry_after, .. }) => Some(
            retry_after
                .map(|d| u32::try_from(d.as_secs()).unwrap_or(SQS_MAX_DELAY_SECS))
                .unwrap_or(RATE_LIMIT_JITTER_SECS),
        ),
        _ => None,
    }
}

/// The share of every venue budget window execute leaves to the intake by default
/// (`VENUE_INTAKE_SHARE_PERCENT`): at Alpaca's 200 a minute, 3 of each 5 s window's
/// 15, 36 a minute, what the intake's passes and sweeps take at the template's
/// schedule (30 activities pages and 6 listings a minute). A burst of placements
/// then never starves the intake of the calls that book fills.
pub const DEFAULT_INTAKE_SHARE_PERCENT: u32 = 20;

/// Requests of each window of `rate` that execute leaves to the intake: `percent` of
/// the window, rounded up.
pub fn intake_reserve(rate: shared::ports::VenueRate, percent: u32) -> u32 {
    (rate.per_window() * percent.min(100)).div_ceil(100)
}

pub struct Execute {
    pub store: Arc<dyn OrderStore>,
    /// The order locators the venue intake reads (`IntakeStore::put_order_ref`).
    pub intake: Arc<dyn IntakeStore>,
    pub venue: Arc<dyn Venue>,
    pub queue: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
    /// The work queue's `maxReceiveCount`: the delivery after which SQS dead-letters.
    pub max_receives: u32,
    /// First backoff in milliseconds (`BACKOFF_BASE_MS` in production; the test
    /// stack sets a small one so that a retry budget is spent in seconds).
    pub backoff_base_ms: u64,
    /// The placement window and the stale-order bound.
    pub policy: ExecutePolicy,
}

/// Backoff before delivery `receive_count + 1` with the production base.
pub fn backoff_secs(receive_count: u32, jitter: f64) -> u32 {
    backoff_secs_from(BACKOFF_BASE_MS, receive_count, jitter)
}

/// Backoff before delivery `receive_count + 1`: base × 2^(n−1), capped, plus up to
/// half of it again as jitter so retries of one burst spread out; in whole seconds
/// (SQS visibility), rounded to the nearest.
pub fn backoff_secs_from(base_ms: u64, receive_count: u32, jitter: f64) -> u32 {
    let cap_ms = u64::from(BACKOFF_CAP_SECS) * 1000;
    let exp = receive_count.saturating_sub(1).min(16);
    let base = base_ms.saturating_mul(1 << exp).min(cap_ms);
    let extra = (base as f64 * 0.5 * jitter.clamp(0.0, 1.0)) as u64;
    let ms = (base + extra).min(cap_ms);
    u32::try_from(ms.saturating_add(500) / 1000).unwrap_or(BACKOFF_CAP_SECS)
}

/// The batch's message indexes grouped by order, each group in batch order; an
/// unreadable message is a group of its own.
fn by_order(parsed: &[(SqsMessage, Result<WorkMessage, serde_json::Error>)]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Option<String>, Vec<usize>)> = Vec::new();
    for (i, (_, work)) in parsed.iter().enumerate() {
        let key = work.as_ref().ok().map(|w| {
            let (trader, order) = w.ids();
            format!("{trader}/{order}")
        });
        match groups.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
            Some((_, group)) => group.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

impl Execute {
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let parsed: Vec<(SqsMessage, Result<WorkMessage, serde_json::Error>)> = event
            .records
            .into_iter()
            .map(|m| {
                let work = serde_json::from_str(m.body.as_deref().unwrap_or_default());
                (m, work)
            })
            .collect();
        let parsed = &parsed;
        let done = join_all(by_order(parsed).into_iter().map(|group| async move {
            let mut done = Vec::with_capacity(group.len());
            for i in group {
                let (message, work) = &parsed[i];
                done.push((i, self.one(message, work).await));
            }
            done
        }))
        .await;
        let mut failed: Vec<usize> = done
            .into_iter()
            .flatten()
            .filter(|(_, ok)| !ok)
            .map(|(i, _)| i)
            .collect();
        failed.sort_unstable();
        let mut response = SqsBatchResponse::default();
        for i in failed {
            response.add_failure(parsed[i].0.message_id.clone().unwrap_or_default());
        }
        response
    }

    /// True when the message is done with (to be deleted).
    async fn one(&self, message: &SqsMessage, work: &Result<WorkMessage, serde_json::Error>) -> bool {
        let id = message.message_id.as_deref().unwrap_or_default();
        let count = receive_count(message);
        let work = match work {
            Ok(w) => w,
            Err(e) => {
                // Never dropped: it fails until SQS dead-letters it for a person to read.
                let body = message.body.as_deref().unwrap_or_default();
                error!(message_id = id, error = %e, body, "unreadable work message");
                return false;
            }
        };
        let (trader, order) = work.ids();
        let span =
            info_span!("execute", message_id = id, order_id = %order, trader_id = %trader, receive_count = count);
        let deps = ExecuteDeps {
            store: self.store.as_ref(),
            intake: self.intake.as_ref(),
            venue: self.venue.as_ref(),
            clock: self.clock.as_ref(),
            policy: self.policy,
        };
        let result = execute(&deps, work, id).instrument(span.clone()).await;
        let _entered = span.enter();
        let Err(e) = result else { return true };
        if let Some(wait) = rate_limited(&e) {
            // SPEC §6: a rate limit never dead-letters or stalls an order. The message
            // goes back on the queue as a new one (its receive count starts again),
            // delayed until the venue budget's next window plus a little jitter so the
            // waiting messages do not all come back in the same second.
            let delay = wait
                .saturating_add((rand::random::<f64>() * f64::from(RATE_LIMIT_JITTER_SECS)) as u32)
                .clamp(1, SQS_MAX_DELAY_SECS);
            match self.queue.send(work, delay).await {
                Ok(()) => {
                    info!(delay, error = %e, "venue rate limit: the work message waits for the next window");
                    return true;
                }
                Err(q) => {
                    warn!(error = %q, "could not requeue a rate-limited message: it comes back on its visibility");
                    if let Some(handle) = message.receipt_handle.as_deref() {
                        self.set_backoff(handle, delay).await;
                    }
                    return false;
                }
            }
        }
        if count >= self.max_receives {
            error!(error = %e, "retry budget spent: the message goes to the dead-letter queue; the order needs an operator (redrive the DLQ once the cause is fixed)");
            mark_stalled(&deps, work, id, &e.to_string())
                .instrument(span.clone())
                .await;
        } else {
            warn!(error = %e, "will retry");
        }
        if let Some(handle) = message.receipt_handle.as_deref() {
            // The budget is spent: no backoff, so the next receive dead-letters it now
            // rather than after the longest backoff.
            let delay = if count >= self.max_receives {
                0
            } else {
                let backoff = backoff_secs_from(self.backoff_base_ms, count, rand::random::<f64>());
                backoff.max(self.secs_until_settled(&e))
            };
            self.set_backoff(handle, delay).await;
        }
        false
    }

    /// A cancel waiting for a placement window comes back once the window has closed
    /// (one second after it, whole seconds as SQS takes them), not after retries
    /// spent on a backoff shorter than the window; 0 for any other error.
    fn secs_until_settled(&self, e: &ExecuteError) -> u32 {
        let ExecuteError::PlacementInFlight { until, .. } = e else {
            return 0;
        };
        let ms = until.unix_millis() - self.clock.now().unix_millis();
        u32::try_from(ms.max(0) / 1000 + 1)
            .unwrap_or(BACKOFF_CAP_SECS)
            .min(BACKOFF_CAP_SECS)
    }

    /// Hides a failed message for `delay` s, trying again while the queue is out of reach.
    async fn set_backoff(&self, handle: &str, delay: u32) {
        for attempt in 1..=VISIBILITY_TRIES {
            match self.queue.change_visibility(handle, delay).await {
                Ok(()) => return,
                Err(e) if attempt < VISIBILITY_TRIES => {
                    warn!(error = %e, attempt, "could not set the retry backoff; trying again");
                    tokio::time::sleep(VISIBILITY_RETRY_PAUSE).await;
                }
                Err(e) => {
                    warn!(error = %e, "could not set the retry backoff; the queue's visibility timeout applies")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff_secs(1, 0.0), 2);
        assert_eq!(backoff_secs(2, 0.0), 4);
        assert_eq!(backoff_secs(4, 0.0), 16);
        assert_eq!(backoff_secs(4, 1.0), 24);
        assert_eq!(backoff_secs(30, 1.0), BACKOFF_CAP_SECS);
        assert_eq!(backoff_secs(0, 0.0), 2);
    }

    #[test]
    fn the_default_policy_uses_the_venue_adapters_default_timeout() {
        assert_eq!(
            ExecutePolicy::default().venue_timeout,
            Duration::from_millis(shared::adapters::venue::alpaca::DEFAULT_TIMEOUT_MS)
        );
    }

    #[test]
    fn the_intake_keeps_a_fifth_of_each_window_by_default() {
        use shared::ports::VenueRate;
        assert_eq!(intake_reserve(VenueRate::ALPACA, DEFAULT_INTAKE_SHARE_PERCENT), 3);
        let local = VenueRate {
            per_minute: 6000,
            window_secs: 5,
        };
        assert_eq!(intake_reserve(local, DEFAULT_INTAKE_SHARE_PERCENT), 93);
        assert_eq!(intake_reserve(VenueRate::ALPACA, 0), 0);
        assert_eq!(intake_reserve(VenueRate::ALPACA, 500), 15);
    }

    #[test]
    fn a_small_base_spends_the_budget_in_seconds() {
        // 250 ms doubling: 0.25, 0.5, 1, 2, 4, 8, 16 s, rounded to whole seconds.
        let delays: Vec<u32> = (1..=7).map(|n| backoff_secs_from(250, n, 0.0)).collect();
        assert_eq!(delays, vec![0, 1, 1, 2, 4, 8, 16]);
        assert_eq!(backoff_secs_from(0, 5, 1.0), 0);
        assert_eq!(backoff_secs_from(u64::MAX, 3, 1.0), BACKOFF_CAP_SECS);
    }
}
