//! `BudgetedVenue`: the `Venue` port behind the deployment's shared request budget
//! (`VenueBudget`). Every call first takes a request from the budget; when the budget
//! is spent the call is not made and answers `RateLimited` with the time the next
//! window opens. A 429 that gets through anyway (another client on the same key, a
//! venue window aligned differently) spends the windows until the venue's
//! `Retry-After`, so no instance asks again before the venue said it may. The same
//! holds for the account-wide `VenueFeed` calls.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::warn;

use crate::domain::{Order, OrderId};
use crate::ports::{
    BudgetDecision, Clock, ExecutionPage, FeedPosition, OpenOrderPage, Venue, VenueBudget, VenueError, VenueFeed,
    VenueOrder, VenueOrderRef, VenueRate,
};

pub struct BudgetedVenue<V> {
    inner: V,
    budget: Arc<dyn VenueBudget>,
    /// The API key the budget is kept for (its id, never the secret).
    api_key: String,
    rate: VenueRate,
    /// Requests of every window this caller leaves to the others (`with_reserve`).
    reserve: u32,
    clock: Arc<dyn Clock>,
}

impl<V> BudgetedVenue<V> {
    pub fn new(
        inner: V,
        budget: Arc<dyn VenueBudget>,
        api_key: impl Into<String>,
        rate: VenueRate,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner,
            budget,
            api_key: api_key.into(),
            rate,
            reserve: 0,
            clock,
        }
    }

    /// Leaves `reserve` requests of every window to the other callers on the key: a
    /// call is refused (`RateLimited`) once only those are left. Execute leaves the
    /// intake its share this way, so a burst of placements never starves the intake
    /// (which keeps no reserve and may use the whole window).
    pub fn with_reserve(mut self, reserve: u32) -> Self {
        self.reserve = reserve;
        self
    }

    async fn admit(&self) -> Result<(), VenueError> {
        match self
            .budget
            .take_venue_request_leaving(&self.api_key, self.rate, self.reserve, self.clock.now())
            .await
        {
            Ok(BudgetDecision::Granted) => Ok(()),
            Ok(BudgetDecision::Wait { retry_after_secs }) => Err(VenueError::RateLimited {
                retry_after: Some(Duration::from_secs(retry_after_secs.max(1))),
                message: format!(
                    "the deployment's venue budget ({} requests a minute, {} per {} s window, {} of them left to others) is spent",
                    self.rate.per_minute,
                    self.rate.per_window(),
                    self.rate.window_secs,
                    self.reserve
                ),
            }),
            // Not knowing the budget is not permission to exceed it.
            Err(e) => Err(VenueError::Transient(format!(
                "the venue budget could not be read: {e}"
            ))),
        }
    }

    async fn observe<T>(&self, result: Result<T, VenueError>) -> Result<T, VenueError> {
        if let Err(VenueError::RateLimited { retry_after, .. }) = &result {
            let now = self.clock.now();
            let secs = retry_after.map_or(i64::from(self.rate.window_secs), |d| d.as_secs().max(1) as i64);
            if let Err(e) = self
                .budget
                .spend_venue_windows(&self.api_key, self.rate, now, now.plus_seconds(secs))
                .await
            {
                warn!(error = %e, "the venue answered 429 and its back-off could not be recorded");
            }
        }
        result
    }
}

#[async_trait]
impl<V: Venue> Venue for BudgetedVenue<V> {
    async fn place(&self, order: &Order) -> Result<VenueOrder, VenueError> {
        self.admit().await?;
        self.observe(self.inner.place(order).await).await
    }

    async fn find(&self, client_order_id: &OrderId) -> Result<Option<VenueOrder>, VenueError> {
        self.admit().await?;
        self.observe(self.inner.find(client_order_id).await).await
    }

    async fn cancel(&self, venue_order_id: &str) -> Result<(), VenueError> {
        self.admit().await?;
        self.observe(self.inner.cancel(venue_order_id).await).await
    }

    async fn replace(
        &self,
        venue_order_id: &str,
        changes: &crate::ports::VenueReplace,
    ) -> Result<VenueOrder, VenueError> {
        self.admit().await?;
        self.observe(self.inner.replace(venue_order_id, changes).await).await
    }
}

/// The feed's list calls take from the same budget as the order calls: one request
/// each, whatever the page holds.
#[async_trait]
impl<V: VenueFeed> VenueFeed for BudgetedVenue<V> {
    async fn executions(&self, from: &FeedPosition, page_size: u32) -> Result<ExecutionPage, VenueError> {
        self.admit().await?;
        self.observe(self.inner.executions(from, page_size).await).await
    }

    async fn open_orders(&self, after: Option<&str>, limit: u32) -> Result<OpenOrderPage, VenueError> {
        self.admit().await?;
        self.observe(self.inner.open_orders(after, limit).await).await
    }

    async fn venue_order(&self, venue_order_id: &str) -> Result<Option<VenueOrderRef>, VenueError> {
        self.admit().await?;
        self.observe(self.inner.venue_order(venue_order_id).await).await
    }
}
