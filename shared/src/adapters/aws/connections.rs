//! `Connections` on the connections table (issue 18): PK = TRADER#<trader>, SK =
//! CONN#<connection id>, so a trader's connections are one partition (one Query) and
//! no read can return another trader's. `expires_at` (epoch seconds) is the table's
//! TTL attribute; DynamoDB deletes expired items up to a few days late, so readers
//! check it (`shared::app::live`).

use super::items::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use super::items::{Item, PK, Reader, SK, key, n, s, trader_pk};
use crate::domain::{Timestamp, TraderId};
use crate::ports::{Connections, LiveConnection, StoreError};

const CONNECTION_PREFIX: &str = "CONN#";

#[derive(Clone, Debug)]
pub struct DynamoConnections {
    client: Client,
    connections_table: String,
}

impl DynamoConnections {
    pub fn new(client: Client, connections_table: impl Into<String>) -> Self {
        Self {
            client,
            connections_table: connections_table.into(),
        }
    }
}

fn connection_key(trader: &TraderId, connection_id: &str) -> Item {
    key(trader_pk(trader), format!("{CONNECTION_PREFIX}{connection_id}"))
}

fn connection_from_item(item: &Item) -> Result<LiveConnection, StoreError> {
    let r = Reader::new(item, "connection");
    let seconds = |name: &str| -> Result<Timestamp, StoreError> {
        let v = i64::try_from(r.u64(name)?).unwrap_or(i64::MAX);
        Timestamp::from_unix_millis(v.saturating_mul(1000))
            .ok_or_else(|| StoreError::Corrupt(format!("connection attribute `{name}` is out of range")))
    };
    Ok(LiveConnection {
        connection_id: r.str("connection_id")?.to_owned(),
        trader_id: r.parse("trader_id")?,
        connected_at: r.time("connected_at")?,
        expires_at: seconds("expires_at")?,
    })
}

#[async_trait]
impl Connections for DynamoConnections {
    async fn add(&self, c: &LiveConnection) -> Result<(), StoreError> {
        let mut item = connection_key(&c.trader_id, &c.connection_id);
        item.insert("connection_id".into(), s(c.connection_id.clone()));
        item.insert("trader_id".into(), s(c.trader_id.as_str()));
        item.insert("connected_at".into(), s(c.connected_at.to_string()));
        item.insert("expires_at".into(), n(c.expires_at.unix_seconds()));
        self.client
            .put_item()
            .table_name(&self.connections_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn remove(&self, trader: &TraderId, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.connections_table)
            .set_key(Some(connection_key(trader, connection_id)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn of_trader(&self, trader: &TraderId) -> Result<Vec<LiveConnection>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.connections_table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(trader_pk(trader)))
                .expression_attribute_values(":prefix", s(CONNECTION_PREFIX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                out.push(connection_from_item(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// A Scan with the expiry as its filter: the table holds one small item per open
    /// connection (and the expired ones DynamoDB's TTL has not deleted yet), and the
    /// sweep runs once a minute.
    async fn expired(&self, now: Timestamp) -> Result<Vec<LiveConnection>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.connections_table)
                .filter_expression("begins_with(#sk, :prefix) AND #exp <= :now")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_names("#exp", "expires_at")
                .expression_attribute_values(":prefix", s(CONNECTION_PREFIX))
                .expression_attribute_values(":now", n(now.unix_seconds()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                out.push(connection_from_item(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}
