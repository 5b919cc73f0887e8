// Long because: the one item mapping of the orders and audit tables (every attribute name in one place), with its
// round-trip tests; split with dynamo.rs.
//! DynamoDB item mapping: the only place attribute maps are built or read.
//!
//! Orders table (single table), keys:
//! - account     `TRADER#<t>` / `ACCOUNT`
//! - position    `TRADER#<t>` / `ACCOUNT#POS#<symbol>` (one query reads the account and all its positions)
//! - order       `TRADER#<t>` / `ORDER#<id>`, `GSI1PK = TRADER#<t>#<STATUS>`, `GSI1SK = ORDER#<id>`
//! - fill        `TRADER#<t>` / `FILL#<order id>#<execution id>`
//! - client id   `TRADER#<t>` / `CLIENT#<client order id>`: `order_id` of the trader's latest order with it
//!
//! Audit table: `ORDER#<id>` / 20-digit zero-padded sequence; an account's operator
//! changes `ACCOUNT#<trader>` / the same. The account item keeps its chain's anchor
//! (`audit_seq`, `audit_head`).
//!
//! Money is stored as DynamoDB numbers (exact decimals, 38 digits) so that conditions
//! can compare them; `available = cash - reserved` is kept on the account (and on
//! positions) because condition expressions cannot do arithmetic.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;
use serde_json::Value;
use time::Date;
use time::format_description::well_known::Iso8601;

use crate::domain::{
    Account, AccountAnchor, AccountAuditRecord, AuditRecord, ClientOrderId, Fill, IdempotencyKey, Order, OrderId,
    OrderStatus, OrderType, Position, Price, Quantity, RiskLimits, Side, Symbol, TimeInForce, Timestamp, TraderId,
    TradingState,
};
use crate::ports::{ArchiveEntry, IdempotencyRecord, StoreError};

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const ACCOUNT_SK: &str = "ACCOUNT";
pub const POSITION_PREFIX: &str = "ACCOUNT#POS#";

pub fn trader_pk(t: &TraderId) -> String {
    format!("TRADER#{t}")
}
pub fn order_sk(id: &OrderId) -> String {
    format!("ORDER#{id}")
}
pub fn position_sk(symbol: &Symbol) -> String {
    format!("{POSITION_PREFIX}{symbol}")
}
pub fn fill_prefix(order: &OrderId) -> String {
    format!("FILL#{order}#")
}
pub fn status_pk(t: &TraderId, status: OrderStatus) -> String {
    format!("TRADER#{t}#{status}")
}
pub fn idempotency_sk(key: &IdempotencyKey) -> String {
    format!("IDEMP#{key}")
}
pub fn client_order_sk(c: &ClientOrderId) -> String {
    format!("CLIENT#{c}")
}
/// The client order id item: which order of the trader last took this id.
pub fn client_order_to_item(trader: &TraderId, c: &ClientOrderId, order: &OrderId) -> Item {
    let mut item = key(trader_pk(trader), client_order_sk(c));
    item.insert("order_id".into(), s(order.to_string()));
    item
}
pub fn client_order_from_item(item: &Item) -> Result<OrderId, StoreError> {
    Reader::new(item, "client order id").parse("order_id")
}
pub fn rate_sk(window_start: i64) -> String {
    format!("RATE#{window_start}")
}
/// The TTL attribute of the orders table (idempotency records, rate counters).
pub const EXPIRES_AT: &str = "expires_at";
pub fn audit_pk(order: &OrderId) -> String {
    format!("ORDER#{order}")
}
/// The chain of an account's operator changes (`AccountAuditRecord`).
pub fn account_audit_pk(trader: &TraderId) -> String {
    format!("ACCOUNT#{trader}")
}
/// Attributes of the account item that anchor its operator chain.
pub const AUDIT_SEQ: &str = "audit_seq";
pub const AUDIT_HEAD: &str = "audit_head";
/// The trading state attribute (controls): on an account item (the trader's own, or
/// the deployment principal's) and on the deployment's state shards.
pub const TRADING_STATE: &str = "trading_state";
/// How many copies of the deployment's trading state submits check. Every submit's
/// transaction carries a `ConditionCheck` on one of them (by trader), and DynamoDB
/// makes two transactions that hold the same item conflict (TransactionConflict),
/// so one item would serialize every submit of the deployment; a change writes all of
/// them in one transaction (with the principal's item and audit record: 18 of the 100
/// items a transaction may hold), so after its commit every copy says the same.
pub const DEPLOYMENT_STATE_SHARDS: u32 = 16;
/// The deployment state shard submits of `trader` check.
pub fn deployment_state_sk(trader: &TraderId) -> String {
    // FNV-1a: stable across builds and processes (std's hasher is randomly keyed).
    let hash = trader.as_str().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    trading_shard_sk((hash % u64::from(DEPLOYMENT_STATE_SHARDS)) as u32)
}
pub fn trading_shard_sk(shard: u32) -> String {
    format!("TRADING#{shard:02}")
}

