//! What an EventBridge schedule does for a function, locally: `--schedule NAME=SECS`
//! invokes function NAME every SECS seconds with a scheduled event, one invocation at a
//! time (the template gives the intake a reserved concurrency of 1, so a late
//! schedule never overlaps a run). The event carries `run_secs`: the function may run
//! that long (the deployed intake runs until shortly before its timeout; under
//! `cargo lambda watch` the deadline is not the template's, so the schedule bounds it).
//! A failed invocation is logged and the next one goes on.
//!
//! Pausing (`--schedule-pause-dir DIR`, the local stacks' `$STACK_LOG_DIR/schedules`):
//! while `DIR/<NAME>.paused` exists no run of NAME starts (as when the rule is
//! disabled), and `DIR/<NAME>.running` exists exactly while a run is in flight, so a
//! test that stops the intake knows when its last run has ended: create `.paused`,
//! then wait for `.running` to be gone.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::invoke::Invoker;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub function: String,
    pub every: Duration,
}

impl Schedule {
    /// `NAME=SECS` (SECS a whole number from 1 to 3600).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (name, secs) = raw
            .split_once('=')
            .ok_or_else(|| format!("--schedule {raw:?}: expected NAME=SECS, e.g. intake=60"))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!(
                "--schedule {raw:?}: the function name must be letters, digits, - or _"
            ));
        }
        let secs: u64 = secs
            .trim()
            .parse()
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .ok_or_else(|| format!("--schedule {raw:?}: SECS must be a whole number from 1 to 3600"))?;
        Ok(Self {
            function: name.to_owned(),
            every: Duration::from_secs(secs),
        })
    }

    /// The event of one run, shaped like EventBridge's scheduled event.
    pub fn event(&self) -> Value {
        json!({
            "version": "0",
            "source": "aws.events",
            "detail-type": "Scheduled Event",
            "detail": {},
            // EventBridge's: the time the rule fired (the archive function's digest is
            // of the day before it).
            "time": time::OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
            "run_secs": self.every.as_secs(),
        })
    }

    /// Invokes the function every `every`, never two at once; with `pause_dir`, not
    /// while `<pause_dir>/<NAME>.paused` exists (module docs).
    pub async fn run(self, invoker: Invoker, pause_dir: Option<PathBuf>) {
        tracing::info!(function = %self.function, every_secs = self.every.as_secs(), "schedule");
        let files = pause_dir.map(|dir| {
            (
                dir.join(format!("{}.paused", self.function)),
                dir.join(format!("{}.running", self.function)),
            )
        });
        let mut paused = false;
        loop {
            // `.running` first, then the pause check: a pause made after the check
            // still sees `.running` until this run has ended.
            if let Some((pause, running)) = &files {
                mark(running, true);
                if pause.exists() {
                    mark(running, false);
                    if !paused {
                        tracing::info!(function = %self.function, file = %pause.display(), "schedule paused");
                        paused = true;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                if std::mem::take(&mut paused) {
                    tracing::info!(function = %self.function, "schedule resumed");
                }
            }
            let started = Instant::now();
            match invoker.invoke(&self.function, &self.event()).await {
                Ok(reply) => tracing::info!(function = %self.function, %reply, "scheduled run"),
                Err(e) => tracing::warn!(function = %self.function, error = %e, "scheduled run failed"),
            }
            if let Some((_, running)) = &files {
                mark(running, false);
            }
            tokio::time::sleep(self.every.saturating_sub(started.elapsed())).await;
        }
    }
}

/// Creates (`on`) or removes the marker file `path`; a failure is logged.
fn mark(path: &Path, on: bool) {
    let result = if on {
        path.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, b""))
    } else {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    };
    if let Err(e) = result {
        tracing::warn!(file = %path.display(), error = %e, "schedule marker file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_with_specific_errors() {
        assert_eq!(
            Schedule::parse("intake=60"),
            Ok(Schedule {
                function: "intake".into(),
                every: Duration::from_secs(60)
            })
        );
        for (bad, says) in [
            ("intake", "NAME=SECS"),
            ("=5", "function name"),
            ("in take=5", "function name"),
            ("intake=0", "1 to 3600"),
            ("intake=soon", "1 to 3600"),
            ("intake=3601", "1 to 3600"),
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let event = Schedule::parse("intake=7").unwrap().event();
        assert_eq!(event["run_secs"], 7);
        assert_eq!(event["detail-type"], "Scheduled Event");
        let time = event["time"].as_str().unwrap_or_default();
        assert!(
            time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).is_ok(),
            "{time}"
        );
    }
}
