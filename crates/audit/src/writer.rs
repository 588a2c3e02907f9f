//! Group commit for long-running processes (the proxy): events queued from any thread are sealed
//! and made durable by one thread, in batches, so a worker never waits for the disk.
//!
//! The writer takes every event queued since its last commit, waits a moment for more, and
//! commits them with one `write` and one `fsync`. What is queued is anything [`Queued`]: an event
//! in canonical form already, or one the writer thread writes canonically as it seals it (so a
//! worker hands its event over and gets on with its next request, and the events of a batch are
//! written one after another on one thread, their code and data warm).
//!
//! When a commit fails the writer stays [`unhealthy`](Handle::healthy) and keeps trying with
//! later batches; a caller that must not act without an audit trail (the proxy) refuses work
//! while it is unhealthy. So it does while more than [`Config::max_backlog`] bytes of events wait
//! to be written (a disk that stalls): the queue's memory stays bounded, and nothing goes
//! unrecorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::canonical::{Canonical, Sealable};
use crate::checkpoint::Signer;
use crate::store::{Log, StoreError};

/// Events committed per batch at most.
const MAX_BATCH: usize = 4096;

/// How the writer reports what it cannot commit (it has no terminal of its own).
pub type OnError = Box<dyn Fn(&StoreError) + Send>;

/// An event waiting for the writer.
pub trait Queued: Sealable + Send + 'static {
    /// Bytes it stands for while it waits: its share of [`Config::max_backlog`]. Its canonical
    /// length, or an estimate of it for an event not yet written.
    fn weight(&self) -> u64;
}

impl Queued for Canonical {
    fn weight(&self) -> u64 {
        u64::try_from(self.as_bytes().len()).unwrap_or(u64::MAX)
    }
}

/// The queue end: cheap to clone, shared by every worker.
#[derive(Debug)]
pub struct Handle<T = Canonical> {
    queue: mpsc::Sender<T>,
    state: Arc<State>,
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            state: Arc::clone(&self.state),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    broken: AtomicBool,
    /// The last acknowledged sequence number plus one (0: none yet).
    acked: AtomicU64,
    /// Bytes of canonical events queued and not yet written.
    queued: AtomicU64,
    /// See [`Config::max_backlog`].
    max_backlog: u64,
}

impl Handle<Canonical> {
    /// Queue an event, made canonical (and the value dropped) on the caller's thread; as
    /// [`Handle::queue`].
    pub fn record(&self, event: Value) {
        self.queue(Canonical::of(&event));
    }
}

impl<T: Queued> Handle<T> {
    /// Queue an event. It is durable once [`Handle::acked`] passes its sequence number; it is
    /// lost only if the process dies first (the log itself never holds half of it).
    pub fn queue(&self, event: T) {
        self.state
            .queued
            .fetch_add(event.weight(), Ordering::Relaxed);
        // Fails only once the writer has stopped, at exit.
        let _ = self.queue.send(event);
    }

    /// Whether the last commit succeeded and the events waiting for the next one are within
    /// [`Config::max_backlog`].
    pub fn healthy(&self) -> bool {
        !self.state.broken.load(Ordering::Acquire)
            && self.state.queued.load(Ordering::Relaxed) <= self.state.max_backlog
    }

    /// How many records of the log are durable (the last acknowledged sequence number + 1).
    pub fn acked(&self) -> u64 {
        self.state.acked.load(Ordering::Acquire)
    }
}

/// When the writer signs checkpoints: after `every_records` records or `every` since the last
/// one (whichever comes first, once there is something to cover), and when it stops.
pub struct Checkpoints {
    /// Signs them.
    pub signer: Box<dyn Signer>,
    /// Records between checkpoints at most.
    pub every_records: u64,
    /// Time between checkpoints at most, while records arrive.
    pub every: Duration,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints")
            .field("key", &self.signer.key_id())
            .field("every_records", &self.every_records)
            .field("every", &self.every)
            .finish()
    }
}