/// A stored trading state (absent: `active`).
pub fn trading_state_from_item(item: &Item) -> Result<TradingState, StoreError> {
    match item.get(TRADING_STATE) {
        None => Ok(TradingState::Active),
        Some(AttributeValue::S(raw)) => TradingState::parse(raw).ok_or_else(|| corrupt("account", TRADING_STATE)),
        Some(_) => Err(corrupt("account", TRADING_STATE)),
    }
}

pub fn audit_sk(sequence: u64) -> String {
    format!("{sequence:020}")
}

pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk)),
    ])
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn corrupt(what: &str, name: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} attribute `{name}` is missing or malformed"))
}

/// Typed reads from an item, each naming the attribute when it is missing or bad.
pub struct Reader<'a> {
    item: &'a Item,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item, what: &'static str) -> Self {
        Self { item, what }
    }

    pub fn opt_str(&self, name: &str) -> Option<&'a str> {
        match self.item.get(name) {
            Some(AttributeValue::S(v)) => Some(v.as_str()),
            _ => None,
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_str(name).ok_or_else(|| corrupt(self.what, name))
    }

    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.str(name)?.parse().map_err(|_| corrupt(self.what, name))
    }

    pub fn opt_parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.opt_str(name)
            .map(|v| v.parse().map_err(|_| corrupt(self.what, name)))
            .transpose()
    }

    fn num(&self, name: &str) -> Result<&'a str, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::N(v)) => Ok(v.as_str()),
            _ => Err(corrupt(self.what, name)),
        }
    }

    pub fn dec(&self, name: &str) -> Result<Decimal, StoreError> {
        let raw = self.num(name)?;
        Decimal::from_str(raw)
            .or_else(|_| Decimal::from_scientific(raw))
            .map_err(|_| corrupt(self.what, name))
    }

    pub fn opt_dec(&self, name: &str) -> Result<Option<Decimal>, StoreError> {
        if self.item.contains_key(name) {
            self.dec(name).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn u64(&self, name: &str) -> Result<u64, StoreError> {
        self.num(name)?.parse().map_err(|_| corrupt(self.what, name))
    }

    pub fn u32(&self, name: &str) -> Result<u32, StoreError> {
        self.num(name)?.parse().map_err(|_| corrupt(self.what, name))
    }

    pub fn json(&self, name: &str) -> Result<Option<Value>, StoreError> {
        self.opt_str(name)
            .map(|t| serde_json::from_str(t).map_err(|_| corrupt(self.what, name)))
            .transpose()
    }

    pub fn time(&self, name: &str) -> Result<Timestamp, StoreError> {
        Timestamp::parse(self.str(name)?).map_err(|_| corrupt(self.what, name))
    }
}

struct Wire<T>(T);
impl<T: Copy> FromStr for Wire<T>
where
    T: WireName,
{
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        T::from_wire_name(s).map(Wire).ok_or(())
    }
}

trait WireName: Sized {
    fn from_wire_name(s: &str) -> Option<Self>;
}
impl WireName for Side {
    fn from_wire_name(s: &str) -> Option<Self> {
        Side::from_wire(s)
    }
}
impl WireName for OrderType {
    fn from_wire_name(s: &str) -> Option<Self> {
        OrderType::from_wire(s)
    }
}
impl WireName for TimeInForce {
    fn from_wire_name(s: &str) -> Option<Self> {
        TimeInForce::from_wire(s)
    }
}

