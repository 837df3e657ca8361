//! Card records: put (with the version-ordering rule of docs/protocol.md §3), get, page through, count.

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Deserialize as _;
use serde_json::Value;

use super::writer::WriteCtx;
use super::{Store, StoreError};
use crate::card::Card;
use crate::encoding::now_unix;

/// The result of storing a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// First version of this agent.
    Created {
        /// Its sequence number on this node.
        seq: i64,
    },
    /// Replaced an older version.
    Updated {
        /// Its sequence number on this node.
        seq: i64,
    },
    /// Stored a tombstone.
    Revoked {
        /// Its sequence number on this node.
        seq: i64,
    },
    /// Not newer than the stored version; nothing changed.
    Stale {
        /// `issued_at` of the version kept.
        stored_issued_at: i64,
        /// Whether the version kept is a tombstone.
        stored_revoked: bool,
    },
}

/// How [`Store::find_agents`] matches card names (any case).
#[derive(Debug, Clone)]
pub enum NameMatch {
    /// The whole name.
    Exact(String),
    /// Names starting with it (shell completion).
    Prefix(String),
}

/// A card as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCard {
    /// This node's sequence number of the version.
    pub seq: i64,
    /// The agent.
    pub agent_id: String,
    /// Tombstone?
    pub revoked: bool,
    /// `expires_at`, unix seconds.
    pub expires_at: Option<i64>,
    /// `issued_at`, unix seconds.
    pub issued_at: i64,
    /// The signed envelope as received.
    pub envelope: Value,
}

impl StoredCard {
    /// The envelope as the wire type (the manifest kept exactly as signed).
    pub fn signed(&self) -> Result<crate::card::Envelope, serde_json::Error> {
        crate::card::Envelope::deserialize(&self.envelope)
    }

    /// The fields a listing shows.
    pub fn summary(&self) -> Option<crate::card::Summary> {
        crate::card::Summary::of(&self.envelope)
    }

    /// The manifest's typed view. Cards are verified before they are stored, so this fails
    /// only on a database edited by hand.
    pub fn fields(&self) -> Result<crate::card::Manifest, crate::card::CardError> {
        crate::card::Manifest::of(&self.envelope)
    }
}

/// One page of cards in sequence order.
#[derive(Debug, Clone, PartialEq)]
pub struct CardPage {
    /// The cards, ascending `seq`.
    pub cards: Vec<StoredCard>,
    /// Whether more follow the last one.
    pub more: bool,
}

/// A vector to store with a card: the model's ID and the encoded vector.
#[derive(Debug, Clone)]
pub struct VectorRecord {
    /// Which model made it.
    pub model: String,
    /// Its bytes (see `discovery::Quantized::to_bytes`).
    pub bytes: Vec<u8>,
}

