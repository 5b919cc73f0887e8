//! Turning a decision into the exact write a store commits. Pure: no I/O. The submit
//! and execute use cases call these, and so do the contract tests, so the stores are
//! tested with the writes production makes.

use serde_json::Value;

use crate::domain::{
    Account, AuditEntry, AuditRecord, Changes, GENESIS_HASH, IdempotencyKey, Order, OrderDraft, OrderError, OrderEvent,
    OrderId, Position, Pricing, Reservation, Side, Timestamp, TraderId, assess,
};
use crate::ports::{Booking, NewOrder, SubmitGuards, TransitionWrite};

/// Who and what caused a change, for its audit record.
#[derive(Clone, Debug, Default)]
pub struct AuditContext {
    pub actor: String,
    pub request_id: Option<String>,
    pub idempotency_key: Option<IdempotencyKey>,
}

impl AuditContext {
    pub fn system(actor: &str) -> Self {
        Self {
            actor: actor.to_owned(),
            ..Self::default()
        }
    }
}

fn snapshot(order: &Order) -> Option<Value> {
    serde_json::to_value(order).ok()
}

/// Plans a submit: checks the draft against the account snapshot and builds the
/// order, its reservation and its first audit record.
pub fn plan_submit(
    order_id: OrderId,
    draft: OrderDraft,
    account: &Account,
    pricing: &Pricing,
    ctx: &AuditContext,
    now: Timestamp,
) -> Result<NewOrder, OrderError> {
    let assessment = assess(&draft, account, pricing, now.trading_day())?;
    let reserved_amount = match &assessment.reservation {
        Reservation::Cash(amount) => *amount,
        Reservation::Position { .. } => rust_decimal::Decimal::ZERO,
    };
    let mut order = Order::pending(order_id, account.trader_id.clone(), draft, reserved_amount, now);
    let audit = AuditEntry {
        order_id,
        trader_id: account.trader_id.clone(),
        actor: ctx.actor.clone(),
        action: "SUBMIT".into(),
        at: now,
        before: None,
        after: snapshot(&order),
        reason: None,
        request_id: ctx.request_id.clone(),
        idempotency_key: ctx.idempotency_key.clone(),
        changes: None,
    }
    .seal(order.version, GENESIS_HASH);
    order.audit_head = audit.hash.clone();
    let side = order.side;
    Ok(NewOrder {
        order,
        notional: assessment.notional,
        reservation: assessment.reservation,
        guards: SubmitGuards {
            side,
            max_open_orders: account.limits.max_open_orders,
            daily_loss_limit: account.limits.daily_loss_limit,
            today: now.trading_day(),
        },
        audit,
        idempotency: None,
        duplicate: None,
        notional_window: None,
    })
}

/// The action of a refused submit's audit record.
pub const REFUSED_SUBMIT: &str = "SUBMIT_REJECTED";

/// The audit record of a refused submit: no order exists, so it opens a chain of its
/// own under a fresh id, holding the request as received and the reason.
pub fn plan_rejected_submit(
    order_id: OrderId,
    trader_id: &TraderId,
    request: Option<Value>,
    error: &OrderError,
    ctx: &AuditContext,
    now: Timestamp,
) -> AuditRecord {
    AuditEntry {
        order_id,
        trader_id: trader_id.clone(),
        actor: ctx.actor.clone(),
        action: REFUSED_SUBMIT.into(),
        at: now,
        before: None,
        after: request,
        reason: Some(error.to_string()),
        request_id: ctx.request_id.clone(),
        idempotency_key: ctx.idempotency_key.clone(),
        changes: None,
    }
    .seal(1, GENESIS_HASH)
}

/// Plans a status transition of `before` under `event`. Fills need the account
/// snapshot, to book the trade on the position and today's P&L.
pub fn plan_transition(
    before: &Order,
    event: &OrderEvent,
    account: Option<&Account>,
    ctx: &AuditContext,
    now: Timestamp,
) -> Result<TransitionWrite, OrderError> {
    let applied = before.apply(event, now)?;
    let booking = match &applied.effect.trade {
        None => None,
        Some(trade) => {
            let account = account.ok_or(OrderError::NoAccount)?;
            let position = account
                .position(&before.symbol)
                .cloned()
                .unwrap_or_else(|| Position::empty(before.symbol.clone()));
            let (after, realized) = position.book(trade);
            // Cash moves in whole cents (the trade's price and the position's
            // average cost keep their own decimals).
            let notional = crate::domain::money::cents(trade.quantity * trade.price);
            let cash = if trade.side == Side::Buy { -notional } else { notional };
            Some(Booking {
                before: position,
                after,
                cash,
                pnl: crate::domain::PnlUpdate::new(account, now.trading_day(), realized),
            })
        }
    };
    let mut after = applied.order;
    // The record stores what changed (issue 17: a quarter of the bytes of both
    // snapshots, one write unit per KB); both snapshots stay on the record in memory.
    let (before_snapshot, after_snapshot) = (snapshot(before), snapshot(&after));
    let changes = match (&before_snapshot, &after_snapshot) {
        (Some(b), Some(a)) => Changes::between(b, a),
        _ => None,
    };
    let audit = AuditEntry {
        order_id: before.order_id,
        trader_id: before.trader_id.clone(),
        actor: ctx.actor.clone(),
        action: event.action().into(),
        at: now,
        before: before_snapshot,
        after: after_snapshot,
        reason: after.reason.clone().filter(|_| before.reason != after.reason),
        request_id: ctx.request_id.clone(),
        idempotency_key: ctx.idempotency_key.clone(),
        changes,
    }
    .seal(after.version, &before.audit_head);
    after.audit_head = audit.hash.clone();
    Ok(TransitionWrite {
        before: before.clone(),
        after,
        audit,
        effect: applied.effect,
        fill: applied.fill,
        booking,
        idempotency: None,
        attention: None,
    })
}