fn put_opt(item: &mut Item, name: &str, v: Option<AttributeValue>) {
    if let Some(v) = v {
        item.insert(name.to_owned(), v);
    }
}

// ---- accounts and positions ----------------------------------------------------

pub fn account_to_item(a: &Account) -> Item {
    let mut item = key(trader_pk(&a.trader_id), ACCOUNT_SK.into());
    item.insert("trader_id".into(), s(a.trader_id.as_str()));
    item.insert("cash".into(), n(a.cash));
    item.insert("reserved".into(), n(a.reserved));
    item.insert("available".into(), n(a.buying_power()));
    item.insert("open_orders".into(), n(a.open_orders));
    item.insert("realized_pnl".into(), n(a.realized_pnl));
    put_opt(&mut item, "pnl_day", a.pnl_day.map(|d| s(d.to_string())));
    item.insert("max_order_notional".into(), n(a.limits.max_order_notional));
    item.insert("max_open_orders".into(), n(a.limits.max_open_orders));
    item.insert("daily_loss_limit".into(), n(a.limits.daily_loss_limit));
    item.insert("orders_per_minute".into(), n(a.limits.orders_per_minute));
    item.insert(TRADING_STATE.into(), s(a.trading_state.as_str()));
    item
}

fn parse_day(raw: &str) -> Option<Date> {
    Date::parse(raw, &Iso8601::DATE).ok()
}

pub fn account_from_items(items: &[Item]) -> Result<Option<Account>, StoreError> {
    let Some(acct) = items
        .iter()
        .find(|i| matches!(i.get(SK), Some(AttributeValue::S(sk)) if sk == ACCOUNT_SK))
    else {
        return Ok(None);
    };
    let r = Reader::new(acct, "account");
    let pnl_day = match r.opt_str("pnl_day") {
        Some(raw) => Some(parse_day(raw).ok_or_else(|| corrupt("account", "pnl_day"))?),
        None => None,
    };
    let mut positions = Vec::new();
    for item in items {
        if matches!(item.get(SK), Some(AttributeValue::S(sk)) if sk.starts_with(POSITION_PREFIX)) {
            positions.push(position_from_item(item)?);
        }
    }
    positions.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    Ok(Some(Account {
        trader_id: r.parse("trader_id")?,
        cash: r.dec("cash")?,
        reserved: r.dec("reserved")?,
        open_orders: r.u32("open_orders")?,
        realized_pnl: r.dec("realized_pnl")?,
        pnl_day,
        positions,
        limits: RiskLimits {
            max_order_notional: r.dec("max_order_notional")?,
            max_open_orders: r.u32("max_open_orders")?,
            daily_loss_limit: r.dec("daily_loss_limit")?,
            orders_per_minute: r.u32("orders_per_minute")?,
        },
        trading_state: trading_state_from_item(acct)?,
    }))
}

fn position_from_item(item: &Item) -> Result<Position, StoreError> {
    let r = Reader::new(item, "position");
    Ok(Position {
        symbol: Symbol::parse(r.str("symbol")?).map_err(|_| corrupt("position", "symbol"))?,
        quantity: r.dec("quantity")?,
        reserved: r.dec("reserved")?,
        average_cost: r.dec("average_cost")?,
        version: r.u64("version")?,
    })
}

// ---- orders and fills ----------------------------------------------------------

pub fn order_to_item(o: &Order) -> Item {
    let mut item = key(trader_pk(&o.trader_id), order_sk(&o.order_id));
    item.insert("GSI1PK".into(), s(status_pk(&o.trader_id, o.status)));
    item.insert("GSI1SK".into(), s(order_sk(&o.order_id)));
    item.insert("order_id".into(), s(o.order_id.to_string()));
    put_opt(
        &mut item,
        "client_order_id",
        o.client_order_id.as_ref().map(|c| s(c.as_str())),
    );
    item.insert("trader_id".into(), s(o.trader_id.as_str()));
    item.insert("symbol".into(), s(o.symbol.as_str()));
    item.insert("side".into(), s(o.side.as_str()));
    item.insert("type".into(), s(o.order_type.as_str()));
    item.insert("quantity".into(), n(o.quantity.get()));
    put_opt(&mut item, "limit_price", o.limit_price.map(|p| n(p.get())));
    put_opt(&mut item, "stop_price", o.stop_price.map(|p| n(p.get())));
    item.insert("time_in_force".into(), s(o.time_in_force.as_str()));
    item.extend(order_mutable_attrs(o));
    item.insert("created_at".into(), s(o.created_at.to_string()));
    item
}