/// Applies the ordering rule and writes `card` (and its vector) if it is newer. Runs inside the
/// writer, so card and vector commit together.
pub fn put_in_tx(
    ctx: &mut WriteCtx<'_>,
    card: &Card,
    vector: Option<&VectorRecord>,
) -> Result<PutOutcome, StoreError> {
    let existing: Option<(i64, i64, String, bool)> = ctx
        .conn
        .prepare_cached("SELECT seq, issued_at, signature, revoked FROM cards WHERE agent_id = ?1")?
        .query_row([&card.agent_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    if let Some((_, issued_at, signature, revoked)) = &existing
        && !card.supersedes(*issued_at, signature)
    {
        return Ok(PutOutcome::Stale {
            stored_issued_at: *issued_at,
            stored_revoked: *revoked,
        });
    }
    let seq = ctx.next_seq();
    let was_unrevoked = existing.as_ref().is_some_and(|(.., revoked)| !revoked);
    ctx.unrevoked_changed(i64::from(!card.revoked) - i64::from(was_unrevoked));
    let envelope = serde_json::to_string(card.envelope()).expect("a JSON value serializes");
    ctx.conn
        .prepare_cached(
            "INSERT INTO cards (agent_id, seq, issued_at, signature, revoked, expires_at, name, envelope, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(agent_id) DO UPDATE SET seq = excluded.seq, issued_at = excluded.issued_at,
               signature = excluded.signature, revoked = excluded.revoked, expires_at = excluded.expires_at,
               name = excluded.name, envelope = excluded.envelope, received_at = excluded.received_at",
        )?
        .execute(params![
            card.agent_id,
            seq,
            card.issued_at,
            card.signature,
            card.revoked,
            card.expires_at,
            card.name,
            envelope,
            now_unix(),
        ])?;
    // Vectors are keyed by the version's seq: the replaced version's goes, the new one's is
    // appended.
    if let Some((old_seq, ..)) = &existing {
        ctx.conn
            .prepare_cached("DELETE FROM embeddings WHERE seq = ?1")?
            .execute([old_seq])?;
        ctx.conn
            .prepare_cached("DELETE FROM rerank_vectors WHERE seq = ?1")?
            .execute([old_seq])?;
    }
    if let Some(v) = vector
        && !card.revoked
    {
        ctx.conn
            .prepare_cached("INSERT INTO embeddings (seq, model, vector) VALUES (?1, ?2, ?3)")?
            .execute(params![seq, v.model, v.bytes])?;
    }
    Ok(if card.revoked {
        PutOutcome::Revoked { seq }
    } else if existing.is_some() {
        PutOutcome::Updated { seq }
    } else {
        PutOutcome::Created { seq }
    })
}

const COLUMNS: &str = "seq, agent_id, revoked, expires_at, issued_at, envelope";

fn row_to_card(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredCard, String)> {
    let envelope: String = r.get(5)?;
    Ok((
        StoredCard {
            seq: r.get(0)?,
            agent_id: r.get(1)?,
            revoked: r.get(2)?,
            expires_at: r.get(3)?,
            issued_at: r.get(4)?,
            envelope: Value::Null,
        },
        envelope,
    ))
}

fn parse_envelope((mut card, text): (StoredCard, String)) -> Result<StoredCard, StoreError> {
    card.envelope =
        serde_json::from_str(&text).map_err(|_| StoreError::Corrupt(card.agent_id.clone()))?;
    Ok(card)
}

/// Reads one agent's stored version.
pub fn get(conn: &Connection, agent_id: &str) -> Result<Option<StoredCard>, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM cards WHERE agent_id = ?1"))?
        .query_row([agent_id], row_to_card)
        .optional()?
        .map(parse_envelope)
        .transpose()
}

fn page_sql() -> String {
    format!("SELECT {COLUMNS} FROM cards WHERE seq > ?1 ORDER BY seq LIMIT ?2")
}

/// Where a vector of a card version is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorTable {
    /// `embeddings`: the static model's vectors, which the index is built from.
    Index,
    /// `rerank_vectors`: the re-ranking transformer's vectors (`serve --embedder minilm`).
    Rerank,
}

/// Unrevoked cards that have expired by `?1`.
const EXPIRED_COUNT_SQL: &str = "SELECT COUNT(*) FROM cards WHERE revoked = 0 AND expires_at <= ?1";

/// The newest live cards; `+revoked`: along the `seq` index, not a sort of every live card
/// (see `live_with_vectors_sql`).
const NEWEST_LIVE_SQL: &str = "SELECT agent_id FROM cards
     WHERE +revoked = 0 AND (expires_at IS NULL OR expires_at > ?1) ORDER BY seq DESC LIMIT ?2";

/// Pages of live cards in `seq` order. `+c.revoked` keeps SQLite off the `cards_live` index:
/// through it, every page sorted all live cards again (a temporary B-tree per page), so walking
/// 100k cards 256 at a time took 18.6 s; along the `seq` index a page is a range read.
fn live_with_vectors_sql(table: VectorTable) -> &'static str {
    match table {
        VectorTable::Index => {
            "SELECT c.seq, c.agent_id, c.envelope, e.vector FROM cards c
             LEFT JOIN embeddings e ON e.seq = c.seq AND e.model = ?1
             WHERE +c.revoked = 0 AND c.seq > ?2 ORDER BY c.seq LIMIT ?3"
        }
        VectorTable::Rerank => {
            "SELECT c.seq, c.agent_id, c.envelope, e.vector FROM cards c
             LEFT JOIN rerank_vectors e ON e.seq = c.seq AND e.model = ?1
             WHERE +c.revoked = 0 AND c.seq > ?2 ORDER BY c.seq LIMIT ?3"
        }
    }
}

