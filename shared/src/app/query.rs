//! Read use cases (SPEC §3): one order, a trader's orders (newest first, paged with an
//! opaque cursor), an order's fills and audit trail, and the account view. Every read
//! is scoped to the caller: another trader's order is simply not found.

use rust_decimal::Decimal;
use serde::Serialize;

use super::error::AppError;
use super::list_params::given;
pub use super::list_params::{ListParams, MAX_SYMBOLS, order_filter};
use super::plan::REFUSED_SUBMIT;
use crate::domain::{
    AuditRecord, ClientOrderId, FieldError, Fill, Order, OrderId, RiskLimits, Symbol, Timestamp, TraderId,
};
use crate::ports::{AuditLog, OrderStore};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

#[derive(Debug, Serialize)]
pub struct OrderList {
    pub orders: Vec<Order>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FillList {
    pub fills: Vec<Fill>,
}

#[derive(Debug, Serialize)]
pub struct AuditList {
    pub records: Vec<AuditRecord>,
}

#[derive(Debug, Serialize)]
pub struct PositionView {
    pub symbol: Symbol,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub average_cost: Decimal,
}

/// SPEC §3 account shape. Money fields are shown to the cent, whatever an older item
/// holds (bookings are in cents since issue 15); position figures keep their decimals.
#[derive(Debug, Serialize)]
pub struct AccountView {
    pub trader_id: TraderId,
    #[serde(serialize_with = "money")]
    pub cash: Decimal,
    #[serde(serialize_with = "money")]
    pub reserved: Decimal,
    #[serde(serialize_with = "money")]
    pub buying_power: Decimal,
    pub positions: Vec<PositionView>,
    #[serde(serialize_with = "money")]
    pub realized_pnl_today: Decimal,
    pub limits: RiskLimits,
}

/// A money amount as a string with at most the currency's decimals.
fn money<S: serde::Serializer>(amount: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::domain::money::cents(*amount).to_string())
}

fn bad(field: &str, message: String) -> AppError {
    AppError::InvalidParameter(FieldError::new(field, message))
}

/// Cursors are opaque to clients: the hex of the last order id of a page, versioned.
fn encode_cursor(id: OrderId) -> String {
    format!("c1{}", hex::encode(id.to_string()))
}

