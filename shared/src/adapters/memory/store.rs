// Long because: the in-memory twin of the whole DynamoDB store (orders, accounts, idempotency, rate, re-checks,
// audit) under one lock, so every transaction stays all-or-nothing.
//! `OrderStore` + `AuditLog` in memory. Every write checks all its conditions before
//! changing anything, in the same precedence as the DynamoDB adapter reports them.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::domain::{
    Account, AccountAnchor, AccountAuditRecord, AuditRecord, ClientOrderId, DEPOSIT_POSITION, FUND, Fill,
    IdempotencyKey, NotionalWindow, Order, OrderId, OrderStatus, Position, Reservation, RiskLimits, SET_TRADING_STATE,
    Symbol, Timestamp, TraderId, TradingScope, TradingState, deposit_snapshots, deposited, expand_chain,
    fund_snapshots, trading_state_snapshots,
};
use crate::ports::{
    AccountAdmin, Attention, AttentionKind, AuditLog, IdempotencyRecord, MAX_ORDERS_EXAMINED, NewOrder, OperatorAction,
    OrderFilter, OrderPage, OrderStore, RateDecision, StoreError, SubmitGuards, TradingControls, TradingStateChange,
    TransitionWrite, deployment_principal, rate_window,
};

#[derive(Default)]
pub(super) struct State {
    accounts: BTreeMap<TraderId, Account>,
    orders: BTreeMap<(TraderId, OrderId), Order>,
    fills: BTreeMap<(TraderId, OrderId, String), Fill>,
    audit: BTreeMap<(OrderId, u64), AuditRecord>,
    idempotency: BTreeMap<(TraderId, IdempotencyKey), IdempotencyRecord>,
    rate: BTreeMap<(TraderId, i64), u32>,
    /// Duplicate detection: trader -> fingerprint -> the latest order with it, when, until.
    duplicates: BTreeMap<TraderId, BTreeMap<String, (OrderId, Timestamp, Timestamp)>>,
    /// The rolling-minute notional per trader (its version counts the writes).
    notional: BTreeMap<TraderId, NotionalWindow>,
    /// Operator chains of accounts, and the anchor each account keeps.
    account_audit: BTreeMap<TraderId, Vec<AccountAuditRecord>>,
    anchors: BTreeMap<TraderId, AccountAnchor>,
    /// How many times `fills` was called (a fill must not need it).
    fill_reads: usize,
    /// `get_order` answers Unavailable (a test hook).
    order_reads_fail: bool,
    /// Test knob: every transition waits this long first (a table's round trip), and
    /// how many wait at once, at most.
    transition_delay_ms: u64,
    transitions_waiting: usize,
    most_transitions_waiting: usize,
    /// Operators' records by (kind, UTC day, position), and the `once` keys recorded.
    pub(super) attention: BTreeMap<(AttentionKind, time::Date, String), Attention>,
    pub(super) attention_once: std::collections::BTreeSet<(time::Date, String)>,
}

impl State {
    fn applied(&self, trader: &TraderId, by: &OperatorAction) -> bool {
        self.account_audit
            .get(trader)
            .is_some_and(|c| c.iter().any(|r| r.operation_id == by.operation_id))
    }

    /// Appends an operator record to `trader`'s chain and moves the anchor.
    fn record_operator(
        &mut self,
        trader: &TraderId,
        by: &OperatorAction,
        action: &str,
        (before, after): (Option<serde_json::Value>, Option<serde_json::Value>),
    ) {
        let anchor = self.anchors.get(trader).cloned().unwrap_or_else(AccountAnchor::genesis);
        let record = AccountAuditRecord::seal(
            trader.clone(),
            anchor.sequence + 1,
            &anchor.head,
            by.actor.clone(),
            action,
            Timestamp::now(),
            before,
            after,
            by.operation_id.clone(),
        );
        self.anchors.insert(
            trader.clone(),
            AccountAnchor {
                sequence: record.sequence,
                head: record.hash.clone(),
            },
        );
        self.account_audit.entry(trader.clone()).or_default().push(record);
    }