/// A digest page's rows: `(seq, agent_id, issued_at, signature prefix)`, ascending.
pub type DigestRows = Vec<(i64, String, i64, String)>;

/// Up to `limit` digests `(seq, agent_id, issued_at, signature prefix of `sig_chars`)` of the
/// records with `seq > since`, ascending, and whether more follow: a page without the
/// envelopes, for a peer that fetches only what it lacks.
pub fn digest_page(
    conn: &Connection,
    since: i64,
    limit: usize,
    sig_chars: usize,
) -> Result<(DigestRows, bool), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, agent_id, issued_at, substr(signature, 1, ?3) FROM cards
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = stmt
        .query_map(params![since, limit as i64 + 1, sig_chars as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, more))
}

/// The records stored at `seqs` (those still there: a card updated since has a new `seq`),
/// ascending.
pub fn at_seqs(conn: &Connection, seqs: &[i64]) -> Result<Vec<StoredCard>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM cards WHERE seq = ?1"))?;
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::with_capacity(sorted.len());
    for seq in sorted {
        if let Some(row) = stmt.query_row([seq], row_to_card).optional()? {
            out.push(parse_envelope(row)?);
        }
    }
    Ok(out)
}

/// Reads up to `limit` records with `seq > since`, ascending.
pub fn page(conn: &Connection, since: i64, limit: usize) -> Result<CardPage, StoreError> {
    let mut stmt = conn.prepare_cached(&page_sql())?;
    let mut cards = stmt
        .query_map(params![since, limit as i64 + 1], row_to_card)?
        .map(|r| r.map_err(StoreError::from).and_then(parse_envelope))
        .collect::<Result<Vec<_>, _>>()?;
    let more = cards.len() > limit;
    cards.truncate(limit);
    Ok(CardPage { cards, more })
}

/// A live card with this node's stored vector of it (if one of `model` for this version).
#[derive(Debug, Clone)]
pub struct CardWithVector {
    /// Sequence number.
    pub seq: i64,
    /// The agent.
    pub agent_id: String,
    /// The envelope.
    pub envelope: Value,
    /// The stored vector bytes, when they match the model and version.
    pub vector: Option<Vec<u8>>,
}

/// Live (not revoked) cards after `since` with their vectors of `model`, ascending.
pub fn live_cards_with_vectors(
    conn: &Connection,
    table: VectorTable,
    model: &str,
    since: i64,
    limit: usize,
) -> Result<Vec<CardWithVector>, StoreError> {
    let mut stmt = conn.prepare_cached(live_with_vectors_sql(table))?;
    let rows = stmt.query_map(params![model, since, limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<Vec<u8>>>(3)?,
        ))
    })?;
    rows.map(|r| {
        let (seq, agent_id, text, vector) = r?;
        let envelope =
            serde_json::from_str(&text).map_err(|_| StoreError::Corrupt(agent_id.clone()))?;
        Ok(CardWithVector {
            seq,
            agent_id,
            envelope,
            vector,
        })
    })
    .collect()
}

/// Stores freshly computed vectors `(seq, bytes)` of `model`, each only while that version is
/// still the stored, live one (a newer version may have come in since). Runs inside the writer.
pub fn put_vectors(
    ctx: &mut WriteCtx<'_>,
    table: VectorTable,
    model: &str,
    vectors: &[(i64, Vec<u8>)],
) -> Result<(), StoreError> {
    let mut stmt = ctx.conn.prepare_cached(match table {
        VectorTable::Index => {
            "INSERT OR REPLACE INTO embeddings (seq, model, vector)
             SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM cards WHERE seq = ?1 AND revoked = 0)"
        }
        VectorTable::Rerank => {
            "INSERT OR REPLACE INTO rerank_vectors (seq, model, vector)
             SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM cards WHERE seq = ?1 AND revoked = 0)"
        }
    })?;
    for (seq, bytes) in vectors {
        stmt.execute(params![seq, model, bytes])?;
    }
    Ok(())
}

