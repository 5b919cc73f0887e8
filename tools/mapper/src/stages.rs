//! Where a status event is on its way to a WebSocket client, for measuring the live
//! stream's latency by stage (issue 18): one JSON line per (stage, order, version) with
//! the Unix time in ms, appended to `LIVE_STAGES_FILE`, else
//! `$STACK_LOG_DIR/live-stages.jsonl` (the test stacks' log directory); off when neither
//! is set. The fan-out's stream mapping writes `written` (the record's
//! `ApproximateCreationDateTime`), `stream_read` (its batch came off the orders table's
//! stream), `fanout_invoked` and `fanout_done`; the gateway writes `pushed` (a POST to
//! `@connections`), and clients their own `received`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

#[derive(Clone, Debug, Default)]
pub struct StageLog {
    path: Option<PathBuf>,
}

pub fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The process's log, from the environment (read once).
pub fn global() -> &'static StageLog {
    static LOG: std::sync::LazyLock<StageLog> = std::sync::LazyLock::new(StageLog::from_env);
    &LOG
}

impl StageLog {
    pub fn from_env() -> Self {
        let path = std::env::var("LIVE_STAGES_FILE")
            .ok()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var("STACK_LOG_DIR")
                    .ok()
                    .filter(|d| !d.is_empty())
                    .map(|d| PathBuf::from(d).join("live-stages.jsonl"))
            });
        Self { path }
    }

    pub fn to(path: PathBuf) -> Self {
        Self { path: Some(path) }
    }

    pub fn is_on(&self) -> bool {
        self.path.is_some()
    }

    /// Appends one line (one write, so concurrent writers keep lines whole); a failure
    /// to write is ignored: the measurement never holds up a delivery.
    pub fn record(&self, stage: &str, order_id: &str, version: u64, at_ms: i64) {
        let Some(path) = &self.path else { return };
        let line = format!(
            "{}\n",
            json!({"stage": stage, "order_id": order_id, "version": version, "at_ms": at_ms})
        );
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// `stage` at `at_ms` for every record of `records` (Lambda's JSON shape) whose new
    /// image has an `order_id` and a `version`.
    pub fn records_at(&self, stage: &str, records: &[Value], at_ms: i64) {
        if !self.is_on() {
            return;
        }
        for r in records {
            if let Some((order, version)) = record_key(r) {
                self.record(stage, order, version, at_ms);
            }
        }
    }

    /// `stream_read` (now) and `written` (the record's `ApproximateCreationDateTime`:
    /// when the write was applied, in the emulator to the ms) for every record of
    /// `records` (Lambda's JSON shape; `raw` the same records as read) whose new image
    /// has an `order_id` and a `version`.
    pub fn stream_records(&self, records: &[Value], raw: &[aws_sdk_dynamodbstreams::types::Record]) {
        if !self.is_on() {
            return;
        }
        let now = unix_ms_now();
        for (i, r) in records.iter().enumerate() {
            let Some((order, version)) = record_key(r) else {
                continue;
            };
            self.record("stream_read", order, version, now);
            let created = raw
                .get(i)
                .and_then(|r| r.dynamodb())
                .and_then(|d| d.approximate_creation_date_time());
            if let Some(t) = created {
                let ms = t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000);
                self.record("written", order, version, ms);
            }
        }
    }
}

/// One status event as a client received it.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub order_id: String,
    pub version: u64,
    /// The event's `timestamp`: the commit of the version (its `updated_at`), Unix ms.
    pub commit_ms: i64,
    pub received_ms: i64,
}

/// The stages of an event's way, in order, each from the one before it.
pub const STAGES: [(&str, &str); 5] = [
    ("written", "updated_at -> written (the table's write)"),
    ("stream_read", "written -> stream record read"),
    ("fanout_invoked", "stream read -> fan-out invoked"),
    ("pushed", "fan-out invoked -> posted to @connections"),
    ("received", "posted -> received by the client"),
];

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

