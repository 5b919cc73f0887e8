//! Order, fill and idempotency items.

use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;

use super::keys::*;
use super::reader::{Reader, Wire, corrupt, put_opt};
use crate::domain::{
    ClientOrderId, Fill, Order, OrderStatus, OrderType, Price, Quantity, Side, Symbol, TimeInForce, Timestamp, TraderId,
};
use crate::ports::{IdempotencyRecord, StoreError};

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
        // The `TraderChanges` index's key: it moves only when a change falls in a new
        // minute, so most changes write that index not at all (issue 17).
        (CHANGED_MINUTE.to_owned(), s(changed_minute(o.updated_at))),
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