    /// True when a live record holds the key (an expired one may be replaced).
    fn key_taken(&self, record: &IdempotencyRecord) -> bool {
        self.idempotency
            .get(&(record.trader_id.clone(), record.key.clone()))
            .is_some_and(|r| r.is_live(record.created_at))
    }
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Test hook: the order ids that have audit records (rejected submits have no
    /// order to reach them by).
    pub fn audit_order_ids(&self) -> Vec<OrderId> {
        let mut ids: Vec<OrderId> = self.lock().audit.keys().map(|(id, _)| *id).collect();
        ids.dedup();
        ids
    }

    /// Test hook: how many times `fills` was read.
    pub fn fill_reads(&self) -> usize {
        self.lock().fill_reads
    }

    /// Test hook: every `get_order` fails as an unreachable table would.
    pub fn fail_order_reads(&self, on: bool) {
        self.lock().order_reads_fail = on;
    }

    /// Test hook: every transition waits `ms` before it is applied, as a table's
    /// round trip would, so callers that write at once are seen to.
    pub fn slow_transitions(&self, ms: u64) {
        self.lock().transition_delay_ms = ms;
    }

    /// Test hook: the most transitions that waited at once (see `slow_transitions`).
    pub fn most_transitions_at_once(&self) -> usize {
        self.lock().most_transitions_waiting
    }

    /// Test hook: replace a stored order as it stands, e.g. to stand for an item an
    /// older version wrote (without the fields added since).
    pub fn overwrite_order(&self, order: Order) {
        self.lock()
            .orders
            .insert((order.trader_id.clone(), order.order_id), order);
    }

    /// Test hook: replace a stored audit record as someone with table access could.
    pub fn tamper_audit(&self, record: AuditRecord) {
        self.lock().audit.insert((record.order_id, record.sequence), record);
    }
}

fn position_mut<'a>(account: &'a mut Account, symbol: &Symbol) -> &'a mut Position {
    if let Some(i) = account.positions.iter().position(|p| &p.symbol == symbol) {
        &mut account.positions[i]
    } else {
        account.positions.push(Position::empty(symbol.clone()));
        account.positions.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        let i = account.positions.iter().position(|p| &p.symbol == symbol).unwrap_or(0);
        &mut account.positions[i]
    }
}

/// The deployment's trading state: on its principal's account (absent: `active`).
fn deployment_state(state: &State) -> TradingState {
    state
        .accounts
        .get(&deployment_principal())
        .map_or(TradingState::Active, |a| a.trading_state)
}