/// Each stage's time (ms) of every arrival whose stages were all logged, and the
/// commit → client time of every arrival: `(label, samples)`, the whole way last.
pub fn breakdown(log: &str, arrivals: &[Arrival]) -> Vec<(String, Vec<i64>)> {
    let mut at: HashMap<(String, String, u64), i64> = HashMap::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let (Some(stage), Some(order), Some(version), Some(ms)) = (
            v["stage"].as_str(),
            v["order_id"].as_str(),
            v["version"].as_u64(),
            v["at_ms"].as_i64(),
        ) else {
            continue;
        };
        // The first time a stage was reached (retries and replays come later).
        let e = at.entry((stage.to_owned(), order.to_owned(), version)).or_insert(ms);
        *e = (*e).min(ms);
    }
    let mut out: Vec<(String, Vec<i64>)> = STAGES.iter().map(|(_, l)| ((*l).to_owned(), Vec::new())).collect();
    let mut whole = Vec::new();
    for a in arrivals {
        whole.push(a.received_ms - a.commit_ms);
        let mut times = vec![a.commit_ms];
        for (stage, _) in &STAGES[..STAGES.len() - 1] {
            match at.get(&((*stage).to_owned(), a.order_id.clone(), a.version)) {
                Some(ms) => times.push(*ms),
                None => break,
            }
        }
        if times.len() < STAGES.len() {
            continue;
        }
        times.push(a.received_ms);
        for (i, w) in times.windows(2).enumerate() {
            out[i].1.push(w[1] - w[0]);
        }
    }
    out.push(("commit -> client (the whole way)".to_owned(), whole));
    out
}

/// The breakdown as a table of p50 / p99 / max per stage.
pub fn table(rows: &[(String, Vec<i64>)]) -> String {
    let mut out = format!(
        "{:<44} {:>7} {:>7} {:>7} {:>7}\n",
        "stage (ms)", "count", "p50", "p99", "max"
    );
    for (label, samples) in rows {
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        let f = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        out.push_str(&format!(
            "{label:<44} {:>7} {:>7} {:>7} {:>7}\n",
            sorted.len(),
            f(percentile(&sorted, 50)),
            f(percentile(&sorted, 99)),
            f(sorted.last().copied())
        ));
    }
    out
}

/// The log's text, if it is on and was written.
pub fn read(log: &StageLog) -> Option<String> {
    std::fs::read_to_string(log.path.as_ref()?).ok()
}

/// The (order id, version) of a stream record's new image (an order item's).
pub fn record_key(record: &Value) -> Option<(&str, u64)> {
    let image = &record["dynamodb"]["NewImage"];
    Some((
        image["order_id"]["S"].as_str()?,
        image["version"]["N"].as_str().and_then(|v| v.parse::<u64>().ok())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_stage_the_order_and_the_version() {
        let dir = std::env::temp_dir().join(format!("stages-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = StageLog::to(dir.join("s.jsonl"));
        log.stream_records(
            &[
                json!({"dynamodb": {"NewImage": {"order_id": {"S": "o1"}, "version": {"N": "2"}}}}),
                json!({"dynamodb": {"NewImage": {"SK": {"S": "ACCOUNT"}}}}),
            ],
            &[],
        );
        log.record("fanout_invoked", "o1", 2, 5);
        let text = std::fs::read_to_string(dir.join("s.jsonl")).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(
            (lines[0]["stage"].as_str(), lines[0]["version"].as_u64()),
            (Some("stream_read"), Some(2))
        );
        assert_eq!(
            lines[1],
            json!({"stage": "fanout_invoked", "order_id": "o1", "version": 2, "at_ms": 5})
        );
        assert_eq!(
            record_key(&json!({"dynamodb": {"NewImage": {"order_id": {"S": "o1"}, "version": {"N": "3"}}}})),
            Some(("o1", 3))
        );
        assert_eq!(
            record_key(&json!({"dynamodb": {"NewImage": {"SK": {"S": "ACCOUNT"}}}})),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_breakdown_splits_the_way_into_its_stages_and_skips_events_with_a_stage_missing() {
        let log = [
            ("written", 1, 105),
            ("stream_read", 1, 110),
            ("fanout_invoked", 1, 160),
            ("pushed", 1, 170),
            ("pushed", 1, 900), // a replay, later: the first counts
            ("written", 2, 295),
            ("stream_read", 2, 300),
        ]
        .iter()
        .map(|(s, v, at)| json!({"stage": s, "order_id": "o", "version": v, "at_ms": at}).to_string())
        .collect::<Vec<_>>()
        .join("\n");
        let arrival = |version, commit_ms, received_ms| Arrival {
            order_id: "o".into(),
            version,
            commit_ms,
            received_ms,
        };
        let rows = breakdown(&log, &[arrival(1, 100, 175), arrival(2, 290, 400)]);
        let samples: Vec<Vec<i64>> = rows.iter().map(|(_, s)| s.clone()).collect();
        assert_eq!(
            samples,
            vec![vec![5], vec![5], vec![50], vec![10], vec![5], vec![75, 110]]
        );
        let text = table(&rows);
        assert!(text.contains("commit -> client (the whole way)"), "{text}");
    }
}