/// How the writer commits.
pub struct Config {
    /// The time records are stamped with.
    pub clock: Box<dyn Fn() -> String + Send>,
    /// How long to wait after an event for more to batch with it.
    pub window: Duration,
    /// Where failures are reported.
    pub on_error: OnError,
    /// Signed checkpoints, when there is a key.
    pub checkpoints: Option<Checkpoints>,
    /// Bytes of events that may wait to be written before the handle reports itself unhealthy
    /// (see [`Handle::healthy`]).
    pub max_backlog: u64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("window", &self.window)
            .field("checkpoints", &self.checkpoints)
            .field("max_backlog", &self.max_backlog)
            .finish_non_exhaustive()
    }
}

/// The writer thread.
#[derive(Debug)]
pub struct Writer {
    thread: JoinHandle<()>,
}

impl Writer {
    /// Start committing to `log` what is queued on the handle.
    pub fn start<T: Queued>(log: Log, config: Config) -> (Handle<T>, Self) {
        let (queue, events) = mpsc::channel::<T>();
        let state = Arc::new(State {
            max_backlog: config.max_backlog,
            ..State::default()
        });
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || commit(log, &config, &events, &shared));
        (Handle { queue, state }, Self { thread })
    }

    /// Wait until every event queued before each [`Handle`] was dropped is committed.
    pub fn finish(self) {
        let _ = self.thread.join();
    }
}

