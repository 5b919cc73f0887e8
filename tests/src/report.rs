//! Rows of the reliability report (`RELIABILITY.md`, issue 6). Each reliability
//! scenario counts what went wrong in its own run, appends one row to the JSON-lines
//! file named by `RELIABILITY_REPORT` (when set), then asserts every count is 0.
//! `tools/reliability_report.py` renders the rows; the Python and load-generator
//! scenarios write rows of the same shape.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

/// One scenario's figures. Every count but `operations` must be 0.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// Scenario group, as numbered in issue 6: 1 crash points, 2 duplicates, 3 races,
    /// 4 dependency outages, 5 hostile input, 6 auth attacks, 7 audit integrity, 8 soak.
    pub group: u8,
    pub scenario: String,
    /// What was injected, in a few words.
    pub injected: String,
    /// How many operations (requests, messages, orders) the scenario ran.
    pub operations: u64,
    pub lost_orders: u64,
    pub duplicated_venue_orders: u64,
    pub lost_events: u64,
    pub wrong_balances: u64,
    /// 5xx answers the scenario did not expect (an outage's 503s go in `notes`).
    pub server_errors: u64,
    /// `panicked at` lines the stack's logs gained during the scenario.
    pub panics: u64,
    /// Anything else measured, e.g. `"503 during the outage: 12"`.
    pub notes: String,
}

impl Row {
    pub fn new(group: u8, scenario: &str, injected: &str) -> Self {
        Self {
            group,
            scenario: scenario.to_owned(),
            injected: injected.to_owned(),
            ..Self::default()
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "group": self.group,
            "scenario": self.scenario,
            "injected": self.injected,
            "operations": self.operations,
            "lost_orders": self.lost_orders,
            "duplicated_venue_orders": self.duplicated_venue_orders,
            "lost_events": self.lost_events,
            "wrong_balances": self.wrong_balances,
            "server_errors": self.server_errors,
            "panics": self.panics,
            "notes": self.notes,
        })
    }

    /// Appends the row to `$RELIABILITY_REPORT` (if set), then fails the test if any
    /// count is not 0, naming them.
    pub fn record_and_check(&self) {
        if let Some(path) = std::env::var_os("RELIABILITY_REPORT").filter(|p| !p.is_empty()) {
            let line = format!("{}\n", self.to_json());
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(PathBuf::from(&path))
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(e) = written {
                panic!("cannot append to RELIABILITY_REPORT {path:?}: {e}");
            }
        }
        let bad: Vec<String> = [
            ("lost orders", self.lost_orders),
            ("duplicated venue orders", self.duplicated_venue_orders),
            ("lost events", self.lost_events),
            ("wrong balances", self.wrong_balances),
            ("5xx responses", self.server_errors),
            ("panics", self.panics),
        ]
        .iter()
        .filter(|(_, n)| *n != 0)
        .map(|(what, n)| format!("{what}: {n}"))
        .collect();
        assert!(bad.is_empty(), "{}: {}", self.scenario, bad.join(", "));
    }
}

/// `panicked at` lines in the stack's logs so far (`STACK_LOG_DIR`, every `*.log`):
/// take it before and after a scenario. 0 when the variable is not set.
pub fn panics_so_far() -> u64 {
    let Some(dir) = std::env::var_os("STACK_LOG_DIR") else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|text| text.matches("panicked at").count() as u64)
        .sum()
}
