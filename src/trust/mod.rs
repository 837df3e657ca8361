//! The trust manager: this node's own view of how far each agent can be trusted, built only
//! from outcomes it saw itself (never imported from peers).
//!
//! Flow: the gateway's outcome events ([`OutcomeSink`]) and admins' signed reports land in
//! [`TrustManager::record_at`], which decays the agent's evidence to now and adds the event's
//! weight (see [`model`] for the math). Records live in memory, sharded by agent so concurrent
//! events rarely meet on a lock. The node's background loop then (1) pushes changed scores to
//! discovery every second ([`TrustManager::take_unpushed`]), (2) decays every record each minute
//! so discovery's view drifts back toward 0.5 for idle agents, and (3) flushes records that
//! changed to SQLite every `flush_interval` ([`TrustManager::flush`]) and once more on graceful
//! shutdown. A restart restores them ([`TrustManager::restore`]).

pub mod model;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

pub use model::{DEFAULT_HALF_LIFE, HISTORY_HOURS, Hour, Record, Report, Weights, score};

use crate::encoding::format_rfc3339;
use crate::events::{OutcomeEvent, OutcomeKind, OutcomeSink};
use crate::store::{Store, StoreError, TrustRow};

/// Default interval between flushes to SQLite.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// Most agents a listing returns.
pub const MAX_LIST: usize = 1000;
/// A score change smaller than this is not worth pushing to discovery.
const PUSH_EPSILON: f64 = 1e-3;
const SHARDS: usize = 64;

/// Where "now" comes from (tests inject a [`ManualClock`]).
pub trait Clock: Send + Sync {
    /// Unix seconds, fractional.
    fn now(&self) -> f64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// A clock that moves only when told (millisecond resolution).
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    /// A clock reading `unix_s`.
    pub fn new(unix_s: i64) -> Self {
        Self {
            millis: AtomicI64::new(unix_s * 1000),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(ms, Ordering::SeqCst);
    }

    /// The reading in whole unix seconds.
    pub fn unix(&self) -> i64 {
        self.millis.load(Ordering::SeqCst).div_euclid(1000)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        self.millis.load(Ordering::SeqCst) as f64 / 1000.0
    }
}

/// Trust settings (each has a `serve` flag or a `[serve.trust]` key in the config file).
#[derive(Debug, Clone, PartialEq)]
pub struct TrustConfig {
    /// Evidence per event kind.
    pub weights: Weights,
    /// Time for evidence to halve.
    pub half_life: Duration,
    /// How often changed records are written to SQLite.
    pub flush_interval: Duration,
    /// did:keys allowed to report events besides the node's own key.
    pub admins: Vec<String>,
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            weights: Weights::default(),
            half_life: DEFAULT_HALF_LIFE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            admins: Vec::new(),
        }
    }
}

pub use crate::wire::{EventCounts, HourView, TrustSummary, TrustView};

/// Orders of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustSort {
    /// Highest score first.
    Score,
    /// Lowest score first.
    Low,
    /// Most events first.
    Events,
    /// Latest event first.
    Recent,
}

impl std::str::FromStr for TrustSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "score" => Ok(Self::Score),
            "low" | "-score" => Ok(Self::Low),
            "events" => Ok(Self::Events),
            "recent" => Ok(Self::Recent),
            _ => Err(format!(
                "unknown sort `{s}` (use score, low, events or recent)"
            )),
        }
    }
}

struct Entry {
    rec: Record,
    /// Changed since the last flush.
    dirty: bool,
    /// The score discovery last got.
    pushed: f64,
}

/// In-memory trust records, sharded by agent.
pub struct TrustManager {
    shards: Box<[Mutex<HashMap<String, Entry>>]>,
    hasher: RandomState,
    weights: Weights,
    half_life_s: f64,
    clock: Arc<dyn Clock>,
    /// Events absorbed, by kind ([`OutcomeKind::ALL`] order).
    by_kind: [AtomicU64; 5],
    reports: AtomicU64,
}

impl std::fmt::Debug for TrustManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustManager")
            .field("weights", &self.weights)
            .field("half_life_s", &self.half_life_s)
            .field("events", &self.events_seen())
            .finish_non_exhaustive()
    }
}

