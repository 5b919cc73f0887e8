//! Latency samples and their percentiles. Percentiles are taken over every sample
//! of a run (nearest rank), never averaged across traders or levels.

use std::time::Duration;

use serde_json::{Value, json};

/// Latencies in microseconds.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn push_ms(&mut self, ms: i64) {
        self.0.push(u64::try_from(ms.max(0)).unwrap_or(0) * 1000);
    }

    pub fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p`-th percentile (0 < p ≤ 100) in milliseconds, nearest rank; None when empty.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        let i = rank.clamp(1, sorted.len()) - 1;
        Some(sorted[i] as f64 / 1000.0)
    }

    pub fn p50(&self) -> Option<f64> {
        self.percentile_ms(50.0)
    }

    pub fn p99(&self) -> Option<f64> {
        self.percentile_ms(99.0)
    }

    pub fn to_json(&self) -> Value {
        json!({"count": self.len(), "p50_ms": self.p50(), "p99_ms": self.p99(), "max_ms": self.percentile_ms(100.0)})
    }
}

/// `12.3` or `-` when there is nothing to show.
pub fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// `ours / floor` as `1.23×`, or `-`.
pub fn ratio(ours: Option<f64>, floor: Option<f64>) -> Option<f64> {
    match (ours, floor) {
        (Some(o), Some(f)) if f > 0.0 => Some(o / f),
        _ => None,
    }
}

pub fn times(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}×"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank_of_all_samples() {
        let mut s = Samples::default();
        for ms in 1..=100 {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.p50(), Some(50.0));
        assert_eq!(s.p99(), Some(99.0));
        assert_eq!(s.percentile_ms(100.0), Some(100.0));
        assert_eq!(Samples::default().p50(), None);
    }

    #[test]
    fn ratios_need_a_positive_floor() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(times(Some(1.5)), "1.50×");
    }
}
