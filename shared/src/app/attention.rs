//! What needs an operator (issue 22, the console's operator view): the day's records
//! of stalled orders and of reconciliation findings, each with the order as it is
//! now (so the console shows whether it is still stuck), and the work queue's
//! dead-letter queue: its depth, and moving its messages back (a redrive; execute
//! claims each order with a conditional write, so a message handled twice does
//! nothing twice).

use serde::Serialize;
use time::Date;
use time::macros::format_description;

use super::error::AppError;
use super::list_params::given;
use super::query::{DEFAULT_PAGE, MAX_PAGE};
use crate::domain::{FieldError, OrderStatus, Timestamp};
use crate::ports::{
    Attention, AttentionKind, AttentionLog, DeadLetterDepth, DeadLetters, OrderStore, QueueError, Redriven,
};

/// Messages one redrive call moves at most (each is three SQS calls): the answer says
/// whether more remain.
pub const REDRIVE_BATCH: u32 = 100;

fn bad(field: &str, message: String) -> AppError {
    AppError::InvalidParameter(FieldError::new(field, message))
}

/// `GET /operator/attention`'s parameters as the request gave them.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttentionParams<'a> {
    pub kind: Option<&'a str>,
    pub date: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub cursor: Option<&'a str>,
}

/// One record and its order now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttentionItem {
    #[serde(flatten)]
    pub record: Attention,
    /// The order's status now (`null` if the order is gone).
    pub current_status: Option<OrderStatus>,
    /// The order's reason now: a stalled order keeps its stall's reason until
    /// execution moves it again.
    pub current_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttentionList {
    pub kind: AttentionKind,
    /// The UTC day listed, `YYYY-MM-DD`.
    pub date: String,
    pub records: Vec<AttentionItem>,
    pub next_cursor: Option<String>,
}

/// The day's records of a kind, newest first, a page at a time. `date` defaults to
/// today (UTC); `kind` is required.
pub async fn attention_list(
    store: &dyn OrderStore,
    log: &dyn AttentionLog,
    params: AttentionParams<'_>,
    now: Timestamp,
) -> Result<AttentionList, AppError> {
    let kind = match given(params.kind) {
        None => return Err(bad("kind", "Kind is required: one of stalled, reconciliation".into())),
        Some(k) => AttentionKind::parse(k).ok_or_else(|| {
            bad(
                "kind",
                format!("Kind must be one of: stalled, reconciliation; got '{k}'"),
            )
        })?,
    };
    let date = match given(params.date) {
        None => now.datetime().date(),
        Some(d) => Date::parse(d, format_description!("[year]-[month]-[day]")).map_err(|_| {
            bad(
                "date",
                format!("Date must be a day such as 2026-01-02 (UTC); got '{d}'"),
            )
        })?,
    };
    let limit = match given(params.limit) {
        None => DEFAULT_PAGE,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad("limit", format!("Limit must be a whole number from 1 to {MAX_PAGE}")))?,
    };
    let cursor = given(params.cursor);
    if let Some(c) = cursor.filter(|c| !Attention::is_position(c)) {
        return Err(bad(
            "cursor",
            format!("Cursor '{c}' is not one this list gave; start again without it"),
        ));
    }
    let page = log.attention_records(kind, date, limit, cursor).await?;
    let mut records = Vec::with_capacity(page.records.len());
    for record in page.records {
        let now = store.get_order(&record.trader_id, &record.order_id).await?;
        records.push(AttentionItem {
            current_status: now.as_ref().map(|o| o.status),
            current_reason: now.and_then(|o| o.reason),
            record,
        });
    }
    Ok(AttentionList {
        kind,
        date: date.to_string(),
        records,
        next_cursor: page.next,
    })
}

fn queue_unavailable(e: QueueError) -> AppError {
    AppError::Unavailable {
        service: "SQS",
        detail: e.to_string(),
    }
}

/// `GET /operator/dead-letters`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DeadLetterView {
    /// Messages waiting (approximate, as SQS counts them).
    pub messages: u64,
    /// Messages being moved or looked at right now.
    pub in_flight: u64,
}

pub async fn dead_letter_depth(dlq: &dyn DeadLetters) -> Result<DeadLetterView, AppError> {
    let DeadLetterDepth { messages, in_flight } = dlq.dead_letter_depth().await.map_err(queue_unavailable)?;
    Ok(DeadLetterView { messages, in_flight })
}

