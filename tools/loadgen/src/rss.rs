//! Memory of the stack's function processes: every instance cargo lambda watch
//! started for this stack (found under /proc by executable name and by the
//! stack's ORDERS_TABLE in its environment), resident set size sampled over time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const FUNCTIONS: [&str; 5] = ["submit", "cancel", "query", "execute", "publish"];

/// One look: pid → (function, RSS in KiB).
pub type Sample = BTreeMap<u32, (String, u64)>;

/// The function processes of the stack whose orders table is `orders_table`, now.
pub fn sample(orders_table: &str) -> Sample {
    let marker = format!("ORDERS_TABLE={orders_table}");
    let mut out = Sample::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
            continue;
        };
        let Some(name) = exe.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // A binary rebuilt while its process runs shows as `submit (deleted)`.
        let name = name.trim_end_matches(" (deleted)");
        if !FUNCTIONS.contains(&name) {
            continue;
        }
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
            continue;
        }
        if let Some(kb) = rss_kib(pid) {
            out.insert(pid, (name.to_owned(), kb));
        }
    }
    out
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Samples taken every `every` until stopped, with their time since the start.
pub struct Sampler {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<(Duration, Sample)>>,
}

impl Sampler {
    pub fn start(orders_table: String, every: Duration) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let t0 = Instant::now();
            let mut out = vec![(Duration::ZERO, sample(&orders_table))];
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => out.push((t0.elapsed(), sample(&orders_table))),
                    _ = stopped.changed() => {
                        out.push((t0.elapsed(), sample(&orders_table)));
                        return out;
                    }
                }
            }
        });
        Self { stop, task }
    }

    pub async fn stop(self) -> Vec<(Duration, Sample)> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Growth of one instance between the warm-up sample and the last.
#[derive(Clone, Debug)]
pub struct Growth {
    pub function: String,
    pub pid: u32,
    pub warm_kib: u64,
    pub end_kib: u64,
}

impl Growth {
    pub fn grew_kib(&self) -> i64 {
        self.end_kib as i64 - self.warm_kib as i64
    }

    /// A leak, by the soak's rule: more than 10% *and* more than 8 MiB.
    pub fn is_leak(&self) -> bool {
        let grew = self.grew_kib();
        grew > 8 * 1024 && grew * 10 > self.warm_kib as i64
    }
}

/// Per instance alive at both: the first sample at or after `warm_up` vs the last.
pub fn growth(samples: &[(Duration, Sample)], warm_up: Duration) -> Vec<Growth> {
    let Some((_, warm)) = samples.iter().find(|(t, _)| *t >= warm_up) else {
        return Vec::new();
    };
    let Some((_, end)) = samples.last() else {
        return Vec::new();
    };
    warm.iter()
        .filter_map(|(pid, (function, warm_kib))| {
            end.get(pid).map(|(_, end_kib)| Growth {
                function: function.clone(),
                pid: *pid,
                warm_kib: *warm_kib,
                end_kib: *end_kib,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, pairs: &[(u32, u64)]) -> (Duration, Sample) {
        (
            Duration::from_secs(secs),
            pairs.iter().map(|(p, kb)| (*p, ("submit".to_owned(), *kb))).collect(),
        )
    }

    #[test]
    fn growth_compares_the_warm_sample_with_the_last_per_instance() {
        let samples = vec![
            at(0, &[(1, 10_000)]),
            at(60, &[(1, 20_000), (2, 5)]),
            at(300, &[(1, 40_000)]),
        ];
        let g = growth(&samples, Duration::from_secs(60));
        assert_eq!(g.len(), 1, "pid 2 is gone at the end: {g:?}");
        assert_eq!(g[0].grew_kib(), 20_000);
        assert!(g[0].is_leak());
    }

    #[test]
    fn small_or_relative_small_growth_is_no_leak() {
        let small = Growth {
            function: "q".into(),
            pid: 1,
            warm_kib: 20_000,
            end_kib: 27_000,
        };
        assert!(!small.is_leak());
        let big_base = Growth {
            function: "q".into(),
            pid: 1,
            warm_kib: 200_000,
            end_kib: 210_000,
        };
        assert!(!big_base.is_leak());
    }

    #[test]
    fn this_process_is_not_a_function() {
        assert!(sample("no-such-table").is_empty());
    }
}
