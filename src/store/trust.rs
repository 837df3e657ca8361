//! Trust records: one row per agent with its evidence, counts and hourly history (the trust
//! module owns their meaning; this file only moves rows). Rows are upserted in chunks so a
//! large flush never holds the writer for long.

use rusqlite::{Connection, params};

use super::{Store, StoreError};

/// One agent's persisted trust state. `counts`, `history` and `last_report` are JSON written
/// and read by the trust module.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustRow {
    /// The agent.
    pub agent_id: String,
    /// Positive evidence at `last_decay`.
    pub alpha: f64,
    /// Negative evidence at `last_decay`.
    pub beta: f64,
    /// Unix seconds (fractional).
    pub last_decay: f64,
    /// Event counts (JSON object).
    pub counts: String,
    /// Admin reports among them.
    pub reports: i64,
    /// Kind of the latest event.
    pub last_event: Option<String>,
    /// Unix time of the latest event.
    pub last_event_at: Option<i64>,
    /// Hourly history (JSON array).
    pub history: String,
    /// Latest admin report (JSON object).
    pub last_report: Option<String>,
}

/// Rows per write job: small enough that registrations queued behind a flush wait briefly.
const CHUNK: usize = 2_000;

fn upsert(conn: &Connection, rows: &[TrustRow]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO trust (agent_id, alpha, beta, last_decay, counts, reports, last_event,
                            last_event_at, history, last_report)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(agent_id) DO UPDATE SET alpha = excluded.alpha, beta = excluded.beta,
           last_decay = excluded.last_decay, counts = excluded.counts,
           reports = excluded.reports, last_event = excluded.last_event,
           last_event_at = excluded.last_event_at, history = excluded.history,
           last_report = excluded.last_report",
    )?;
    for r in rows {
        stmt.execute(params![
            r.agent_id,
            r.alpha,
            r.beta,
            r.last_decay,
            r.counts,
            r.reports,
            r.last_event,
            r.last_event_at,
            r.history,
            r.last_report
        ])?;
    }
    Ok(())
}

fn load_all(conn: &Connection) -> Result<Vec<TrustRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT agent_id, alpha, beta, last_decay, counts, reports, last_event, last_event_at,
                history, last_report FROM trust",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(TrustRow {
            agent_id: r.get(0)?,
            alpha: r.get(1)?,
            beta: r.get(2)?,
            last_decay: r.get(3)?,
            counts: r.get(4)?,
            reports: r.get(5)?,
            last_event: r.get(6)?,
            last_event_at: r.get(7)?,
            history: r.get(8)?,
            last_report: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Store {
    /// Upserts trust rows in chunks; resolves after every chunk is committed, or with the
    /// first error (chunks are independent: some may have committed).
    pub async fn put_trust(&self, rows: Vec<TrustRow>) -> Result<(), StoreError> {
        let mut jobs = Vec::new();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<TrustRow> = rows.by_ref().take(CHUNK).collect();
            jobs.push(self.write(move |ctx| upsert(ctx.conn, &chunk)));
        }
        futures_util::future::join_all(jobs)
            .await
            .into_iter()
            .collect()
    }

    /// Every agent's trust row.
    pub async fn load_trust(&self) -> Result<Vec<TrustRow>, StoreError> {
        self.read(load_all).await
    }
}