impl TrustManager {
    /// An empty manager with `config`'s weights and half-life, reading time from `clock`.
    pub fn new(config: &TrustConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            weights: config.weights,
            half_life_s: config.half_life.as_secs_f64().max(1.0),
            clock,
            by_kind: Default::default(),
            reports: AtomicU64::new(0),
        }
    }

    fn shard(&self, agent_id: &str) -> &Mutex<HashMap<String, Entry>> {
        let h = self.hasher.hash_one(agent_id) as usize;
        &self.shards[h % SHARDS]
    }

    fn lock(
        m: &Mutex<HashMap<String, Entry>>,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding a shard cannot leave a record half-written in a way that
        // matters (every field is rewritten by the next event), so poisoning is ignored.
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The clock's reading.
    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    /// Events absorbed since start.
    pub fn events_seen(&self) -> u64 {
        self.events_by_kind().iter().sum()
    }

    /// Events absorbed since start, by kind ([`OutcomeKind::ALL`] order).
    pub fn events_by_kind(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.by_kind[i].load(Ordering::Relaxed))
    }

    /// Admin reports among them.
    pub fn reports_seen(&self) -> u64 {
        self.reports.load(Ordering::Relaxed)
    }

    /// Agents with a record.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| Self::lock(s).len()).sum()
    }

    /// Whether no agent has a record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn with_entry<R>(&self, agent_id: &str, f: impl FnOnce(&mut Entry) -> R) -> R {
        let mut shard = Self::lock(self.shard(agent_id));
        if let Some(e) = shard.get_mut(agent_id) {
            return f(e);
        }
        let e = shard.entry(agent_id.to_string()).or_insert(Entry {
            rec: Record::new(self.now()),
            dirty: true,
            pushed: 0.5,
        });
        f(e)
    }

    /// Adds one event of `kind` about `agent_id` that happened at unix second `at`.
    pub fn record_at(&self, agent_id: &str, kind: OutcomeKind, at: i64) {
        let now = self.now();
        self.with_entry(agent_id, |e| {
            e.rec.apply(kind, at, now, &self.weights, self.half_life_s);
            e.dirty = true;
        });
        self.by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Records an admin's report and returns the agent's new view.
    pub fn report(
        &self,
        agent_id: &str,
        kind: OutcomeKind,
        note: Option<String>,
        by: &str,
    ) -> TrustView {
        let now = self.now();
        let at = now.floor() as i64;
        self.with_entry(agent_id, |e| {
            e.rec.apply(kind, at, now, &self.weights, self.half_life_s);
            e.rec.reports += 1;
            e.rec.last_report = Some(Report {
                by: by.to_string(),
                kind,
                note,
                at,
            });
            e.dirty = true;
        });
        self.by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
        self.reports.fetch_add(1, Ordering::Relaxed);
        self.view(agent_id)
    }

    /// The score of `agent_id` as of now (0.5 when unknown).
    pub fn score(&self, agent_id: &str) -> f64 {
        let now = self.now();
        Self::lock(self.shard(agent_id))
            .get(agent_id)
            .map_or(0.5, |e| e.rec.score_at(now, self.half_life_s))
    }

    /// The score of `agent_id` now, its change since the end of the previous hour of its
    /// history (since neutral 0.5 for an agent first seen this hour), and its event count.
    pub fn score_and_delta(&self, agent_id: &str) -> (f64, f64, u64) {
        let now = self.now();
        let shard = Self::lock(self.shard(agent_id));
        let Some(e) = shard.get(agent_id) else {
            return (0.5, 0.0, 0);
        };
        let score = e.rec.score_at(now, self.half_life_s);
        let hour_start = (now.floor() as i64).div_euclid(3600) * 3600;
        let before = e
            .rec
            .history
            .iter()
            .rev()
            .find(|h| h.start < hour_start)
            .map_or(0.5, |h| h.score);
        (score, score - before, e.rec.counts.iter().sum())
    }

    /// The breakdown of `agent_id` as of now (neutral when unknown).
    pub fn view(&self, agent_id: &str) -> TrustView {
        let now = self.now();
        let rec = Self::lock(self.shard(agent_id))
            .get(agent_id)
            .map(|e| e.rec.clone());
        let known = rec.is_some();
        let rec = rec.unwrap_or_else(|| Record::new(now));
        let (alpha, beta) = rec.evidence_at(now, self.half_life_s);
        TrustView {
            agent_id: agent_id.to_string(),
            score: score(alpha, beta),
            alpha,
            beta,
            counts: EventCounts::from_array(rec.counts),
            last_event_at: rec.last_event.map(|(_, at)| format_rfc3339(at)),
            last_event: rec.last_event.map(|(kind, _)| kind),
            history: rec
                .history
                .iter()
                .map(|h| HourView {
                    at: format_rfc3339(h.start),
                    score: h.score,
                    counts: EventCounts::from_array(h.counts.map(u64::from)),
                })
                .collect(),
            known,
            reports: rec.reports,
            last_report: rec.last_report,
            last_decay_at: format_rfc3339(rec.last_decay.floor() as i64),
            half_life_s: self.half_life_s as u64,
        }
    }

    /// IDs of the `k` most trusted agents and of the `k` with the latest events, without
    /// building a summary of every record (what `/v1/node` asks each poll).
    pub fn top_ids(&self, k: usize) -> (Vec<String>, Vec<String>) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        // Min-heaps of the best k so far: an ID is cloned only when it enters one.
        let mut by_score: BinaryHeap<Reverse<(u64, String)>> = BinaryHeap::new();
        let mut by_recent: BinaryHeap<Reverse<(i64, String)>> = BinaryHeap::new();
        if k == 0 {
            return (Vec::new(), Vec::new());
        }
        let now = self.now();
        fn offer<K: Ord + Copy>(
            heap: &mut BinaryHeap<Reverse<(K, String)>>,
            k: usize,
            key: K,
            id: &str,
        ) {
            if heap.len() < k {
                heap.push(Reverse((key, id.to_string())));
            } else if heap.peek().is_some_and(|Reverse((min, _))| key > *min) {
                heap.pop();
                heap.push(Reverse((key, id.to_string())));
            }
        }
        for s in &self.shards {
            for (id, e) in Self::lock(s).iter() {
                // Scores are in (0, 1): their bits order as the numbers do.
                let sc = e.rec.score_at(now, self.half_life_s).to_bits();
                offer(&mut by_score, k, sc, id);
                if let Some((_, at)) = e.rec.last_event {
                    offer(&mut by_recent, k, at, id);
                }
            }
        }
        fn best_first<K: Ord>(heap: BinaryHeap<Reverse<(K, String)>>) -> Vec<String> {
            // Ascending `Reverse` order is descending key order.
            heap.into_sorted_vec()
                .into_iter()
                .map(|Reverse((_, id))| id)
                .collect()
        }
        (best_first(by_score), best_first(by_recent))
    }

    /// The first `limit` agents in `sort` order, and how many agents have records.
    pub fn list(&self, sort: TrustSort, limit: usize) -> (usize, Vec<TrustSummary>) {
        let now = self.now();
        let mut all: Vec<TrustSummary> = Vec::new();
        for s in &self.shards {
            for (id, e) in Self::lock(s).iter() {
                let (alpha, beta) = e.rec.evidence_at(now, self.half_life_s);
                all.push(TrustSummary {
                    agent_id: id.clone(),
                    score: score(alpha, beta),
                    alpha,
                    beta,
                    events: e.rec.counts.iter().sum(),
                    last_event_at: e.rec.last_event.map(|(_, at)| format_rfc3339(at)),
                    last_event_unix: e.rec.last_event.map(|(_, at)| at),
                });
            }
        }
        let total = all.len();
        let key = |a: &TrustSummary, b: &TrustSummary| match sort {
            TrustSort::Score => b.score.total_cmp(&a.score),
            TrustSort::Low => a.score.total_cmp(&b.score),
            TrustSort::Events => b.events.cmp(&a.events),
            TrustSort::Recent => b.last_event_unix.cmp(&a.last_event_unix),
        };
        let cmp = |a: &TrustSummary, b: &TrustSummary| key(a, b).then(a.agent_id.cmp(&b.agent_id));
        let k = limit.min(total);
        if k > 0 && k < total {
            all.select_nth_unstable_by(k - 1, cmp);
        }
        all.truncate(k);
        all.sort_unstable_by(cmp);
        (total, all)
    }

    /// Applies decay to every record (the background loop; reads decay lazily anyway). Records
    /// whose score moved enough become due for a push to discovery. Not a change to persist:
    /// the stored evidence decays to the same numbers on read.
    pub fn decay_all(&self) {
        let now = self.now();
        for s in &self.shards {
            for e in Self::lock(s).values_mut() {
                e.rec.decay_to(now, self.half_life_s);
            }
        }
    }

    /// Scores that moved since discovery last got them, as (agent, score given before, score
    /// now); marks them as given.
    pub fn take_unpushed(&self) -> Vec<(String, f64, f64)> {
        let now = self.now();
        let mut out = Vec::new();
        for s in &self.shards {
            for (id, e) in Self::lock(s).iter_mut() {
                let sc = e.rec.score_at(now, self.half_life_s);
                if (sc - e.pushed).abs() >= PUSH_EPSILON {
                    out.push((id.clone(), e.pushed, sc));
                    e.pushed = sc;
                }
            }
        }
        out
    }

    /// Rows of records changed since the last flush; clears their dirty marks.
    fn take_dirty(&self) -> Vec<TrustRow> {
        let mut out = Vec::new();
        for s in &self.shards {
            for (id, e) in Self::lock(s).iter_mut() {
                if e.dirty {
                    e.dirty = false;
                    out.push(to_row(id, &e.rec));
                }
            }
        }
        out
    }

    /// Writes every changed record to `store`; returns how many. On an error the records stay
    /// due for the next flush.
    pub async fn flush(&self, store: &Store) -> Result<usize, StoreError> {
        let rows = self.take_dirty();
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = rows.iter().map(|r| r.agent_id.clone()).collect();
        let n = rows.len();
        if let Err(e) = store.put_trust(rows).await {
            for id in &ids {
                if let Some(entry) = Self::lock(self.shard(id)).get_mut(id) {
                    entry.dirty = true;
                }
            }
            return Err(e);
        }
        Ok(n)
    }

    /// Loads the stored records (replacing what is in memory for those agents); returns how
    /// many. A row that cannot be read is logged and skipped.
    pub fn restore(&self, rows: Vec<TrustRow>) -> usize {
        let mut n = 0;
        for row in rows {
            match from_row(&row) {
                Ok(rec) => {
                    Self::lock(self.shard(&row.agent_id)).insert(
                        row.agent_id,
                        Entry {
                            rec,
                            dirty: false,
                            pushed: 0.5,
                        },
                    );
                    n += 1;
                }
                Err(e) => {
                    tracing::warn!(agent_id = row.agent_id, error = %e, "skipping an unreadable trust row")
                }
            }
        }
        n
    }
}