/// The attributes a transition may change (besides the status index key).
pub fn order_mutable_attrs(o: &Order) -> Vec<(String, AttributeValue)> {
    let mut v = vec![
        ("status".to_owned(), s(o.status.as_str())),
        ("filled_quantity".to_owned(), n(o.filled_quantity)),
        ("reserved_amount".to_owned(), n(o.reserved_amount)),
        ("version".to_owned(), n(o.version)),
        ("updated_at".to_owned(), s(o.updated_at.to_string())),
        ("audit_head".to_owned(), s(o.audit_head.clone())),
    ];
    if let Some(p) = o.average_fill_price {
        v.push(("average_fill_price".to_owned(), n(p)));
    }
    if let Some(r) = &o.reason {
        v.push(("reason".to_owned(), s(r.clone())));
    }
    // Absent on items written before these existed; never removed once written.
    if let Some(d) = o.placement_deadline {
        v.push(("placement_deadline".to_owned(), s(d.to_string())));
    }
    if let Some(b) = o.booked_notional {
        v.push(("booked_notional".to_owned(), n(b)));
    }
    // A replace: the values it waits with, then (once the venue replaced its order)
    // the order's new ones. Written only by orders that were replaced, so every other
    // transition stays as small as before.
    if let Some(p) = &o.pending_replace {
        v.push((
            "pending_replace".to_owned(),
            s(serde_json::to_string(p).unwrap_or_default()),
        ));
    }
    if let Some(c) = o.venue_client_id {
        v.push(("venue_client_id".to_owned(), s(c.to_string())));
        v.push(("replaced_filled".to_owned(), n(o.replaced_filled)));
        v.push(("quantity".to_owned(), n(o.quantity.get())));
        v.push(("time_in_force".to_owned(), s(o.time_in_force.as_str())));
        if let Some(p) = o.limit_price {
            v.push(("limit_price".to_owned(), n(p.get())));
        }
        if let Some(p) = o.stop_price {
            v.push(("stop_price".to_owned(), n(p.get())));
        }
    }
    v
}

pub fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let r = Reader::new(item, "order");
    let amount = |name: &str, v: Decimal| -> Result<Decimal, StoreError> {
        if v <= Decimal::ZERO {
            Err(corrupt("order", name))
        } else {
            Ok(v)
        }
    };
    let price = |name: &str| -> Result<Option<Price>, StoreError> {
        r.opt_dec(name)?
            .map(|v| Price::parse(amount(name, v)?).map_err(|_| corrupt("order", name)))
            .transpose()
    };
    Ok(Order {
        order_id: r.parse("order_id")?,
        client_order_id: r
            .opt_str("client_order_id")
            .map(|c| ClientOrderId::parse(c).map_err(|_| corrupt("order", "client_order_id")))
            .transpose()?,
        trader_id: r.parse("trader_id")?,
        symbol: Symbol::parse(r.str("symbol")?).map_err(|_| corrupt("order", "symbol"))?,
        side: r.parse::<Wire<Side>>("side")?.0,
        order_type: r.parse::<Wire<OrderType>>("type")?.0,
        quantity: Quantity::parse(r.dec("quantity")?).map_err(|_| corrupt("order", "quantity"))?,
        limit_price: price("limit_price")?,
        stop_price: price("stop_price")?,
        time_in_force: r.parse::<Wire<TimeInForce>>("time_in_force")?.0,
        status: r
            .parse::<OrderStatus>("status")
            .map_err(|_| corrupt("order", "status"))?,
        filled_quantity: r.dec("filled_quantity")?,
        average_fill_price: r.opt_dec("average_fill_price")?,
        reserved_amount: r.dec("reserved_amount")?,
        version: r.u64("version")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        reason: r.opt_str("reason").map(str::to_owned),
        audit_head: r.str("audit_head")?.to_owned(),
        placement_deadline: r
            .opt_str("placement_deadline")
            .map(|_| r.time("placement_deadline"))
            .transpose()?,
        booked_notional: r.opt_dec("booked_notional")?,
        pending_replace: r
            .opt_str("pending_replace")
            .map(|raw| serde_json::from_str(raw).map_err(|_| corrupt("order", "pending_replace")))
            .transpose()?,
        venue_client_id: r.opt_parse("venue_client_id")?,
        replaced_filled: r.opt_dec("replaced_filled")?.unwrap_or_default(),
    })
}

