//! The SQLite writer's lane: one OS thread running a current-thread tokio runtime, pinned to one
//! CPU, on which write transactions are driven. The writer connection is opened from this thread,
//! so sqlx's own thread for that connection (sqlx runs every SQLite connection on a dedicated
//! thread and hands each statement and each result across) inherits the same pin.
//!
//! **Why.** Every statement of a write transaction is a round trip between the task that runs the
//! transaction and sqlx's connection thread. When the two sit on different CPUs, each hand-off
//! wakes an idle CPU, which on a virtual machine costs tens of microseconds. Measured on the
//! 2-core benchmark machine (`BENCHMARKS.md`): a `SELECT` round trip took 52 µs across CPUs and
//! 6 µs on one; a transaction of five inserts took 500 µs and 65 µs. The writer is the one
//! serial resource on SQLite, so its statements' latency is the server's write throughput.
//!
//! **What runs here.** Whatever the caller hands to [`WriterLane::spawn`]: the server sends each
//! request that may write (every method but `GET`, `HEAD` and `OPTIONS`) and the background
//! worker's passes. Work that is not sent here still runs correctly, only with slower hand-offs:
//! the lane is an affinity, not a lock (the writer pool of one connection is what serializes
//! writes).
//!
//! **Where it is not used.** PostgreSQL has no lane: its connections are sockets, any task may
//! drive them, and many writers run at once.
//!
//! Pinning is best effort: where the platform or the process's CPU set does not allow it, the
//! lane still runs, unpinned, and says so in the log. Lanes started by one process take the
//! allowed CPUs in turn, so the many stores of a test run do not all land on one CPU.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::oneshot;

use crate::{StoreError, StoreResult};

/// A running lane; stopping it (dropping the last handle) cancels the work still on it.
#[derive(Debug)]
pub struct WriterLane {
    runtime: tokio::runtime::Handle,
    /// Dropped with the lane: tells its thread to shut its runtime down.
    _stop: oneshot::Sender<()>,
    /// The CPU the lane is pinned to, if pinning worked.
    cpu: Option<usize>,
}

/// Lanes started so far in this process: the next one takes the next allowed CPU.
static LANES_STARTED: AtomicUsize = AtomicUsize::new(0);

impl WriterLane {
    /// Starts a lane on a new thread named `sequence-writer` (waiting, briefly and once, for the
    /// thread to build its runtime).
    pub fn start() -> StoreResult<WriterLane> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("sequence-writer".to_owned())
            .spawn(move || {
                let cpu = pin_this_thread();
                let runtime =
                    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                let _ = ready_tx.send(Ok((runtime.handle().clone(), cpu)));
                // Runs the spawned work until every handle to the lane is gone; dropping the
                // runtime here, outside any async context, then cancels what is left.
                runtime.block_on(async {
                    let _ = stop_rx.await;
                });
            })
            .map_err(|e| StoreError::Config(format!("starting the writer's thread: {e}")))?;
        let started = ready_rx
            .recv()
            .map_err(|_| StoreError::Config("the writer's thread stopped at start".to_owned()))?;
        let (runtime, cpu) = started
            .map_err(|e| StoreError::Config(format!("starting the writer's runtime: {e}")))?;
        match cpu {
            Some(cpu) => tracing::debug!(cpu, "the SQLite writer's lane is pinned"),
            None => tracing::info!("the SQLite writer's lane could not be pinned to a CPU"),
        }
        Ok(WriterLane { runtime, _stop: stop_tx, cpu })
    }

    /// The CPU the lane is pinned to (`None`: pinning was not possible here).
    pub fn cpu(&self) -> Option<usize> {
        self.cpu
    }

    /// Runs `work` on the lane, detached: the returned handle yields its output, and aborting it
    /// cancels `work` (dropping it does not; [`WriterLane::run`] is the variant whose caller's
    /// drop cancels).
    pub fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(work)
    }

    /// Runs `work` on the lane and waits for it. If the caller stops waiting (its future is
    /// dropped: a client gone, a request timed out), `work` is cancelled too, as it would have
    /// been had it run on the caller's task; a transaction it held rolls back. A panic in `work`
    /// resumes in the caller.
    pub async fn run<F>(&self, work: F) -> Result<F::Output, LaneStopped>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut handle = AbortOnDrop(self.spawn(work));
        match (&mut handle.0).await {
            Ok(output) => Ok(output),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(LaneStopped),
        }
    }
}

/// The lane stopped (the store is shutting down) before the work finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database writer is shutting down")]
pub struct LaneStopped;

/// Aborts the task when dropped, so work on the lane never outlives the caller waiting for it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Pins the calling thread to one CPU of those it may run on (the next in turn); returns which,
/// or `None` where that is not possible.
#[cfg(target_os = "linux")]
fn pin_this_thread() -> Option<usize> {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    let allowed = sched_getaffinity(None).ok()?;
    let cpus: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&cpu| allowed.is_set(cpu)).collect();
    if cpus.is_empty() {
        return None;
    }
    let cpu = cpus[LANES_STARTED.fetch_add(1, Ordering::Relaxed) % cpus.len()];
    let mut only = CpuSet::new();
    only.set(cpu);
    sched_setaffinity(None, &only).ok().map(|()| cpu)
}

#[cfg(not(target_os = "linux"))]
fn pin_this_thread() -> Option<usize> {
    let _ = LANES_STARTED.fetch_add(1, Ordering::Relaxed);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_and_gives_its_output_back() {
        let lane = WriterLane::start().expect("a lane");
        let thread = lane.run(async { std::thread::current().name().map(str::to_owned) }).await;
        assert_eq!(thread.expect("it ran").as_deref(), Some("sequence-writer"));
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_cancels_the_work() {
        let lane = WriterLane::start().expect("a lane");
        let (dropped_tx, dropped_rx) = oneshot::channel::<()>();
        struct SignalOnDrop(Option<oneshot::Sender<()>>);
        impl Drop for SignalOnDrop {
            fn drop(&mut self) {
                if let Some(tx) = self.0.take() {
                    let _ = tx.send(());
                }
            }
        }
        let guard = SignalOnDrop(Some(dropped_tx));
        let waiting = lane.run(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        // Give up on it at once: the work must be dropped, not left running on the lane.
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), waiting).await;
        assert!(gave_up.is_err(), "pending work cannot finish");
        tokio::time::timeout(std::time::Duration::from_secs(5), dropped_rx)
            .await
            .expect("the work was cancelled")
            .expect("dropped, not leaked");
    }

    #[tokio::test]
    async fn a_panic_resumes_in_the_caller() {
        let lane = WriterLane::start().expect("a lane");
        let caller = tokio::spawn(async move { lane.run(async { panic!("boom") }).await });
        let error = caller.await.expect_err("the panic reached the caller");
        assert!(error.is_panic());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_lane_runs_on_the_one_cpu_it_is_pinned_to() {
        let lane = WriterLane::start().expect("a lane");
        let cpu = lane.cpu().expect("Linux lets a thread pin itself to a CPU it may run on");
        let allowed = lane.run(async { rustix::thread::sched_getaffinity(None) }).await;
        let allowed = allowed.expect("it ran").expect("its CPU set");
        assert_eq!(allowed.count(), 1);
        assert!(allowed.is_set(cpu));
    }
}