impl OutcomeSink for TrustManager {
    fn record(&self, event: OutcomeEvent) {
        self.record_at(&event.agent_id, event.kind, event.at);
    }
}

/// Sends each event to several sinks (the trust manager and, in tests, a log).
pub struct Tee(pub Vec<Arc<dyn OutcomeSink>>);

impl OutcomeSink for Tee {
    fn record(&self, event: OutcomeEvent) {
        if let Some((last, rest)) = self.0.split_last() {
            for s in rest {
                s.record(event.clone());
            }
            last.record(event);
        }
    }
}

fn to_row(agent_id: &str, r: &Record) -> TrustRow {
    TrustRow {
        agent_id: agent_id.to_string(),
        alpha: r.alpha,
        beta: r.beta,
        last_decay: r.last_decay,
        counts: json(&EventCounts::from_array(r.counts)),
        reports: i64::try_from(r.reports).unwrap_or(i64::MAX),
        last_event: r.last_event.map(|(k, _)| k.as_str().to_string()),
        last_event_at: r.last_event.map(|(_, at)| at),
        history: json(&r.history),
        last_report: r.last_report.as_ref().map(json),
    }
}

fn from_row(row: &TrustRow) -> Result<Record, serde_json::Error> {
    let counts: EventCounts = serde_json::from_str(&row.counts)?;
    let last_event = match (&row.last_event, row.last_event_at) {
        (Some(k), Some(at)) => Some((
            serde_json::from_value::<OutcomeKind>(serde_json::Value::String(k.clone()))?,
            at,
        )),
        _ => None,
    };
    Ok(Record {
        alpha: row.alpha,
        beta: row.beta,
        last_decay: row.last_decay,
        counts: counts.to_array(),
        reports: u64::try_from(row.reports).unwrap_or(0),
        last_event,
        last_report: row
            .last_report
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?,
        history: serde_json::from_str(&row.history)?,
    })
}

/// JSON of one of a row's parts (plain data, which always serializes).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

#[cfg(test)]
mod tests;
