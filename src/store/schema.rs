//! Append-only schema migrations keyed by SQLite's `user_version` (the shape of cargo's
//! `util/sqlite.rs`): migration *i* runs once, when `user_version` ≤ *i*, inside the same
//! transaction that bumps the version. Never edit or reorder an entry; append a new one.

use rusqlite::Connection;

/// Every migration, oldest first.
const MIGRATIONS: &[&str] = &[
    // 1: cards keyed by agent, the newest verified envelope each, stamped with this node's
    // monotonic sequence number (the sync cursor); tombstones stay as rows.
    "CREATE TABLE cards (
        agent_id    TEXT PRIMARY KEY,
        seq         INTEGER NOT NULL UNIQUE,
        issued_at   INTEGER NOT NULL,
        signature   TEXT NOT NULL,
        revoked     INTEGER NOT NULL,
        expires_at  INTEGER,
        name        TEXT NOT NULL,
        envelope    TEXT NOT NULL,
        received_at INTEGER NOT NULL
    );",
    // 2: this node's embedding of each live card, tagged with the model that made it and the
    // card version it embeds, so a model change or a missed write is re-embedded at start.
    "CREATE TABLE embeddings (
        agent_id TEXT PRIMARY KEY,
        seq      INTEGER NOT NULL,
        model    TEXT NOT NULL,
        vector   BLOB NOT NULL
    );",
    // 3: this node's trust in each agent it has seen outcomes for: evidence as of last_decay,
    // counts and the hourly history as JSON written by the trust module. Never synced.
    "CREATE TABLE trust (
        agent_id      TEXT PRIMARY KEY,
        alpha         REAL NOT NULL,
        beta          REAL NOT NULL,
        last_decay    REAL NOT NULL,
        counts        TEXT NOT NULL,
        reports       INTEGER NOT NULL,
        last_event    TEXT,
        last_event_at INTEGER,
        history       TEXT NOT NULL,
        last_report   TEXT
    );",
    // 4: federation peers: a peer's node ID and URL, the cursor into its sequence (so a
    // restart resumes pulling where it stopped), when it last answered, and failures in a row.
    "CREATE TABLE peers (
        node_id   TEXT PRIMARY KEY,
        url       TEXT NOT NULL,
        cursor    INTEGER NOT NULL,
        last_seen INTEGER,
        failures  INTEGER NOT NULL,
        seed      INTEGER NOT NULL
    );",
    // 5: counting live cards (`/v1/node`, `/metrics`, polled every second by `top` and
    // Prometheus) reads this small covering index instead of every envelope: 10k cards,
    // ~6 ms → well under 1 ms a count.
    "CREATE INDEX cards_live ON cards (revoked, expires_at);",
    // 6: vectors keyed by the card version's `seq` (the rowid) instead of by agent ID. A
    // registration then appends to this table instead of inserting into a second index keyed
    // by random IDs (one random B-tree page less dirtied, written to the WAL and checkpointed
    // per card), and the join from a card to its vector is a rowid lookup. Vectors of versions
    // no longer stored (older versions, tombstones) are not carried over.
    "CREATE TABLE embeddings_by_seq (
        seq    INTEGER PRIMARY KEY,
        model  TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    INSERT INTO embeddings_by_seq (seq, model, vector)
        SELECT e.seq, e.model, e.vector FROM embeddings e
        JOIN cards c ON c.agent_id = e.agent_id AND c.seq = e.seq AND c.revoked = 0;
    DROP TABLE embeddings;
    ALTER TABLE embeddings_by_seq RENAME TO embeddings;",
    // 7: the re-ranking transformer's vectors (`serve --embedder minilm`), beside the static
    // ones the index is built from; keyed and dropped like them.
    "CREATE TABLE rerank_vectors (
        seq    INTEGER PRIMARY KEY,
        model  TEXT NOT NULL,
        vector BLOB NOT NULL
    );",
];

/// Brings the database at `conn` up to the newest schema.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "database schema version {version} is newer than this agentmesh ({}); upgrade agentmesh",
                MIGRATIONS.len()
            )),
        ));
    }
    let tx = conn.transaction()?;
    for sql in &MIGRATIONS[version..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrate_is_idempotent_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("first");
        migrate(&mut conn).expect("second is a no-op");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, MIGRATIONS.len() as i64);
        conn.pragma_update(None, "user_version", 999).expect("set");
        assert!(migrate(&mut conn).is_err());
    }

    /// Migration 6 keeps the vector of each stored live version and drops the rest.
    #[test]
    fn vectors_move_to_seq_keys() {
        let mut conn = Connection::open_in_memory().expect("open");
        let tx = conn.transaction().expect("tx");
        for sql in &MIGRATIONS[..5] {
            tx.execute_batch(sql).expect("old schema");
        }
        tx.pragma_update(None, "user_version", 5).expect("version");
        tx.execute_batch(
            "INSERT INTO cards VALUES ('a', 1, 10, 's', 0, NULL, 'a', '{}', 0);
             INSERT INTO cards VALUES ('b', 4, 10, 's', 0, NULL, 'b', '{}', 0);
             INSERT INTO cards VALUES ('c', 3, 10, 's', 1, NULL, 'c', '{}', 0);
             INSERT INTO embeddings VALUES ('a', 1, 'm', x'01');
             INSERT INTO embeddings VALUES ('b', 2, 'm', x'02');
             INSERT INTO embeddings VALUES ('c', 3, 'm', x'03');",
        )
        .expect("rows");
        tx.commit().expect("commit");
        migrate(&mut conn).expect("migrate");
        let rows: Vec<(i64, String, Vec<u8>)> = conn
            .prepare("SELECT seq, model, vector FROM embeddings ORDER BY seq")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        // a's vector is of its stored version; b's is of an older one, c is a tombstone.
        assert_eq!(rows, vec![(1, "m".to_string(), vec![1u8])]);
    }
}