pub(super) fn decode_cursor(raw: &str) -> Result<OrderId, AppError> {
    let invalid = || {
        bad(
            "cursor",
            "Cursor is not one this API returned; start again without it".into(),
        )
    };
    let hexed = raw.strip_prefix("c1").ok_or_else(invalid)?;
    let text = hex::decode(hexed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    OrderId::parse(&text).map_err(|_| invalid())
}

async fn owned_order(store: &dyn OrderStore, trader: &TraderId, raw_id: &str) -> Result<Order, AppError> {
    let id = OrderId::parse(raw_id).map_err(|_| AppError::OrderNotFound(raw_id.to_owned()))?;
    store
        .get_order(trader, &id)
        .await?
        .ok_or_else(|| AppError::OrderNotFound(id.to_string()))
}

pub async fn get_order(store: &dyn OrderStore, trader: &TraderId, id: &str) -> Result<Order, AppError> {
    owned_order(store, trader, id).await
}

/// A trader's orders, newest first unless `direction=asc`, filtered and paged. A page
/// may hold fewer than `limit` orders and still have a `next_cursor` when the filter
/// matched little of what one request may read (`MAX_ORDERS_EXAMINED`).
pub async fn list_orders(store: &dyn OrderStore, trader: &TraderId, p: &ListParams<'_>) -> Result<OrderList, AppError> {
    let (filter, limit, cursor) = order_filter(p)?;
    let page = store.filter_orders(trader, &filter, limit, cursor).await?;
    Ok(OrderList {
        orders: page.orders,
        next_cursor: page.next.map(encode_cursor),
    })
}

/// `GET /orders:by_client_order_id?client_order_id=`: the trader's latest order with
/// that client order id (at most one of them is open).
pub async fn by_client_order_id(
    store: &dyn OrderStore,
    trader: &TraderId,
    raw: Option<&str>,
) -> Result<Order, AppError> {
    let raw = given(raw).ok_or_else(|| {
        bad(
            "client_order_id",
            "Client order id is required: GET /orders:by_client_order_id?client_order_id=<your id>".into(),
        )
    })?;
    let cid = ClientOrderId::parse(raw).map_err(|e| bad("client_order_id", e.to_string()))?;
    store
        .order_by_client_order_id(trader, &cid)
        .await?
        .ok_or_else(|| AppError::OrderNotFound(format!("with client order id {cid}")))
}

pub async fn fills(store: &dyn OrderStore, trader: &TraderId, id: &str) -> Result<FillList, AppError> {
    let order = owned_order(store, trader, id).await?;
    Ok(FillList {
        fills: store.fills(trader, &order.order_id).await?,
    })
}

pub async fn audit(
    store: &dyn OrderStore,
    log: &dyn AuditLog,
    trader: &TraderId,
    id: &str,
) -> Result<AuditList, AppError> {
    let order_id = OrderId::parse(id).map_err(|_| AppError::OrderNotFound(id.to_owned()))?;
    if let Some(order) = store.get_order(trader, &order_id).await? {
        return Ok(AuditList {
            records: log.records(&order.order_id).await?,
        });
    }
    // No order: it may be a refused submit's chain, named by its problem's `audit_id`.
    // The caller reads it only if it is their own refusal; anything else is not found,
    // exactly like another trader's order (never leak existence).
    let records = log.records(&order_id).await?;
    let own_refusal = records
        .first()
        .is_some_and(|r| r.action == REFUSED_SUBMIT && &r.trader_id == trader);
    if own_refusal {
        Ok(AuditList { records })
    } else {
        Err(AppError::OrderNotFound(order_id.to_string()))
    }
}

pub async fn account(store: &dyn OrderStore, trader: &TraderId, now: Timestamp) -> Result<AccountView, AppError> {
    let a = store.get_account(trader).await?.ok_or(AppError::AccountNotFound)?;
    Ok(AccountView {
        buying_power: a.buying_power(),
        realized_pnl_today: a.realized_pnl_on(now.trading_day()),
        positions: a
            .positions
            .iter()
            .filter(|p| !p.quantity.is_zero())
            .map(|p| PositionView {
                symbol: p.symbol.clone(),
                quantity: p.quantity,
                average_cost: p.average_cost,
            })
            .collect(),
        trader_id: a.trader_id,
        cash: a.cash,
        reserved: a.reserved,
        limits: a.limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_account_shows_money_to_the_cent_and_positions_as_held() {
        use crate::adapters::memory::MemoryStore;
        let store = MemoryStore::new();
        let trader = TraderId::parse("alice").unwrap();
        // An older item holding a 28-digit figure (before bookings were in cents).
        let odd = Decimal::from_str_exact("1000.6666666666666666666666667").unwrap();
        store.fund_account(&trader, odd, None).await.unwrap();
        let symbol = Symbol::parse("AAPL").unwrap();
        let cost = Decimal::from_str_exact("150.123456").unwrap();
        store
            .deposit_position(&trader, &symbol, Decimal::from_str_exact("0.5").unwrap(), cost)
            .await
            .unwrap();
        let view = serde_json::to_value(account(&store, &trader, Timestamp::now()).await.unwrap()).unwrap();
        assert_eq!(view["cash"], "1000.67");
        assert_eq!(view["buying_power"], "1000.67");
        assert_eq!(view["positions"][0]["average_cost"], "150.123456");
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_an_invalid_cursor() {
        let id = OrderId::new();
        assert_eq!(decode_cursor(&encode_cursor(id)), Ok(id));
        for junk in ["", "c1zz", "abc", "c1414243"] {
            match decode_cursor(junk) {
                Err(AppError::InvalidParameter(f)) => assert_eq!(f.field, "cursor", "{junk}"),
                other => panic!("{junk}: {other:?}"),
            }
        }
    }
}
