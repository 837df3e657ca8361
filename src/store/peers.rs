//! Federation peers and their sync cursors.

use rusqlite::{Connection, params};

use super::{Store, StoreError};

/// One persisted peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    /// Its did:key.
    pub node_id: String,
    /// Its base URL.
    pub url: String,
    /// Highest of its sequence numbers pulled.
    pub cursor: i64,
    /// Unix time it last answered.
    pub last_seen: Option<i64>,
    /// Failures in a row.
    pub failures: u32,
    /// Configured as a seed.
    pub seed: bool,
}

fn upsert(conn: &Connection, p: &PeerRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO peers (node_id, url, cursor, last_seen, failures, seed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(node_id) DO UPDATE SET url = excluded.url,
           cursor = MAX(cursor, excluded.cursor), last_seen = excluded.last_seen,
           failures = excluded.failures, seed = excluded.seed",
    )?
    .execute(params![
        p.node_id,
        p.url,
        p.cursor,
        p.last_seen,
        p.failures,
        p.seed
    ])?;
    Ok(())
}

impl Store {
    /// Saves a peer (its cursor never moves back).
    pub async fn put_peer(&self, peer: PeerRow) -> Result<(), StoreError> {
        self.write(move |ctx| upsert(ctx.conn, &peer)).await
    }

    /// Forgets a peer.
    pub async fn remove_peer(&self, node_id: &str) -> Result<(), StoreError> {
        let id = node_id.to_string();
        self.write(move |ctx| {
            ctx.conn
                .execute("DELETE FROM peers WHERE node_id = ?1", [id])?;
            Ok(())
        })
        .await
    }

    /// Every saved peer.
    pub async fn load_peers(&self) -> Result<Vec<PeerRow>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT node_id, url, cursor, last_seen, failures, seed FROM peers")?;
            let rows = stmt.query_map([], |r| {
                Ok(PeerRow {
                    node_id: r.get(0)?,
                    url: r.get(1)?,
                    cursor: r.get(2)?,
                    last_seen: r.get(3)?,
                    failures: r.get(4)?,
                    seed: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// `(agent_id, issued_at, signature)` of every stored version, tombstones included.
    pub async fn card_versions(&self) -> Result<Vec<(String, i64, String)>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT agent_id, issued_at, signature FROM cards")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The highest sequence number given out so far (0 when empty).
    pub async fn max_seq(&self) -> Result<i64, StoreError> {
        self.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(seq), 0) FROM cards", [], |r| r.get(0))?))
            .await
    }
}
