//! The floor limited to ours: one gate per function whose calls the floor issues,
//! with as many permits as our stack runs instances of each function
//! (`FUNCTION_CONCURRENCY`; the work queue has as many pollers). A worker takes the
//! function's permit around that function's group of calls, exactly where our
//! function would run, so at most `instances` workers are inside submit (or execute,
//! …) at once, as at our gateway; the rest wait, and since a worker's latencies are
//! timed from before the permit is taken, the wait counts, as it does at our
//! gateway. Without gates (`None`) the floor runs as many calls at once as it has
//! workers.
//!
//! Where the two still differ: our pollers batch (an execute invocation carries up
//! to 10 messages, publish gets the stream's records in batches, one intake pass
//! books every fill it finds), while a permit here admits one order's group of
//! calls; so under load the limited floor's later stages (claim, fill, events) are
//! if anything slower than ours would be with the same instances, and the ratios of
//! those stages lean in our favour.

use std::future::Future;

use tokio::sync::Semaphore;

/// The functions whose calls the floor issues (see the floor's module doc for which
/// call belongs to which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Submit,
    /// PutEvents (and the execute message of submit's publish) per status change.
    Publish,
    /// The work queue's poller and the function it invokes: receive, claim,
    /// placement, delete.
    Execute,
    /// The venue intake: booking a fill, its sweep, a confirmed cancel.
    Intake,
    Cancel,
}

/// `instances` permits per function.
#[derive(Debug)]
pub struct Gates {
    submit: Semaphore,
    publish: Semaphore,
    execute: Semaphore,
    intake: Semaphore,
    cancel: Semaphore,
}

impl Gates {
    pub fn new(instances: usize) -> Self {
        let n = instances.max(1);
        Self {
            submit: Semaphore::new(n),
            publish: Semaphore::new(n),
            execute: Semaphore::new(n),
            intake: Semaphore::new(n),
            cancel: Semaphore::new(n),
        }
    }

    fn of(&self, f: Function) -> &Semaphore {
        match f {
            Function::Submit => &self.submit,
            Function::Publish => &self.publish,
            Function::Execute => &self.execute,
            Function::Intake => &self.intake,
            Function::Cancel => &self.cancel,
        }
    }
}

/// Runs `calls` as function `f`: once one of its `instances` is free when `gates`
/// is set (waiting for it meanwhile), at once otherwise.
pub async fn gated<T>(gates: Option<&Gates>, f: Function, calls: impl Future<Output = T>) -> T {
    // The semaphores are never closed, so `acquire` cannot fail; were one closed,
    // the calls would run ungated rather than not at all.
    let _permit = match gates {
        Some(g) => g.of(f).acquire().await.ok(),
        None => None,
    };
    calls.await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;

    const WORK: Duration = Duration::from_millis(100);

    /// Two workers at once, each timing its call from before the gate as the floor's
    /// workers do; the latencies, slowest last. On tokio's paused clock (the tests
    /// start paused), so a busy machine cannot stretch them.
    async fn two_workers(gates: Option<Arc<Gates>>, first: Function, second: Function) -> Vec<Duration> {
        let tasks: Vec<_> = [first, second]
            .into_iter()
            .map(|f| {
                let gates = gates.clone();
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    // An async block, lazy as the floor's call groups: a `sleep` made before
                    // the gate would count its time from then.
                    gated(gates.as_deref(), f, async { tokio::time::sleep(WORK).await }).await;
                    t0.elapsed()
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or_default());
        }
        out.sort();
        out
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_waiting_for_the_one_instance_counts_its_wait() {
        let took = two_workers(Some(Arc::new(Gates::new(1))), Function::Submit, Function::Submit).await;
        assert!(took[0] >= WORK, "{took:?}");
        // The second waited for the first's whole call, then made its own.
        assert!(took[1] >= 2 * WORK, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn as_many_workers_as_instances_do_not_wait() {
        let took = two_workers(Some(Arc::new(Gates::new(2))), Function::Submit, Function::Submit).await;
        assert!(took[1] < 2 * WORK, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn each_function_has_its_own_instances() {
        let took = two_workers(Some(Arc::new(Gates::new(1))), Function::Submit, Function::Execute).await;
        assert!(took[1] < 2 * WORK, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn without_gates_nothing_waits() {
        let took = two_workers(None, Function::Cancel, Function::Cancel).await;
        assert!(took[1] < 2 * WORK, "{took:?}");
    }

    #[test]
    fn no_function_has_fewer_than_one_instance() {
        assert_eq!(Gates::new(0).of(Function::Submit).available_permits(), 1);
        assert_eq!(Gates::new(3).of(Function::Intake).available_permits(), 3);
    }
}