/// The writer's loop: batches until every sender is gone, checkpoints as configured.
fn commit<T: Queued>(mut log: Log, config: &Config, events: &mpsc::Receiver<T>, shared: &State) {
    let mut batch = Vec::new();
    // Records since the last checkpoint, and when the first of them came.
    let mut pending: u64 = 0;
    let mut since: Option<Instant> = None;
    let checkpoint = |log: &mut Log, pending: &mut u64, since: &mut Option<Instant>| {
        let Some(c) = &config.checkpoints else {
            return;
        };
        match log.checkpoint(&(config.clock)(), c.signer.as_ref()) {
            Ok(_) => {
                *pending = 0;
                *since = None;
            }
            Err(e) => {
                shared.broken.store(true, Ordering::Release);
                (config.on_error)(&e);
            }
        }
    };
    loop {
        // With records to cover, wake up in time to sign them even if nothing else arrives.
        let first = match (&config.checkpoints, since) {
            (Some(c), Some(t)) => match events.recv_timeout(c.every.saturating_sub(t.elapsed())) {
                Ok(e) => Some(e),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            _ => match events.recv() {
                Ok(e) => Some(e),
                Err(_) => break,
            },
        };
        if let Some(first) = first {
            batch.push(first);
            std::thread::sleep(config.window);
            while batch.len() < MAX_BATCH {
                match events.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            let bytes = batch
                .iter()
                .map(Queued::weight)
                .fold(0u64, u64::saturating_add);
            let appended = log.append(&(config.clock)(), batch.drain(..));
            // Written or not, the batch no longer waits in memory.
            shared.queued.fetch_sub(bytes, Ordering::Relaxed);
            match appended {
                Ok(last) => {
                    if let Some(seq) = last {
                        shared.acked.store(seq.saturating_add(1), Ordering::Release);
                    }
                    shared.broken.store(false, Ordering::Release);
                    pending = pending.saturating_add(n);
                    since.get_or_insert_with(Instant::now);
                }
                Err(e) => {
                    shared.broken.store(true, Ordering::Release);
                    (config.on_error)(&e);
                }
            }
        }
        if let (Some(c), Some(t)) = (&config.checkpoints, since)
            && (pending >= c.every_records || t.elapsed() >= c.every)
        {
            checkpoint(&mut log, &mut pending, &mut since);
        }
    }
    // A clean stop: cover what came since the last checkpoint.
    if pending > 0 {
        checkpoint(&mut log, &mut pending, &mut since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::read_lines;
    use crate::verify::verify;

    /// A writer's configuration for tests: a fixed clock, a 1 ms window, errors fail the test.
    fn config(max_backlog: u64, checkpoints: Checkpoints) -> Config {
        Config {
            clock: Box::new(|| "2026-11-26T00:00:00Z".into()),
            window: Duration::from_millis(1),
            on_error: Box::new(|e| panic!("{e}")),
            max_backlog,
            checkpoints: Some(checkpoints),
        }
    }

    #[test]
    fn events_from_many_threads_form_one_chain() {
        let dir = std::env::temp_dir().join(format!("cordon-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = Log::open(&dir).unwrap();
        let (handle, writer) = Writer::start(
            log,
            config(
                u64::MAX,
                Checkpoints {
                    signer: Box::new(Fake),
                    every_records: 300,
                    every: Duration::from_secs(60),
                },
            ),
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
        assert_eq!(report.problem, None);
        // 1000 events, a checkpoint after batches that bring 300 or more, and one at the stop
        // unless the last batch was just covered: the last one covers everything.
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let latest = crate::store::latest_checkpoint(&dir).unwrap();
        let anchors = crate::checkpoint::anchors(&refs, &report, 0, latest.as_ref(), &|_| Ok(()));
        assert_eq!(anchors.problem, None);
        assert!((1..=4).contains(&anchors.checkpoints), "{anchors:?}");
        assert_eq!(report.records, 1000 + anchors.checkpoints);
        assert_eq!(anchors.through, Some(report.records - 2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_quiet_writer_signs_what_it_holds_in_time() {
        let dir = std::env::temp_dir().join(format!("cordon-writer-t-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (handle, writer) = Writer::start(
            Log::open(&dir).unwrap(),
            config(
                u64::MAX,
                Checkpoints {
                    signer: Box::new(Fake),
                    every_records: 1_000_000,
                    every: Duration::from_millis(50),
                },
            ),
        );
        handle.record(serde_json::json!({"n": 1}));
        // No more events, the writer still running: the checkpoint comes from the timer.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut latest = None;
        while latest.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            latest = crate::store::latest_checkpoint(&dir).unwrap();
        }
        assert_eq!(latest.map(|c| c.seq), Some(0));
        drop(handle);
        writer.finish();
        // Nothing new since: no second checkpoint at the stop.
        assert_eq!(read_lines(&dir).unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_backlog_beyond_its_bound_is_unhealthy_until_written() {
        let dir = std::env::temp_dir().join(format!("cordon-writer-b-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // The writer signs a checkpoint after every batch; holding the signature holds the
        // writer (a stalled disk, as far as the queue can tell).
        let (release, held) = mpsc::channel::<()>();
        let (handle, writer) = Writer::start(
            Log::open(&dir).unwrap(),
            config(
                100,
                Checkpoints {
                    signer: Box::new(Held(std::sync::Mutex::new(held))),
                    every_records: 1,
                    every: Duration::from_secs(60),
                },
            ),
        );
        let event = serde_json::json!({"n": "0123456789"});
        handle.record(event.clone());
        let acked = |n: u64| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while handle.acked() < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(handle.acked(), n);
        };
        // The first event is written; the writer now waits on its checkpoint's signature.
        acked(1);
        let one = u64::try_from(crate::canonical::to_vec(&event).len()).unwrap();
        let within = 100 / one;
        for _ in 0..within {
            handle.record(event.clone());
        }
        assert!(
            handle.healthy(),
            "{within} events of {one} bytes are within 100"
        );
        handle.record(event.clone());
        assert!(!handle.healthy(), "one more is beyond it");
        // Released, the writer drains the queue and the backlog is empty again (the records:
        // the first event, its checkpoint, then the rest).
        drop(release);
        acked(1 + 1 + within + 1);
        assert!(handle.healthy());
        drop(handle);
        writer.finish();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Signs once it is let go (or at once when nothing holds it any more).
    struct Held(std::sync::Mutex<mpsc::Receiver<()>>);
    impl Signer for Held {
        fn key_id(&self) -> &str {
            "k"
        }
        fn sign(&self, _: &[u8]) -> String {
            if let Ok(held) = self.0.lock() {
                let _ = held.recv();
            }
            "s".into()
        }
    }

    struct Fake;
    impl Signer for Fake {
        fn key_id(&self) -> &str {
            "k"
        }
        fn sign(&self, _: &[u8]) -> String {
            "s".into()
        }
    }
}