pub fn fill_to_item(trader: &TraderId, f: &Fill) -> Item {
    let mut item = key(
        trader_pk(trader),
        format!("{}{}", fill_prefix(&f.order_id), f.execution_id),
    );
    item.insert("order_id".into(), s(f.order_id.to_string()));
    item.insert("execution_id".into(), s(f.execution_id.clone()));
    item.insert("quantity".into(), n(f.quantity));
    item.insert("price".into(), n(f.price));
    item.insert("executed_at".into(), s(f.executed_at.to_string()));
    item
}

pub fn fill_from_item(item: &Item) -> Result<Fill, StoreError> {
    let r = Reader::new(item, "fill");
    Ok(Fill {
        order_id: r.parse("order_id")?,
        execution_id: r.str("execution_id")?.to_owned(),
        quantity: r.dec("quantity")?,
        price: r.dec("price")?,
        executed_at: r.time("executed_at")?,
    })
}

// ---- idempotency records -------------------------------------------------------

pub fn idempotency_to_item(r: &IdempotencyRecord) -> Item {
    let mut item = key(trader_pk(&r.trader_id), idempotency_sk(&r.key));
    item.insert("trader_id".into(), s(r.trader_id.as_str()));
    item.insert("idempotency_key".into(), s(r.key.as_str()));
    item.insert("request_hash".into(), s(r.request_hash.clone()));
    item.insert("status".into(), n(r.status));
    item.insert("body".into(), s(r.body.clone()));
    put_opt(&mut item, "order_id", r.order_id.map(|o| s(o.to_string())));
    item.insert("created_at".into(), s(r.created_at.to_string()));
    item.insert(EXPIRES_AT.into(), n(r.expires_at.unix_seconds()));
    item
}

pub fn idempotency_from_item(item: &Item) -> Result<IdempotencyRecord, StoreError> {
    let r = Reader::new(item, "idempotency record");
    let expires = r.u64(EXPIRES_AT)?;
    Ok(IdempotencyRecord {
        trader_id: r.parse("trader_id")?,
        key: r.parse("idempotency_key")?,
        request_hash: r.str("request_hash")?.to_owned(),
        status: r
            .u32("status")?
            .try_into()
            .map_err(|_| corrupt("idempotency record", "status"))?,
        body: r.str("body")?.to_owned(),
        order_id: r.opt_parse("order_id")?,
        created_at: r.time("created_at")?,
        expires_at: i64::try_from(expires)
            .ok()
            .and_then(|secs| Timestamp::from_unix_millis(secs.saturating_mul(1000)))
            .ok_or_else(|| corrupt("idempotency record", EXPIRES_AT))?,
    })
}

// ---- audit ---------------------------------------------------------------------

pub fn audit_to_item(a: &AuditRecord) -> Item {
    let mut item = key(audit_pk(&a.order_id), audit_sk(a.sequence));
    item.insert("order_id".into(), s(a.order_id.to_string()));
    item.insert("sequence".into(), n(a.sequence));
    item.insert("trader_id".into(), s(a.trader_id.as_str()));
    item.insert("actor".into(), s(a.actor.clone()));
    item.insert("action".into(), s(a.action.clone()));
    item.insert("at".into(), s(a.at.to_string()));
    // Snapshots are stored as JSON text so they read back byte for byte.
    put_opt(&mut item, "before", a.before.as_ref().map(|v| s(v.to_string())));
    put_opt(&mut item, "after", a.after.as_ref().map(|v| s(v.to_string())));
    put_opt(&mut item, "reason", a.reason.clone().map(s));
    put_opt(&mut item, "request_id", a.request_id.clone().map(s));
    put_opt(
        &mut item,
        "idempotency_key",
        a.idempotency_key.as_ref().map(|k| s(k.as_str())),
    );
    item.insert("prev_hash".into(), s(a.prev_hash.clone()));
    item.insert("hash".into(), s(a.hash.clone()));
    item
}

