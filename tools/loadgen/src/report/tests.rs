//! The report's like-for-like table, read as `tools/bench_charts.py` reads it.

use std::time::Duration;

use super::*;
use crate::floor::FloorResult;
use crate::inproc::InProcResult;
use crate::level::Cores;
use crate::run::{RunResult, TraderLog};

fn samples(ms: &[u64]) -> Samples {
    let mut s = Samples::default();
    for v in ms {
        s.push(Duration::from_millis(*v));
    }
    s
}

fn floor(submit_ms: u64, lives: usize) -> FloorResult {
    FloorResult {
        submit: samples(&[submit_ms]),
        cancel: samples(&[submit_ms / 2]),
        fill_event: samples(&[submit_ms * 4]),
        cancel_event: samples(&[submit_ms * 3]),
        lifecycles: lives,
        elapsed: Duration::from_secs(10),
        ..FloorResult::default()
    }
}

/// A level of `traders` whose HTTP submits took 300 ms; the floor's 100 at full
/// concurrency, 200 limited to 2 instances (when there are more traders than that).
fn level(traders: usize) -> Level {
    let log = TraderLog {
        submit: samples(&[300]),
        cancel: samples(&[150]),
        ..TraderLog::default()
    };
    Level {
        traders,
        http: RunResult {
            traders: Vec::new(),
            log,
            submit_phase: Duration::from_secs(10),
            until_terminal: Duration::from_secs(10),
            not_terminal: Vec::new(),
            events: crate::tap::Events::default(),
            tap_errors: 0,
        },
        fill_event: samples(&[800]),
        cancel_event: samples(&[500]),
        event_lag: samples(&[170]),
        to_claim: samples(&[350]),
        to_fill: samples(&[120]),
        fill_to_event: samples(&[150]),
        to_venue: samples(&[40, 60]),
        terminal: 120,
        inproc: InProcResult {
            submit: samples(&[120]),
            cancel: samples(&[90]),
            ..InProcResult::default()
        },
        floor_handlers: floor(110, 0),
        floor: floor(100, 190),
        floor_limited: (traders > 2).then(|| floor(200, 80)),
        took: Duration::from_secs(60),
        emulator_cores: Cores {
            http: Some(0.76),
            floor: Some(0.83),
            floor_limited: Some(0.5),
            ..Cores::default()
        },
        instances: 2,
    }
}

/// The first table after the level's heading, as bench_charts.py's `table_rows`
/// takes it: header cells and body rows.
fn first_table(md: &str, heading: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let split = |l: &str| {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let rows: Vec<Vec<String>> = md
        .lines()
        .skip_while(|l| *l != heading)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(split)
        .collect();
    (
        rows.first().cloned().unwrap_or_default(),
        rows.into_iter().skip(2).collect(),
    )
}

fn cells<'a>(rows: &'a [Vec<String>], figure: &str) -> &'a [String] {
    rows.iter().find(|r| r[0] == figure).map_or(&[], Vec::as_slice)
}

#[test]
fn the_first_table_is_ours_against_the_floor_limited_to_our_instances() {
    let md = markdown(&[level(10)], "orders-load run");
    let (header, rows) = first_table(&md, "### 10 concurrent traders");
    assert_eq!(header[0], "figure", "{md}");
    // The pipeline against the limited floor (200 ms), not the full one (100 ms).
    assert_eq!(
        cells(&rows, "submit over HTTP")[1..],
        ["300.0", "300.0", "200.0", "200.0", "1.50×", "1.50×"]
    );
    assert_eq!(cells(&rows, "submit → FILLED event")[3], "800.0");
    assert_eq!(cells(&rows, "cancel → CANCELLED event")[3], "600.0");
    // In process against the floor's calls alone, in the same table.
    assert_eq!(
        cells(&rows, "submit in process (floor: submit calls alone)")[3],
        "110.0"
    );
    // Throughput: 120 terminal over 10 s against 80 lives over 10 s.
    let lives = rows
        .iter()
        .find(|r| r[0].starts_with("whole lives per second"))
        .map(|r| r[1..6].to_vec());
    assert_eq!(
        lives,
        Some(vec![
            "12.0".into(),
            String::new(),
            "8.0".into(),
            String::new(),
            "1.50×".into()
        ])
    );
}