/// Reads several agents' stored versions at once (missing ones are skipped).
pub fn get_many(conn: &Connection, ids: &[String]) -> Result<Vec<StoredCard>, StoreError> {
    ids.iter()
        .filter_map(|id| get(conn, id).transpose())
        .collect()
}

impl Store {
    /// Stores `card` (with this node's vector of it) if it is newer than what is kept;
    /// resolves after the commit.
    pub async fn put_card(
        &self,
        card: Card,
        vector: Option<VectorRecord>,
    ) -> Result<PutOutcome, StoreError> {
        self.write(move |ctx| put_in_tx(ctx, &card, vector.as_ref()))
            .await
    }

    /// Several agents' stored versions, in the order asked (missing ones skipped).
    pub async fn get_cards(&self, ids: Vec<String>) -> Result<Vec<StoredCard>, StoreError> {
        self.read(move |c| get_many(c, &ids)).await
    }

    /// The stored version of `agent_id`, tombstones included.
    pub async fn get_card(&self, agent_id: &str) -> Result<Option<StoredCard>, StoreError> {
        let id = agent_id.to_string();
        self.read(move |c| get(c, &id)).await
    }

    /// Records after `since` in sequence order (tombstones and expired cards included).
    pub async fn cards_since(&self, since: i64, limit: usize) -> Result<CardPage, StoreError> {
        self.read(move |c| page(c, since, limit)).await
    }

    /// See [`digest_page`].
    pub async fn digests_since(
        &self,
        since: i64,
        limit: usize,
        sig_chars: usize,
    ) -> Result<(DigestRows, bool), StoreError> {
        self.read(move |c| digest_page(c, since, limit, sig_chars))
            .await
    }

    /// See [`at_seqs`].
    pub async fn cards_at(&self, seqs: Vec<i64>) -> Result<Vec<StoredCard>, StoreError> {
        self.read(move |c| at_seqs(c, &seqs)).await
    }

