// Long because: every AWS call of an order's life as the service issues it, one helper per item kind; the
// floor must mirror the service call for call.
//! The floor's calls for one worker's trader: the AWS calls of an order's life as
//! `shared` issues them (see the module above), on items of the same shape and size.

use aws_sdk_dynamodb::types::{AttributeValue as Av, Put, TransactWriteItem, Update};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::json;

use super::gate::{Function, Gates, gated};
use super::{Floor, Item, n, names_in, s};
use crate::mix::Kind;

/// The calls, for one worker's trader.
pub(super) struct Ops<'a> {
    pub(super) f: &'a Floor,
    pub(super) queue: &'a str,
    pub(super) trader: &'a str,
    pub(super) calls: usize,
    pub(super) errors: usize,
    /// The floor limited to ours: each function's group of calls runs in one of its
    /// instances (`gate.rs`); `None`, every worker's calls at once.
    pub(super) gates: Option<&'a Gates>,
}

const SNAPSHOT: &str = r#"{"order_id":"01M89CR8R9WRJ3P3W4H1SDS5EG","client_order_id":null,"trader_id":"e2e-01m89cr8r9wrj3p3w4h1sds5eg","symbol":"AAPL","side":"buy","type":"limit","quantity":"10","limit_price":"150.25","stop_price":null,"time_in_force":"day","status":"PENDING","filled_quantity":"0","average_fill_price":null,"reserved_amount":"1502.50","version":1,"created_at":"2026-11-25T13:01:37.907Z","updated_at":"2026-11-25T13:01:37.907Z","reason":null}"#;

/// A fill's changes, as its record stores them.
const CHANGES: &str = r#"{"set":{"average_fill_price":"190.06","filled_quantity":"3","reserved_amount":"0","status":"FILLED","updated_at":"2026-11-25T13:01:38.112Z","version":3}}"#;

