//! An operator's audit verification of one trader's orders (issue 22, the console's
//! operator view): each order's chain checked against the order as stored, as
//! `orders-admin verify-audit` does for one order (`verify_anchored`: links, hashes,
//! the head anchored to the order's version, `audit_head` and snapshot), a page of
//! orders a call, newest first.

use serde::Serialize;

use super::error::AppError;
use crate::domain::{FieldError, OrderId, TraderId, verify_anchored};
use crate::ports::{AuditLog, OrderStore};

/// Orders checked in one call: each costs one audit query (more for an order that moves).
pub const AUDIT_CHECK_PAGE: u32 = 50;
/// Reads of a moving order and its chain before its finding stands.
const MAX_READS: usize = 3;

/// One order whose chain does not verify.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BrokenChain {
    pub order_id: OrderId,
    /// What is wrong, in the verifier's words.
    pub finding: String,
}

/// `GET .../audit-verification`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditCheck {
    pub trader_id: TraderId,
    pub orders_checked: usize,
    pub broken: Vec<BrokenChain>,
    /// Pass as `cursor` to check the next page; null when every order was checked.
    pub next_cursor: Option<OrderId>,
}

/// Checks one page of `trader`'s orders after `cursor` (an order id from `next_cursor`).
pub async fn check_trader_audit(
    store: &dyn OrderStore,
    log: &dyn AuditLog,
    trader: &TraderId,
    cursor: Option<&str>,
) -> Result<AuditCheck, AppError> {
    let after = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(OrderId::parse(c).map_err(|_| {
            AppError::InvalidParameter(FieldError::new(
                "cursor",
                format!("cursor `{c}` is not an order id: pass the next_cursor of the previous answer"),
            ))
        })?),
    };
    if store.get_account(trader).await?.is_none() {
        return Err(AppError::TraderNotFound(trader.to_string()));
    }
    let page = store.list_orders(trader, None, AUDIT_CHECK_PAGE, after).await?;
    let mut broken = Vec::new();
    for listed in &page.orders {
        let mut order = listed.clone();
        let mut finding = None;
        for _ in 0..MAX_READS {
            let records = log.records(&order.order_id).await?;
            let Err(e) = verify_anchored(&order, &records) else {
                finding = None;
                break;
            };
            finding = Some(e.to_string());
            // A live order moves on while it is checked: a transition commits the order
            // and its record together, so a chain read after the order can run past it.
            // Read the order again after its chain; only a finding that holds for the
            // order as it now stands is reported.
            match store.get_order(trader, &order.order_id).await? {
                Some(fresh) if fresh.version != order.version => order = fresh,
                _ => break,
            }
        }
        if let Some(finding) = finding {
            broken.push(BrokenChain {
                order_id: order.order_id,
                finding,
            });
        }
    }
    Ok(AuditCheck {
        trader_id: trader.clone(),
        orders_checked: page.orders.len(),
        broken,
        next_cursor: page.next,
    })
}
