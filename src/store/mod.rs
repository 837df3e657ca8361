//! Durable storage: SQLite in WAL mode behind one writer thread and a small pool of readers.
//!
//! Writes are closures sent to the writer ([`writer`]), which drains whatever is queued into one
//! transaction (group commit: one fsync for many registrations) and answers each caller only
//! after the commit, so a 2xx always means the record is on disk. Reads run on their own
//! connections on tokio's blocking pool, never on the async executor.

mod cards;
mod peers;
pub mod schema;
mod trust;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

pub use cards::{
    CardPage, CardWithVector, NameMatch, PutOutcome, StoredCard, VectorRecord, VectorTable,
    live_cards_with_vectors, put_vectors,
};
pub use peers::PeerRow;
pub use trust::TrustRow;
pub use writer::BatchStats;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Creating the data folder failed.
    #[error("cannot create data directory {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The writer thread has stopped (the node is shutting down).
    #[error("the store is closed")]
    Closed,
    /// A stored envelope no longer parses (disk corruption or a manual edit).
    #[error("stored record for {0} is corrupt")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database could not grow: the disk is full, or the database reached its
    /// configured size ([`StoreOptions::max_db_bytes`]).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    }
}

/// How hard SQLite works to make a commit durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=FULL`: a 2xx survives power loss (the default).
    #[default]
    Full,
    /// `synchronous=NORMAL`: a 2xx survives a process crash; the last commits may be lost on
    /// power loss.
    Normal,
}

/// Opening options.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Commit durability.
    pub durability: Durability,
    /// Most writes folded into one transaction.
    pub max_batch: usize,
    /// Read connections kept open between reads (each holds two or three file descriptors).
    pub max_idle_readers: usize,
    /// Largest size the database may grow to (SQLite's `max_page_count`); writes past it fail
    /// as on a full disk. `None`: as large as the disk allows.
    pub max_db_bytes: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            max_batch: 2048,
            max_idle_readers: 8,
            max_db_bytes: None,
        }
    }
}

/// How much of the database file every connection maps into memory (reads without `pread`).
const MMAP_BYTES: i64 = 256 * 1024 * 1024;

/// The node's database.
#[derive(Clone)]
pub struct Store {
    writer: writer::Writer,
    readers: Arc<ReadPool>,
}

impl Store {
    /// Opens (creating and migrating) the database `agentmesh.db` in `dir`.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("agentmesh.db");
        let mut conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            match opts.durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            },
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Measured with `cargo bench --bench ingest` at 100k cards: pages of the random-keyed ID
        // indexes read through mmap instead of pread, and a WAL checkpointed every ~40 MB rather
        // than ~4 MB (index pages dirtied again and again are copied into the database once
        // per checkpoint). A larger page cache was tried and is slower: SQLite scans the whole
        // cache's hash table at every commit (pcache1TruncateUnsafe: 3 % of CPU at 16 MB, 7 %
        // at 64 MB, against the 2 % of preads it saves).
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        stable_plans(&conn)?;
        schema::migrate(&mut conn)?;
        if let Some(max) = opts.max_db_bytes {
            let page: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            let pages = max / u64::try_from(page.max(1)).unwrap_or(4096);
            conn.pragma_update(
                None,
                "max_page_count",
                i64::try_from(pages.max(1)).unwrap_or(i64::MAX),
            )?;
        }
        let writer = writer::Writer::spawn(conn, opts.max_batch)?;
        Ok(Self {
            writer,
            readers: Arc::new(ReadPool {
                max_idle: opts.max_idle_readers,
                path,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` inside the next group-commit transaction; resolves after the commit.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut writer::WriteCtx<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        self.writer.submit(f).await
    }

    /// Runs `f` on a read connection on the blocking pool.
    pub async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Records the size of every committed write batch into `h` from now on (the node's
    /// metrics; the latest call wins).
    pub fn observe_batches(&self, h: metrics::Histogram) {
        self.writer.observe_batches(h);
    }

    /// Counters of the group-commit writer.
    pub fn batch_stats(&self) -> BatchStats {
        self.writer.stats()
    }

    /// Stops accepting writes, lets the writer finish what is queued, and waits for it.
    pub async fn close(self) {
        let Self { writer, .. } = self;
        writer.close().await;
    }
}

/// Plans a statement once, whatever is bound to it later. Without this SQLite marks a statement
/// for re-preparation at every new binding of a parameter it planned with (a `LIMIT ?`, a
/// value it could look up in stat4 samples), so `prepare_cached` saved nothing on the sync and
/// index paging queries: every pull parsed and planned its query again. Our queries are
/// written for their indexes; no plan depends on a value.
fn stable_plans(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Read connections, reused. A plain mutex-guarded stack: rusqlite connections are cheap to keep
/// and r2d2-style pools add a dependency for what is ten lines here.
struct ReadPool {
    path: PathBuf,
    max_idle: usize,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn with<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let conn = self.idle.lock().expect("pool lock").pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c.pragma_update(None, "mmap_size", MMAP_BYTES)?;
                stable_plans(&c)?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
        out
    }
}