pub fn audit_from_item(item: &Item) -> Result<AuditRecord, StoreError> {
    let r = Reader::new(item, "audit record");
    Ok(AuditRecord {
        order_id: r.parse("order_id")?,
        sequence: r.u64("sequence")?,
        trader_id: r.parse("trader_id")?,
        actor: r.str("actor")?.to_owned(),
        action: r.str("action")?.to_owned(),
        at: r.time("at")?,
        before: r.json("before")?,
        after: r.json("after")?,
        reason: r.opt_str("reason").map(str::to_owned),
        request_id: r.opt_str("request_id").map(str::to_owned),
        idempotency_key: r.opt_parse::<IdempotencyKey>("idempotency_key")?,
        prev_hash: r.str("prev_hash")?.to_owned(),
        hash: r.str("hash")?.to_owned(),
    })
}

pub fn account_audit_to_item(a: &AccountAuditRecord) -> Item {
    let mut item = key(account_audit_pk(&a.trader_id), audit_sk(a.sequence));
    item.insert("trader_id".into(), s(a.trader_id.as_str()));
    item.insert("sequence".into(), n(a.sequence));
    item.insert("actor".into(), s(a.actor.clone()));
    item.insert("action".into(), s(a.action.clone()));
    item.insert("at".into(), s(a.at.to_string()));
    put_opt(&mut item, "before", a.before.as_ref().map(|v| s(v.to_string())));
    put_opt(&mut item, "after", a.after.as_ref().map(|v| s(v.to_string())));
    item.insert("operation_id".into(), s(a.operation_id.clone()));
    item.insert("prev_hash".into(), s(a.prev_hash.clone()));
    item.insert("hash".into(), s(a.hash.clone()));
    item
}

pub fn account_audit_from_item(item: &Item) -> Result<AccountAuditRecord, StoreError> {
    let r = Reader::new(item, "account audit record");
    Ok(AccountAuditRecord {
        trader_id: r.parse("trader_id")?,
        sequence: r.u64("sequence")?,
        actor: r.str("actor")?.to_owned(),
        action: r.str("action")?.to_owned(),
        at: r.time("at")?,
        before: r.json("before")?,
        after: r.json("after")?,
        operation_id: r.str("operation_id")?.to_owned(),
        prev_hash: r.str("prev_hash")?.to_owned(),
        hash: r.str("hash")?.to_owned(),
    })
}

/// The anchor of an account's operator chain, from the account's items: `None` when
/// there is no account item, genesis when no operator change was recorded on it.
pub fn account_anchor_from_items(items: &[Item]) -> Result<Option<AccountAnchor>, StoreError> {
    let Some(acct) = items
        .iter()
        .find(|i| matches!(i.get(SK), Some(AttributeValue::S(sk)) if sk == ACCOUNT_SK))
    else {
        return Ok(None);
    };
    let r = Reader::new(acct, "account");
    if !acct.contains_key(AUDIT_SEQ) {
        return Ok(Some(AccountAnchor::genesis()));
    }
    Ok(Some(AccountAnchor {
        sequence: r.u64(AUDIT_SEQ)?,
        head: r.str(AUDIT_HEAD)?.to_owned(),
    }))
}

// ---- the audit trail's write-once copy ---------------------------------------------

/// An item as DynamoDB JSON (`{"S": ...}`, `{"N": ...}`, ...), object keys sorted: the
/// same item always gives the same text, whether it came from the stream or a scan.
pub fn item_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect())
}

