//! The venue intake function (SPEC §6): run by a schedule once a minute, it makes
//! intake passes (`shared::app::intake_pass`) every `poll` until shortly before its
//! own timeout, so the venue sees a constant number of calls a minute whatever the
//! number of resting orders: at 2 s, about 30 passes, each one activities page,
//! and a reconciliation sweep on every `status_every`-th pass (ceil(open / 500)
//! listing calls, plus one lookup per order of ours that left the venue's open list
//! and is not ended by its executions). A pass that fails is logged and the next one
//! goes on from the durable cursor: nothing is lost, nothing booked twice.

use std::sync::Arc;
use std::time::Duration;

use shared::app::{IntakeDeps, IntakeError, PassReport, intake_pass};
use shared::domain::Timestamp;
use shared::ports::{AttentionLog, Clock, IntakeStore, OrderStore, Venue, VenueFeed};
use tracing::{error, info, warn};

/// Stop starting passes this long before the invocation's deadline: a pass's own
/// venue calls (2 s timeout each) and writes fit in it.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(8);

pub struct Intake {
    pub store: Arc<dyn OrderStore>,
    /// Mismatches the sweep cannot correct, recorded for operators.
    pub attention: Arc<dyn AttentionLog>,
    pub intake: Arc<dyn IntakeStore>,
    pub feed: Arc<dyn VenueFeed>,
    /// The sweep's lookups of single orders (the same budgeted venue as `feed`).
    pub venue: Arc<dyn Venue>,
    pub clock: Arc<dyn Clock>,
    /// Names the cursor: a digest of the venue API key id.
    pub feed_key: String,
    /// `INTAKE_POLL_SECS` (default 2).
    pub poll: Duration,
    /// How far back the first start reads executions (`INTAKE_LOOKBACK_SECS`,
    /// default 7 days).
    pub lookback: Duration,
    pub page_size: u32,
    pub unknown_status_alarm_secs: i64,
    /// Sweep on every this many passes (`INTAKE_STATUS_EVERY`, default 5: every
    /// 10 s at the default poll).
    pub status_every: u32,
}

/// What one invocation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub passes: u32,
    pub failed: u32,
    pub totals: PassReport,
}

impl Intake {
    fn since(&self) -> Timestamp {
        let secs = i64::try_from(self.lookback.as_secs()).unwrap_or(i64::MAX / 2);
        self.clock.now().plus_seconds(-secs)
    }

    /// One pass, at the handler's settings; `statuses`: sweep too.
    pub async fn pass(&self, statuses: bool) -> Result<PassReport, IntakeError> {
        let since = self.since();
        let deps = IntakeDeps {
            store: self.store.as_ref(),
            attention: self.attention.as_ref(),
            intake: self.intake.as_ref(),
            feed: self.feed.as_ref(),
            venue: self.venue.as_ref(),
            clock: self.clock.as_ref(),
            feed_key: &self.feed_key,
            start: since,
            page_size: self.page_size,
            max_pages: 20,
            unknown_status_alarm_secs: self.unknown_status_alarm_secs,
            statuses,
        };
        intake_pass(&deps).await
    }

    /// Passes every `poll` until `remaining()` (the time left in the invocation) is
    /// under `DEADLINE_MARGIN`.
    pub async fn run(&self, remaining: impl Fn() -> Duration) -> RunReport {
        let mut report = RunReport::default();
        while remaining() > DEADLINE_MARGIN {
            let started = std::time::Instant::now();
            let statuses = report.passes % self.status_every.max(1) == 0;
            report.passes += 1;
            match self.pass(statuses).await {
                Ok(p) => {
                    report.totals.pages += p.pages;
                    report.totals.booked += p.booked;
                    report.totals.duplicates += p.duplicates;
                    report.totals.refused += p.refused;
                    report.totals.ended += p.ended;
                    report.totals.deferred += p.deferred;
                    report.totals.unknown += p.unknown;
                    report.totals.replaced += p.replaced;
                    report.totals.listed += p.listed;
                    report.totals.looked_up += p.looked_up;
                }
                Err(e @ IntakeError::Venue(_)) => {
                    report.failed += 1;
                    warn!(error = %e, "intake pass failed at the venue; the next pass goes on from the cursor");
                }
                Err(e) => {
                    report.failed += 1;
                    error!(error = %e, "intake pass failed; the next pass goes on from the cursor");
                }
            }
            let wait = self.poll.saturating_sub(started.elapsed());
            if remaining() <= DEADLINE_MARGIN + wait {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        info!(
            passes = report.passes,
            failed = report.failed,
            booked = report.totals.booked,
            ended = report.totals.ended,
            listed = report.totals.listed,
            looked_up = report.totals.looked_up,
            "intake run"
        );
        report
    }
}