impl Ops<'_> {
    fn pk(&self) -> String {
        format!("TRADER#{}", self.trader)
    }

    fn check<T, E: std::fmt::Display>(&mut self, what: &str, r: Result<T, E>) {
        self.calls += 1;
        if let Err(e) = r {
            self.errors += 1;
            eprintln!("orders-load floor: {what}: {e}");
        }
    }

    fn order_item(&self, id: &str, status: &str, version: u64) -> Item {
        let pk = self.pk();
        let mut i: Item = [
            ("PK", s(pk.clone())),
            ("SK", s(format!("ORDER#{id}"))),
            ("GSI1PK", s(format!("{pk}#{status}"))),
            ("GSI1SK", s(format!("ORDER#{id}"))),
            ("order_id", s(id)),
            ("trader_id", s(self.trader)),
            ("symbol", s("AAPL")),
            ("side", s("buy")),
            ("type", s("limit")),
            ("quantity", n(3)),
            ("limit_price", n("209.13")),
            ("time_in_force", s("day")),
            ("status", s(status)),
            ("filled_quantity", n(0)),
            ("reserved_amount", n("627.39")),
            ("version", n(version)),
            ("updated_at", s("2026-11-25T13:01:37.907Z")),
            ("changed_minute", s("2026-11-25T13:01")),
            ("created_at", s("2026-11-25T13:01:37.907Z")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        i.insert("average_fill_price".into(), n("190.06"));
        i
    }

    /// An audit record as ours are stored: a submit's with the order after it, a status
    /// change's with what it changed (issue 17).
    fn audit_item(&self, id: &str, seq: u64) -> Item {
        let snapshot = if seq == 1 {
            ("after", s(SNAPSHOT))
        } else {
            ("changes", s(CHANGES))
        };
        [
            ("PK", s(format!("AUDIT#{id}"))),
            ("SK", s(format!("{seq:08}"))),
            ("order_id", s(id)),
            ("sequence", n(seq)),
            ("trader_id", s(self.trader)),
            ("actor", s(self.trader)),
            ("action", s("SUBMIT")),
            ("at", s("2026-11-25T13:01:37.907Z")),
            snapshot,
            ("request_id", s("4b4e2a3c-1c1f-4b8e-9f1a-0d3c2b1a0f9e")),
            ("prev_hash", s("0".repeat(64))),
            ("hash", s("f".repeat(64))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn put(table: &str, item: Item) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "PK")
            .build();
        TransactWriteItem::builder().set_put(put.ok()).build()
    }

    fn update(&self, sk: String, set: &str, condition: &str, values: &[(&str, Av)]) -> TransactWriteItem {
        let mut u = Update::builder()
            .table_name(&self.f.orders)
            .key("PK", s(self.pk()))
            .key("SK", s(sk))
            .update_expression(set)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_in(&[set, condition])));
        for (k, v) in values {
            u = u.expression_attribute_values(*k, v.clone());
        }
        TransactWriteItem::builder().set_update(u.build().ok()).build()
    }

    fn account_update(&self) -> TransactWriteItem {
        self.update(
            "ACCOUNT".into(),
            "SET #reserved = #reserved + :a, #available = #available - :a, #open_orders = #open_orders + :one",
            "attribute_exists(#PK) AND #available >= :a AND #open_orders < :max",
            &[(":a", n("0.01")), (":one", n(1)), (":max", n(1_000_000))],
        )
    }

    fn order_update(&self, id: &str, status: &str, from: u64) -> TransactWriteItem {
        self.update(
            format!("ORDER#{id}"),
            "SET #status = :st, #version = :to, #filled_quantity = :fq, #updated_at = :at, #changed_minute = :m, #GSI1PK = :g",
            "#status <> :never AND #version = :from",
            &[
                (":st", s(status)),
                (":to", n(from + 1)),
                (":from", n(from)),
                (":fq", n(3)),
                (":at", s("2026-11-25T13:01:38.101Z")),
                (":m", s("2026-11-25T13:01")),
                (":g", s(format!("{}#{status}", self.pk()))),
                (":never", s("NONE")),
            ],
        )
    }

    async fn transact(&mut self, items: Vec<TransactWriteItem>) {
        let r = self
            .f
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        self.check("TransactWriteItems", r);
    }

    pub(super) async fn seed_account(&mut self) {
        let r = self
            .f
            .ddb
            .put_item()
            .table_name(&self.f.orders)
            .item("PK", s(self.pk()))
            .item("SK", s("ACCOUNT"))
            .item("trader_id", s(self.trader))
            .item("cash", n(10_000_000))
            .item("available", n(10_000_000))
            .item("reserved", n(0))
            .item("open_orders", n(0))
            .item("realized_pnl", n(0))
            .item("orders_per_minute", n(1_000_000))
            .send()
            .await;
        self.check("PutItem account", r);
    }

    async fn get_order(&mut self, id: &str) {
        let r = self
            .f
            .ddb
            .get_item()
            .table_name(&self.f.orders)
            .key("PK", s(self.pk()))
            .key("SK", s(format!("ORDER#{id}")))
            .consistent_read(true)
            .send()
            .await;
        self.check("GetItem order", r);
    }

    async fn query_account(&mut self) {
        let r = self
            .f
            .ddb
            .query()
            .table_name(&self.f.orders)
            .consistent_read(true)
            .key_condition_expression("#PK = :pk AND begins_with(#SK, :p)")
            .expression_attribute_names("#PK", "PK")
            .expression_attribute_names("#SK", "SK")
            .expression_attribute_values(":pk", s(self.pk()))
            .expression_attribute_values(":p", s("ACCOUNT"))
            .send()
            .await;
        self.check("Query account", r);
    }

    /// Submit's calls, in one of submit's instances when gated; with `fast_path`, the
    /// execute message sent right after the commit, as our submit sends it (issue 17;
    /// our handlers in process run without it, and so does the floor next to them).
    pub(super) async fn submit(&mut self, id: &str, fast_path: bool) {
        let gates = self.gates;
        let calls = async {
            self.submit_calls(id).await;
            if fast_path {
                self.send(id, "execute").await;
            }
        };
        gated(gates, Function::Submit, calls).await;
    }

    async fn submit_calls(&mut self, id: &str) {
        let key = ulid::Ulid::new().to_string();
        let r = self
            .f
            .ddb
            .get_item()
            .table_name(&self.f.orders)
            .key("PK", s(self.pk()))
            .key("SK", s(format!("IDEMPOTENCY#{key}")))
            .consistent_read(true)
            .send()
            .await;
        self.check("GetItem idempotency", r);
        self.query_account().await;
        let r = self
            .f
            .ddb
            .update_item()
            .table_name(&self.f.orders)
            .key("PK", s(self.pk()))
            .key("SK", s(format!("RATE#{}", crate::tap::unix_ms_now() / 60_000)))
            .update_expression("SET #c = if_not_exists(#c, :zero) + :one, #exp = :exp")
            .expression_attribute_names("#exp", "expires_at")
            .condition_expression("attribute_not_exists(#c) OR #c < :limit")
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(1_000_000))
            .expression_attribute_values(":exp", n(crate::tap::unix_ms_now() / 1000 + 180))
            .send()
            .await;
        self.check("UpdateItem rate", r);
        let mut idem = self.order_item(id, "PENDING", 1);
        idem.insert("SK".into(), s(format!("IDEMPOTENCY#{key}")));
        idem.insert("body".into(), s(SNAPSHOT));
        let items = vec![
            Self::put(&self.f.orders, self.order_item(id, "PENDING", 1)),
            Self::put(&self.f.audit, self.audit_item(id, 1)),
            Self::put(&self.f.orders, idem),
            self.account_update(),
        ];
        self.transact(items).await;
    }

    async fn put_event(&mut self, id: &str, previous: Option<&str>, status: &str, version: u64) {
        let detail = json!({"order_id": id, "trader_id": self.trader, "client_order_id": null, "symbol": "AAPL",
            "side": "buy", "previous_status": previous, "new_status": status, "filled_quantity": "3",
            "average_price": "190.06", "version": version, "timestamp": shared::domain::Timestamp::now().to_string()});
        let entry = PutEventsRequestEntry::builder()
            .source("orders-floor")
            .detail_type("Order Status Changed")
            .detail(detail.to_string())
            .event_bus_name(&self.f.bus)
            .build();
        let r = self.f.events.put_events().entries(entry).send().await;
        self.check("PutEvents", r);
    }

    async fn send(&mut self, id: &str, kind: &str) {
        let body = json!({"type": kind, "trader_id": self.trader, "order_id": id}).to_string();
        let r = self
            .f
            .sqs
            .send_message()
            .queue_url(self.queue)
            .message_body(body)
            .send()
            .await;
        self.check("SendMessage", r);
    }

    /// ReceiveMessage … DeleteMessage around `work`, as the event-source mapping does.
    async fn receive_and_delete(&mut self) {
        let r = self
            .f
            .sqs
            .receive_message()
            .queue_url(self.queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await;
        let handles: Vec<String> = r
            .as_ref()
            .map(|o| {
                o.messages()
                    .iter()
                    .filter_map(|m| m.receipt_handle().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.check("ReceiveMessage", r);
        for h in handles {
            let r = self
                .f
                .sqs
                .delete_message()
                .queue_url(self.queue)
                .receipt_handle(h)
                .send()
                .await;
            self.check("DeleteMessage", r);
        }
    }

    /// A plain `PutItem` on the orders table (the intake's items: locator, working
    /// index entry, venue alias), conditional as the service writes it when `condition`.
    async fn put_plain(&mut self, what: &str, item: Item, condition: Option<&str>) {
        let mut put = self.f.ddb.put_item().table_name(&self.f.orders).set_item(Some(item));
        if let Some(c) = condition {
            put = put
                .condition_expression(c)
                .set_expression_attribute_names(Some(names_in(&[c])));
            if c.contains(":t") {
                put = put.expression_attribute_values(":t", s(self.trader));
            }
        }
        let r = put.send().await;
        self.check(what, r);
    }

    async fn get_plain(&mut self, what: &str, pk: String, sk: &str) {
        let r = self
            .f
            .ddb
            .get_item()
            .table_name(&self.f.orders)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .send()
            .await;
        self.check(what, r);
    }

    fn working_key(id: &str) -> (String, String) {
        let shard = id.bytes().map(u32::from).sum::<u32>() % 4;
        (format!("WORKING#{shard}"), id.to_owned())
    }

    async fn put_working(&mut self, id: &str) {
        let (pk, sk) = Self::working_key(id);
        let item: Item = [("PK", s(pk)), ("SK", s(sk)), ("trader_id", s(self.trader))]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        self.put_plain("PutItem working", item, None).await;
    }

    async fn remove_working(&mut self, id: &str) {
        let (pk, sk) = Self::working_key(id);
        let r = self
            .f
            .ddb
            .delete_item()
            .table_name(&self.f.orders)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .send()
            .await;
        self.check("DeleteItem working", r);
    }

    /// One request from the venue budget (`VENUE#<key>` / `WINDOW#<start>`), taken
    /// before every venue call.
    async fn venue_budget(&mut self) {
        let start = crate::tap::unix_ms_now() / 1000 / 5 * 5;
        let r = self
            .f
            .ddb
            .update_item()
            .table_name(&self.f.orders)
            .key("PK", s("VENUE#floor"))
            .key("SK", s(format!("WINDOW#{start}")))
            .update_expression("SET #count = if_not_exists(#count, :zero) + :one, #exp = :exp")
            .condition_expression("attribute_not_exists(#count) OR #count < :cap")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(1_000_000_000))
            .expression_attribute_values(":exp", n(start + 120))
            .send()
            .await;
        self.check("UpdateItem venue budget", r);
    }

    /// The rest of an order's life after its submit, each function's group of calls
    /// in one of that function's instances when gated: publish of v1, execute's claim
    /// and placement, publish of v2; for a marketable order
    /// the intake's booking of the fill, publish of v3 and the intake's sweep.
    pub(super) async fn execute(&mut self, id: &str, kind: Kind) {
        let gates = self.gates;
        // The work message went out with submit (the fast path): publish finds the order
        // claimed by then and sends no backstop, only the event.
        gated(gates, Function::Publish, self.put_event(id, None, "PENDING", 1)).await;
        gated(gates, Function::Execute, self.claim_and_place(id)).await;
        gated(
            gates,
            Function::Publish,
            self.put_event(id, Some("PENDING"), "SUBMITTED", 2),
        )
        .await;
        if kind == Kind::RestingLimit {
            // Resting: nothing of its own until it ends (the intake's passes are not
            // per order).
            return;
        }
        gated(gates, Function::Intake, self.book_fill(id)).await;
        gated(
            gates,
            Function::Publish,
            self.put_event(id, Some("SUBMITTED"), "FILLED", 3),
        )
        .await;
        gated(gates, Function::Intake, self.sweep_filled(id)).await;
    }

    /// Execute: the message received, the claim, the locator and the working index
    /// entry before the venue hears of it, the placement's budget request, the
    /// re-read after the venue; the message deleted.
    async fn claim_and_place(&mut self, id: &str) {
        self.receive_and_delete().await;
        self.get_order(id).await;
        let claim = vec![
            self.order_update(id, "SUBMITTED", 1),
            Self::put(&self.f.audit, self.audit_item(id, 2)),
        ];
        self.transact(claim).await;
        let locator: Item = [
            ("PK", s(format!("ORDERREF#{id}"))),
            ("SK", s("REF")),
            ("trader_id", s(self.trader)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        self.put_plain(
            "PutItem locator",
            locator,
            Some("attribute_not_exists(#PK) OR #trader_id = :t"),
        )
        .await;
        self.put_working(id).await;
        self.venue_budget().await;
        self.get_order(id).await;
    }

    /// The intake books the venue's execution: the venue order is new to it (no
    /// alias yet: one venue lookup, then the locator and the alias), then the order,
    /// the account and the fill.
    async fn book_fill(&mut self, id: &str) {
        self.get_plain("GetItem venue alias", format!("VENUEALIAS#venue-{id}"), "ALIAS")
            .await;
        self.venue_budget().await;
        self.get_plain("GetItem locator", format!("ORDERREF#{id}"), "REF").await;
        let alias: Item = [
            ("PK", s(format!("VENUEALIAS#venue-{id}"))),
            ("SK", s("ALIAS")),
            ("order_id", s(id)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        self.put_plain("PutItem venue alias", alias, None).await;
        self.get_order(id).await;
        self.query_account().await;
        let mut fill = self.order_item(id, "FILL", 1);
        fill.insert("SK".into(), s(format!("FILL#{id}#20261125130137907::venue-exec-{id}")));
        let items = vec![
            self.order_update(id, "FILLED", 2),
            Self::put(&self.f.audit, self.audit_item(id, 3)),
            Self::put(&self.f.orders, fill),
            self.account_update(),
            self.update(
                "POSITION#AAPL".into(),
                "SET #quantity = :q, #average_cost = :c, #version = :v, #symbol = :s",
                "attribute_not_exists(#version) OR #version < :v",
                &[
                    (":q", n(3)),
                    (":c", n("190.06")),
                    (":v", n(crate::tap::unix_ms_now())),
                    (":s", s("AAPL")),
                ],
            ),
        ];
        self.transact(items).await;
    }

    /// The intake's sweep takes the filled order out of the working index.
    async fn sweep_filled(&mut self, id: &str) {
        self.get_order(id).await;
        self.remove_working(id).await;
    }

    /// Cancel's calls, in one of cancel's instances when gated; with `fast_path`, the
    /// cancel message sent right after the commit, as our cancel sends it.
    pub(super) async fn cancel(&mut self, id: &str, version: u64, fast_path: bool) {
        let gates = self.gates;
        let calls = async {
            self.cancel_calls(id, version).await;
            if fast_path {
                self.send(id, "cancel").await;
            }
        };
        gated(gates, Function::Cancel, calls).await;
    }

    async fn cancel_calls(&mut self, id: &str, version: u64) {
        self.get_order(id).await;
        self.query_account().await;
        let items = vec![
            self.order_update(id, "CANCEL_REQUESTED", version),
            Self::put(&self.f.audit, self.audit_item(id, 3)),
            self.account_update(),
        ];
        self.transact(items).await;
    }

    /// What follows an accepted cancel of a resting order: its publish, the venue
    /// cancel's execute (look, cancel, look again: the venue shows `pending_cancel`;
    /// the working entry put again), and the intake's sweep that finds it gone from
    /// the venue's open orders, looks it up and confirms the cancel; the publish of
    /// CANCELLED. Each function's group in one of its instances when gated.
    pub(super) async fn cancel_rest(&mut self, id: &str) {
        let gates = self.gates;
        let requested = self.put_event(id, Some("SUBMITTED"), "CANCEL_REQUESTED", 3);
        gated(gates, Function::Publish, requested).await;
        gated(gates, Function::Execute, self.cancel_at_venue(id)).await;
        gated(gates, Function::Intake, self.confirm_cancel(id)).await;
        let cancelled = self.put_event(id, Some("CANCEL_REQUESTED"), "CANCELLED", 4);
        gated(gates, Function::Publish, cancelled).await;
    }

    async fn cancel_at_venue(&mut self, id: &str) {
        self.receive_and_delete().await;
        self.get_order(id).await;
        for _ in 0..3 {
            self.venue_budget().await;
        }
        self.put_working(id).await;
    }

    async fn confirm_cancel(&mut self, id: &str) {
        self.get_order(id).await;
        self.venue_budget().await;
        let items = vec![
            self.order_update(id, "CANCELLED", 3),
            Self::put(&self.f.audit, self.audit_item(id, 4)),
            self.account_update(),
        ];
        self.transact(items).await;
        self.remove_working(id).await;
    }
}