fn attribute_json(v: &AttributeValue) -> Value {
    use base64::Engine as _;
    let b64 =
        |b: &aws_sdk_dynamodb::primitives::Blob| Value::String(base64::engine::general_purpose::STANDARD.encode(b));
    let (tag, inner) = match v {
        AttributeValue::S(s) => ("S", Value::String(s.clone())),
        AttributeValue::N(n) => ("N", Value::String(n.clone())),
        AttributeValue::Bool(b) => ("BOOL", Value::Bool(*b)),
        AttributeValue::Null(_) => ("NULL", Value::Bool(true)),
        AttributeValue::B(b) => ("B", b64(b)),
        AttributeValue::Ss(ss) => ("SS", ss.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(ns) => ("NS", ns.iter().cloned().map(Value::String).collect()),
        AttributeValue::Bs(bs) => ("BS", bs.iter().map(b64).collect()),
        AttributeValue::L(l) => ("L", l.iter().map(attribute_json).collect()),
        AttributeValue::M(m) => ("M", item_json(m)),
        // A type newer than this SDK: kept as its debug text, so it still differs from
        // any other value.
        other => ("UNKNOWN", Value::String(format!("{other:?}"))),
    };
    serde_json::json!({ tag: inner })
}

/// An audit item (an order's, a refused submit's, or an account's record) as the
/// write-once copy keeps it.
pub fn archive_entry(item: &Item) -> Result<ArchiveEntry, StoreError> {
    let r = Reader::new(item, "audit record");
    Ok(ArchiveEntry {
        chain: r.str(PK)?.to_owned(),
        position: r.str(SK)?.to_owned(),
        at: r.time("at")?,
        hash: r.str("hash")?.to_owned(),
        item: item_json(item),
    })
}

/// A DynamoDB call that failed for any reason but a condition: the store is unavailable,
/// with the SDK's whole error chain.
pub fn unavailable<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> crate::ports::StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    crate::ports::StoreError::Unavailable {
        service: "DynamoDB",
        detail: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderDraft, validate_order};

    #[test]
    fn orders_round_trip_through_items() {
        // Every optional field set, and a fractional quantity (market/day only).
        for body in [
            serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "stop_limit",
            "quantity": "10", "limit_price": "150.25", "stop_price": "149", "time_in_force": "gtc",
            "client_order_id": "c-1"}),
            serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "10.5"}),
        ] {
            let draft: OrderDraft = validate_order(&body).unwrap();
            let mut o = Order::pending(
                OrderId::new(),
                TraderId::parse("alice").unwrap(),
                draft,
                Decimal::from(1578),
                Timestamp::now(),
            );
            o.audit_head = "ab".repeat(32);
            o.reason = Some("because".into());
            o.average_fill_price = Some(Decimal::from_str("150.1").unwrap());
            o.placement_deadline = Some(Timestamp::now().plus_seconds(5));
            o.booked_notional = Some(Decimal::from_str("1576.05").unwrap());
            assert_eq!(order_from_item(&order_to_item(&o)).unwrap(), o);
        }
    }

    #[test]
    fn an_order_item_written_before_the_executor_fields_reads_them_as_unknown() {
        let draft = validate_order(&serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "market",
            "quantity": "1"}))
        .unwrap();
        let mut o = Order::pending(
            OrderId::new(),
            TraderId::parse("alice").unwrap(),
            draft,
            Decimal::ONE,
            Timestamp::now(),
        );
        o.placement_deadline = Some(Timestamp::now());
        let mut item = order_to_item(&o);
        item.remove("placement_deadline");
        item.remove("booked_notional");
        let read = order_from_item(&item).unwrap();
        assert_eq!((read.placement_deadline, read.booked_notional), (None, None));
        item.insert("placement_deadline".into(), s("soon"));
        assert_eq!(
            order_from_item(&item),
            Err(StoreError::Corrupt(
                "order attribute `placement_deadline` is missing or malformed".into()
            ))
        );
    }

    #[test]
    fn a_missing_attribute_is_named() {
        let mut item = account_to_item(&Account::new(TraderId::parse("bob").unwrap(), Decimal::ONE));
        item.remove("cash");
        assert_eq!(
            account_from_items(&[item]),
            Err(StoreError::Corrupt(
                "account attribute `cash` is missing or malformed".into()
            ))
        );
    }
}
