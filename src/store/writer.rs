//! The single writer: one thread owns the write connection and applies queued jobs in batches.
//!
//! Flow: `submit` sends a boxed job; the thread blocks for the first job, then drains up to
//! `max_batch` more without waiting, runs each inside its own savepoint (one job's error rolls
//! back only that job), commits once, and only then answers every job. Under load the batch grows
//! by itself, so ingest costs one fsync per batch rather than one per card; when idle a lone job
//! commits at once.
//!
//! The writer also keeps the number of unrevoked cards, which only its jobs change: a job states
//! its change ([`WriteCtx::unrevoked_changed`]) and the count takes it when, and only if, the
//! job's savepoint and the batch's transaction both commit. Counting them in SQLite reads one
//! index entry a card (~5 ms at 100k cards), and `GET /v1/node` is polled every second.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// What a job sees: the open transaction (a savepoint) and the node's sequence counter.
pub struct WriteCtx<'a> {
    /// The connection, inside this job's savepoint.
    pub conn: &'a Connection,
    next_seq: &'a mut i64,
    unrevoked: &'a mut i64,
}

impl WriteCtx<'_> {
    /// Takes the next value of the node's monotonic sequence.
    pub fn next_seq(&mut self) -> i64 {
        *self.next_seq += 1;
        *self.next_seq
    }

    /// Records that this job changed the number of unrevoked cards by `delta`.
    pub fn unrevoked_changed(&mut self, delta: i64) {
        *self.unrevoked += delta;
    }
}

trait Job: Send {
    fn apply(&mut self, ctx: &mut WriteCtx<'_>) -> bool;
    /// The SQLite code of the failure [`Job::apply`] reported, if it was SQLite's.
    fn failed_code(&self) -> Option<i32>;
    fn finish(self: Box<Self>, commit: Result<(), (i32, String)>);
}

struct TypedJob<R, F> {
    f: Option<F>,
    result: Option<Result<R, StoreError>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<R, F> Job for TypedJob<R, F>
where
    R: Send,
    F: FnOnce(&mut WriteCtx<'_>) -> Result<R, StoreError> + Send,
{
    fn apply(&mut self, ctx: &mut WriteCtx<'_>) -> bool {
        let f = self.f.take().expect("a job is applied once");
        let r = f(ctx);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn failed_code(&self) -> Option<i32> {
        match &self.result {
            Some(Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)))) => {
                Some(f.extended_code)
            }
            _ => None,
        }
    }

    fn finish(self: Box<Self>, commit: Result<(), (i32, String)>) {
        let out = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Err((code, e)), _) => Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                Some(format!("commit failed: {e}")),
            ))),
            (Ok(()), None) => Err(StoreError::Closed),
        };
        // The caller may have gone away (client disconnected); the write stands regardless.
        let _ = self.reply.send(out);
    }
}

/// Counters of the writer, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Transactions committed.
    pub commits: u64,
    /// Jobs applied.
    pub jobs: u64,
    /// Largest batch so far.
    pub max_batch: u64,
}

#[derive(Default)]
struct Stats {
    commits: AtomicU64,
    jobs: AtomicU64,
    max_batch: AtomicU64,
    /// Unrevoked cards, as of the last commit.
    unrevoked: AtomicI64,
    /// Batch sizes go here too once a node observes them.
    observer: std::sync::Mutex<Option<metrics::Histogram>>,
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
    thread: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
    stats: Arc<Stats>,
}

impl Writer {
    pub(super) fn spawn(conn: Connection, max_batch: usize) -> Result<Self, StoreError> {
        let next_seq: i64 =
            conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM cards", [], |r| r.get(0))?;
        let unrevoked: i64 =
            conn.query_row("SELECT COUNT(*) FROM cards WHERE revoked = 0", [], |r| {
                r.get(0)
            })?;
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>(max_batch.max(1) * 4);
        let stats = Arc::new(Stats {
            unrevoked: AtomicI64::new(unrevoked),
            ..Stats::default()
        });
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("agentmesh-writer".into())
            .spawn(move || run(conn, rx, max_batch.max(1), next_seq, &thread_stats))
            .map_err(|source| StoreError::Io {
                path: "writer thread".into(),
                source,
            })?;
        Ok(Self {
            tx,
            thread: Arc::new(std::sync::Mutex::new(Some(thread))),
            stats,
        })
    }

    pub(super) async fn submit<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob {
            f: Some(f),
            result: None,
            reply,
        });
        self.tx.send(job).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) fn stats(&self) -> BatchStats {
        BatchStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            jobs: self.stats.jobs.load(Ordering::Relaxed),
            max_batch: self.stats.max_batch.load(Ordering::Relaxed),
        }
    }

    /// Unrevoked cards in the store, as of the last commit.
    pub(super) fn unrevoked(&self) -> u64 {
        u64::try_from(self.stats.unrevoked.load(Ordering::Acquire)).unwrap_or(0)
    }

    pub(super) fn observe_batches(&self, h: metrics::Histogram) {
        *self
            .stats
            .observer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(h);
    }

    pub(super) async fn close(self) {
        let Self { tx, thread, .. } = self;
        drop(tx);
        let handle = thread.lock().expect("writer handle lock").take();
        if let Some(h) = handle {
            // Other clones of the sender (still-running handlers) keep the thread alive until
            // they finish; wait for the thread off the executor.
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    mut next_seq: i64,
    stats: &Stats,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let seq_before = next_seq;
        let result = apply_batch(&mut conn, &mut batch, &mut next_seq);
        if result.is_err() {
            // Nothing of this batch is on disk: hand its sequence numbers out again.
            next_seq = seq_before;
        }
        let result = result.map(|unrevoked| {
            stats.unrevoked.fetch_add(unrevoked, Ordering::Release);
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
            stats
                .max_batch
                .fetch_max(batch.len() as u64, Ordering::Relaxed);
            if let Some(h) = stats
                .observer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
            {
                h.record(batch.len() as f64);
            }
        });
        // The SQLite code travels with the message, so a full disk is told apart (507).
        let result = result.map_err(|e| {
            let code = match &e {
                rusqlite::Error::SqliteFailure(f, _) => f.extended_code,
                _ => rusqlite::ffi::SQLITE_IOERR,
            };
            (code, e.to_string())
        });
        for job in batch.drain(..) {
            job.finish(result.clone());
        }
    }
}

/// Applies and commits `batch`: the change it made to the number of unrevoked cards.
fn apply_batch(
    conn: &mut Connection,
    batch: &mut [Box<dyn Job>],
    next_seq: &mut i64,
) -> rusqlite::Result<i64> {
    let mut tx = conn.transaction()?;
    let mut unrevoked = 0;
    for job in batch.iter_mut() {
        let sp = tx.savepoint()?;
        let mut seq = *next_seq;
        let mut job_unrevoked = 0;
        let ok = job.apply(&mut WriteCtx {
            conn: &sp,
            next_seq: &mut seq,
            unrevoked: &mut job_unrevoked,
        });
        if ok {
            sp.commit()?;
            *next_seq = seq;
            unrevoked += job_unrevoked;
        } else if sp.is_autocommit() {
            // SQLite rolled the whole transaction back (it does on a full disk or database):
            // every job of the batch fails with that job's cause.
            let code = job.failed_code().unwrap_or(rusqlite::ffi::SQLITE_FULL);
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                Some("SQLite rolled the batch back after a failed write".into()),
            ));
        } // else: dropping the savepoint rolls this job back alone.
    }
    tx.commit()?;
    Ok(unrevoked)
}
