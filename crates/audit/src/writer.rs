//! Group commit for long-running processes (the proxy): events queued from any thread are sealed
//! and made durable by one thread, in batches, so a worker never waits for the disk.
//!
//! The writer takes every event queued since its last commit, waits a moment for more, and
//! commits them with one `write` and one `fsync`. When a commit fails the writer stays
//! [`unhealthy`](Handle::healthy) and keeps trying with later batches; a caller that must not act
//! without an audit trail (the proxy) refuses work while it is unhealthy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::store::{Log, StoreError};

/// Events committed per batch at most.
const MAX_BATCH: usize = 4096;

/// How the writer reports what it cannot commit (it has no terminal of its own).
pub type OnError = Box<dyn Fn(&StoreError) + Send>;

/// The queue end: cheap to clone, shared by every worker.
#[derive(Debug, Clone)]
pub struct Handle {
    queue: mpsc::Sender<Value>,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    broken: AtomicBool,
    /// The last acknowledged sequence number plus one (0: none yet).
    acked: AtomicU64,
}

impl Handle {
    /// Queue an event. It is durable once [`Handle::acked`] passes its sequence number; it is
    /// lost only if the process dies first (the log itself never holds half of it).
    pub fn record(&self, event: Value) {
        // Fails only once the writer has stopped, at exit.
        let _ = self.queue.send(event);
    }

    /// Whether the last commit succeeded.
    pub fn healthy(&self) -> bool {
        !self.state.broken.load(Ordering::Acquire)
    }

    /// How many records of the log are durable (the last acknowledged sequence number + 1).
    pub fn acked(&self) -> u64 {
        self.state.acked.load(Ordering::Acquire)
    }
}

/// The writer thread.
#[derive(Debug)]
pub struct Writer {
    thread: JoinHandle<()>,
}

impl Writer {
    /// Start committing to `log`, stamping records with `clock()` and waiting `window` after an
    /// event for more to batch with it.
    pub fn start(
        mut log: Log,
        clock: impl Fn() -> String + Send + 'static,
        window: Duration,
        on_error: OnError,
    ) -> (Handle, Self) {
        let (queue, events) = mpsc::channel::<Value>();
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let mut batch = Vec::new();
            while let Ok(first) = events.recv() {
                batch.push(first);
                std::thread::sleep(window);
                while batch.len() < MAX_BATCH {
                    match events.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                match log.append(&clock(), batch.drain(..)) {
                    Ok(last) => {
                        if let Some(seq) = last {
                            shared.acked.store(seq.saturating_add(1), Ordering::Release);
                        }
                        shared.broken.store(false, Ordering::Release);
                    }
                    Err(e) => {
                        shared.broken.store(true, Ordering::Release);
                        on_error(&e);
                    }
                }
            }
        });
        (Handle { queue, state }, Self { thread })
    }

    /// Wait until every event queued before each [`Handle`] was dropped is committed.
    pub fn finish(self) {
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::read_lines;
    use crate::verify::verify;

    #[test]
    fn events_from_many_threads_form_one_chain() {
        let dir = std::env::temp_dir().join(format!("cordon-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = Log::open(&dir).unwrap();
        let (handle, writer) = Writer::start(
            log,
            || "2026-11-26T00:00:00Z".into(),
            Duration::from_millis(1),
            Box::new(|e| panic!("{e}")),
        );
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let h = handle.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        h.record(serde_json::json!({"t": t, "i": i}));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert!(handle.healthy());
        drop(handle);
        writer.finish();
        let lines = read_lines(&dir).unwrap();
        let report = verify(lines.iter().map(String::as_str));
        assert_eq!((report.records, report.problem), (1000, None));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