#[test]
fn the_full_concurrency_table_follows_as_it_was() {
    let md = markdown(&[level(10)], "orders-load run");
    let (_, rows) = first_table(
        &md,
        "**Second view: the floor at full concurrency** (10 workers at the emulator at once; above 2 traders ours wait at the gateway instead, so these latency ratios compare queues, not code):",
    );
    assert_eq!(cells(&rows, "submit over HTTP")[3], "100.0", "{md}");
    assert_eq!(
        cells(&rows, "submit in process (floor: submit calls alone)")[3],
        "110.0"
    );
    assert!(cells(&rows, "status change → event received (SPEC: p99 < 500)").len() == 7);
}

#[test]
fn the_charts_throughput_is_the_like_for_like_floor() {
    let md = markdown(&[level(10)], "orders-load run");
    // bench_charts.py: the first `floor: N whole lives, **X/s**` of the level.
    let at = md.find(" whole lives, **").unwrap_or(0);
    assert!(md[..at].ends_with("floor: 80"), "{md}");
    assert!(md.contains("at full concurrency the floor made 190 whole lives at 19.0/s"));
    assert!(
        md.contains("over HTTP like for like 1.50× (target: not met); against the floor at full concurrency 3.00×")
    );
}

#[test]
fn at_one_trader_the_like_for_like_floor_is_the_floor_itself() {
    let md = markdown(&[level(1)], "orders-load run");
    let (_, rows) = first_table(&md, "### 1 concurrent trader");
    assert_eq!(cells(&rows, "submit over HTTP")[3], "100.0", "{md}");
    assert!(md.contains("no more traders than our 2 instances (the floor itself), floor: 190 whole lives"));
    assert!(md.contains("the floor limited to ours, the floor itself (below)"));
}

#[test]
fn each_figure_names_what_bounds_it() {
    let md = markdown(&[level(10)], "orders-load run");
    let sentence = md
        .lines()
        .find(|l| l.starts_with("What bounds each figure:"))
        .unwrap_or_default();
    assert!(sentence.contains("ours over HTTP, the emulator's one Python core (busy 0.76), with 10 callers taking turns at 2 instances per function"), "{sentence}");
    assert!(sentence.contains("the floor limited to ours, the queue of 10 callers for 2 instances per function (the emulator's core busy 0.50)"), "{sentence}");
    assert!(
        sentence.contains("the floor at full concurrency, the emulator's one Python core (busy 0.83)"),
        "{sentence}"
    );
    assert!(
        sentence.contains("ours in process, the round trips of 10 callers at once (the emulator's CPU not measured)"),
        "{sentence}"
    );
}

#[test]
fn bounds_by_concurrency_and_the_emulators_core() {
    assert!(bound(Some(0.9), 1, Some(2)).starts_with("one order at a time"));
    assert!(bound(Some(0.9), 2, Some(2)).ends_with("core (busy 0.90)"));
    assert!(bound(Some(0.3), 3, Some(2)).starts_with("the queue of 3 callers for 2 instances"));
    assert!(bound(Some(0.3), 3, None).starts_with("the round trips of 3 callers"));
    assert!(bound(None, 100, Some(1)).starts_with("the queue of 100 callers for 1 instance per"));
}

#[test]
fn each_level_times_submit_to_venue_accept() {
    let md = markdown(&[level(10)], "orders-load run");
    assert!(
        md.contains("Submit → venue accept (the request sent → the venue's order created, its `created_at` at the simulator; 2 orders), p50 / p99 ms: 40.0 / 60.0."),
        "{md}"
    );
}