fn check_guards(account: &Account, guards: &SubmitGuards, reservation: &Reservation) -> Result<(), StoreError> {
    if account.losses_on(guards.today) >= guards.daily_loss_limit {
        return Err(StoreError::DailyLossLimit);
    }
    if account.open_orders >= guards.max_open_orders {
        return Err(StoreError::OpenOrderLimit);
    }
    match reservation {
        Reservation::Cash(amount) if account.buying_power() < *amount => Err(StoreError::InsufficientFunds),
        Reservation::Position { symbol, quantity }
            if account.position(symbol).is_none_or(|p| p.available() < *quantity) =>
        {
            Err(StoreError::InsufficientPosition)
        }
        _ => Ok(()),
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn get_account(&self, trader: &TraderId) -> Result<Option<Account>, StoreError> {
        Ok(self.lock().accounts.get(trader).cloned())
    }

    async fn fund_account(
        &self,
        trader: &TraderId,
        cash: Decimal,
        limits: Option<RiskLimits>,
    ) -> Result<Account, StoreError> {
        self.fund(trader, cash, limits, &OperatorAction::unattributed()).await
    }

    async fn deposit_position(
        &self,
        trader: &TraderId,
        symbol: &Symbol,
        quantity: Decimal,
        average_cost: Decimal,
    ) -> Result<(), StoreError> {
        self.deposit(trader, symbol, quantity, average_cost, &OperatorAction::unattributed())
            .await
    }

    async fn create_order(&self, new: NewOrder) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (new.order.trader_id.clone(), new.order.order_id);
        if state.orders.contains_key(&key) || state.audit.contains_key(&(new.audit.order_id, new.audit.sequence)) {
            return Err(StoreError::AlreadyExists);
        }
        if new.idempotency.as_ref().is_some_and(|r| state.key_taken(r)) {
            return Err(StoreError::IdempotencyKeyTaken);
        }
        if let Some(cid) = &new.order.client_order_id {
            let open = state.orders.iter().find(|((t, _), o)| {
                t == &new.order.trader_id && o.client_order_id.as_ref() == Some(cid) && !o.status.is_terminal()
            });
            if let Some((_, o)) = open {
                return Err(StoreError::ClientOrderIdTaken { order_id: o.order_id });
            }
        }
        let placed_at = new.order.created_at;
        if let Some(d) = new.duplicate.as_ref().filter(|d| !d.confirmed) {
            let earlier = state
                .duplicates
                .get(&new.order.trader_id)
                .and_then(|of_trader| of_trader.get(&d.fingerprint));
            if let Some((order_id, at, _)) = earlier.filter(|(_, _, until)| *until > placed_at) {
                return Err(StoreError::DuplicateOrder {
                    order_id: *order_id,
                    placed_at: *at,
                });
            }
        }
        if let Some(w) = &new.notional_window {
            let stored = state.notional.get(&new.order.trader_id).map_or(0, |s| s.version);
            if stored != w.version {
                return Err(StoreError::NotionalWindowMoved);
            }
        }
        // The deployment's trading state (DynamoDB: the ConditionCheck on its copy),
        // then the trader's own (the account item's condition).
        let deployment = deployment_state(&state);
        if !deployment.admits(new.guards.side) {
            return Err(StoreError::TradingRestricted {
                scope: TradingScope::Deployment,
                state: deployment,
            });
        }
        let account = state
            .accounts
            .get_mut(&new.order.trader_id)
            .ok_or(StoreError::NoAccount)?;
        if !account.trading_state.admits(new.guards.side) {
            return Err(StoreError::TradingRestricted {
                scope: TradingScope::Trader(account.trader_id.clone()),
                state: account.trading_state,
            });
        }
        check_guards(account, &new.guards, &new.reservation)?;
        match &new.reservation {
            Reservation::Cash(amount) => account.reserved += *amount,
            Reservation::Position { symbol, quantity } => position_mut(account, symbol).reserved += *quantity,
        }
        account.open_orders += 1;
        if let Some(r) = new.idempotency {
            state.idempotency.insert((r.trader_id.clone(), r.key.clone()), r);
        }
        if let Some(d) = new.duplicate {
            let until = placed_at.plus_seconds(i64::from(d.window_secs));
            let of_trader = state.duplicates.entry(new.order.trader_id.clone()).or_default();
            // Expired fingerprints go, as DynamoDB's TTL removes their items (swept at
            // each power of two from 64, so the sweep costs O(1) per order amortized).
            if of_trader.len() >= 64 && of_trader.len().is_power_of_two() {
                of_trader.retain(|_, (_, _, until)| *until > placed_at);
            }
            of_trader.insert(d.fingerprint, (new.order.order_id, placed_at, until));
        }
        if let Some(mut w) = new.notional_window {
            w.version += 1;
            state.notional.insert(new.order.trader_id.clone(), w);
        }
        state.orders.insert(key, new.order);
        state.audit.insert((new.audit.order_id, new.audit.sequence), new.audit);
        Ok(())
    }

    async fn get_order(&self, trader: &TraderId, order: &OrderId) -> Result<Option<Order>, StoreError> {
        let state = self.lock();
        if state.order_reads_fail {
            return Err(StoreError::Unavailable {
                service: "dynamodb",
                detail: "order reads fail (test hook)".into(),
            });
        }
        Ok(state.orders.get(&(trader.clone(), *order)).cloned())
    }

    async fn request_replace(&self, w: TransitionWrite) -> Result<(), StoreError> {
        {
            let state = self.lock();
            let deployment = deployment_state(&state);
            if !deployment.admits(w.before.side) {
                return Err(StoreError::TradingRestricted {
                    scope: TradingScope::Deployment,
                    state: deployment,
                });
            }
        }
        self.transition(w).await
    }

    async fn transition(&self, w: TransitionWrite) -> Result<(), StoreError> {
        let delay = {
            let mut state = self.lock();
            if state.transition_delay_ms > 0 {
                state.transitions_waiting += 1;
                state.most_transitions_waiting = state.most_transitions_waiting.max(state.transitions_waiting);
            }
            state.transition_delay_ms
        };
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            self.lock().transitions_waiting -= 1;
        }
        let mut state = self.lock();
        let trader = w.before.trader_id.clone();
        let key = (trader.clone(), w.before.order_id);
        match state.orders.get(&key) {
            Some(o) if o.status == w.before.status && o.version == w.before.version => {}
            _ => return Err(StoreError::Conflict),
        }
        let fill_key = w
            .fill
            .as_ref()
            .map(|f| (trader.clone(), f.order_id, f.execution_id.clone()));
        if fill_key.as_ref().is_some_and(|k| state.fills.contains_key(k)) {
            return Err(StoreError::AlreadyExists);
        }
        if state.audit.contains_key(&(w.audit.order_id, w.audit.sequence)) {
            return Err(StoreError::AlreadyExists);
        }
        if w.idempotency.as_ref().is_some_and(|r| state.key_taken(r)) {
            return Err(StoreError::IdempotencyKeyTaken);
        }
        let touches_account = !w.effect.is_empty() || w.booking.is_some();
        if touches_account {
            let account = state.accounts.get(&trader).ok_or(StoreError::NoAccount)?;
            // A replace holding more: only out of what is available, as DynamoDB's
            // condition on the account (and the position) has it.
            if w.effect.reserved > Decimal::ZERO && account.buying_power() < w.effect.reserved {
                return Err(StoreError::InsufficientFunds);
            }
            let position_available = account
                .position(&w.before.symbol)
                .map_or(Decimal::ZERO, |p| p.available());
            if w.booking.is_none()
                && w.effect.position_reserved > Decimal::ZERO
                && position_available < w.effect.position_reserved
            {
                return Err(StoreError::InsufficientPosition);
            }
            if let Some(b) = &w.booking {
                let version = account.position(&w.before.symbol).map_or(0, |p| p.version);
                let day_ok = if b.pnl.same_day() {
                    account.pnl_day == Some(b.pnl.day)
                } else {
                    account.pnl_day == b.pnl.seen_day
                };
                if version != b.before.version || !day_ok {
                    return Err(StoreError::Conflict);
                }
            }
            if crate::adapters::cash_flag::takes_cash_below_zero(&w, account.cash) {
                crate::adapters::cash_flag::flag_cash_below_zero(&w, account.cash);
            }
            let account = state.accounts.get_mut(&trader).ok_or(StoreError::NoAccount)?;
            account.reserved += w.effect.reserved;
            account.open_orders = account.open_orders.saturating_add_signed(w.effect.open_orders as i32);
            if let Some(b) = &w.booking {
                account.cash += b.cash;
                b.pnl.apply_to(account);
            }
            if !w.effect.position_reserved.is_zero() || w.booking.is_some() {
                let p = position_mut(account, &w.before.symbol);
                p.reserved += w.effect.position_reserved;
                if let Some(b) = &w.booking {
                    p.quantity = b.after.quantity;
                    p.average_cost = b.after.average_cost;
                    p.version = b.after.version;
                }
            }
            account
                .positions
                .retain(|p| !(p.quantity.is_zero() && p.reserved.is_zero() && p.version == 0));
        }
        if let (Some(k), Some(fill)) = (fill_key, w.fill) {
            state.fills.insert(k, fill);
        }
        if let Some(r) = w.idempotency {
            state.idempotency.insert((r.trader_id.clone(), r.key.clone()), r);
        }
        if let Some(a) = w.attention {
            state.attention.insert((a.kind, a.day(), a.position()), a);
        }
        state.audit.insert((w.audit.order_id, w.audit.sequence), w.audit);
        state.orders.insert(key, w.after);
        Ok(())
    }

    async fn list_orders(
        &self,
        trader: &TraderId,
        status: Option<OrderStatus>,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        let state = self.lock();
        let mut matching = state
            .orders
            .iter()
            .rev()
            .filter(|((t, id), o)| t == trader && after.is_none_or(|a| *id < a) && status.is_none_or(|s| o.status == s))
            .map(|(_, o)| o.clone());
        let orders: Vec<Order> = matching.by_ref().take(limit as usize).collect();
        let more = matching.next().is_some();
        let next = if more { orders.last().map(|o| o.order_id) } else { None };
        Ok(OrderPage { orders, next })
    }

    async fn filter_orders(
        &self,
        trader: &TraderId,
        filter: &OrderFilter,
        limit: u32,
        after: Option<OrderId>,
    ) -> Result<OrderPage, StoreError> {
        let state = self.lock();
        let own = state.orders.iter().filter(|((t, _), _)| t == trader);
        let ordered: Box<dyn Iterator<Item = _>> = if filter.ascending {
            Box::new(own.filter(|((_, id), _)| after.is_none_or(|a| *id > a)))
        } else {
            Box::new(own.rev().filter(|((_, id), _)| after.is_none_or(|a| *id < a)))
        };
        let (mut orders, mut last_read, mut read) = (Vec::new(), None, 0);
        let mut candidates = ordered.map(|(_, o)| o).peekable();
        for o in candidates.by_ref() {
            read += 1;
            last_read = Some(o.order_id);
            if filter.matches(o) {
                orders.push(o.clone());
            }
            if orders.len() == limit as usize || read == MAX_ORDERS_EXAMINED {
                break;
            }
        }
        let next = if candidates.peek().is_some() { last_read } else { None };
        Ok(OrderPage { orders, next })
    }

    async fn order_by_client_order_id(
        &self,
        trader: &TraderId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, StoreError> {
        let state = self.lock();
        Ok(state
            .orders
            .iter()
            .rev()
            .find(|((t, _), o)| t == trader && o.client_order_id.as_ref() == Some(client_order_id))
            .map(|(_, o)| o.clone()))
    }

    async fn fills(&self, trader: &TraderId, order: &OrderId) -> Result<Vec<Fill>, StoreError> {
        let mut state = self.lock();
        state.fill_reads += 1;
        Ok(state
            .fills
            .iter()
            .filter(|((t, o, _), _)| t == trader && o == order)
            .map(|(_, f)| f.clone())
            .collect())
    }

    async fn idempotency(
        &self,
        trader: &TraderId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let state = self.lock();
        Ok(state
            .idempotency
            .get(&(trader.clone(), key.clone()))
            .filter(|r| r.is_live(now))
            .cloned())
    }

    async fn record_rejection(
        &self,
        audit: AuditRecord,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.audit.contains_key(&(audit.order_id, audit.sequence)) {
            return Err(StoreError::AlreadyExists);
        }
        if idempotency.as_ref().is_some_and(|r| state.key_taken(r)) {
            return Err(StoreError::IdempotencyKeyTaken);
        }
        if let Some(r) = idempotency {
            state.idempotency.insert((r.trader_id.clone(), r.key.clone()), r);
        }
        state.audit.insert((audit.order_id, audit.sequence), audit);
        Ok(())
    }

    async fn take_rate_token(&self, trader: &TraderId, limit: u32, now: Timestamp) -> Result<RateDecision, StoreError> {
        let (window, retry_after_secs) = rate_window(now);
        let mut state = self.lock();
        let count = state.rate.entry((trader.clone(), window)).or_insert(0);
        if *count >= limit {
            return Ok(RateDecision::Limited { retry_after_secs });
        }
        *count += 1;
        Ok(RateDecision::Allowed {
            remaining: limit - *count,
        })
    }

    async fn notional_window(&self, trader: &TraderId) -> Result<NotionalWindow, StoreError> {
        Ok(self.lock().notional.get(trader).cloned().unwrap_or_default())
    }
}

