//! Status and trading state events on the bus (`StatusEvents`).

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Attention, AttentionKind};
use crate::domain::{Order, OrderId, OrderStatus, Side, Symbol, Timestamp, TraderId, TradingState};

/// EventBridge `source` and `detail-type` of status events (SPEC §7).
pub const EVENT_SOURCE: &str = "orders";
pub const EVENT_DETAIL_TYPE: &str = "Order Status Changed";

/// The detail of an `Order Status Changed` event. Consumers dedupe by
/// (`order_id`, `version`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub order_id: OrderId,
    pub trader_id: TraderId,
    pub client_order_id: Option<String>,
    pub symbol: Symbol,
    pub side: Side,
    pub previous_status: Option<OrderStatus>,
    pub new_status: OrderStatus,
    #[serde(with = "rust_decimal::serde::str")]
    pub filled_quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub average_price: Option<Decimal>,
    pub version: u64,
    pub timestamp: Timestamp,
}

impl StatusEvent {
    /// The event for an order that moved from `previous` (None when just created).
    pub fn of(previous: Option<OrderStatus>, order: &Order) -> Self {
        Self {
            order_id: order.order_id,
            trader_id: order.trader_id.clone(),
            client_order_id: order.client_order_id.as_ref().map(|c| c.to_string()),
            symbol: order.symbol.clone(),
            side: order.side,
            previous_status: previous,
            new_status: order.status,
            filled_quantity: order.filled_quantity,
            average_price: order.average_fill_price,
            version: order.version,
            timestamp: order.updated_at,
        }
    }
}

/// EventBridge `detail-type` of a trading state change (issue 19).
pub const TRADING_STATE_DETAIL_TYPE: &str = "Trading State Changed";

/// The detail of a `Trading State Changed` event: an operator set the trading state of
/// the deployment or of one trader. Consumers dedupe by (`scope`, `trader_id`,
/// `audit_sequence`): the change's record on the principal's operator chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradingStateEvent {
    /// `deployment` or `trader`.
    pub scope: String,
    /// The trader, for a trader's state.
    pub trader_id: Option<TraderId>,
    pub previous_state: TradingState,
    pub state: TradingState,
    pub audit_sequence: u64,
}

/// EventBridge `detail-type` of a reconciliation finding (issue 14).
pub const RECONCILIATION_DETAIL_TYPE: &str = "Order Reconciled";

/// The detail of an `Order Reconciled` event: the reconciliation sweep corrected an
/// order to what the venue says (`corrected`: the correction's own `Order Status
/// Changed` event goes out too), or found a mismatch it could not correct and left
/// it for an operator (`corrected` false, `from_status` = `to_status`; recorded once
/// a UTC day per order and kind of mismatch). One event per operator record
/// (`GET /api/v1/operator/attention?kind=reconciliation`), which is written in the
/// same transaction as the correction. Consumers dedupe by `reconciliation_id`: the
/// record's place in its day's list, `<unix milliseconds, 13 digits>#<order id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationEvent {
    pub reconciliation_id: String,
    pub order_id: OrderId,
    pub trader_id: TraderId,
    pub venue_order_id: String,
    /// The venue's status of the order, as the venue spells it (`canceled`, ...).
    pub venue_status: String,
    pub from_status: OrderStatus,
    pub to_status: OrderStatus,
    pub corrected: bool,
    pub reason: String,
    pub at: Timestamp,
}

impl ReconciliationEvent {
    /// The event of an operator record; `Ok(None)` for a record of another kind (a
    /// stall), `Err` naming the field a reconciliation record lacks.
    pub fn of(record: &Attention) -> Result<Option<Self>, &'static str> {
        if record.kind != AttentionKind::Reconciliation {
            return Ok(None);
        }
        Ok(Some(Self {
            reconciliation_id: record.position(),
            order_id: record.order_id,
            trader_id: record.trader_id.clone(),
            venue_order_id: record.venue_order_id.clone().ok_or("venue_order_id")?,
            venue_status: record.venue_status.clone().ok_or("venue_status")?,
            from_status: record.from_status,
            to_status: record.to_status,
            corrected: record.corrected,
            reason: record.reason.clone(),
            at: record.at,
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Some entries were refused for good (e.g. validation), or stayed refused after
    /// the retry budget. `failed` holds the indexes of the events not published.
    #[error("{} of {total} status events were not published: {detail}", failed.len())]
    Failed {
        failed: Vec<usize>,
        total: usize,
        detail: String,
    },
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait StatusEvents: Send + Sync {
    /// Publishes every event or says which were not published; never drops one
    /// silently.
    async fn publish(&self, events: &[StatusEvent]) -> Result<(), PublishError>;
    /// Publishes trading state changes (`Trading State Changed`), with the same
    /// guarantee.
    async fn publish_trading_states(&self, events: &[TradingStateEvent]) -> Result<(), PublishError>;
    /// Publishes reconciliation findings (`Order Reconciled`), with the same guarantee.
    async fn publish_reconciliations(&self, events: &[ReconciliationEvent]) -> Result<(), PublishError>;
}