    /// Live cards whose agent ID matches the GLOB `id_glob` (case-sensitive; it can use the
    /// primary key for its literal prefix) or whose name matches `name` (any case), at most
    /// `limit`, as `(agent_id, name)`.
    pub async fn find_agents(
        &self,
        id_glob: Option<String>,
        name: Option<NameMatch>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.read(move |c| {
            let (exact, like) = match name {
                Some(NameMatch::Exact(n)) => (Some(n), None),
                // LIKE is case-blind for ASCII, as names are matched; `\` escapes the
                // prefix's own `%` and `_`.
                Some(NameMatch::Prefix(p)) => (
                    None,
                    Some(format!(
                        "{}%",
                        p.replace('\\', "\\\\")
                            .replace('%', "\\%")
                            .replace('_', "\\_")
                    )),
                ),
                None => (None, None),
            };
            let mut stmt = c.prepare_cached(
                "SELECT agent_id, name FROM cards
                 WHERE revoked = 0 AND (expires_at IS NULL OR expires_at > ?1)
                   AND ((?2 IS NOT NULL AND agent_id GLOB ?2)
                     OR (?3 IS NOT NULL AND name = ?3 COLLATE NOCASE)
                     OR (?4 IS NOT NULL AND name LIKE ?4 ESCAPE '\\'))
                 ORDER BY agent_id LIMIT ?5",
            )?;
            let rows = stmt
                .query_map(
                    params![now_unix(), id_glob, exact, like, limit as i64],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<Result<Vec<(String, String)>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The agents of the `limit` most recently stored live cards, newest first.
    pub async fn newest_live(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(NEWEST_LIVE_SQL)?;
            let ids = stmt
                .query_map(params![now_unix(), limit as i64], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(ids)
        })
        .await
    }

    /// How many agents have a live (not revoked, not expired) card: the writer's count of
    /// unrevoked cards less the expired ones, which SQLite counts from the `cards_live` index
    /// (a range past the cards that never expire, so the cost grows with expired cards only).
    pub async fn live_count(&self) -> Result<u64, StoreError> {
        let unrevoked = self.unrevoked_count();
        let expired = self
            .read(|c| {
                Ok(c.prepare_cached(EXPIRED_COUNT_SQL)?
                    .query_row([now_unix()], |r| r.get::<_, i64>(0))?)
            })
            .await?;
        // A commit lands in the database a moment before the writer's count takes it: a
        // card written expired can be counted here and not yet there.
        Ok(unrevoked.saturating_sub(u64::try_from(expired).unwrap_or(0)))
    }

    /// Unrevoked cards (expired ones included), as of the writer's last commit.
    pub fn unrevoked_count(&self) -> u64 {
        self.writer.unrevoked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{Manifest, sign_manifest};
    use crate::encoding::format_rfc3339;
    use crate::identity::Identity;
    use crate::store::StoreOptions;

    fn card(id: &Identity, issued_at: i64, revoked: bool) -> Card {
        card_with(id, issued_at, |m| m.revoked = revoked)
    }

    /// A signed card of `id` issued at `issued_at`, its manifest changed by `edit` first.
    fn card_with(id: &Identity, issued_at: i64, edit: impl FnOnce(&mut Manifest)) -> Card {
        let mut m = Manifest::new(id.id(), "svc", issued_at);
        m.endpoint = Some("http://127.0.0.1:1".into());
        edit(&mut m);
        Card::from_value(sign_manifest(m.to_value(), id).expect("sign")).expect("valid")
    }

    impl Store {
        async fn put_card_plain(&self, card: Card) -> Result<PutOutcome, StoreError> {
            self.put_card(card, None).await
        }
    }

    /// Paging in `seq` order reads a range of the `seq` index: no page sorts every live card
    /// again (the walk of 100k cards took 18.6 s that way).
    #[tokio::test]
    async fn paging_live_cards_never_sorts_them_all() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        for t in 0..50 {
            store
                .put_card_plain(card(&Identity::generate(), 100 + t, t % 7 == 0))
                .await
                .expect("put");
        }
        let plans = store
            .read(|conn| {
                let plan = |sql: &str, n: usize| -> Result<String, StoreError> {
                    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let params: Vec<rusqlite::types::Value> = (0..n)
                        .map(|i| rusqlite::types::Value::Integer(i as i64))
                        .collect();
                    let rows = stmt
                        .query_map(rusqlite::params_from_iter(params), |r| {
                            r.get::<_, String>(3)
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(rows.join("; "))
                };
                Ok(vec![
                    plan(live_with_vectors_sql(VectorTable::Index), 3)?,
                    plan(live_with_vectors_sql(VectorTable::Rerank), 3)?,
                    plan(NEWEST_LIVE_SQL, 2)?,
                ])
            })
            .await
            .expect("plans");
        for p in plans {
            assert!(!p.contains("TEMP B-TREE"), "{p}");
            assert!(p.contains("sqlite_autoindex_cards_2"), "{p}");
        }
    }

    /// Paging is what every pull does: its statement must be planned once per connection, not
    /// at every page (SQLite re-prepares a statement planned with a bound value, such as a
    /// `LIMIT ?`, unless plans are kept stable).
    #[tokio::test]
    async fn paged_reads_are_not_reprepared() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        for t in 0..5 {
            store
                .put_card_plain(card(&Identity::generate(), 100 + t, false))
                .await
                .expect("put");
        }
        let counts = store
            .read(|conn| {
                let mut seen = Vec::new();
                for since in 0..4 {
                    seen.push(page(conn, since, 2)?.cards.len());
                    live_cards_with_vectors(conn, VectorTable::Index, "m", since, 2)?;
                }
                let reprepared = |sql: &str| -> Result<i32, StoreError> {
                    let stmt = conn.prepare_cached(sql)?;
                    Ok(stmt.get_status(rusqlite::StatementStatus::RePrepare))
                };
                Ok((
                    seen,
                    reprepared(&page_sql())?,
                    reprepared(live_with_vectors_sql(VectorTable::Index))?,
                ))
            })
            .await
            .expect("read");
        assert_eq!(counts, (vec![2, 2, 2, 2], 0, 0));
    }

    #[tokio::test]
    async fn ordering_tombstones_and_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let a = Identity::generate();
        assert_eq!(
            store
                .put_card_plain(card(&a, 100, false))
                .await
                .expect("put"),
            PutOutcome::Created { seq: 1 }
        );
        assert_eq!(
            store
                .put_card_plain(card(&a, 200, false))
                .await
                .expect("put"),
            PutOutcome::Updated { seq: 2 }
        );
        assert!(matches!(
            store
                .put_card_plain(card(&a, 150, false))
                .await
                .expect("put"),
            PutOutcome::Stale {
                stored_issued_at: 200,
                ..
            }
        ));
        assert_eq!(
            store
                .put_card_plain(card(&a, 300, true))
                .await
                .expect("put"),
            PutOutcome::Revoked { seq: 3 }
        );
        assert!(matches!(
            store
                .put_card_plain(card(&a, 250, false))
                .await
                .expect("put"),
            PutOutcome::Stale {
                stored_revoked: true,
                ..
            }
        ));
        let got = store.get_card(a.id()).await.expect("get").expect("some");
        assert!(got.revoked);
        assert_eq!(got.seq, 3);
        store.close().await;

        let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
        let b = Identity::generate();
        assert_eq!(
            store
                .put_card_plain(card(&b, 100, false))
                .await
                .expect("put"),
            PutOutcome::Created { seq: 4 },
            "the sequence continues after a restart"
        );
        let page = store.cards_since(0, 1).await.expect("page");
        assert_eq!(page.cards.len(), 1);
        assert!(page.more);
        assert_eq!(page.cards[0].agent_id, a.id());
        assert_eq!(store.live_count().await.expect("count"), 1);
    }

    /// The live count is the writer's kept count of unrevoked cards less the expired ones: it
    /// must equal counting every card, through creates, updates, stale versions, tombstones,
    /// expired cards, a job that fails after stating a change, and a restart.
    #[tokio::test]
    async fn the_kept_live_count_matches_counting_every_card() {
        let dir = tempfile::tempdir().expect("tmp");
        let counted = |store: &Store| {
            let store = store.clone();
            async move {
                store
                    .read(|c| {
                        Ok(c.query_row(
                            "SELECT COUNT(*) FROM cards WHERE revoked = 0
                               AND (expires_at IS NULL OR expires_at > ?1)",
                            [now_unix()],
                            |r| r.get::<_, i64>(0),
                        )? as u64)
                    })
                    .await
                    .expect("count")
            }
        };
        let expired = |id: &Identity, issued_at: i64| {
            card_with(id, issued_at, |m| {
                m.expires_at = Some(format_rfc3339(issued_at + 60));
            })
        };
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let (a, b, c) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let steps: Vec<(Card, u64)> = vec![
            (card(&a, 100, false), 1),
            (card(&a, 200, false), 1),
            (card(&a, 150, false), 1), // stale: nothing changes
            (expired(&b, 100), 1),     // stored, unrevoked, not live
            (card(&c, 100, false), 2),
            (card(&a, 300, true), 1),  // a tombstone
            (card(&a, 400, true), 1),  // a newer tombstone
            (card(&b, 200, false), 2), // the expired card renewed
            (card(&c, 200, true), 1),
        ];
        for (i, (step, live)) in steps.into_iter().enumerate() {
            store.put_card_plain(step).await.expect("put");
            assert_eq!(store.live_count().await.expect("count"), live, "step {i}");
            assert_eq!(counted(&store).await, live, "step {i}");
        }
        assert_eq!(store.unrevoked_count(), 1);
        // A job that states a change and then fails leaves the count alone.
        let failed = store
            .write(|ctx| {
                ctx.unrevoked_changed(5);
                ctx.conn
                    .execute("INSERT INTO no_such_table VALUES (1)", [])?;
                Ok(())
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(store.unrevoked_count(), 1);
        store
            .put_card_plain(expired(&Identity::generate(), 100))
            .await
            .expect("put");
        assert_eq!(store.unrevoked_count(), 2);
        assert_eq!(store.live_count().await.expect("count"), 1);
        // Counting the expired reads a range of `cards_live`, not every card.
        let plan = store
            .read(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {EXPIRED_COUNT_SQL}"))?;
                let rows = stmt
                    .query_map([0], |r| r.get::<_, String>(3))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows.join("; "))
            })
            .await
            .expect("plan");
        assert!(
            plan.contains("cards_live (revoked=? AND expires_at<?)"),
            "{plan}"
        );
        store.close().await;
        let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
        assert_eq!(store.unrevoked_count(), 2);
        assert_eq!(store.live_count().await.expect("count"), 1);
    }

    /// A card's vector is kept under its stored version's seq: an update replaces it, a
    /// tombstone drops it, and the read that rebuilds the index finds it by that seq.
    #[tokio::test]
    async fn vectors_follow_the_stored_version() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let vector = |b: u8| VectorRecord {
            model: "m".into(),
            bytes: vec![b],
        };
        let (a, b) = (Identity::generate(), Identity::generate());
        store
            .put_card(card(&a, 100, false), Some(vector(1)))
            .await
            .expect("a1");
        store
            .put_card(card(&b, 100, false), Some(vector(2)))
            .await
            .expect("b");
        store
            .put_card(card(&a, 200, false), Some(vector(3)))
            .await
            .expect("a2");
        let rows = |store: &Store| {
            let store = store.clone();
            async move {
                store
                    .read(|c| {
                        let rows = c
                            .prepare("SELECT seq, vector FROM embeddings ORDER BY seq")?
                            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?
                            .collect::<Result<Vec<_>, _>>()?;
                        let live = live_cards_with_vectors(c, VectorTable::Index, "m", 0, 10)?
                            .into_iter()
                            .map(|r| (r.seq, r.vector))
                            .collect::<Vec<_>>();
                        Ok((rows, live))
                    })
                    .await
                    .expect("read")
            }
        };
        assert_eq!(
            rows(&store).await,
            (
                vec![(2, vec![2]), (3, vec![3])],
                vec![(2, Some(vec![2])), (3, Some(vec![3]))]
            )
        );
        store
            .put_card(card(&b, 300, true), None)
            .await
            .expect("revoke b");
        assert_eq!(
            rows(&store).await,
            (vec![(3, vec![3])], vec![(3, Some(vec![3]))])
        );
        // A re-embedding of a version no longer stored writes nothing.
        store
            .write(|ctx| put_vectors(ctx, VectorTable::Index, "m2", &[(2, vec![9]), (3, vec![8])]))
            .await
            .expect("put vectors");
        assert_eq!(
            rows(&store).await,
            (vec![(3, vec![8])], vec![(3, None)]),
            "seq 2 is gone; seq 3 now holds model m2's vector"
        );
    }

    #[tokio::test]
    async fn concurrent_puts_are_batched() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let cards: Vec<Card> = (0..200)
            .map(|_| card(&Identity::generate(), 100, false))
            .collect();
        let mut set = tokio::task::JoinSet::new();
        for c in cards {
            let s = store.clone();
            set.spawn(async move { s.put_card(c, None).await });
        }
        let mut seqs = Vec::new();
        while let Some(r) = set.join_next().await {
            match r.expect("join").expect("put") {
                PutOutcome::Created { seq } => seqs.push(seq),
                other => panic!("unexpected {other:?}"),
            }
        }
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (1..=200).collect::<Vec<_>>(),
            "sequence has no gaps or repeats"
        );
        let stats = store.batch_stats();
        assert_eq!(stats.jobs, 200);
        assert!(stats.commits < 200, "group commit folds writes: {stats:?}");
    }
}