#[async_trait]
impl AccountAdmin for MemoryStore {
    async fn fund(
        &self,
        trader: &TraderId,
        cash: Decimal,
        limits: Option<RiskLimits>,
        by: &OperatorAction,
    ) -> Result<Account, StoreError> {
        let mut state = self.lock();
        if state.applied(trader, by) {
            return state.accounts.get(trader).cloned().ok_or(StoreError::NoAccount);
        }
        let before = state.accounts.get(trader).cloned();
        let mut account = before
            .clone()
            .unwrap_or_else(|| Account::new(trader.clone(), Decimal::ZERO));
        account.cash += cash;
        if let Some(limits) = limits {
            account.limits = limits;
        }
        let snapshots = fund_snapshots(before.as_ref(), &account);
        state.record_operator(trader, by, FUND, snapshots);
        state.accounts.insert(trader.clone(), account.clone());
        Ok(account)
    }

    async fn deposit(
        &self,
        trader: &TraderId,
        symbol: &Symbol,
        quantity: Decimal,
        average_cost: Decimal,
        by: &OperatorAction,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.applied(trader, by) {
            return Ok(());
        }
        let account = state.accounts.get_mut(trader).ok_or(StoreError::NoAccount)?;
        let p = position_mut(account, symbol);
        let before = p.clone();
        let after = deposited(&before, quantity, average_cost);
        (p.quantity, p.average_cost, p.version) = (after.quantity, after.average_cost, after.version);
        let snapshots = deposit_snapshots(&before, &after);
        state.record_operator(trader, by, DEPOSIT_POSITION, snapshots);
        Ok(())
    }

