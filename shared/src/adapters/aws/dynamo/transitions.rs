//! A status transition's transaction (the order, its audit record, the fill, the account
//! and position, an operators' record) and the reading of its refusal.

use aws_sdk_dynamodb::types::TransactWriteItem;
use rust_decimal::Decimal;

use super::{Attempts, Cancelled, DynamoStore, Expr, put_new, update_item};
use crate::adapters::aws::items::*;
use crate::domain::{TraderId, TradingScope, TradingState};
use crate::ports::{StoreError, TransitionWrite};

/// Where a transition's conditional items sit in its transaction.
pub(super) struct TransitionAt {
    pub(super) fill: Option<usize>,
    pub(super) account: Option<usize>,
    pub(super) position: Option<usize>,
    pub(super) idempotency: Option<usize>,
    pub(super) deployment: Option<usize>,
}

impl DynamoStore {
    /// The items of a transition's transaction, and where the conditional ones are.
    /// With `guard_cash`, a fill's booking holds only while it leaves cash at zero or
    /// above (a failure reads as a conflict; `transition` then books it and flags it).
    pub(super) fn transition_items(
        &self,
        w: &TransitionWrite,
        guard_cash: bool,
    ) -> Result<(Vec<TransactWriteItem>, TransitionAt), StoreError> {
        let trader = &w.before.trader_id;
        let mut items = Vec::with_capacity(5);

        // 0: the order, conditional on the status and version it was read at.
        let mut e = Expr::default();
        let mut sets = Vec::new();
        for (attr, value) in order_mutable_attrs(&w.after) {
            let (a, v) = (e.name(&attr), e.value(value));
            sets.push(format!("{a} = {v}"));
        }
        let (g, gv) = (e.name("GSI1PK"), e.value(s(status_pk(trader, w.after.status))));
        sets.push(format!("{g} = {gv}"));
        let (st, ve) = (e.name("status"), e.name("version"));
        let (from, v) = (e.value(s(w.before.status.as_str())), e.value(n(w.before.version)));
        let condition = format!("{st} = {from} AND {ve} = {v}");
        let mut update = format!("SET {}", sets.join(", "));
        let mut removes = Vec::new();
        if w.before.reason.is_some() && w.after.reason.is_none() {
            // A stall's reason ends when execution moves on (`Order::apply`).
            removes.push(e.name("reason"));
        }
        if w.before.pending_replace.is_some() && w.after.pending_replace.is_none() {
            // The venue answered the replace (or the order ended first).
            removes.push(e.name("pending_replace"));
        }
        if !removes.is_empty() {
            update.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let order_key = key(trader_pk(trader), order_sk(&w.before.order_id));
        items.push(update_item(e.update(
            &self.orders_table,
            order_key,
            update,
            Some(condition),
        )?));

        // 1: the audit record; 2: the fill, once per execution id.
        items.push(put_new(&self.audit_table, audit_to_item(&w.audit))?);
        let fill_at = w.fill.as_ref().map(|_| items.len());
        if let Some(f) = &w.fill {
            items.push(put_new(&self.orders_table, fill_to_item(trader, f))?);
        }

        // The account: additive changes, and today's P&L for a booked trade.
        let touches_account = !w.effect.is_empty() || w.booking.is_some();
        let account_at = touches_account.then_some(items.len());
        if touches_account {
            let mut e = Expr::default();
            let pk = e.name(PK);
            let cash = w.booking.as_ref().map_or(Decimal::ZERO, |b| b.cash);
            let mut sets = Vec::new();
            for (attr, delta) in [
                ("reserved", w.effect.reserved),
                ("available", cash - w.effect.reserved),
                ("cash", cash),
            ] {
                if !delta.is_zero() {
                    let (a, d) = (e.name(attr), e.value(n(delta)));
                    sets.push(format!("{a} = {a} + {d}"));
                }
            }
            if w.effect.open_orders != 0 {
                let (a, d) = (e.name("open_orders"), e.value(n(w.effect.open_orders)));
                sets.push(format!("{a} = {a} + {d}"));
            }
            let mut condition = format!("attribute_exists({pk})");
            if w.effect.reserved > Decimal::ZERO {
                // A replace holds more: only out of what is available (the use case
                // checked a snapshot; this is the atomic check).
                let (av, need) = (e.name("available"), e.value(n(w.effect.reserved)));
                condition.push_str(&format!(" AND {av} >= {need}"));
            }
            if let Some(b) = w.booking.as_ref().filter(|b| guard_cash && b.cash < Decimal::ZERO) {
                let (c, need) = (e.name("cash"), e.value(n(-b.cash)));
                condition.push_str(&format!(" AND {c} >= {need}"));
            }
            if let Some(b) = &w.booking {
                let (pnl, day) = (e.name("realized_pnl"), e.name("pnl_day"));
                let (delta, d) = (e.value(n(b.pnl.delta)), e.value(s(b.pnl.day.to_string())));
                if b.pnl.same_day() {
                    sets.push(format!("{pnl} = {pnl} + {delta}"));
                    condition.push_str(&format!(" AND {day} = {d}"));
                } else {
                    sets.push(format!("{pnl} = {delta}, {day} = {d}"));
                    match b.pnl.seen_day {
                        Some(seen) => {
                            let sv = e.value(s(seen.to_string()));
                            condition.push_str(&format!(" AND {day} = {sv}"));
                        }
                        None => condition.push_str(&format!(" AND attribute_not_exists({day})")),
                    }
                }
            }
            if sets.is_empty() {
                let (a, zero) = (e.name("open_orders"), e.value(n(0)));
                sets.push(format!("{a} = {a} + {zero}"));
            }
            let account_key = key(trader_pk(trader), ACCOUNT_SK.into());
            items.push(update_item(e.update(
                &self.orders_table,
                account_key,
                format!("SET {}", sets.join(", ")),
                Some(condition),
            )?));
        }

        // The position: reservation release, and the booked trade at the version read.
        let mut position_at = None;
        if !w.effect.position_reserved.is_zero() || w.booking.is_some() {
            let mut e = Expr::default();
            let (res, av) = (e.name("reserved"), e.name("available"));
            let pr = w.effect.position_reserved;
            let (update, condition) = match &w.booking {
                None => {
                    let (d, neg, pk) = (e.value(n(pr)), e.value(n(-pr)), e.name(PK));
                    let mut condition = format!("attribute_exists({pk})");
                    if pr > Decimal::ZERO {
                        // A replace of a sell holds more shares: only what is available.
                        condition.push_str(&format!(" AND {av} >= {d}"));
                    }
                    (format!("SET {res} = {res} + {d}, {av} = {av} + {neg}"), condition)
                }
                Some(b) => {
                    let (qa, ac, ve, sy) = (
                        e.name("quantity"),
                        e.name("average_cost"),
                        e.name("version"),
                        e.name("symbol"),
                    );
                    let (q, c, v, sym) = (
                        e.value(n(b.after.quantity)),
                        e.value(n(b.after.average_cost)),
                        e.value(n(b.after.version)),
                        e.value(s(b.after.symbol.as_str())),
                    );
                    let avail_delta = (b.after.quantity - b.before.quantity) - pr;
                    let base = format!("{qa} = {q}, {ac} = {c}, {ve} = {v}, {sy} = {sym}");
                    if b.before.version == 0 {
                        let (r0, a0, pk) = (e.value(n(pr)), e.value(n(avail_delta)), e.name(PK));
                        (
                            format!("SET {base}, {res} = {r0}, {av} = {a0}"),
                            format!("attribute_not_exists({pk})"),
                        )
                    } else {
                        let (d, ad, old) = (e.value(n(pr)), e.value(n(avail_delta)), e.value(n(b.before.version)));
                        (
                            format!("SET {base}, {res} = {res} + {d}, {av} = {av} + {ad}"),
                            format!("{ve} = {old}"),
                        )
                    }
                }
            };
            let position_key = key(trader_pk(trader), position_sk(&w.before.symbol));
            position_at = Some(items.len());
            items.push(update_item(e.update(
                &self.orders_table,
                position_key,
                update,
                Some(condition),
            )?));
        }
        let idempotency_at = w.idempotency.as_ref().map(|_| items.len());
        if let Some(r) = &w.idempotency {
            items.push(self.put_idempotency(r)?);
        }
        // The operators' record of a stall or a correction, with the transition.
        if let Some(a) = &w.attention {
            items.push(put_new(&self.orders_table, attention_to_item(a))?);
        }

        Ok((
            items,
            TransitionAt {
                fill: fill_at,
                account: account_at,
                position: position_at,
                idempotency: idempotency_at,
                deployment: None,
            },
        ))
    }

    /// The account's cash alone (one consistent GetItem of the account item), to tell
    /// a fill's cash guard from another conflict.
    pub(super) async fn account_cash(&self, trader: &TraderId) -> Result<Option<Decimal>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders_table)
            .set_key(Some(key(trader_pk(trader), ACCOUNT_SK.into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item()
            .map(|item| Reader::new(item, "account").dec("cash"))
            .transpose()
    }

    /// Commits a transition's items, naming the refusal when a condition failed.
    pub(super) async fn commit_transition(
        &self,
        w: &TransitionWrite,
        items: Vec<TransactWriteItem>,
        at: TransitionAt,
    ) -> Result<(), StoreError> {
        let TransitionAt {
            fill: fill_at,
            account: account_at,
            position: position_at,
            idempotency: idempotency_at,
            deployment: deployment_at,
        } = at;
        match self.transact(items, Attempts::Sdk).await {
            Ok(()) => Ok(()),
            Err(Ok(Cancelled::Conditions(failed))) => {
                let refusal = failed.iter().map(|(i, old)| match *i {
                    0 => StoreError::Conflict,
                    1 => StoreError::AlreadyExists,
                    i if Some(i) == fill_at => StoreError::AlreadyExists,
                    i if Some(i) == account_at && old.is_none() => StoreError::NoAccount,
                    i if Some(i) == account_at && w.effect.reserved > Decimal::ZERO => StoreError::InsufficientFunds,
                    i if Some(i) == position_at
                        && w.effect.position_reserved > Decimal::ZERO
                        && w.booking.is_none() =>
                    {
                        StoreError::InsufficientPosition
                    }
                    i if Some(i) == idempotency_at => StoreError::IdempotencyKeyTaken,
                    i if Some(i) == deployment_at => StoreError::TradingRestricted {
                        scope: TradingScope::Deployment,
                        state: old
                            .as_ref()
                            .map_or(Ok(TradingState::Halted), trading_state_from_item)
                            .unwrap_or(TradingState::Halted),
                    },
                    _ => StoreError::Conflict,
                });
                // Same precedence as the in-memory store: order, fill, audit, account, position.
                let mut all: Vec<(usize, StoreError)> = failed.iter().map(|(i, _)| *i).zip(refusal).collect();
                all.sort_by_key(|(i, _)| match *i {
                    0 => 0,
                    i if Some(i) == fill_at => 1,
                    1 => 2,
                    i => i + 3,
                });
                Err(all.into_iter().next().map_or(StoreError::Conflict, |(_, e)| e))
            }
            Err(Ok(Cancelled::Conflict | Cancelled::Other(_))) => Err(StoreError::Conflict),
            Err(Err(e)) => Err(e),
        }
    }
}