/// Moves up to `REDRIVE_BATCH` dead-lettered work messages back to the work queue.
pub async fn redrive(dlq: &dyn DeadLetters) -> Result<Redriven, AppError> {
    dlq.redrive_dead_letters(REDRIVE_BATCH).await.map_err(queue_unavailable)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::adapters::memory::{MemoryDeadLetters, MemoryQueue, MemoryStore};
    use crate::domain::{OrderId, TraderId};
    use crate::ports::{WorkMessage, WorkQueue};

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    fn record(kind: AttentionKind, ms: i64) -> Attention {
        Attention {
            kind,
            trader_id: TraderId::parse("alice").unwrap(),
            order_id: OrderId::new(),
            at: at(ms),
            from_status: OrderStatus::Submitted,
            to_status: OrderStatus::Submitted,
            venue_status: None,
            venue_order_id: None,
            reason: format!("case at {ms}"),
            corrected: false,
        }
    }

    const DAY: i64 = 1_764_288_000_000; // 2025-11-28T00:00:00Z

    fn params<'a>(kind: &'a str, date: &'a str, limit: &'a str, cursor: Option<&'a str>) -> AttentionParams<'a> {
        AttentionParams {
            kind: Some(kind),
            date: Some(date),
            limit: Some(limit),
            cursor,
        }
    }

    #[tokio::test]
    async fn a_days_records_of_a_kind_list_newest_first_a_page_at_a_time() {
        let store = MemoryStore::new();
        for (i, kind) in [
            AttentionKind::Stalled,
            AttentionKind::Reconciliation,
            AttentionKind::Stalled,
        ]
        .into_iter()
        .enumerate()
        {
            let r = record(kind, DAY + 1000 * i as i64);
            assert!(store.record_attention_once(&r, &format!("k{i}")).await.unwrap());
        }
        // The day before and the same once key again: not in the list.
        store
            .record_attention_once(&record(AttentionKind::Stalled, DAY - 1), "x")
            .await
            .unwrap();
        assert!(
            !store
                .record_attention_once(&record(AttentionKind::Stalled, DAY + 5), "k0")
                .await
                .unwrap()
        );

        let now = at(DAY + 10_000);
        let first = attention_list(&store, &store, params("stalled", "2025-11-28", "1", None), now)
            .await
            .unwrap();
        assert_eq!(first.records.len(), 1);
        assert_eq!(first.records[0].record.reason, format!("case at {}", DAY + 2000));
        assert_eq!(first.records[0].current_status, None, "no such order");
        let cursor = first.next_cursor.clone().expect("a second page");
        let second = attention_list(&store, &store, params("stalled", "2025-11-28", "1", Some(&cursor)), now)
            .await
            .unwrap();
        assert_eq!(second.records.len(), 1);
        assert_eq!(second.records[0].record.reason, format!("case at {DAY}"));
        assert_eq!(second.next_cursor, None);
        // No date: today (UTC).
        let today = attention_list(
            &store,
            &store,
            AttentionParams {
                kind: Some("reconciliation"),
                ..AttentionParams::default()
            },
            now,
        )
        .await
        .unwrap();
        assert_eq!((today.date.as_str(), today.records.len()), ("2025-11-28", 1));
        let json = serde_json::to_value(&today).unwrap();
        assert_eq!(json["records"][0]["kind"], "reconciliation");
        assert_eq!(json["records"][0]["from_status"], "SUBMITTED");
        assert!(json["records"][0]["current_status"].is_null());
    }

    #[tokio::test]
    async fn bad_parameters_are_refused_naming_the_parameter() {
        let store = MemoryStore::new();
        let now = at(DAY);
        for (p, field) in [
            (AttentionParams::default(), "kind"),
            (params("stuck", "2025-11-28", "5", None), "kind"),
            (params("stalled", "28/11/2025", "5", None), "date"),
            (params("stalled", "2025-11-28", "0", None), "limit"),
            (params("stalled", "2025-11-28", "5", Some("ORDER#x")), "cursor"),
        ] {
            match attention_list(&store, &store, p, now).await {
                Err(AppError::InvalidParameter(f)) => assert_eq!(f.field, field, "{p:?}"),
                other => panic!("{p:?}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_redrive_moves_a_bounded_batch_and_says_whether_more_remain() {
        let work = Arc::new(MemoryQueue::new());
        let dlq = MemoryDeadLetters::new(work.clone());
        for _ in 0..REDRIVE_BATCH + 3 {
            dlq.dead_letter(WorkMessage::Execute {
                trader_id: TraderId::parse("alice").unwrap(),
                order_id: OrderId::new(),
            });
        }
        assert_eq!(
            dead_letter_depth(&dlq).await.unwrap().messages,
            u64::from(REDRIVE_BATCH) + 3
        );
        assert_eq!(
            redrive(&dlq).await.unwrap(),
            Redriven {
                moved: REDRIVE_BATCH,
                more: true
            }
        );
        assert_eq!(redrive(&dlq).await.unwrap(), Redriven { moved: 3, more: false });
        assert_eq!(dead_letter_depth(&dlq).await.unwrap().messages, 0);
        assert_eq!(work.receive(10, 0).await.unwrap().len(), 10, "they are work again");
        assert_eq!(work.len(), REDRIVE_BATCH as usize + 3);
    }
}