    async fn account_records(&self, trader: &TraderId) -> Result<Vec<AccountAuditRecord>, StoreError> {
        Ok(self.lock().account_audit.get(trader).cloned().unwrap_or_default())
    }

    async fn account_anchor(&self, trader: &TraderId) -> Result<Option<AccountAnchor>, StoreError> {
        let state = self.lock();
        Ok(state.accounts.contains_key(trader).then(|| {
            state
                .anchors
                .get(trader)
                .cloned()
                .unwrap_or_else(AccountAnchor::genesis)
        }))
    }
}

#[async_trait]
impl TradingControls for MemoryStore {
    async fn trading_state(&self, scope: &TradingScope) -> Result<TradingState, StoreError> {
        let state = self.lock();
        match scope {
            TradingScope::Deployment => Ok(deployment_state(&state)),
            TradingScope::Trader(t) => state
                .accounts
                .get(t)
                .map(|a| a.trading_state)
                .ok_or(StoreError::NoAccount),
        }
    }

    async fn set_trading_state(
        &self,
        scope: &TradingScope,
        to: TradingState,
        reason: Option<&str>,
        by: &OperatorAction,
    ) -> Result<TradingStateChange, StoreError> {
        let principal = scope.principal(&deployment_principal());
        let mut state = self.lock();
        if let Some(r) = state
            .account_audit
            .get(&principal)
            .and_then(|c| c.iter().find(|r| r.operation_id == by.operation_id))
        {
            let read = |v: &Option<serde_json::Value>| {
                v.as_ref()
                    .and_then(|v| v.get("trading_state"))
                    .and_then(|s| s.as_str())
                    .and_then(TradingState::parse)
                    .ok_or_else(|| StoreError::Corrupt(format!("record {} lacks a trading state", r.sequence)))
            };
            return Ok(TradingStateChange {
                scope: scope.clone(),
                before: read(&r.before)?,
                after: read(&r.after)?,
                sequence: r.sequence,
            });
        }
        let before = match (state.accounts.get(&principal), scope) {
            (Some(a), _) => a.trading_state,
            (None, TradingScope::Trader(_)) => return Err(StoreError::NoAccount),
            (None, TradingScope::Deployment) => {
                // The principal's account: nothing in it, nothing it may do.
                let mut empty = Account::new(principal.clone(), Decimal::ZERO);
                empty.limits = RiskLimits {
                    max_order_notional: Decimal::ZERO,
                    max_open_orders: 0,
                    daily_loss_limit: Decimal::ZERO,
                    orders_per_minute: 0,
                    duplicate_window_secs: 0,
                    restricted_symbols: Vec::new(),
                    max_notional_per_minute: rust_decimal::Decimal::ZERO,
                };
                state.accounts.insert(principal.clone(), empty);
                TradingState::Active
            }
        };
        state.record_operator(
            &principal,
            by,
            SET_TRADING_STATE,
            trading_state_snapshots(before, to, reason),
        );
        if let Some(a) = state.accounts.get_mut(&principal) {
            a.trading_state = to;
        }
        let sequence = state.anchors.get(&principal).map_or(0, |a| a.sequence);
        Ok(TradingStateChange {
            scope: scope.clone(),
            before,
            after: to,
            sequence,
        })
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (record.order_id, record.sequence);
        if state.audit.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        state.audit.insert(key, record.clone());
        Ok(())
    }

    async fn records(&self, order: &OrderId) -> Result<Vec<AuditRecord>, StoreError> {
        let state = self.lock();
        // As a table keeps them: a record of changes without its snapshots, which the
        // reader rebuilds from the chain.
        let mut records: Vec<AuditRecord> = state
            .audit
            .range((*order, 0)..=(*order, u64::MAX))
            .map(|(_, r)| {
                let mut r = r.clone();
                if r.changes.is_some() {
                    (r.before, r.after) = (None, None);
                }
                r
            })
            .collect();
        expand_chain(&mut records);
        Ok(records)
    }
}
